"""dlib's own networks (face-recognition-models) as ONNX graphs: building them, caching the
converted files beside the attribute models, and the sessions that run them.

The weights and the networks' shapes come from dlib_serialize.py.

What the graphs reproduce of dlib, layer by layer (dlib/dnn/layers.h, input.h, tensor_tools):
- tensors are NCHW, as dlib lays them out; the embedder's input is the 150x150 RGB chip as
  uint8 NHWC, turned into dlib's planar (pixel - channel mean) / 256;
- con_: cross-correlation with zero padding, the padding stored per layer (dlib's default is
  kernel/2 for stride 1 and none for stride 2), output 1 + (size + 2 pad - kernel) // stride;
- affine_ (a batch norm frozen to scale and shift; bn_con layers are converted on load the way
  dlib does it) follows every convolution here, so it is folded into the convolution's weights;
- max_pool/avg_pool without padding (every window inside the picture), avg_pool_everything as
  a global average;
- add_prev adds two tensors of different shapes the way tt::add does: the result has the larger
  of each dimension, and each input counts as zero outside its own extent. The ResNet depends on
  it: in its third down block the 3x3 residual branch meets the 4x4 pooled shortcut, and in the
  fourth the 1x1 branch meets a 2x2 shortcut; channels, too, are zero-padded on the shortcut.
- fc_no_bias: x (flattened C*H*W) times a (inputs, outputs) matrix.
The MMOD detector's graph is the convolutional network only; its image pyramid and the loss
layer's decoding are numpy, in dlib_mmod.py.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from . import onnx_sessions
from .dlib_serialize import MMOD_FILE, RESNET_FILE, Net, read
from .onnx_builder import GraphBuilder

CONVERTER_VERSION = 1  # part of the cache key: a changed converter never reads an older file


# -- graph building --------------------------------------------------------------------------------


_Graph = GraphBuilder  # nodes and initializers of a graph under construction


@dataclass
class _Value:
    name: str
    shape: tuple[int | None, int | None, int | None]  # C, H, W; None where the size is symbolic


def _out_size(size: int | None, kernel: int, stride: int, pad: int) -> int | None:
    return None if size is None else 1 + (size + 2 * pad - kernel) // stride


def _conv(g: _Graph, x: _Value, p: dict, affine: dict | None) -> _Value:
    w = p["weight"].astype(np.float64)
    b = p["bias"].astype(np.float64)
    if affine is not None:
        if affine["mode"] != 0:
            raise ValueError("an affine layer in FC mode after a convolution is not supported")
        scale = affine["gamma"].reshape(-1).astype(np.float64)
        w = w * scale[:, None, None, None]
        b = b * scale + affine["beta"].reshape(-1).astype(np.float64)
    (sy, sx), (py, px) = p["stride"], p["pad"]
    kh, kw = w.shape[2:]
    y = g.op(
        "Conv",
        [x.name, g.const(w.astype(np.float32), "weight"), g.const(b.astype(np.float32), "bias")],
        kernel_shape=[kh, kw],
        strides=[sy, sx],
        pads=[py, px, py, px],
    )
    _, h, wd = x.shape
    return _Value(y, (w.shape[0], _out_size(h, kh, sy, py), _out_size(wd, kw, sx, px)))


def _pool(g: _Graph, x: _Value, p: dict, kind: str) -> _Value:
    (kh, kw), (sy, sx), (py, px) = p["window"], p["stride"], p["pad"]
    c, h, w = x.shape
    if kh == 0 and kw == 0:  # avg_pool_everything: the window is the whole picture
        op = "GlobalAveragePool" if kind == "avg_pool" else "GlobalMaxPool"
        return _Value(g.op(op, [x.name]), (c, 1, 1))
    if py or px:
        # dlib averages over the window's part inside the picture; no layer of these nets pads.
        raise ValueError("padded pooling is not supported")
    op = "AveragePool" if kind == "avg_pool" else "MaxPool"
    y = g.op(op, [x.name], kernel_shape=[kh, kw], strides=[sy, sx], pads=[0, 0, 0, 0])
    return _Value(y, (c, _out_size(h, kh, sy, 0), _out_size(w, kw, sx, 0)))


def _padded_to(g: _Graph, x: _Value, shape: tuple) -> str:
    """x zero-padded at the end of each dimension up to `shape` (as dlib's tt::add reads it)."""
    extra = [t - s for s, t in zip(x.shape, shape)]
    if not any(extra):
        return x.name
    pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
    return g.op("Pad", [x.name, g.const(pads, "pads")], mode="constant")


def _add(g: _Graph, a: _Value, b: _Value) -> _Value:
    if None in a.shape or None in b.shape:
        if a.shape != b.shape:
            raise ValueError("add_prev of tensors of different, unknown sizes")
        return _Value(g.op("Add", [a.name, b.name]), a.shape)
    shape = tuple(max(s, t) for s, t in zip(a.shape, b.shape))
    return _Value(g.op("Add", [_padded_to(g, a, shape), _padded_to(g, b, shape)]), shape)


def _layers(g: _Graph, net: Net, x: _Value) -> _Value:
    """The network above the input, bottom up; tags, skips and add_prev as dlib's core.h wires them."""
    tags: dict[int, _Value] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        p = layer.params
        if layer.kind == "con":
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            fold = nxt is not None and nxt.kind == "affine"
            x = _conv(g, x, p, nxt.params if fold else None)
            i += 2 if fold else 1
            continue
        if layer.kind == "affine":  # not after a convolution: a per-channel scale and shift
            c = x.shape[0]
            gamma = g.const(p["gamma"].reshape(1, c, 1, 1).astype(np.float32), "gamma")
            beta = g.const(p["beta"].reshape(1, c, 1, 1).astype(np.float32), "beta")
            x = _Value(g.op("Add", [g.op("Mul", [x.name, gamma]), beta]), x.shape)
        elif layer.kind == "relu":
            x = _Value(g.op("Relu", [x.name]), x.shape)
        elif layer.kind in ("max_pool", "avg_pool"):
            x = _pool(g, x, p, layer.kind)
        elif layer.kind == "tag":
            tags[layer.tag] = x
        elif layer.kind == "skip":
            x = tags[layer.tag]
        elif layer.kind == "add_prev":
            x = _add(g, x, tags[layer.tag])
        elif layer.kind == "fc":
            flat = g.op("Flatten", [x.name], axis=1)
            y = g.op("MatMul", [flat, g.const(p["weight"].astype(np.float32), "fc")])
            if p["bias"] is not None:
                y = g.op("Add", [y, g.const(p["bias"].astype(np.float32), "fc_bias")])
            x = _Value(y, (p["weight"].shape[1], None, None))
        else:
            raise ValueError(f"layer {layer.kind!r} is not supported")
        i += 1
    return x


def resnet_graph(net: Net, meta: dict[str, str] | None = None):
    """chips: uint8 [N, 150, 150, 3] RGB (dlib.get_face_chips' chips) -> embeddings: float [N, 128]."""
    from onnx import TensorProto, helper

    size = net.input["size"]
    g = _Graph()
    mean = np.array(net.input["mean_rgb"], dtype=np.float32)
    x = g.op("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.op("Mul", [g.op("Sub", [x, g.const(mean, "mean")]), g.const(np.float32(1 / 256), "scale")])
    x = _Value(g.op("Transpose", [x], perm=[0, 3, 1, 2]), (3, size[0], size[1]))
    out = _layers(g, net, x)
    g.op("Identity", [out.name], "embeddings")
    return g.model(
        "dlib_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", size[0], size[1], 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", out.shape[0]])],
        meta or {},
    )


def mmod_graph(net: Net, meta: dict[str, str] | None = None):
    """image: float [N, 3, H, W] (the tiled pyramid, already (pixel - mean) / 256) -> scores:
    float [N, windows, H', W'], one channel per detector window."""
    from onnx import TensorProto, helper

    g = _Graph()
    out = _layers(g, net, _Value("image", (3, None, None)))
    g.op("Identity", [out.name], "scores")
    return g.model(
        "dlib_mmod_human_face_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", out.shape[0], "Ho", "Wo"])],
        meta or {},
    )


