"""dlib's face detectors: HOG (fast, frontal) and the MMOD CNN, run by dlib itself.

Both dlib detectors find faces down to about 80 px. Rekognition promises faces of 40x40 px in
a 1920x1080 image, and proportionally larger ones in larger images, so the picture is resized
to the scale that brings that smallest face to 80 px before detection (upsampling x2 up to
1080p, less above), then capped by a per-backend pixel budget that keeps the CNN usable on a
CPU. Boxes are mapped back to the original pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import models
from .detection import Detection, confidence_from_score, rekognition_min_face

if TYPE_CHECKING:  # OpenCV and numpy load on first detection: the command line lists detectors without them
    import numpy as np

NATIVE_MIN_FACE = 80  # px: what dlib's detectors find at scale 1


def detection_scale(height: int, width: int, max_pixels: int, max_scale: float = 2.0) -> float:
    """The resize factor that makes Rekognition's smallest face detectable, within a pixel budget
    and at most `max_scale`."""
    min_face = rekognition_min_face(height, width)
    scale = NATIVE_MIN_FACE / min_face
    budget = math.sqrt(max_pixels / float(height * width))
    return min(scale, budget, max_scale)


class _ScaledDetector:
    name = ""
    dlib_boxes = True  # boxes as dlib draws them (brows to lip), what its 5-point model expects
    max_pixels = 0
    max_scale = 2.0

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        import cv2
        import numpy as np

        h, w = rgb.shape[:2]
        scale = detection_scale(h, w, self.max_pixels, self.max_scale)
        if abs(scale - 2.0) < 1e-3:
            # dlib's own x2 pyramid: boxes to the pixel of dlib's (and face_recognition's).
            found, scale = self._run(rgb, upsample=1), 1.0
        else:
            work = rgb
            if abs(scale - 1.0) > 1e-3:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
                work = cv2.resize(rgb, size, interpolation=interp)
            found = self._run(np.ascontiguousarray(work), upsample=0)
        return [
            Detection(
                left=left / scale,
                top=top / scale,
                right=right / scale,
                bottom=bottom / scale,
                score=s,
                confidence=confidence_from_score(s),
            )
            for (left, top, right, bottom, s) in found
        ]

    def _run(self, rgb: np.ndarray, upsample: int) -> list[tuple[float, float, float, float, float]]:
        """(left, top, right, bottom, score) in the pixels of `rgb`, found after `upsample` x2 steps."""
        raise NotImplementedError


class HogDetector(_ScaledDetector):
    """dlib's HOG + linear SVM frontal detector: fast, misses strongly turned faces."""

    name = "hog"

    def __init__(self, max_pixels: int = 16_000_000):
        self.max_pixels = max_pixels

    def _run(self, rgb, upsample):
        m = models.hog_detector()
        with m.lock:
            rects, scores, _ = m.model.run(rgb, upsample, 0.0)
        # Boxes +1 on the right/bottom: dlib rectangles are inclusive.
        return [(r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s)) for r, s in zip(rects, scores)]


class CnnDetector(_ScaledDetector):
    """dlib's MMOD CNN converted to ONNX (dlib_onnx.py, dlib_mmod.py): dlib's own boxes, from turned
    and partly hidden faces too; about 0.4 s per megapixel on a core."""

    name = "cnn"

    def __init__(self, max_pixels: int = 2_000_000, max_scale: float = 2.0):
        self.max_pixels = max_pixels
        self.max_scale = max_scale

    def _run(self, rgb, upsample):
        from .dlib_mmod import mmod_detect

        return mmod_detect(rgb, upsample)


class DlibCnnDetector(CnnDetector):
    """The same network run by dlib-bin itself: about 6 s per megapixel."""

    name = "cnn-dlib"

    def _run(self, rgb, upsample):
        m = models.cnn_detector()
        with m.lock:
            found = m.model(rgb, upsample)
        out = []
        for d in found:
            r = d.rect
            out.append((r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(d.confidence)))
        return out
