"""Convert a TensorFlow.js graph model (model.json + weight shards) to ONNX, without TensorFlow.

Tensors keep TensorFlow's channels-last layout throughout; only convolutions and pools, which
ONNX defines channels-first, are wrapped in a pair of Transposes. ONNX Runtime's optimiser
cancels the pairs between neighbouring convolutions, so the wrapping costs nothing at run time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OPSET = 17
_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTISED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class ConversionError(ValueError):
    """The model cannot be converted (an unknown op, an attribute this converter does not handle)."""


def read_weights(manifest: list[dict], read: Callable[[str], bytes]) -> dict[str, np.ndarray]:
    """Weights by name from a weightsManifest; `read` returns a shard's bytes by its path.

    Quantised weights are stored as uint8/uint16 (value = q * scale + min) or float16.
    """
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        buf = b"".join(read(p) for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                raw = np.dtype(_QUANTISED[q["dtype"]])
                data = np.frombuffer(buf, raw, count, offset)
                offset += count * raw.itemsize
                if q["dtype"] == "float16":
                    value = data.astype(np.float32)
                else:
                    value = data.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                value = value.astype(_DTYPES[w["dtype"]])
            else:
                if w["dtype"] not in _DTYPES:
                    raise ConversionError(
                        f"weight {w['name']!r} has dtype {w['dtype']!r}, which is not supported"
                    )
                dt = np.dtype(_DTYPES[w["dtype"]])
                value = np.frombuffer(buf, dt, count, offset).copy()
                offset += count * dt.itemsize
            if offset > len(buf):
                raise ConversionError(f"the weight shards end before weight {w['name']!r}")
            out[w["name"]] = value.reshape(shape)
        if offset != len(buf):
            raise ConversionError(
                f"weight shards {group['paths']} hold {len(buf) - offset} bytes no weight claims"
            )
    return out


def _attr(node: dict, key: str, default=None):
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "type" in a:
        return a["type"]
    return default


@dataclass
class _Builder:
    consts: dict[str, np.ndarray]
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    _n: int = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}__{self._n}"

    def const(self, value: np.ndarray, hint: str = "const") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or self.fresh(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.fresh(op_type), **attrs))
        return output

    def value(self, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise ConversionError(f"{what} must be a constant; {name!r} is computed by the graph")
        return self.consts[name]


def _pads(node: dict) -> dict:
    padding = _attr(node, "padding", "VALID")
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}  # TensorFlow puts the odd pixel at the end, as SAME_UPPER does
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    if padding == "EXPLICIT":
        p = _attr(node, "explicit_paddings")
        return {"pads": [p[2], p[4], p[3], p[5]]}
    raise ConversionError(f"{node['name']}: padding {padding!r} is not supported")


def _check_nhwc(node: dict) -> None:
    fmt = _attr(node, "data_format", "NHWC")
    if fmt != "NHWC":
        raise ConversionError(f"{node['name']}: data_format {fmt!r} is not supported (only NHWC)")


def _activation(b: _Builder, name: str, x: str, out: str, node: dict, extra: list[str]) -> str:
    if name == "Relu":
        return b.op("Relu", [x], out)
    if name == "Relu6":
        return b.op("Clip", [x, b.const(np.float32(0)), b.const(np.float32(6))], out)
    if name == "Elu":
        return b.op("Elu", [x], out)
    if name == "Sigmoid":
        return b.op("Sigmoid", [x], out)
    if name == "Tanh":
        return b.op("Tanh", [x], out)
    if name == "LeakyRelu":
        return b.op("LeakyRelu", [x], out, alpha=float(_attr(node, "leakyrelu_alpha", 0.2)))
    if name == "Prelu":
        return b.op("PRelu", [x, extra[0]], out)
    raise ConversionError(f"{node['name']}: fused activation {name!r} is not supported")


def _fused_tail(b: _Builder, node: dict, x: str, out: str, args: list[str], bias_in_op: bool) -> str:
    """Apply `fused_ops` after a Conv/MatMul; BiasAdd is already inside the op when `bias_in_op`."""
    ops = _attr(node, "fused_ops", [])
    if not ops:
        return b.op("Identity", [x], out)
    rest = list(args)
    if ops[0] != "BiasAdd":
        raise ConversionError(f"{node['name']}: fused ops {ops} are not supported (expected BiasAdd first)")
    bias = rest.pop(0)
    if not bias_in_op:
        x = b.op("Add", [x, bias])
    if len(ops) == 1:
        return b.op("Identity", [x], out)
    if len(ops) > 2:
        raise ConversionError(f"{node['name']}: fused ops {ops} are not supported")
    return _activation(b, ops[1], x, out, node, rest)


def _conv(b: _Builder, node: dict, ins: list[str], out: str, depthwise: bool) -> str:
    _check_nhwc(node)
    w = b.value(ins[1], f"{node['name']}: the filter")
    strides, dil = _attr(node, "strides", [1, 1, 1, 1]), _attr(node, "dilations", [1, 1, 1, 1])
    if depthwise:
        h, k, cin, mult = w.shape
        weight = w.reshape(h, k, 1, cin * mult).transpose(3, 2, 0, 1)
        group = cin
    else:
        weight, group = w.transpose(3, 2, 0, 1), 1
    fused = "Fused" in node["op"]
    extra = ins[2:] if fused else []
    conv_in = [b.op("Transpose", [ins[0]], perm=_TO_NCHW), b.const(weight.astype(np.float32), "filter")]
    if fused and _attr(node, "fused_ops", []) and _attr(node, "fused_ops")[0] == "BiasAdd":
        conv_in.append(
            b.const(b.value(extra[0], f"{node['name']}: the bias").astype(np.float32).reshape(-1), "bias")
        )
    y = b.op("Conv", conv_in, group=group, strides=strides[1:3], dilations=dil[1:3], **_pads(node))
    y = b.op("Transpose", [y], perm=_TO_NHWC)
    if not fused:
        return b.op("Identity", [y], out)
    return _fused_tail(b, node, y, out, extra, bias_in_op=True)


def _pool(b: _Builder, node: dict, ins: list[str], out: str) -> str:
    _check_nhwc(node)
    k, s = _attr(node, "ksize"), _attr(node, "strides")
    kind = "MaxPool" if node["op"] == "MaxPool" else "AveragePool"
    x = b.op("Transpose", [ins[0]], perm=_TO_NCHW)
    extra = {"count_include_pad": 0} if kind == "AveragePool" else {}
    y = b.op(kind, [x], kernel_shape=k[1:3], strides=s[1:3], **_pads(node), **extra)
    return b.op("Transpose", [y], out, perm=_TO_NHWC)


def _matmul(b: _Builder, node: dict, ins: list[str], out: str) -> str:
    a, m = ins[0], ins[1]
    batched = node["op"] == "BatchMatMulV2"  # rank unknown here: only constants can be transposed

    def transposed(x: str, which: str) -> str:
        if x in b.consts:
            return b.const(np.swapaxes(b.consts[x], -1, -2).copy(), "matrix")
        if batched:
            raise ConversionError(
                f"{node['name']}: BatchMatMulV2 with {which} on a computed tensor is not supported"
            )
        return b.op("Transpose", [x], perm=[1, 0])

    if _attr(node, "transpose_a", False) or _attr(node, "adj_x", False):
        a = transposed(a, "adj_x")
    if _attr(node, "transpose_b", False) or _attr(node, "adj_y", False):
        m = transposed(m, "adj_y")
    y = b.op("MatMul", [a, m])
    if node["op"] == "_FusedMatMul":
        return _fused_tail(b, node, y, out, ins[2:], bias_in_op=False)
    return b.op("Identity", [y], out)


def _reduce(b: _Builder, node: dict, ins: list[str], out: str) -> str:
    kind = {
        "Mean": "ReduceMean",
        "Max": "ReduceMax",
        "Min": "ReduceMin",
        "Sum": "ReduceSum",
        "Prod": "ReduceProd",
    }[node["op"]]
    axes = np.atleast_1d(b.value(ins[1], f"{node['name']}: the axes")).astype(np.int64)
    if axes.size == 0:  # TensorFlow reduces nothing; ONNX's empty axes would reduce everything
        return b.op("Identity", [ins[0]], out)
    keep = int(bool(_attr(node, "keep_dims", False)))
    if kind == "ReduceSum":  # ReduceSum takes its axes as an input from opset 13
        return b.op(kind, [ins[0], b.const(axes, "axes")], out, keepdims=keep)
    return b.op(kind, [ins[0]], out, axes=[int(a) for a in axes], keepdims=keep)


def _strided_slice(b: _Builder, node: dict, ins: list[str], out: str) -> str:
    begin = b.value(ins[1], f"{node['name']}: begin").astype(np.int64)
    end = b.value(ins[2], f"{node['name']}: end").astype(np.int64)
    strides = b.value(ins[3], f"{node['name']}: strides").astype(np.int64)
    if _attr(node, "ellipsis_mask", 0) or _attr(node, "new_axis_mask", 0):
        raise ConversionError(
            f"{node['name']}: StridedSlice with ellipsis or new-axis masks is not supported"
        )
    bm, em, sm = _attr(node, "begin_mask", 0), _attr(node, "end_mask", 0), _attr(node, "shrink_axis_mask", 0)
    big = np.iinfo(np.int64).max
    starts, ends = [], []
    for i, (s0, e0, st) in enumerate(zip(begin, end, strides)):
        if sm >> i & 1:
            starts.append(s0)
            ends.append(s0 + 1 if s0 != -1 else big)
            continue
        starts.append((0 if st > 0 else -1) if bm >> i & 1 else s0)
        ends.append((big if st > 0 else -big) if em >> i & 1 else e0)
    axes = np.arange(len(begin), dtype=np.int64)
    y = b.op(
        "Slice",
        [
            ins[0],
            b.const(np.array(starts, np.int64)),
            b.const(np.array(ends, np.int64)),
            b.const(axes),
            b.const(strides),
        ],
    )
    shrink = [i for i in range(len(begin)) if sm >> i & 1]
    if shrink:
        return b.op("Squeeze", [y, b.const(np.array(shrink, np.int64))], out)
    return b.op("Identity", [y], out)


_ELEMENTWISE = {
    "Add": "Add",
    "AddV2": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "RealDiv": "Div",
    "Div": "Div",
    "Minimum": "Min",
    "Maximum": "Max",
    "Pow": "Pow",
}
_UNARY = {
    "Relu": "Relu",
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
    "Elu": "Elu",
    "Exp": "Exp",
    "Neg": "Neg",
    "Abs": "Abs",
    "Sqrt": "Sqrt",
    "Floor": "Floor",
    "Identity": "Identity",
    "Log": "Log",
}


def _convert_node(b: _Builder, node: dict, ins: list[str], out: str) -> None:
    op = node["op"]
    if op in _ELEMENTWISE:
        b.op(_ELEMENTWISE[op], ins[:2], out)
    elif op in _UNARY:
        b.op(_UNARY[op], ins[:1], out)
    elif op == "Relu6":
        _activation(b, "Relu6", ins[0], out, node, [])
    elif op == "LeakyRelu":  # the op's own attribute is "alpha"; fused into a conv, "leakyrelu_alpha"
        b.op("LeakyRelu", ins[:1], out, alpha=float(_attr(node, "alpha", 0.2)))
    elif op == "Prelu":
        b.op("PRelu", ins[:2], out)
    elif op == "Rsqrt":
        b.op("Reciprocal", [b.op("Sqrt", ins[:1])], out)
    elif op == "Square":
        b.op("Mul", [ins[0], ins[0]], out)
    elif op == "AddN":
        b.op("Sum", ins, out)
    elif op == "Softmax":
        b.op("Softmax", ins[:1], out, axis=-1)
    elif op in ("Conv2D", "_FusedConv2D"):
        _conv(b, node, ins, out, depthwise=False)
    elif op in ("DepthwiseConv2dNative", "_FusedDepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        _conv(b, node, ins, out, depthwise=True)
    elif op in ("MaxPool", "AvgPool"):
        _pool(b, node, ins, out)
    elif op in ("MatMul", "_FusedMatMul", "BatchMatMulV2"):
        _matmul(b, node, ins, out)
    elif op in ("Mean", "Max", "Min", "Sum", "Prod"):
        _reduce(b, node, ins, out)
    elif op == "Reshape":
        if ins[1] in b.consts:
            shape = b.const(b.consts[ins[1]].astype(np.int64), "shape")
        else:  # a shape computed from other shapes (a dynamic batch): int32 in TensorFlow, int64 in ONNX
            shape = b.op("Cast", [ins[1]], to=_ONNX_INT64)
        b.op("Reshape", [ins[0], shape], out)
    elif op == "Shape":
        if _attr(node, "out_type", "DT_INT32") == "DT_INT64":
            b.op("Shape", ins[:1], out)
        else:
            b.op("Cast", [b.op("Shape", ins[:1])], out, to=_ONNX_INT32)
    elif op == "DepthToSpace":
        _check_nhwc(node)
        # TensorFlow's NHWC depth order (row, column, channel) is ONNX's DCR mode.
        x = b.op("Transpose", [ins[0]], perm=_TO_NCHW)
        y = b.op("DepthToSpace", [x], blocksize=int(_attr(node, "block_size")), mode="DCR")
        b.op("Transpose", [y], out, perm=_TO_NHWC)
    elif op == "ResizeBilinear":
        _resize_bilinear(b, node, ins, out)
    elif op == "ExpandDims":
        axis = np.atleast_1d(b.value(ins[1], f"{node['name']}: the axis")).astype(np.int64)
        b.op("Unsqueeze", [ins[0], b.const(axis, "axes")], out)
    elif op == "Squeeze":
        axes = _attr(node, "squeeze_dims", [])
        b.op("Squeeze", [ins[0]] + ([b.const(np.array(axes, np.int64))] if axes else []), out)
    elif op == "StridedSlice":
        _strided_slice(b, node, ins, out)
    elif op in ("Pad", "PadV2", "MirrorPad"):
        p = b.value(ins[1], f"{node['name']}: the paddings").astype(np.int64)
        pads = b.const(np.concatenate([p[:, 0], p[:, 1]]), "pads")
        if op == "MirrorPad":
            mode = {"REFLECT": "reflect", "SYMMETRIC": None}[_attr(node, "mode", "REFLECT")]
            if mode is None:
                raise ConversionError(f"{node['name']}: MirrorPad SYMMETRIC is not supported")
            b.op("Pad", [ins[0], pads], out, mode=mode)
        else:
            value = [ins[2]] if op == "PadV2" else []
            b.op("Pad", [ins[0], pads] + value, out, mode="constant")
    elif op == "ConcatV2":
        axis = int(b.value(ins[-1], f"{node['name']}: the axis"))
        b.op("Concat", ins[:-1], out, axis=axis)
    elif op == "Pack":
        axis = _attr(node, "axis", 0)
        ax = b.const(np.array([axis], np.int64), "axes")
        b.op("Concat", [b.op("Unsqueeze", [i, ax]) for i in ins], out, axis=axis)
    elif op == "Transpose":
        perm = b.value(ins[1], f"{node['name']}: the permutation")
        b.op("Transpose", [ins[0]], out, perm=[int(v) for v in perm])
    else:
        raise ConversionError(f"{node['name']}: TensorFlow op {op!r} is not supported by this converter")


_ONNX_INT32, _ONNX_INT64 = 6, 7  # onnx.TensorProto.INT32, INT64


def _resize_bilinear(b: _Builder, node: dict, ins: list[str], out: str) -> str:
    """TensorFlow's ResizeBilinear (NHWC, a constant output size) as ONNX Resize over all four axes."""
    size = b.value(ins[1], f"{node['name']}: the size").astype(np.int64).reshape(2)
    if _attr(node, "align_corners", False):
        mode = "align_corners"
    elif _attr(node, "half_pixel_centers", False):
        # TensorFlow clamps source coordinates below 0 to the first pixel, as ONNX Runtime does
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    shape = b.op("Shape", [ins[0]])
    batch = b.op("Slice", [shape, b.const(np.array([0], np.int64)), b.const(np.array([1], np.int64))])
    chans = b.op("Slice", [shape, b.const(np.array([3], np.int64)), b.const(np.array([4], np.int64))])
    sizes = b.op("Concat", [batch, b.const(size, "size"), chans], axis=0)
    return b.op(
        "Resize",
        [ins[0], "", "", sizes],
        out,
        mode="linear",
        coordinate_transformation_mode=mode,
    )