def output_to_input(net: Net) -> tuple[np.ndarray, np.ndarray]:
    """How an output cell (x, y) maps to input-tensor pixels: (scale, offset) per axis (y, x), as
    dlib's output_tensor_to_input_tensor composes each con_'s map_output_to_input
    (p * stride - pad + kernel // 2) from the top layer down."""
    scale, offset = np.ones(2), np.zeros(2)
    for layer in reversed(net.layers):
        if layer.kind == "con":
            p = layer.params
            stride, pad = np.array(p["stride"], float), np.array(p["pad"], float)
            half = np.array(p["weight"].shape[2:], float) // 2
            # p_in = p_out * stride - pad + half, applied below everything already composed
            offset = offset * stride - pad + half
            scale = scale * stride
        elif layer.kind in ("max_pool", "avg_pool"):
            raise ValueError("pooling in a detector network is not supported")
    return scale, offset


# -- converted files: built once, cached next to the attribute models ------------------------------

BUILDERS = {RESNET_FILE: resnet_graph, MMOD_FILE: mmod_graph}


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    from .model_store import models_dir

    return models_dir() / "dlib"


def cached_name(dat_name: str, sha256: str) -> str:
    return f"{Path(dat_name).stem}-{sha256[:16]}-c{CONVERTER_VERSION}.onnx"


