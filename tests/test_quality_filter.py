"""QualityFilter bars: ordinary photos pass AUTO, unusable faces do not, and the levels nest."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import OBAMA_PORTRAIT
from PIL import Image, ImageFilter

from faceledger import FaceLedger
from faceledger.engine import quality_filter
from faceledger.inputs.images import decode_image
from faceledger.vision.analyze import analyze_faces
from faceledger.vision.detect import HogDetector

STRICTER = [("HIGH", "MEDIUM"), ("MEDIUM", "AUTO"), ("AUTO", "LOW"), ("HIGH", "LOW")]
BLUR_UNUSABLE = 5.0  # px of Gaussian blur on a 250-px portrait: Sharpness about 1.4, past AUTO's bar
OVER_EXPOSURE = 1.8  # pixel values times this: Brightness about 87, past AUTO's 80


def jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def news_photo(width: int = 250, blur: float = 1.5) -> bytes:
    """The portrait as an ordinary news photo: about 250 px wide, a little soft, JPEG at quality 75."""
    im = Image.open(OBAMA_PORTRAIT).convert("RGB")
    im = im.resize((width, round(width * im.height / im.width)), Image.LANCZOS)
    return jpeg(im.filter(ImageFilter.GaussianBlur(blur)), 75)


def largest_face(data: bytes):
    return analyze_faces(decode_image(data).rgb, HogDetector(), max_faces=1)[0]


@pytest.fixture
def fl(tmp_path):
    with FaceLedger(home=tmp_path / "home") as engine:
        engine.create_collection(CollectionId="q")
        yield engine


def test_an_ordinary_soft_photo_is_indexed_by_default(fl):
    response = fl.index_faces(CollectionId="q", Image={"Bytes": news_photo()}).to_dict()
    assert response["UnindexedFaces"] == []
    [record] = response["FaceRecords"]
    # What LFW-like news photos read: the old AUTO (Sharpness >= 15) refused them as LOW_SHARPNESS.
    assert 3 <= record["FaceDetail"]["Quality"]["Sharpness"] <= 12


@pytest.mark.parametrize("blur", [1.5, 2.0, 3.0])  # Sharpness about 9, 5 and 3
def test_ordinary_photos_pass_auto(blur):
    face = largest_face(news_photo(blur=blur))
    assert face.quality.sharpness < 15
    assert quality_filter.reasons(face, "AUTO") == []


def test_a_heavily_blurred_face_is_refused_under_auto(fl):
    im = Image.open(OBAMA_PORTRAIT).convert("RGB").resize((250, 312), Image.LANCZOS)
    data = jpeg(im.filter(ImageFilter.GaussianBlur(BLUR_UNUSABLE)), 75)
    face = largest_face(data)  # still found, but with little left to match on
    assert face.quality.sharpness < quality_filter.BARS["AUTO"].min_sharpness
    response = fl.index_faces(CollectionId="q", Image={"Bytes": data}).to_dict()
    assert response["FaceRecords"] == []
    assert response["UnindexedFaces"][0]["Reasons"] == ["LOW_SHARPNESS"]


def test_an_over_exposed_face_is_refused_under_auto(fl):
    rgb = np.asarray(
        Image.open(OBAMA_PORTRAIT).convert("RGB").resize((250, 312), Image.LANCZOS), dtype=np.float32
    )
    data = jpeg(Image.fromarray(np.clip(rgb * OVER_EXPOSURE, 0, 255).astype(np.uint8)), 90)
    assert largest_face(data).quality.brightness > quality_filter.BARS["AUTO"].max_brightness
    response = fl.index_faces(CollectionId="q", Image={"Bytes": data}).to_dict()
    assert response["FaceRecords"] == []
    assert "LOW_BRIGHTNESS" in response["UnindexedFaces"][0]["Reasons"]


def test_auto_is_its_own_bar():
    assert set(quality_filter.BARS) == {"LOW", "AUTO", "MEDIUM", "HIGH"}
    assert quality_filter.BARS["AUTO"] != quality_filter.BARS["MEDIUM"]


@pytest.mark.parametrize("strict, loose", STRICTER)
def test_levels_nest_in_the_table(strict, loose):
    s, lo = quality_filter.BARS[strict], quality_filter.BARS[loose]
    assert s.min_side >= lo.min_side and s.min_confidence >= lo.min_confidence
    assert s.min_sharpness >= lo.min_sharpness and s.min_brightness >= lo.min_brightness
    assert s.max_brightness <= lo.max_brightness and s.max_angle <= lo.max_angle


def test_whatever_a_stricter_level_accepts_a_looser_one_accepts():
    rng = np.random.default_rng(7)
    for _ in range(2000):
        side, conf, sharp, bright = (
            rng.uniform(20, 150),
            rng.uniform(40, 100),
            rng.uniform(0, 40),
            rng.uniform(0, 100),
        )
        yaw, pitch = rng.uniform(-90, 90, 2)
        face = SimpleNamespace(
            detection=SimpleNamespace(width=side, height=side * 1.1, confidence=conf),
            quality=SimpleNamespace(sharpness=sharp, brightness=bright),
            pose=SimpleNamespace(yaw=yaw, pitch=pitch),
        )
        accepted = {level: not quality_filter.reasons(face, level) for level in quality_filter.LEVELS}
        assert accepted["NONE"]
        for strict, loose in STRICTER:
            assert not accepted[strict] or accepted[loose], (strict, loose, face)


def test_reasons_name_each_failing_measure():
    bar = quality_filter.BARS["AUTO"]
    face = SimpleNamespace(
        detection=SimpleNamespace(width=bar.min_side - 1, height=100, confidence=bar.min_confidence - 1),
        quality=SimpleNamespace(sharpness=bar.min_sharpness / 2, brightness=bar.min_brightness / 2),
        pose=SimpleNamespace(yaw=bar.max_angle + 5, pitch=0),
    )
    expected = ["EXTREME_POSE", "LOW_BRIGHTNESS", "LOW_SHARPNESS", "LOW_CONFIDENCE", "SMALL_BOUNDING_BOX"]
    if bar.min_side <= 1:
        expected.remove("SMALL_BOUNDING_BOX")
    assert quality_filter.reasons(face, "AUTO") == expected
    assert quality_filter.reasons(face, "NONE") == []
