"""Shape predictors (5-point by default, 68-point on request) and Rekognition's landmark names.

"Left" and "right" are the viewer's: eyeLeft is the eye nearer the image's left edge, as in
Rekognition's responses.
"""

from __future__ import annotations

import numpy as np

from . import models
from .detection import Detection

# dlib's 5-point order: image-right eye (outer, inner), image-left eye (outer, inner), nose base.
RIGHT_EYE_5 = (0, 1)
LEFT_EYE_5 = (2, 3)
NOSE_5 = 4

# The 5-point model has no mouth. DEFAULT's mouthLeft/mouthRight are therefore estimated: in the
# frame of the eye centres (origin between them, x along them, unit = their distance, y at right
# angles, pointing down) each mouth corner is a linear function [1, nose_x, nose_y] of the nose
# base. Fitted by least squares on 1,441 faces of the development set against the 68-point
# model's corners (points 48, 54); mean error 6-8% of the eye distance. Attributes=ALL measures
# them with the 68-point model instead.
_MOUTH_FROM_NOSE = np.array(
    [
        [-0.4162, 0.6137, 0.4583, 0.6138],
        [0.2177, 0.0135, 0.1964, -0.0742],
        [-0.0468, 0.6152, -0.0068, 0.6199],
    ]
)


def _rect(det: Detection):
    import dlib

    return dlib.rectangle(
        int(round(det.left)), int(round(det.top)), int(round(det.right)) - 1, int(round(det.bottom)) - 1
    )


def _predict(locked, rgb: np.ndarray, dets: list[Detection]):
    with locked.lock:
        return [locked.model(rgb, _rect(d)) for d in dets]


def shapes_5(rgb: np.ndarray, dets: list[Detection]):
    """dlib full_object_detections (for alignment) of the 5-point model, one per detection."""
    return _predict(models.shape_predictor_5(), rgb, dets)


def points_68(rgb: np.ndarray, dets: list[Detection]) -> list[np.ndarray]:
    return [points_of(s) for s in _predict(models.shape_predictor_68(), rgb, dets)]


def points_of(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def eye_centres_5(p5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye, image-right eye) centres from the 5 points."""
    return p5[list(LEFT_EYE_5)].mean(axis=0), p5[list(RIGHT_EYE_5)].mean(axis=0)


def estimate_mouth_corners(p5: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    left_eye, right_eye = eye_centres_5(p5)
    origin = (left_eye + right_eye) / 2.0
    u = right_eye - left_eye
    frame = np.stack([u, np.array([-u[1], u[0]])], axis=1)
    nose = np.linalg.solve(frame, p5[NOSE_5] - origin)
    coords = np.array([1.0, nose[0], nose[1]]) @ _MOUTH_FROM_NOSE
    return origin + frame @ coords[:2], origin + frame @ coords[2:]


def default_landmarks(p5: np.ndarray) -> dict[str, np.ndarray]:
    """Rekognition's DEFAULT landmarks, in pixels."""
    left_eye, right_eye = eye_centres_5(p5)
    mouth_left, mouth_right = estimate_mouth_corners(p5)
    return {
        "eyeLeft": left_eye,
        "eyeRight": right_eye,
        "mouthLeft": mouth_left,
        "mouthRight": mouth_right,
        "nose": p5[NOSE_5],
    }


def _mean(p: np.ndarray, *idx: int) -> np.ndarray:
    return p[list(idx)].mean(axis=0)


def all_landmarks(p68: np.ndarray) -> dict[str, np.ndarray]:
    """Every Rekognition landmark type the 68-point model locates (iBUG 300-W numbering).

    leftPupil and rightPupil are left out: the model finds eye corners and lids, not pupils.
    """
    p = p68
    return {
        "eyeLeft": _mean(p, 36, 37, 38, 39, 40, 41),
        "eyeRight": _mean(p, 42, 43, 44, 45, 46, 47),
        "mouthLeft": p[48],
        "mouthRight": p[54],
        "nose": p[30],
        "leftEyeBrowLeft": p[17],
        "leftEyeBrowRight": p[21],
        "leftEyeBrowUp": p[19],
        "rightEyeBrowLeft": p[22],
        "rightEyeBrowRight": p[26],
        "rightEyeBrowUp": p[24],
        "leftEyeLeft": p[36],
        "leftEyeRight": p[39],
        "leftEyeUp": _mean(p, 37, 38),
        "leftEyeDown": _mean(p, 40, 41),
        "rightEyeLeft": p[42],
        "rightEyeRight": p[45],
        "rightEyeUp": _mean(p, 43, 44),
        "rightEyeDown": _mean(p, 46, 47),
        "noseLeft": p[31],
        "noseRight": p[35],
        "mouthUp": p[51],
        "mouthDown": p[57],
        "upperJawlineLeft": p[1],
        "midJawlineLeft": p[4],
        "chinBottom": p[8],
        "midJawlineRight": p[12],
        "upperJawlineRight": p[15],
    }