def _input_name(ref: str) -> str:
    name, _, index = ref.partition(":")
    if index not in ("", "0"):
        raise ConversionError(f"input {ref!r}: only an op's first output can be used")
    return name


def _in_order(nodes: list[dict], roots: list[str] | None = None) -> list[dict]:
    """The nodes with every node after the nodes it reads (model.json need not list them so); only
    those that `roots` read, when given."""
    by_name = {n["name"]: n for n in nodes}
    done: set[str] = set()
    open_: set[str] = set()  # on the current path: meeting one again is a cycle
    out: list[dict] = []
    for start in [by_name[r] for r in roots] if roots is not None else nodes:
        stack = [(start["name"], False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                open_.discard(name)
                done.add(name)
                out.append(by_name[name])
                continue
            if name in done:
                continue
            if name in open_:
                raise ConversionError(f"{name}: the graph has a cycle (control flow is not supported)")
            open_.add(name)
            stack.append((name, True))
            for ref in by_name[name].get("input", []):
                dep = _input_name(ref.lstrip("^"))
                if dep not in by_name:
                    raise ConversionError(f"{name}: reads {dep!r}, which the graph does not define")
                if dep not in done:
                    stack.append((dep, False))
    return out


def convert(
    model_json: dict,
    weights: dict[str, np.ndarray],
    name: str = "model",
    outputs: list[str] | None = None,
    inputs: dict[str, list[int]] | None = None,
):
    """An onnx.ModelProto computing the same outputs as the TF.js graph model.

    `outputs` and `inputs` cut a part out of the graph: the named nodes' values become the
    outputs, and the nodes named in `inputs` become float inputs of the given shape (-1: any
    size), replacing what computed them. A graph whose pre- or post-processing the converter
    cannot express (control flow, non-maximum suppression) is converted this way, its ends left
    to numpy."""
    import onnx
    from onnx import TensorProto, helper

    if model_json.get("format") != "graph-model":
        raise ConversionError(
            f"{name}: only TF.js graph models are supported, not {model_json.get('format')!r}"
        )
    topo = model_json["modelTopology"]
    if topo.get("library", {}).get("function") and outputs is None:
        raise ConversionError(f"{name}: graph functions (control flow) are not supported")
    all_nodes = topo["node"]
    if inputs:
        known = {n["name"] for n in all_nodes}
        missing = [i for i in inputs if i not in known]
        if missing:
            raise ConversionError(f"{name}: no node {missing[0]!r} to take as an input")
        all_nodes = [
            {
                "name": n["name"],
                "op": "Placeholder",
                "attr": {"shape": {"shape": {"dim": [{"size": str(d)} for d in inputs[n["name"]]]}}},
            }
            if n["name"] in inputs
            else n
            for n in all_nodes
        ]
    if outputs is not None:
        known = {n["name"] for n in all_nodes}
        missing = [o for o in outputs if o not in known]
        if missing:
            raise ConversionError(f"{name}: no node {missing[0]!r} to take as an output")
    nodes = _in_order(all_nodes, outputs)
    consts = {n["name"]: weights[n["name"]] for n in nodes if n["op"] == "Const" and n["name"] in weights}
    missing = [n["name"] for n in nodes if n["op"] == "Const" and n["name"] not in weights]
    if missing:
        raise ConversionError(f"{name}: constants without weights: {missing[:5]}")
    b = _Builder(consts=consts)
    consumed = {_input_name(i) for n in nodes for i in n.get("input", []) if not i.startswith("^")}
    graph_inputs = []
    for node in nodes:
        op = node["op"]
        if op == "Const":
            continue
        if op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in _attr_shape(node)]
            # each unknown size its own symbol: the batch N, any other (an image's height, width) apart
            shape = [("N" if i == 0 else f"size{i}") if d < 0 else d for i, d in enumerate(dims)]
            graph_inputs.append(helper.make_tensor_value_info(node["name"], TensorProto.FLOAT, shape))
            continue
        ins = [_input_name(i) for i in node.get("input", []) if not i.startswith("^")]
        _convert_node(b, node, ins, node["name"])
    output_names = outputs or [
        n["name"] for n in nodes if n["op"] not in ("Const", "Placeholder") and n["name"] not in consumed
    ]
    # Constants the graph reads as tensors (not folded into attributes above) become initializers.
    used = {i for n in b.nodes for i in n.input}
    for cname in sorted(used & consts.keys()):
        v = consts[cname]
        b.initializers.append(
            onnx.numpy_helper.from_array(v.astype(np.float32) if v.dtype != np.int32 else v, cname)
        )
    graph = helper.make_graph(b.nodes, name, graph_inputs, [], b.initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="faceledger"
    )
    model.ir_version = 8
    # The outputs' shapes come from ONNX's own shape inference.
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    for out in output_names:
        if out not in inferred:
            raise ConversionError(f"{name}: the shape of output {out!r} could not be inferred")
        model.graph.output.append(inferred[out])
    onnx.checker.check_model(model, full_check=True)
    return model


def _attr_shape(node: dict) -> list[dict]:
    """A Placeholder's dims: attr.shape is {"shape": {"dim": [...]}}, or the shape itself in older files."""
    shape = node.get("attr", {}).get("shape", {})
    return shape.get("shape", shape).get("dim", [])


def convert_files(model_json_path: Path):
    """Convert model.json and the shards beside it."""
    model_json = json.loads(model_json_path.read_text())
    folder = model_json_path.parent
    weights = read_weights(model_json["weightsManifest"], lambda p: (folder / p).read_bytes())
    return convert(model_json, weights, model_json_path.stem)
