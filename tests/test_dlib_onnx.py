"""dlib's own networks converted to ONNX: the ResNet embedder and the MMOD detector against dlib's
outputs (golden fixtures made once by tools/golden/make_dlib_golden.py; and dlib itself, live,
when it is installed), the .dat reader, and the cache of converted files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import OBAMA_PORTRAIT
from PIL import Image

from faceledger.vision import dlib_mmod, dlib_onnx, dlib_serialize, onnx_sessions
from faceledger.vision.detect import CnnDetector
from faceledger.vision.dlib_runtime import OnnxResnetEmbedder
from faceledger.vision.dlib_serialize import MMOD_FILE, RESNET_FILE, DlibFormatError, Reader
from faceledger.vision.models import weights_path

GOLDEN = Path(__file__).parent / "data" / "golden"
EMBEDDING_TOLERANCE = 1e-4  # per component: what keeps the shipped calibration valid


def _clear_caches():
    dlib_onnx.model_bytes_or_path.cache_clear()
    onnx_sessions._session.cache_clear()


@pytest.fixture(scope="module", autouse=True)
def converted_models(tmp_path_factory):
    """The converted networks are cached in a temporary folder for this module (not in the models
    folder of the environment), and the process's sessions start afresh and end so."""
    folder = tmp_path_factory.mktemp("models") / "dlib"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dlib_onnx, "cache_dir", lambda: folder)
        _clear_caches()
        yield folder
    _clear_caches()


@pytest.fixture(scope="module")
def resnet_golden():
    g = np.load(GOLDEN / "dlib" / "resnet.npz")
    chips = [
        np.asarray(Image.open(io.BytesIO(g[f"chip{i}_png"].tobytes()))) for i in range(len(g["embeddings"]))
    ]
    return chips, g["embeddings"]


@pytest.fixture(scope="module")
def mmod_golden():
    return np.load(GOLDEN / "dlib" / "mmod.npz")


def _portrait(width: int) -> np.ndarray:
    rgb = np.asarray(Image.open(OBAMA_PORTRAIT).convert("RGB"))
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))


def _pictures(group_photo: Path) -> dict[str, np.ndarray]:
    """The pictures of the golden file, rebuilt as tools/golden/make_dlib_golden.py made them."""
    return {
        "portrait320": _portrait(320),
        "portrait200_up1": _portrait(200),
        "group": np.asarray(Image.open(group_photo).convert("RGB")),
    }


def _sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()


def _assert_same_detections(got, want, box_tolerance: float, score_tolerance: float = 1e-3):
    assert len(got) == len(want), (got, want.tolist())
    for g, w in zip(got, want):
        assert np.abs(np.array(g[:4], dtype=float) - w[:4]).max() <= box_tolerance, (g, w.tolist())
        assert abs(g[4] - w[4]) <= score_tolerance, (g, w.tolist())


# -- the reader ------------------------------------------------------------------------------------


def test_numbers_as_dlib_writes_them():
    r = Reader(b"\x01\x05" + b"\x81\x05" + b"\x02\x00\x01" + b"\x01\x00" + b"1")
    assert [r.integer(), r.integer(), r.integer(), r.integer(), r.boolean()] == [5, -5, 256, 0, True]
    # 0.04 as it is stored in the ResNet's file: mantissa 0xa3d70a, exponent -28
    assert Reader(b"\x03\x0a\xd7\xa3\x81\x1c").real() == pytest.approx(0.04, abs=1e-9)
    tensor = Reader(
        b"\x01\x02" + b"\x01\x01" * 3 + b"\x01\x02" + np.array([1.5, -2], "<f4").tobytes()
    ).tensor()
    assert tensor.shape == (1, 1, 1, 2) and tensor.tolist() == [[[[1.5, -2.0]]]]


