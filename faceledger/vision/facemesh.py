"""MediaPipe Face Mesh (Apache-2.0, installed by `faceledger models install`): 468 points of a
face in 3-D, whatever the detector that found it. From them: the head's pose to profile (the mesh
fitted to a canonical face, vision/head_pose.py), Rekognition's named landmarks, and the five
points dlib's alignment takes.

The network sees a 192x192 crop around the face; its points come back in the picture's pixels
(x, y) and a depth z in the same units (smaller is nearer the camera). A second pass re-centres the
crop on the mesh of the first, as MediaPipe's own pipeline does between video frames: a detector's
box (square for BlazeFace, tall for others) then no longer decides where the face sits in the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import model_store, onnx_sessions

INPUT = 192
# The network's face score (0-1) at and above which a face fills the crop: what confirms another
# detector's face (detectors/combined.py) and keeps a face followed in video (video/follow.py).
# A face measures 1.0 even with its box off by half its width; background 0.0-0.1.
FACE_PRESENT = 0.5
CROP = 1.7  # crop side / the detection box's longer side
REFINE = 1.45  # crop side / the first mesh's longer side, for the second pass
BATCH = 16

# Points of the mesh by what they are (MediaPipe's numbering). "Right"/"left" are the person's:
# the person's right eye is nearer the image's left edge in a frontal photo.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
NOSE_TIP, SUBNASALE = 1, 2
RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, LEFT_EYE_UPPER, LEFT_EYE_LOWER = 159, 145, 386, 374
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
CHIN, FOREHEAD = 152, 10


@dataclass(frozen=True)
class Mesh:
    points: np.ndarray  # (468, 3): x, y in the picture's pixels, z in the same units
    score: float  # the network's confidence that a face fills the crop, 0-1

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the points."""
        x, y = self.points[:, 0], self.points[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _crop(rgb: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, np.ndarray]:
    """The 192x192 crop of a square of `side` px centred on (cx, cy), and the 2x3 map to it."""
    s = INPUT / max(side, 1.0)
    m = np.float32([[s, 0, INPUT / 2 - s * cx], [0, s, INPUT / 2 - s * cy]])
    crop = cv2.warpAffine(rgb, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop, m


def _session():
    return onnx_sessions.session(str(model_store.onnx_path("facemesh")))


def warm_up() -> None:
    """Load the model now (a service's start-up); nothing when it is not installed."""
    try:
        _session()
    except model_store.ModelsUnavailable:
        pass


def _run(rgb: np.ndarray, squares: list[tuple[float, float, float]]) -> list[Mesh]:
    sess = _session()
    out: list[Mesh] = []
    for start in range(0, len(squares), BATCH):
        part = squares[start : start + BATCH]
        crops, maps = zip(*(_crop(rgb, *sq) for sq in part))
        batch = np.stack(crops).astype(np.float32) / 255.0
        score, _, mesh = sess.run(None, {sess.get_inputs()[0].name: batch})
        for m, pts, sc in zip(maps, mesh.reshape(len(part), 468, 3), score.reshape(-1)):
            s = float(m[0, 0])
            xy = (pts[:, :2] - m[:, 2]) / s  # back to the picture's pixels
            out.append(Mesh(np.column_stack([xy, pts[:, 2] / s]).astype(np.float64), float(sc)))
    return out


def meshes(
    rgb: np.ndarray, boxes: list[tuple[float, float, float, float]], refine: bool = True
) -> list[Mesh]:
    """The mesh of the face in each box (left, top, right, bottom), batched; with `refine`, a second
    pass on a crop centred on the first mesh (a box that does not frame the face as dlib's do)."""
    if not boxes:
        return []
    rgb = np.ascontiguousarray(rgb)
    first = [((x0 + x1) / 2, (y0 + y1) / 2, CROP * max(x1 - x0, y1 - y0)) for x0, y0, x1, y1 in boxes]
    rough = _run(rgb, first)
    if not refine:
        return rough
    second = []
    for m in rough:
        x0, y0, x1, y1 = m.box
        second.append(((x0 + x1) / 2, (y0 + y1) / 2, REFINE * max(x1 - x0, y1 - y0)))
    return _run(rgb, second)


# dlib's detectors' box, from the mesh's extent: side 0.871 of the mesh's longer side, centre
# 1.7% of it above the mesh's. Measured on 800 development faces (HOG's box against the mesh):
# IoU 0.79 median, 0.65 at the 5th percentile. dlib's 5-point model is given this box for a face
# another detector found, so that alignment sees what it was trained on.
DLIB_SIDE, DLIB_DY = 0.871, -0.017


def dlib_box(mesh: Mesh) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = mesh.box
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + DLIB_DY * side
    half = DLIB_SIDE * side / 2
    return cx - half, cy - half, cx + half, cy + half


RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)


def default_landmarks(mesh: Mesh) -> dict[str, np.ndarray]:
    """Rekognition's DEFAULT landmarks, in pixels ("eyeLeft" is the eye nearer the picture's left
    edge: the person's right eye). Points chosen by their median distance to dlib's 68-point
    model's on 600 development faces: eye centres (the contour's mean), mouth corners 4% of the
    eye distance, nose 4%."""
    p = mesh.points[:, :2]
    return {
        "eyeLeft": p[list(RIGHT_EYE)].mean(axis=0),
        "eyeRight": p[list(LEFT_EYE)].mean(axis=0),
        "mouthLeft": p[MOUTH_RIGHT],
        "mouthRight": p[MOUTH_LEFT],
        "nose": p[4],
    }
