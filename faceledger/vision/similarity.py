"""The similarity scale: the one place that maps embedding distance to a score.

Similarity (0-100) = 100 / (1 + exp((d - 0.6) / 0.06)), d the Euclidean distance between two
dlib embeddings. It is 50 at d = 0.6, dlib's own same-person boundary, 88 at d = 0.48 and 12 at
d = 0.72; strictly decreasing, so every similarity threshold is a distance threshold.
"""

from __future__ import annotations

import math

import numpy as np

CENTRE = 0.6
SCALE = 0.06


def similarity_from_distance(distance):
    """Distance (scalar or array) -> similarity 0-100."""
    d = np.asarray(distance, dtype=np.float64)
    z = np.clip((d - CENTRE) / SCALE, -700.0, 700.0)
    out = 100.0 / (1.0 + np.exp(z))
    return float(out) if out.ndim == 0 else out


def distance_from_similarity(similarity: float) -> float:
    """The inverse: the distance at which two faces score `similarity`."""
    s = min(max(float(similarity), 1e-12), 100.0 - 1e-12)
    return CENTRE + SCALE * math.log(100.0 / s - 1.0)


def similarities(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Similarity of one embedding to each row of `gallery`."""
    if len(gallery) == 0:
        return np.zeros(0)
    d = np.linalg.norm(gallery.astype(np.float64) - probe.astype(np.float64), axis=1)
    return similarity_from_distance(d)
