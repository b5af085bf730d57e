"""What the ONNX face detectors share: detections with keypoints, one ONNX Runtime session per
model and process, non-maximum suppression (plain and MediaPipe's weighted), and the pyramid of
scales and overlapping tiles that lets a network with a small input find small faces in a large
picture.

Detections are vision/detection.py's, with the model's keypoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import model_store, onnx_sessions
from ..detection import Detection, rekognition_min_face


def session(name: str):
    """The installed model's ONNX Runtime session (see onnx_sessions.py)."""
    return onnx_sessions.session(str(model_store.onnx_path(name)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -100.0, 100.0)))


# -- candidates and non-maximum suppression ------------------------------------------------------


@dataclass
class Candidates:
    """Boxes (x0, y0, x1, y1), scores (0-1) and keypoints [n, k, 2] (k may be 0), in one frame."""

    boxes: np.ndarray
    scores: np.ndarray
    points: np.ndarray

    @staticmethod
    def empty(k: int = 0) -> Candidates:
        return Candidates(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0, k, 2)))

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, keep: np.ndarray) -> Candidates:
        return Candidates(self.boxes[keep], self.scores[keep], self.points[keep])

    def mapped(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Candidates:
        """From the pixels of a picture resized by `scale` (offset by dx, dy) to the original's."""
        shift = np.array([dx, dy])
        boxes = (self.boxes + np.tile(shift, 2)) / scale
        return Candidates(boxes, self.scores, (self.points + shift) / scale)

    @staticmethod
    def join(parts: list[Candidates], k: int) -> Candidates:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Candidates.empty(k)
        return Candidates(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.points for p in parts]),
        )


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(c: Candidates, iou: float, max_out: int = 1000) -> Candidates:
    """Plain NMS: the best box, then the next that overlaps no kept box by more than `iou`."""
    order = np.argsort(-c.scores, kind="stable")
    keep: list[int] = []
    while len(order) and len(keep) < max_out:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_one_to_many(c.boxes[i], c.boxes[rest]) <= iou]
    return c.take(np.array(keep, dtype=np.int64))


def weighted_nms(c: Candidates, iou: float, max_out: int = 1000) -> Candidates:
    """MediaPipe's weighted NMS: the best box with every box overlapping it by more than `iou`
    averaged into it (box and keypoints weighted by score), keeping the best score."""
    order = np.argsort(-c.scores, kind="stable")
    boxes, scores, points = [], [], []
    while len(order) and len(scores) < max_out:
        i = order[0]
        overlap = iou_one_to_many(c.boxes[i], c.boxes[order])
        group = order[overlap > iou]
        group = group if len(group) else order[:1]
        w = c.scores[group][:, None]
        boxes.append((c.boxes[group] * w).sum(0) / w.sum())
        points.append((c.points[group] * w[:, :, None]).sum(0) / w.sum())
        scores.append(c.scores[i])
        order = order[overlap <= iou]
    if not scores:
        return Candidates.empty(c.points.shape[1])
    return Candidates(np.array(boxes), np.array(scores), np.array(points))


# -- the pyramid ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One scale of the pyramid: the picture resized by `scale`, cut into `tile`-px squares at
    `xs` x `ys` (offsets in the resized picture), each tile owning the part of the picture nearer
    its centre than its neighbours' (`owns_x`, `owns_y`: [start, end) per offset)."""

    scale: float
    tile: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]
    owns_x: tuple[tuple[float, float], ...]
    owns_y: tuple[tuple[float, float], ...]

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)


def _offsets(length: int, tile: int, overlap: int) -> tuple[tuple[int, ...], tuple[tuple[float, float], ...]]:
    """Tile offsets covering [0, length) with at least `overlap` px shared by neighbours, the last
    tile flush with the end; and the span each owns (split at the middle of each overlap)."""
    if length <= tile:
        return (0,), ((-math.inf, math.inf),)
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    offs = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    cuts = [(offs[i + 1] + offs[i] + tile) / 2.0 for i in range(n - 1)]
    owns = tuple(zip([-math.inf, *cuts], [*cuts, math.inf]))
    return tuple(offs), owns


