"""The default detector, HOG + FaceBoxes checked by the face mesh: HOG's faces as they were (the
calibration's boxes), the faces HOG misses added with dlib's framing, and HOG alone when the
models are not installed."""

from __future__ import annotations

import logging

import numpy as np
from conftest import BIDEN, OBAMA_PORTRAIT, OBAMA_SPEECH, needs_models
from PIL import Image, ImageDraw

from faceledger import FaceLedger
from faceledger.vision.detect import HogDetector
from faceledger.vision.detectors import DEFAULT_DETECTOR, make_detector
from faceledger.vision.detectors.combined import HogPlusDetector


def iou(a, b) -> float:
    w = max(0.0, min(a.right, b.right) - max(a.left, b.left))
    h = max(0.0, min(a.bottom, b.bottom) - max(a.top, b.top))
    union = a.width * a.height + b.width * b.height - w * h
    return w * h / union


def eyes_hidden(path) -> tuple[np.ndarray, object]:
    """The photo with a bar over the eyes (which HOG cannot see past), and HOG's box of the face
    before the bar."""
    im = Image.open(path).convert("RGB")
    face = HogDetector().detect(np.asarray(im))[0]
    w, h = face.right - face.left, face.bottom - face.top
    ImageDraw.Draw(im).rectangle(
        (face.left - 0.1 * w, face.top + 0.15 * h, face.right + 0.1 * w, face.top + 0.45 * h),
        fill=(20, 20, 20),
    )
    return np.asarray(im), face


def test_the_default_is_hog_plus_faceboxes():
    assert DEFAULT_DETECTOR == "hog+faceboxes"
    assert FaceLedger(home="unused").default_detector == "hog+faceboxes"


@needs_models
def test_a_face_hog_misses_is_found_with_dlibs_framing():
    for path in (OBAMA_PORTRAIT, OBAMA_SPEECH, BIDEN):
        rgb, before = eyes_hidden(path)
        assert HogDetector().detect(rgb) == []
        (found,) = make_detector(DEFAULT_DETECTOR).detect(rgb)
        assert iou(found, before) > 0.6  # the box HOG drew before the bar, near enough


@needs_models
def test_where_hog_finds_a_face_its_box_is_kept():
    rgb = np.asarray(Image.open(OBAMA_PORTRAIT).convert("RGB"))
    assert make_detector(DEFAULT_DETECTOR).detect(rgb) == HogDetector().detect(rgb)


def test_without_the_models_the_default_is_hog_alone(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FACELEDGER_MODELS", str(tmp_path / "none"))
    monkeypatch.setattr(HogPlusDetector, "_warned", False)
    rgb = np.asarray(Image.open(OBAMA_PORTRAIT).convert("RGB"))
    with caplog.at_level(logging.WARNING, logger="faceledger"):
        assert make_detector(DEFAULT_DETECTOR).detect(rgb) == HogDetector().detect(rgb)
        hidden, _ = eyes_hidden(OBAMA_PORTRAIT)
        assert make_detector(DEFAULT_DETECTOR).detect(hidden) == []
    assert [r.message for r in caplog.records].count(
        "hog+faceboxes finds frontal faces only: the attribute models are not installed: run "
        "`faceledger models install`"
    ) == 1
