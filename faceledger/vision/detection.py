"""What every face detector gives: a Detection (a box in the picture's pixels, a score and a
0-100 confidence, the keypoints the model locates), and the Detector protocol. A leaf module:
the detectors (detect.py for dlib's, detectors/ for the ONNX ones) import it, never each other."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

# Rekognition finds faces down to 40x40 px in a 1920x1080 picture, and proportionally larger
# ones in larger pictures.
REKOGNITION_MIN_FACE = 40


def rekognition_min_face(height: int, width: int) -> float:
    """The smallest face (px) Rekognition promises to find in a picture of this size."""
    return REKOGNITION_MIN_FACE * max(1.0, min(height, width) / 1080.0)


@dataclass(frozen=True)
class Detection:
    """A face box in original-image pixels (may reach past the edges), the detector's score, its
    confidence (0-100), and the keypoints the detector gives, by Rekognition's landmark names
    where one fits ("eyeLeft" is the eye nearer the image's left edge)."""

    left: float
    top: float
    right: float
    bottom: float
    score: float
    confidence: float
    keypoints: dict[str, tuple[float, float]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return self.width * self.height


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


def confidence_from_score(score: float) -> float:
    """dlib's detector margin -> 0-100: a logistic 100 / (1 + exp(-4 (score + 0.55))).

    dlib's detectors accept a window at score 0; that maps to 90, a score of 0.5 to 98.5 and
    1.0 to 99.8, so the scale reads like Rekognition's (clear faces near 99.9).
    """
    return 100.0 / (1.0 + math.exp(-4.0 * (score + 0.55)))
