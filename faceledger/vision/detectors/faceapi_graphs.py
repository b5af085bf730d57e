"""face-api.js's two face detectors as ONNX graphs, built from their weight manifests.

face-api ships `ssd_mobilenetv1` and `tiny_face_detector` as TF.js weight manifests without a
graph: the architecture lives in its TypeScript. These builders write that architecture as ONNX
(channels-first inside, NHWC float input like the converted graph models) around the weights
that `tfjs_onnx.read_weights` reads; the decoding stays in numpy (`faceapi.py`).

- SSD MobileNetV1 (512x512, fixed: its 5,118 prior boxes are part of the weights): MobileNetV1
  (depthwise-separable convolutions with batch norm and ReLU6; the first convolution and layer
  11 feed the box predictor), eight more pointwise layers, and six box predictors (3 boxes on
  layer 11's 32x32 grid, 6 on each of the others). Outputs: box encodings [N, 5118, 4] (ty, tx,
  th, tw), class logits [N, 5118, 3] (index 1 is the face) and the prior boxes [5118, 4] (ymin,
  xmin, ymax, xmax in [0, 1]).
- Tiny face detector: a Tiny-YOLOv2 whose convolutions are depthwise separable (a plain 3x3
  first layer without padding, five separable layers with 2x2 max pools, leaky ReLU 0.1), fully
  convolutional: any input whose sides are multiples of 32. Output: [N, H/32, W/32, 25], five
  anchor boxes of (tx, ty, tw, th, score logit) per cell.
"""

from __future__ import annotations

import numpy as np

from ..onnx_builder import GraphBuilder

SSD_INPUT = 512
BN_EPSILON = 0.0010000000474974513  # face-api's (TensorFlow's float32 1e-3)
LEAKY_ALPHA = 0.10000000149011612


class _Graph(GraphBuilder):
    def weight(self, key: str) -> np.ndarray:
        if key not in self.w:
            raise KeyError(f"the weight manifest has no {key!r}")
        return self.w[key].astype(np.float32)

    def conv(self, x: str, filters: np.ndarray, bias: np.ndarray | None, stride: int = 1, pad: str = "SAME"):
        """TensorFlow's HWIO filter on an NCHW tensor; SAME puts the odd pixel at the end."""
        ins = [x, self.const(filters.transpose(3, 2, 0, 1).astype(np.float32), "filter")]
        if bias is not None:
            ins.append(self.const(bias.reshape(-1).astype(np.float32), "bias"))
        pads = {"auto_pad": "SAME_UPPER"} if pad == "SAME" else {"auto_pad": "VALID"}
        return self.op("Conv", ins, strides=[stride, stride], **pads)

    def depthwise(self, x: str, filters: np.ndarray, stride: int = 1, pad: str = "SAME") -> str:
        h, k, cin, mult = filters.shape
        weight = filters.reshape(h, k, 1, cin * mult).transpose(3, 2, 0, 1).astype(np.float32)
        pads = {"auto_pad": "SAME_UPPER"} if pad == "SAME" else {"auto_pad": "VALID"}
        return self.op("Conv", [x, self.const(weight, "dw")], group=cin, strides=[stride, stride], **pads)


def build_ssd_mobilenetv1(weights: dict[str, np.ndarray]):
    """face-api's SSD MobileNetV1 face detector (see the module's docstring)."""
    from onnx import TensorProto, helper

    g = _Graph(weights)
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])

    def pointwise(x: str, prefix: str, stride: int) -> str:
        return g.relu6(
            g.conv(x, g.weight(f"{prefix}/weights"), g.weight(f"{prefix}/convolution_bn_offset"), stride)
        )

    out = pointwise(x, "MobilenetV1/Conv2d_0_pointwise", 2)
    conv11 = None
    for i in range(1, 14):
        p = f"MobilenetV1/Conv2d_{i}_depthwise"
        y = g.depthwise(out, g.weight(f"{p}/depthwise_weights"), 2 if i in (2, 4, 6, 12) else 1)
        y = g.op(
            "BatchNormalization",
            [
                y,
                g.const(g.weight(f"{p}/BatchNorm/gamma"), "gamma"),
                g.const(g.weight(f"{p}/BatchNorm/beta"), "beta"),
                g.const(g.weight(f"{p}/BatchNorm/moving_mean"), "mean"),
                g.const(g.weight(f"{p}/BatchNorm/moving_variance"), "var"),
            ],
            epsilon=BN_EPSILON,
        )
        out = pointwise(g.relu6(y), f"MobilenetV1/Conv2d_{i}_pointwise", 1)
        if i == 11:
            conv11 = out
    features = [conv11, out]
    y = out
    for i in range(8):
        y = pointwise(y, f"Prediction/Conv2d_{i}_pointwise", 2 if i % 2 else 1)
        if i % 2:
            features.append(y)  # layers 1, 3, 5, 7
    boxes, classes = [], []
    for i, f in enumerate(features):
        p = f"Prediction/BoxPredictor_{i}"
        for kind, width, acc in (("BoxEncodingPredictor", 4, boxes), ("ClassPredictor", 3, classes)):
            y = g.conv(f, g.weight(f"{p}/{kind}/weights"), g.weight(f"{p}/{kind}/biases"))
            y = g.op("Transpose", [y], perm=[0, 2, 3, 1])  # cells in TensorFlow's row-major order
            acc.append(g.op("Reshape", [y, g.const(np.array([0, -1, width], np.int64), "shape")]))
    g.op("Concat", boxes, "box_encodings", axis=1)
    g.op("Concat", classes, "class_logits", axis=1)
    priors = g.weight("Output/extra_dim").reshape(-1, 4)
    g.op("Identity", [g.const(priors, "priors")], "priors")
    n = len(priors)
    return g.model(
        "ssd_mobilenetv1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", SSD_INPUT, SSD_INPUT, 3])],
        [
            helper.make_tensor_value_info("box_encodings", TensorProto.FLOAT, ["N", n, 4]),
            helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, ["N", n, 3]),
            helper.make_tensor_value_info("priors", TensorProto.FLOAT, [n, 4]),
        ],
    )


def build_tiny_face_detector(weights: dict[str, np.ndarray]):
    """face-api's tiny face detector (see the module's docstring)."""
    from onnx import TensorProto, helper

    g = _Graph(weights)

    def leaky(x: str) -> str:
        return g.op("LeakyRelu", [x], alpha=LEAKY_ALPHA)

    def pool(x: str, stride: int) -> str:
        return g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[stride, stride], auto_pad="SAME_UPPER")

    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])
    y = leaky(g.conv(x, g.weight("conv0/filters"), g.weight("conv0/bias"), pad="VALID"))
    for i in range(1, 6):
        y = pool(y, 2)
        y = g.op("Pad", [y, g.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")], mode="constant")
        y = g.depthwise(y, g.weight(f"conv{i}/depthwise_filter"), pad="VALID")
        y = leaky(g.conv(y, g.weight(f"conv{i}/pointwise_filter"), g.weight(f"conv{i}/bias")))
    y = pool(y, 1)
    y = g.conv(y, g.weight("conv8/filters"), g.weight("conv8/bias"), pad="VALID")
    g.op("Transpose", [y], "output", perm=[0, 2, 3, 1])
    return g.model(
        "tiny_face_detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", "H32", "W32", 25])],
    )


BUILDERS = {
    "ssd_mobilenetv1": build_ssd_mobilenetv1,
    "tiny_face_detector": build_tiny_face_detector,
}
