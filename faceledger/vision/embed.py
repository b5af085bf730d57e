"""Face embeddings: the Embedder protocol and dlib's ResNet 128-D backend."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from . import models

EMBEDDING_DIM = 128
CHIP_SIZE = 150  # the ResNet's input: a 150x150 chip aligned on the 5 points
CHIP_PADDING = 0.25  # dlib's default margin around the aligned face


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, rgb: np.ndarray, shapes: list) -> np.ndarray: ...


class DlibResnetEmbedder:
    """dlib_face_recognition_resnet_model_v1: 99.38% on LFW as published; same person below ~0.6."""

    name = models.FACE_MODEL_VERSION
    dim = EMBEDDING_DIM

    def embed(self, rgb: np.ndarray, shapes: list) -> np.ndarray:
        """One float32 row per 5-point shape; all faces of the image go through the net as one batch."""
        if not shapes:
            return np.zeros((0, self.dim), dtype=np.float32)

        return self.embed_chips(face_chips(rgb, shapes))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Embeddings of faces already aligned into chips (see face_chips)."""
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        m = models.resnet_embedder()
        with m.lock:
            vectors = m.model.compute_face_descriptor(chips)
        return np.asarray([np.asarray(v) for v in vectors], dtype=np.float32).reshape(len(chips), self.dim)


def face_chips(rgb: np.ndarray, shapes: list) -> list[np.ndarray]:
    """Each face aligned on its 5 points into the 150x150 chip the network takes: cheap, and small
    enough to hand between processes, so that only the faces that need it are embedded."""
    import dlib

    return list(
        dlib.get_face_chips(rgb, dlib.full_object_detections(shapes), size=CHIP_SIZE, padding=CHIP_PADDING)
    )