def convert(dat_path: str | os.PathLike, sha256: str | None = None) -> bytes:
    """The serialised ONNX model of a .dat file (its name says which network it is)."""
    name = Path(dat_path).name
    sha256 = sha256 or sha256_of(dat_path)
    meta = {"source": name, "source_sha256": sha256, "converter_version": str(CONVERTER_VERSION)}
    return BUILDERS[name](read(dat_path, name), meta).SerializeToString()


@cache
def model_bytes_or_path(dat_path: str) -> str | bytes:
    """The converted model of `dat_path`: the cached file's path when there is one (or one can be
    written, atomically, so that other processes find it), else the model's bytes, kept in memory."""
    sha = sha256_of(dat_path)
    folder = cache_dir()
    path = folder / cached_name(Path(dat_path).name, sha)
    if _is_current(path, sha):
        return str(path)
    data = convert(dat_path, sha)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # readable by the service's other users, as the attribute models are
            os.replace(tmp, path)  # another process writing the same file at once writes the same bytes
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return data  # a read-only models folder: this process keeps its own copy
    return str(path)


def _is_current(path: Path, sha256: str) -> bool:
    """The cached file exists and was made from this very .dat (its metadata says so)."""
    if not path.is_file():
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # damaged: rebuilt and replaced
        return False
    meta = {p.key: p.value for p in model.metadata_props}
    return meta.get("source_sha256") == sha256 and meta.get("converter_version") == str(CONVERTER_VERSION)


# -- running the graphs ----------------------------------------------------------------------------


def session(dat_name: str, threads: int | None = None):
    """One ONNX Runtime session per network, thread count and process (onnx_sessions.py), built on
    first use."""
    from .models import weights_path

    return onnx_sessions.session_of(model_bytes_or_path(weights_path(dat_name)), threads)


RESNET_BATCH = 32  # chips per run: about 25 MB of activations each


def resnet_embed(chips, threads: int | None = None) -> np.ndarray:
    """dlib's 128-D embeddings of 150x150 RGB uint8 chips, several chips per run."""
    if len(chips) == 0:
        return np.zeros((0, 128), dtype=np.float32)
    batch = np.ascontiguousarray(np.stack([np.asarray(c) for c in chips]), dtype=np.uint8)
    if batch.shape[1:] != (150, 150, 3):
        raise ValueError(f"chips must be 150x150 RGB, not {batch.shape[1:]}")
    sess = session(RESNET_FILE, threads)
    parts = [
        sess.run(None, {"chips": batch[i : i + RESNET_BATCH]})[0] for i in range(0, len(batch), RESNET_BATCH)
    ]
    return np.concatenate(parts).astype(np.float32)