def test_both_networks_are_read_to_their_last_byte():
    resnet = dlib_serialize.read(weights_path(RESNET_FILE))
    kinds = [layer.kind for layer in resnet.layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    assert resnet.input["size"] == (150, 150)
    assert resnet.input["mean_rgb"] == pytest.approx([122.782, 117.001, 104.298], abs=1e-4)
    assert resnet.layers[-1].params["weight"].shape == (256, 128)

    mmod = dlib_serialize.read(weights_path(MMOD_FILE))
    assert [layer.kind for layer in mmod.layers].count("con") == 7
    assert mmod.loss["windows"] == [(80, 80, "")]
    assert {layer.name for layer in mmod.layers if layer.kind == "affine"} == {
        "bn_con2"
    }  # batch norms, frozen on load
    scale, offset = dlib_onnx.output_to_input(mmod)
    assert scale.tolist() == [8, 8] and offset.tolist() == [14, 14]


def test_a_file_that_is_not_the_expected_network_is_refused():
    data = Path(weights_path(MMOD_FILE)).read_bytes()
    with pytest.raises(DlibFormatError):
        dlib_serialize.read_net(data, dlib_serialize.resnet_spec())
    with pytest.raises(DlibFormatError):
        dlib_serialize.read_net(data[:-100], dlib_serialize.mmod_spec())
    with pytest.raises(DlibFormatError):
        dlib_serialize.read_net(data + b"\x00", dlib_serialize.mmod_spec())


# -- the embedder ----------------------------------------------------------------------------------


def test_embeddings_match_dlibs(resnet_golden):
    chips, want = resnet_golden
    assert len(chips) >= 5
    got = OnnxResnetEmbedder().embed_chips(chips)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() < EMBEDDING_TOLERANCE
    # each face alone, or with the others in one batch, on one thread or two: the same numbers
    alone = np.concatenate([OnnxResnetEmbedder().embed_chips([c]) for c in chips])
    two_threads = OnnxResnetEmbedder(threads=2).embed_chips(chips)
    assert np.abs(alone - got).max() < 1e-5 and np.abs(two_threads - got).max() < 1e-5


def test_more_faces_than_a_batch(resnet_golden):
    chips, want = resnet_golden
    many = (chips * 7)[: dlib_onnx.RESNET_BATCH + 3]
    got = OnnxResnetEmbedder().embed_chips(many)
    assert np.abs(got - np.tile(want, (7, 1))[: len(many)]).max() < EMBEDDING_TOLERANCE


def test_the_embedder_protocol():
    e = OnnxResnetEmbedder()
    assert (e.name, e.dim) == ("1.0", 128)
    assert e.embed(np.zeros((10, 10, 3), np.uint8), []).shape == (0, 128)
    assert e.embed_chips([]).shape == (0, 128)
    with pytest.raises(ValueError, match="150x150"):
        e.embed_chips([np.zeros((100, 100, 3), np.uint8)])


# -- the detector ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["portrait320", "portrait200_up1", "group"])
def test_detections_match_dlibs(key, mmod_golden, group_photo):
    rgb = _pictures(group_photo)[key]
    assert _sha256(rgb) == str(mmod_golden[f"{key}_sha256"]), "not the picture the golden file was made from"
    got = dlib_mmod.mmod_detect(rgb, int(mmod_golden[f"{key}_upsample"]))
    _assert_same_detections(got, mmod_golden[f"{key}_detections"], box_tolerance=1)


def test_the_detector_protocol_with_cnn_detectors_scaling(mmod_golden, group_photo):
    det = CnnDetector()
    assert det.name == "cnn"
    found = det.detect(np.asarray(Image.open(group_photo).convert("RGB")))
    _assert_same_detections(
        [(d.left, d.top, d.right, d.bottom, d.score) for d in found], mmod_golden["group_cnn_detector"], 1
    )
    assert all(90 < d.confidence <= 100 for d in found)
    assert det.detect(np.full((40, 60, 3), 128, np.uint8)) == []


def test_pyramid_tiles_fit_and_do_not_overlap():
    for rows, cols in ((400, 320), (460, 1120), (1080, 1920), (30, 2000), (2000, 30)):
        rects, height, width = dlib_mmod.pyramid_rects(rows, cols, 10, 11)
        assert rects[0] == (11, 11, 11 + cols - 1, 11 + rows - 1)
        for i, (left, top, right, bottom) in enumerate(rects):
            assert 0 <= left <= right < width and 0 <= top <= bottom < height
            for other in rects[:i]:
                apart = left > other[2] or right < other[0] or top > other[3] or bottom < other[1]
                assert apart
        sizes = [(r[3] - r[1] + 1, r[2] - r[0] + 1) for r in rects]
        for (h0, w0), (h1, w1) in zip(sizes, sizes[1:]):
            assert (h1, w1) == (h0 * 5 // 6, w0 * 5 // 6)


def test_levels_run_apart_find_the_same_faces(group_photo):
    """dlib tiles the pyramid into one picture; each level run alone finds the same boxes here
    (the scores of windows near a tile's edge move a little: see the report)."""
    rgb = _pictures(group_photo)["portrait320"]
    tiled = dlib_mmod.mmod_detect(rgb, 0)
    apart = dlib_mmod.mmod_detect(rgb, 0, tiled=False)
    _assert_same_detections(apart, np.array(tiled), box_tolerance=0, score_tolerance=0.05)


# -- against dlib itself, when it is installed ---------------------------------------------------


def test_against_dlib_on_pictures_it_has_not_seen(resnet_golden):
    dlib = pytest.importorskip("dlib")
    from faceledger.vision import models

    chips, _ = resnet_golden
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in chips[:2]]
    want = np.array([np.asarray(v) for v in models.resnet_embedder().model.compute_face_descriptor(mirrored)])
    assert np.abs(OnnxResnetEmbedder().embed_chips(mirrored) - want).max() < EMBEDDING_TOLERANCE

    rgb = _portrait(256)[::-1].copy()  # upside down: whatever dlib makes of it, the conversion must too
    rgb = np.ascontiguousarray(np.concatenate([rgb, _portrait(256)], axis=0))
    want = [
        (d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1, d.confidence)
        for d in dlib.cnn_face_detection_model_v1(weights_path(MMOD_FILE))(rgb, 0)
    ]
    assert want
    _assert_same_detections(dlib_mmod.mmod_detect(rgb, 0), np.array(want).reshape(-1, 5), box_tolerance=1)


def test_resizing_as_dlib_does():
    dlib = pytest.importorskip("dlib")
    rng = np.random.default_rng(0)
    for rows, cols in ((37, 53), (5, 9), (120, 7)):
        planes = rng.normal(0, 0.3, (rows, cols)).astype(np.float32)
        for out in ((rows * 5 // 6, cols * 5 // 6), (rows + 3, cols * 2)):
            want = dlib.resize_image(planes, *out)
            assert np.array_equal(dlib_mmod.resize_tensor(planes[None], *out)[0], want)
        rgb = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        assert np.array_equal(dlib_mmod.pyramid_up(rgb), dlib.resize_image(rgb, 2 * rows + 1, 2 * cols + 2))


# -- the converted files -------------------------------------------------------------------------


def test_converted_once_then_loaded_from_the_cache(converted_models, monkeypatch):
    dlib_onnx.session(RESNET_FILE, 1)  # built (or found) by the tests above
    name = dlib_onnx.cached_name(RESNET_FILE, dlib_onnx.sha256_of(weights_path(RESNET_FILE)))
    assert (converted_models / name).is_file()
    assert not list(converted_models.glob(".tmp-*"))  # written atomically: no leftovers

    def no_conversion(*a, **k):
        raise AssertionError("converted again")

    monkeypatch.setattr(dlib_onnx, "convert", no_conversion)
    dlib_onnx.model_bytes_or_path.cache_clear()
    assert dlib_onnx.model_bytes_or_path(weights_path(RESNET_FILE)) == str(converted_models / name)


def test_a_damaged_cached_file_is_rebuilt(converted_models):
    path = Path(dlib_onnx.model_bytes_or_path(weights_path(MMOD_FILE)))
    path.write_bytes(b"not a model")
    dlib_onnx.model_bytes_or_path.cache_clear()
    assert dlib_onnx.model_bytes_or_path(weights_path(MMOD_FILE)) == str(path)
    assert path.stat().st_size > 100_000


def test_without_a_writable_models_folder_the_model_stays_in_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(dlib_onnx, "cache_dir", lambda: blocked / "dlib")
    dlib_onnx.model_bytes_or_path.cache_clear()
    try:
        model = dlib_onnx.model_bytes_or_path(weights_path(MMOD_FILE))
        assert isinstance(model, bytes) and len(model) > 100_000
    finally:
        dlib_onnx.model_bytes_or_path.cache_clear()
