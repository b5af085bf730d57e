"""Faces followed between full detections in video (video/follow.py): the full detector runs on
keyframes and at cuts; between them a face is found again where it was, a face that left is
dropped, and one that comes in is caught by the fast pass."""

from __future__ import annotations

import numpy as np
from conftest import needs_models
from PIL import Image
from videos import BACKGROUND, biden_face, obama_face

from faceledger.video import shots
from faceledger.video.follow import KEYFRAME_EVERY, FollowingDetector, fast_pass
from faceledger.vision.detectors import make_detector
from faceledger.vision.detectors.combined import same_face

pytestmark = needs_models

SIZE = (640, 360)


class Counting:
    """A detector that counts its calls."""

    def __init__(self, detector):
        self.detector, self.calls = detector, 0
        self.name, self.dlib_boxes = detector.name, getattr(detector, "dlib_boxes", False)

    def detect(self, rgb):
        self.calls += 1
        return self.detector.detect(rgb)


def frame(faces: list[tuple[Image.Image, int, int, int]], background=BACKGROUND) -> np.ndarray:
    canvas = Image.new("RGB", SIZE, background)
    for face, x, y, side in faces:
        canvas.paste(face.resize((side, side)), (x, y))
    return np.asarray(canvas)


def run(follower: FollowingDetector, frames: list[np.ndarray]) -> list[list]:
    out = []
    for rgb in frames:
        follower.next_sample(shots.signature(rgb))
        out.append(follower.detect(rgb))
    return out


def test_a_moving_face_is_followed_between_keyframes():
    obama = obama_face()
    frames = [frame([(obama, 60 + 25 * i, 80 - 5 * i, 150 + 6 * i)]) for i in range(2 * KEYFRAME_EVERY)]
    full = Counting(make_detector("mediapipe-short"))
    found = run(FollowingDetector(full), frames)
    assert full.calls == 2  # the first sample and the next keyframe, nothing between
    reference = make_detector("hog")
    for rgb, faces in zip(frames, found):
        assert len(faces) == 1
        truth = reference.detect(rgb)[0]
        assert same_face(faces[0], truth)


def test_a_face_that_leaves_is_dropped_and_a_cut_runs_the_full_detector():
    obama, biden = obama_face(), biden_face()
    frames = [
        frame([(obama, 80, 60, 170)]),
        frame([(obama, 90, 60, 170)]),
        frame([]),  # gone (the frame barely changes: not a cut)
        frame([(biden, 300, 80, 170)], background=(200, 60, 40)),  # a cut to another scene
    ]
    full = Counting(make_detector("mediapipe-short"))
    found = run(FollowingDetector(full), frames)
    assert [len(f) for f in found] == [1, 1, 0, 1]
    assert full.calls == 2  # the first sample and the cut
    assert found[3][0].left > 250


def test_a_face_that_comes_in_between_keyframes_is_caught_by_the_fast_pass():
    obama, biden = obama_face(), biden_face()
    frames = [frame([(obama, 60, 80, 160)])] + [
        frame([(obama, 60, 80, 160), (biden, 380, 90, 170)]) for _ in range(KEYFRAME_EVERY - 1)
    ]
    full = Counting(make_detector("mediapipe-short"))
    found = run(FollowingDetector(full, fast_pass(make_detector("mediapipe-short"))), frames)
    assert full.calls == 1
    assert [len(f) for f in found] == [1] + [2] * (KEYFRAME_EVERY - 1)


def test_each_detector_has_the_fast_pass_it_can():
    assert fast_pass(make_detector("hog")) is None and fast_pass(make_detector("cnn")) is None
    assert fast_pass(make_detector("hog+cnn")) is None  # the CNN has no fast mode
    assert fast_pass(make_detector("mediapipe-short")).tiled is False
    combined = fast_pass(make_detector("hog+faceboxes"))
    assert combined.hog is None and combined.second.tiled is False and combined.verify


def test_the_default_detectors_fast_pass_catches_a_face_coming_in():
    obama, biden = obama_face(), biden_face()
    frames = [frame([(obama, 60, 80, 160)]), frame([(obama, 60, 80, 160), (biden, 380, 90, 170)])]
    full = Counting(make_detector("hog+faceboxes"))
    found = run(FollowingDetector(full, fast_pass(make_detector("hog+faceboxes"))), frames)
    assert full.calls == 1 and [len(f) for f in found] == [1, 2]
