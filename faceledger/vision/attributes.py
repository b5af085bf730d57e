"""Per-face measurements from pixels and landmarks: pose, image quality, eyes and mouth open."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .detection import Detection

# A generic head (units of about 0.2 mm, nose tip at the origin), in the camera's axes for a
# frontal face: x to the image's right, y down, z away from the camera.
_HEAD_5 = np.array(
    [
        [225.0, -170.0, 135.0],  # image-right eye, outer corner
        [70.0, -170.0, 100.0],  # image-right eye, inner corner
        [-225.0, -170.0, 135.0],  # image-left eye, outer corner
        [-70.0, -170.0, 100.0],  # image-left eye, inner corner
        [0.0, 51.0, 75.0],  # base of the nose
    ]
)
_HEAD_68 = {
    30: [0.0, 0.0, 0.0],  # nose tip
    8: [0.0, 330.0, 65.0],  # chin
    36: [-225.0, -170.0, 135.0],  # image-left eye, outer corner
    45: [225.0, -170.0, 135.0],  # image-right eye, outer corner
    48: [-150.0, 150.0, 125.0],  # mouth, image-left corner
    54: [150.0, 150.0, 125.0],  # mouth, image-right corner
    39: [-70.0, -170.0, 100.0],  # image-left eye, inner corner
    42: [70.0, -170.0, 100.0],  # image-right eye, inner corner
}


@dataclass(frozen=True)
class Pose:
    roll: float
    yaw: float
    pitch: float


def estimate_pose(points: np.ndarray, image_size: tuple[int, int]) -> Pose:
    """Head pose in degrees by solvePnP against a generic head.

    `points` are the 5-point model's (5, 2) or the 68-point model's (68, 2) pixels. Signs:
    Roll > 0 when the face is tilted clockwise in the picture, Yaw > 0 when it turns towards
    the image's left edge, Pitch > 0 when it tilts up. A mirrored picture flips Roll and Yaw.
    """
    h, w = image_size
    if len(points) == 5:
        model, image_pts = _HEAD_5, points
    else:
        idx = list(_HEAD_68)
        model, image_pts = np.array([_HEAD_68[i] for i in idx]), points[idx]
    # The principal point sits on the face, so that the pose is the head's turn relative to
    # the line of sight, wherever the face is in the frame.
    focal = float(max(h, w))
    centre = image_pts.mean(axis=0)
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], dtype=np.float64)
    # Start from a frontal head at the distance that fits the eye corners' spread.
    spread = np.linalg.norm(image_pts[np.argmax(model[:, 0])] - image_pts[np.argmin(model[:, 0])])
    depth = focal * 450.0 / max(spread, 1.0)
    tvec = np.array([[0.0], [0.0], [depth]])
    rvec = np.zeros((3, 1))
    ok, rvec, tvec = cv2.solvePnP(
        model.astype(np.float64),
        np.ascontiguousarray(image_pts, dtype=np.float64).reshape(-1, 1, 2),
        camera,
        None,
        rvec,
        tvec,
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return Pose(roll=_roll_from_eyes(points), yaw=0.0, pitch=0.0)
    r, _ = cv2.Rodrigues(rvec)
    pitch = -math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return Pose(roll=_wrap(roll), yaw=_wrap(yaw), pitch=_wrap(pitch))


def _roll_from_eyes(points: np.ndarray) -> float:
    left = points[[2, 3]].mean(axis=0) if len(points) == 5 else points[36:42].mean(axis=0)
    right = points[[0, 1]].mean(axis=0) if len(points) == 5 else points[42:48].mean(axis=0)
    d = right - left
    return math.degrees(math.atan2(d[1], d[0]))


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class Quality:
    brightness: float
    sharpness: float


SHARPNESS_SCALE = 300.0  # Laplacian variance giving 63 on the 0-100 scale


def face_crop(rgb: np.ndarray, det: Detection) -> np.ndarray:
    h, w = rgb.shape[:2]
    left, top = max(0, int(det.left)), max(0, int(det.top))
    right, bottom = min(w, int(math.ceil(det.right))), min(h, int(math.ceil(det.bottom)))
    return rgb[top:bottom, left:right]


def measure_quality(rgb: np.ndarray, det: Detection) -> Quality:
    """Brightness: mean luma of the face box, 0-100. Sharpness: variance of the Laplacian of the
    box resized to 128x128 (so that it does not depend on the face's size), mapped to 0-100 by
    100 (1 - exp(-var / 300))."""
    crop = face_crop(rgb, det)
    if crop.size == 0:
        return Quality(brightness=0.0, sharpness=0.0)
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    brightness = float(grey.mean()) / 255.0 * 100.0
    norm = cv2.resize(grey, (128, 128), interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(norm, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-var / SHARPNESS_SCALE))
    return Quality(brightness=brightness, sharpness=sharpness)


@dataclass(frozen=True)
class Judgement:
    value: bool
    confidence: float


def _judge(measure: float, threshold: float, spread: float) -> Judgement:
    """True above the threshold; confidence 50 at it, rising logistically with the margin."""
    margin = abs(measure - threshold) / spread
    return Judgement(value=measure > threshold, confidence=100.0 / (1.0 + math.exp(-margin)))


EYE_OPEN_RATIO = 0.20  # eye aspect ratio (lid gap over eye width) above which an eye is open
MOUTH_OPEN_RATIO = 0.06  # inner-lip gap over mouth width above which the mouth is open


def eye_aspect_ratio(p68: np.ndarray, first: int) -> float:
    p = p68[first : first + 6]
    width = np.linalg.norm(p[0] - p[3])
    gap = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    return float(gap / (2.0 * max(width, 1e-6)))


def eyes_open(p68: np.ndarray) -> Judgement:
    ratio = (eye_aspect_ratio(p68, 36) + eye_aspect_ratio(p68, 42)) / 2.0
    return _judge(ratio, EYE_OPEN_RATIO, 0.025)


def mouth_open(p68: np.ndarray) -> Judgement:
    width = np.linalg.norm(p68[48] - p68[54])
    gap = np.mean([np.linalg.norm(p68[a] - p68[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return _judge(float(gap / max(width, 1e-6)), MOUTH_OPEN_RATIO, 0.02)
