"""An ONNX graph written by hand: nodes and initializers under fresh names, then one checked model.

Shared by the graphs faceledger builds itself around weights that come without one: dlib's
networks (dlib_onnx.py), face-api's two detectors (detectors/faceapi_graphs.py) and
EfficientNet-Lite0 (efficientnet_onnx.py).
"""

from __future__ import annotations

import numpy as np

OPSET = 17
IR_VERSION = 8


class GraphBuilder:
    """Nodes and initializers of a graph under construction; `w` the weights it is built from."""

    def __init__(self, weights: dict[str, np.ndarray] | None = None):
        self.w = weights if weights is not None else {}
        self.nodes: list = []
        self.initializers: list = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), **attrs))
        return output

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const(np.float32(0), "zero"), self.const(np.float32(6), "six")])

    def model(self, name: str, inputs: list, outputs: list, meta: dict[str, str] | None = None):
        """The finished onnx.ModelProto (opset OPSET), `meta` as its metadata, checked in full."""
        import onnx
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceledger"
        )
        model.ir_version = IR_VERSION
        for key, value in (meta or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model, full_check=True)
        return model
