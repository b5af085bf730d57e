"""HOG and a second detector together: HOG finds small frontal faces (down to Rekognition's 40 px,
on a picture doubled) and misses turned ones; the second finds turned and partly hidden faces.
Where both find a face, HOG's box is kept: it is the box the shipped calibration was measured
on, so a frontal face is embedded exactly as before. Faces only the second finds are given
dlib's framing from their Face Mesh (facemesh.dlib_box), what alignment and the quality bars
expect; with `verify`, they are kept only if the mesh finds a face there (its face score), which
turns away most of a network's false detections (textures, a cat) at the cost of one mesh each.

- `hog+cnn`: dlib's MMOD CNN, at most at the picture's own size (faces of 80 px and up; less
  above 2 megapixels), since it costs about 0.45 s per megapixel it looks at. Its boxes are dlib's.
- `hog+faceboxes`: FaceBoxes (WIDER FACE) over its pyramid of tiles, about 40 ms a megapixel.

The figures that chose between them are in the README (bench/detectors.py, bench/verification.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import facemesh
from ..detect import CnnDetector, HogDetector
from ..detection import Detection
from ..model_store import ModelsUnavailable

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("faceledger")

SAME_FACE_IOU = 0.3
SAME_FACE_SHARE = 0.5  # or this share of the smaller box inside the other


def same_face(a: Detection, b: Detection) -> bool:
    iw = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    ih = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    inter = iw * ih
    union = a.area + b.area - inter
    return inter >= SAME_FACE_IOU * union or inter >= SAME_FACE_SHARE * max(min(a.area, b.area), 1e-6)


class HogPlusDetector:
    """HOG's faces, then the second detector's faces that HOG did not find (no HOG when `hog` is
    False: the fast pass below)."""

    name = ""
    dlib_boxes = True  # HOG's, and dlib's framing for the rest
    _warned = False  # once per process that the second detector's model is missing

    def __init__(self, second, verify: bool, hog: bool = True):
        self.hog = HogDetector() if hog else None
        self.second = second
        self.verify = verify

    def fast(self) -> HogPlusDetector | None:
        """The single whole-frame pass video takes between full detections (video/follow.py): the
        second detector's fast mode, checked as here; None when it has no fast mode."""
        if not hasattr(self.second, "tiled"):
            return None
        return HogPlusDetector(type(self.second)(tiled=False), self.verify, hog=False)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.add_to(rgb, self.hog.detect(rgb) if self.hog is not None else [])

    def add_to(self, rgb: np.ndarray, found: list[Detection]) -> list[Detection]:
        """`found` and the second detector's faces that none of them is (checked as above)."""
        found = list(found)
        try:
            second = self.second.detect(rgb)
        except ModelsUnavailable as e:  # `faceledger models install` not run (or failed): HOG alone
            if not self._warned:
                log.warning("%s finds frontal faces only: %s", self.name or "detection", e)
                HogPlusDetector._warned = True
            return found
        extra = [d for d in second if not any(same_face(d, h) for h in found)]
        if not extra or (getattr(self.second, "dlib_boxes", False) and not self.verify):
            return found + extra
        try:
            meshes = facemesh.meshes(rgb, [(d.left, d.top, d.right, d.bottom) for d in extra])
        except ModelsUnavailable:  # no mesh: the second detector's faces as it drew them
            return found + extra
        for d, mesh in zip(extra, meshes):
            if self.verify and mesh.score < facemesh.FACE_PRESENT:
                continue
            box = (d.left, d.top, d.right, d.bottom)
            if not getattr(self.second, "dlib_boxes", False):
                box = facemesh.dlib_box(mesh)
            d = Detection(*box, d.score, d.confidence, d.keypoints)
            if not any(same_face(d, f) for f in found):
                found.append(d)
        return found


class HogCnnDetector(HogPlusDetector):
    name = "hog+cnn"

    def __init__(self):
        super().__init__(CnnDetector(max_scale=1.0), verify=False)


class HogFaceBoxesDetector(HogPlusDetector):
    name = "hog+faceboxes"

    def __init__(self):
        from .faceboxes import FaceBoxesDetector

        super().__init__(FaceBoxesDetector(), verify=True)