def plan(
    height: int,
    width: int,
    native: int | None,
    face_range: tuple[float, float],
    min_face: float,
    step: float = 2.0,
    max_pixels: int = 36_000_000,
) -> list[Level]:
    """The scales (and tiles) at which a network that finds faces of `face_range` px (box side,
    in its own input's pixels) sees every face of `min_face` px or more of this picture.

    The finest level brings `min_face` to the range's low end; each next one is `step` times
    coarser, so that a level is responsible for faces from the low end to `step` times it (the
    next level sees larger ones at its own low end), down to the level at which the whole
    picture fits the input (`native`, a fixed input: letterboxed) or its shorter side fits the
    range's high end (a fully convolutional network, which sees each level whole). A
    fixed-input network's level is cut into tiles of `native` px; neighbours share a little
    more than the largest face the level is responsible for, so that each such face lies whole
    in the tile that owns its centre. A step of 2 costs least: a larger one needs wider
    overlaps, a smaller one more levels."""
    lo, hi = face_range
    longest, shortest = max(height, width), min(height, width)
    scale = min(lo / min_face, math.sqrt(max_pixels / float(height * width)))
    whole_span = ((-math.inf, math.inf),)
    levels: list[Level] = []
    if native is None:
        while True:
            levels.append(Level(scale, 0, (0,), (0,), whole_span, whole_span))
            if shortest * scale <= hi or len(levels) >= 12:
                return levels
            scale /= step
    whole = native / float(longest)
    overlap = min(native // 2, int(math.ceil(lo * step * 1.15)))
    while scale > whole * 1.1:
        w, h = round(width * scale), round(height * scale)
        xs, owns_x = _offsets(w, native, overlap)
        ys, owns_y = _offsets(h, native, overlap)
        levels.append(Level(scale, native, xs, ys, owns_x, owns_y))
        scale /= step
    levels.append(Level(whole, native, (0,), (0,), whole_span, whole_span))
    return levels


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def cut(img: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """A side x side square at (x, y), black where it passes the picture's edge."""
    out = np.zeros((side, side, 3), np.uint8)
    part = img[y : y + side, x : x + side]
    out[: part.shape[0], : part.shape[1]] = part
    return out


KEYPOINTS_6 = ("eyeLeft", "eyeRight", "nose", "mouth", "earLeft", "earRight")


class OnnxDetector:
    """A face detector on ONNX Runtime: a network, how its output decodes, and the pyramid.

    Subclasses set `name`, `model` (the model_store name), `native` (the input side of a
    fixed-input network; None for a fully convolutional one), `face_range` (the face sizes, box
    side in input pixels, the network finds well), `keypoint_names`, and implement `_infer`.

    `min_score` (0-1): candidates below it are dropped. `tiled`: False runs the whole picture
    once, letterboxed into the network's input (a fixed-input network) or resized so that its
    longer side is `whole_side` (a fully convolutional one: its authors' usual input) -- the
    fast mode, which misses faces smaller than the network finds at that scale; True (default)
    runs the whole pyramid (`plan`). `min_face`: the smallest face to find, in original pixels
    (default Rekognition's rule: 40 px up to 1080 lines)."""

    name = ""
    model = ""
    native: int | None = None
    face_range: tuple[float, float] = (24.0, 96.0)
    keypoint_names: tuple[str, ...] = ()
    default_min_score = 0.5
    iou = 0.3
    weighted = False
    batch = 16  # tiles per network call
    step = 2.0  # between the pyramid's levels
    whole_side = 640  # a fully convolutional network's input side in the fast mode

    def __init__(self, min_score: float | None = None, tiled: bool = True, min_face: float | None = None):
        self.min_score = self.default_min_score if min_score is None else float(min_score)
        self.tiled = tiled
        self.min_face = min_face

    # Subclasses: candidates (above min_score) per input, in that input's pixels.
    def _infer(self, inputs: list[np.ndarray]) -> list[Candidates]:
        raise NotImplementedError

    def levels(self, height: int, width: int) -> list[Level]:
        min_face = self.min_face or rekognition_min_face(height, width)
        if not self.tiled:
            if self.native:  # the whole picture letterboxed into the input
                return plan(height, width, self.native, self.face_range, math.inf)[-1:]
            span = ((-math.inf, math.inf),)
            return [Level(self.whole_side / float(max(height, width)), 0, (0,), (0,), span, span)]
        return plan(height, width, self.native, self.face_range, min_face, self.step)

    def candidates(self, rgb: np.ndarray) -> Candidates:
        """Every candidate of every level and tile, in original pixels, before the final NMS."""
        h, w = rgb.shape[:2]
        k = len(self.keypoint_names)
        found: list[Candidates] = []
        for level in self.levels(h, w):
            img = resized(rgb, level.scale)
            if level.tile == 0:  # a fully convolutional network sees the level whole
                found += [c.mapped(level.scale) for c in self._infer([img])]
                continue
            crops, where = [], []
            for y, (oy0, oy1) in zip(level.ys, level.owns_y):
                for x, (ox0, ox1) in zip(level.xs, level.owns_x):
                    crops.append(cut(img, x, y, level.tile))
                    where.append((x, y, ox0, ox1, oy0, oy1))
            for start in range(0, len(crops), self.batch):
                outs = self._infer(crops[start : start + self.batch])
                for c, (x, y, ox0, ox1, oy0, oy1) in zip(outs, where[start : start + self.batch]):
                    cx = (c.boxes[:, 0] + c.boxes[:, 2]) / 2 + x
                    cy = (c.boxes[:, 1] + c.boxes[:, 3]) / 2 + y
                    mine = (cx >= ox0) & (cx < ox1) & (cy >= oy0) & (cy < oy1)
                    found.append(c.take(mine).mapped(level.scale, x, y))
        return Candidates.join(found, k)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """The Detector protocol: faces (with their keypoints) in original-image pixels."""
        rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        c = self.candidates(rgb)
        c = (weighted_nms if self.weighted else nms)(c, self.iou)
        out = []
        for box, score, pts in zip(c.boxes, c.scores, c.points):
            out.append(
                Detection(
                    left=float(box[0]),
                    top=float(box[1]),
                    right=float(box[2]),
                    bottom=float(box[3]),
                    score=float(score),
                    confidence=100.0 * float(score),
                    keypoints={n: (float(p[0]), float(p[1])) for n, p in zip(self.keypoint_names, pts)},
                )
            )
        return out
