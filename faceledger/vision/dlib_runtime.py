"""dlib's face networks on ONNX Runtime, behind faceledger's Embedder and Detector protocols.

The same weights as embed.DlibResnetEmbedder and dlib's CNN detector (face-recognition-models),
converted once per process on first use (dlib_onnx.py; the converted files are cached beside the
attribute models) and run with ONNX Runtime: the embeddings agree with dlib's to about 1e-6 per
component, the detections box for box. Alignment stays dlib's: the embedder takes the 150x150
chips dlib.get_face_chips makes.

Threads follow face_models.py's rule: one session per network and process with
FACELEDGER_ONNX_THREADS intra-op threads (default 1, the service running a process per core);
the faces of a picture go through the network as one batch on those threads. `threads=` overrides
it for one object (the benchmarks use it).
"""

from __future__ import annotations

import numpy as np

from . import models
from .dlib_onnx import RESNET_FILE, resnet_embed, session
from .embed import EMBEDDING_DIM, face_chips


class OnnxResnetEmbedder:
    """dlib_face_recognition_resnet_model_v1 on ONNX Runtime: the Embedder protocol, and
    embed_chips as DlibResnetEmbedder has it."""

    name = models.FACE_MODEL_VERSION  # the same model: stored embeddings and the calibration stay valid
    dim = EMBEDDING_DIM

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def embed(self, rgb: np.ndarray, shapes: list) -> np.ndarray:
        """One float32 row per 5-point shape; all faces of the image go through the net as one batch."""
        if not shapes:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_chips(face_chips(rgb, shapes))

    def embed_chips(self, chips: list[np.ndarray]) -> np.ndarray:
        """Embeddings of faces already aligned into 150x150 RGB chips (embed.face_chips)."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return resnet_embed(chips, self.threads)


def warm_up(threads: int | None = None) -> None:
    """Convert (or load the cached conversion of) the embedder now, not on the first request. The
    CNN detector's network loads with the detector (detect.CnnDetector), when one is used."""
    session(RESNET_FILE, threads)
