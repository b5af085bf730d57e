"""Faces between full detections: the full detector (with its pyramid of tiles for far faces)
runs on a keyframe, at least once every KEYFRAME_EVERY samples and at every shot cut; on the
samples between, each face of the sample before is found again by refitting its Face Mesh
where it was (MediaPipe's own way of following a face between frames: the mesh's crop re-centres
on the face and its score says whether a face is still there), and a fast pass of the detector
over the whole frame, when it has one, catches faces that come in. A face the fast pass cannot
see (a small one entering) waits for the next keyframe, at most a second at 5 samples a second.

What is followed is only where a face is: who it is stays the tracker's and the embedder's job
(analyze.track_faces re-verifies a face whose picture changes, and ends every track at a cut),
so following never carries an identity anywhere.
"""

from __future__ import annotations

import os

import numpy as np

from ..vision import facemesh
from ..vision.detection import Detection
from ..vision.detectors.combined import same_face
from ..vision.model_store import ModelsUnavailable
from . import shots

# Samples between full detections: at least one a second at 5 samples a second.
# FACELEDGER_KEYFRAME_EVERY=1 makes every sample a full detection.
_every = os.environ.get("FACELEDGER_KEYFRAME_EVERY", "")
KEYFRAME_EVERY = int(_every) if _every.isdigit() and int(_every) > 0 else 5


def fast_pass(detector):
    """The detector's single whole-frame pass (an ONNX detector's fast mode, a combination's own),
    or None (dlib's detectors have none)."""
    if hasattr(detector, "fast"):
        return detector.fast()
    if getattr(detector, "dlib_boxes", False):
        return None
    return type(detector)(tiled=False)


class FollowingDetector:
    """A Detector for consecutive samples of one video (see the module's docstring), from a full
    detector and its fast pass (None: none). Call `next_sample(signature)` with each sample's shot
    signature before `detect`."""

    def __init__(self, full, fast=None, keyframe_every: int = KEYFRAME_EVERY):
        self.full = full
        self.name = full.name
        self.dlib_boxes = getattr(full, "dlib_boxes", False)
        self.fast = fast
        self.keyframe_every = keyframe_every
        self._since_full: int | None = None
        self._signature: np.ndarray | None = None
        self._cut = False
        self._previous: list[Detection] = []

    def next_sample(self, signature: np.ndarray) -> None:
        self._cut = shots.is_cut(self._signature, signature)
        self._signature = signature

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        if self._cut or self._since_full is None or self._since_full + 1 >= self.keyframe_every:
            found = self.full.detect(rgb)
            self._since_full = 0
        else:
            try:
                found = self._follow(rgb)
                self._since_full += 1
            except ModelsUnavailable:  # no Face Mesh installed: every sample is a keyframe
                found = self.full.detect(rgb)
        self._previous = found
        return found

    def _follow(self, rgb: np.ndarray) -> list[Detection]:
        boxes = [(d.left, d.top, d.right, d.bottom) for d in self._previous]
        found: list[Detection] = []
        # One pass of the mesh: analyze_faces fits it again in the box this gives, which re-centres it.
        for before, mesh in zip(self._previous, facemesh.meshes(rgb, boxes, refine=False)):
            if mesh.score < facemesh.FACE_PRESENT:
                continue
            # dlib's framing of the face, from its mesh (what analyze_faces makes of any box)
            left, top, right, bottom = facemesh.dlib_box(mesh)
            d = Detection(left, top, right, bottom, before.score, min(before.confidence, 100 * mesh.score))
            if not any(same_face(d, f) for f in found):
                found.append(d)
        if hasattr(self.fast, "add_to"):  # checks only the faces not already followed
            found = self.fast.add_to(rgb, found)
        elif self.fast is not None:
            found += [d for d in self.fast.detect(rgb) if not any(same_face(d, f) for f in found)]
        return found
