"""Model weights from the face-recognition-models package, each loaded once per process on first use.

dlib's model objects are not documented as thread-safe, so each carries a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

# Rekognition reports face model versions as numbers ("7.0"): 1.0 is dlib's ResNet v1.
FACE_MODEL_VERSION = "1.0"


def weights_path(filename: str) -> str:
    return str(resources.files("face_recognition_models") / "models" / filename)


@dataclass
class Locked:
    """A model and the lock to hold while calling it."""

    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


@cache
def hog_detector() -> Locked:
    import dlib

    return Locked(dlib.get_frontal_face_detector())


@cache
def cnn_detector() -> Locked:
    import dlib

    return Locked(dlib.cnn_face_detection_model_v1(weights_path("mmod_human_face_detector.dat")))


@cache
def shape_predictor_5() -> Locked:
    import dlib

    return Locked(dlib.shape_predictor(weights_path("shape_predictor_5_face_landmarks.dat")))


@cache
def shape_predictor_68() -> Locked:
    # Trained on iBUG 300-W, whose licence excludes commercial use: loaded only when
    # 68-point landmarks are asked for (Attributes=ALL).
    import dlib

    return Locked(dlib.shape_predictor(weights_path("shape_predictor_68_face_landmarks.dat")))


@cache
def resnet_embedder() -> Locked:
    import dlib

    return Locked(dlib.face_recognition_model_v1(weights_path("dlib_face_recognition_resnet_model_v1.dat")))
