"""DetectLabels' IMAGE_PROPERTIES on generated pictures: colours, quality, foreground/background."""

from __future__ import annotations

import csv
from importlib import resources

import botocore.session
import cv2
import numpy as np
import pytest
from rekognition_shapes import problems

from faceledger.vision.image_properties import (
    box_dominant_colors,
    dominant_colors,
    image_properties,
    quality,
)

_MODEL = botocore.session.get_session().get_service_model("rekognition")
SIMPLIFIED = {"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey"}


def solid(rgb, h=120, w=160):
    return np.full((h, w, 3), rgb, np.uint8)


def scene(h=360, w=480, seed=0):
    """A picture with detail: blocks of colour, edges at many scales, a little grain."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    for _ in range(60):
        x, y = rng.integers(0, w), rng.integers(0, h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + rng.integers(5, 80), y + rng.integers(5, 80)), colour, -1)
        else:
            cv2.circle(img, (x, y), int(rng.integers(3, 40)), colour, -1)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def names(colours):
    return [c["CSSColor"] for c in colours]


# -- dominant colours -----------------------------------------------------------------------


def test_pure_red_is_one_red_colour():
    colours = dominant_colors(solid((255, 0, 0)))
    assert len(colours) == 1
    (red,) = colours
    assert red["CSSColor"] == "red" and red["SimplifiedColor"] == "red"
    assert (red["Red"], red["Green"], red["Blue"]) == (255, 0, 0)
    assert red["HexCode"] == "#ff0000"
    assert red["PixelPercent"] == pytest.approx(100.0)


def test_half_black_half_white_is_two_colours_of_half_each():
    img = solid((0, 0, 0), 200, 300)
    img[:, 150:] = 255
    colours = dominant_colors(img)
    assert sorted(names(colours)) == ["black", "white"]
    assert [c["SimplifiedColor"] for c in colours] == names(colours)
    for c in colours:
        assert c["PixelPercent"] == pytest.approx(50.0, abs=1.0)


def test_colours_are_sorted_by_share_and_capped():
    img = solid((0, 0, 255), 100, 100)  # blue 60 %, yellow 30 %, green 10 %
    img[60:90] = (255, 255, 0)
    img[90:] = (0, 128, 0)
    colours = dominant_colors(img)
    assert names(colours) == ["blue", "yellow", "green"]
    assert [round(c["PixelPercent"]) for c in colours] == [60, 30, 10]
    assert names(dominant_colors(img, max_colors=2)) == ["blue", "yellow"]
    assert dominant_colors(img, max_colors=0) == []


def test_pixels_and_regions_agree_and_noise_sums_to_everything():
    img = solid((0, 0, 0), 100, 100)
    img[:, 50:] = (255, 165, 0)
    assert dominant_colors(img) == dominant_colors(img.reshape(-1, 3))
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    colours = dominant_colors(noise, max_colors=20)
    assert 1 < len(colours) <= 20
    assert sum(c["PixelPercent"] for c in colours) == pytest.approx(100.0, abs=0.01)
    assert len(set(names(colours))) == len(colours)  # one name once


def test_deterministic():
    img = scene()
    assert image_properties(img) == image_properties(img)


def test_near_colours_take_the_nearest_css_name():
    assert names(dominant_colors(solid((250, 128, 114)))) == ["salmon"]
    assert names(dominant_colors(solid((128, 128, 128)))) == ["gray"]
    assert names(dominant_colors(solid((47, 79, 79)))) == ["darkslategrey"]
    dark_red = dominant_colors(solid((140, 2, 3)))[0]
    assert (dark_red["CSSColor"], dark_red["SimplifiedColor"], dark_red["HexCode"]) == (
        "darkred",
        "red",
        "#8b0000",
    )


def test_css_table_is_whole_and_consistent():
    text = resources.files("faceledger").joinpath("data/css_colors.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) >= 138  # CSS's named colours, one name for each distinct value
    assert len({r["hex"] for r in rows}) == len(rows)
    assert {r["simplified"] for r in rows} == SIMPLIFIED
    for r in rows:
        assert r["hex"] == r["hex"].lower() and len(r["hex"]) == 7 and r["hex"][0] == "#"
        rgb = tuple(int(r["hex"][i : i + 2], 16) for i in (1, 3, 5))
        assert names(dominant_colors(solid(rgb, 8, 8))) == [r["name"]]


def test_box_dominant_colors_reads_the_box():
    img = solid((0, 0, 255), 100, 200)
    img[20:60, 100:180] = (255, 255, 0)
    box = {"Left": 0.5, "Top": 0.2, "Width": 0.4, "Height": 0.4}
    assert names(box_dominant_colors(img, box)) == ["yellow"]
    assert box_dominant_colors(img, (0.5, 0.2, 0.0, 0.4)) == []


# -- quality --------------------------------------------------------------------------------


def test_brightness_falls_as_the_picture_darkens():
    img = scene()
    values = [quality((img * f).astype(np.uint8))["Brightness"] for f in (1.0, 0.7, 0.4, 0.1)]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4
    assert quality(solid((255, 255, 255)))["Brightness"] == pytest.approx(100.0)
    assert quality(solid((0, 0, 0)))["Brightness"] == 0.0


def test_sharpness_falls_as_the_picture_blurs():
    img = scene()
    values = [quality(img)["Sharpness"]]
    for sigma in (1.0, 2.0, 4.0, 8.0):
        values.append(quality(cv2.GaussianBlur(img, (0, 0), sigma))["Sharpness"])
    assert values == sorted(values, reverse=True) and len(set(values)) == 5
    assert values[0] > 50 > values[-1]
    assert quality(solid((90, 90, 90)))["Sharpness"] == 0.0  # nothing is in focus


def test_contrast_falls_as_the_picture_flattens():
    img = scene().astype(np.float32)
    mean = img.mean()
    values = [quality((mean + f * (img - mean)).astype(np.uint8))["Contrast"] for f in (1.0, 0.6, 0.3, 0.1)]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4
    halves = solid((0, 0, 0), 100, 100)
    halves[:, 50:] = 255
    assert quality(halves)["Contrast"] == pytest.approx(100.0)
    assert quality(solid((30, 200, 90)))["Contrast"] == 0.0


def test_quality_of_a_masked_region():
    img = scene()
    img[:, :240] = cv2.GaussianBlur(img, (0, 0), 4)[:, :240]  # left half out of focus
    left = np.zeros(img.shape[:2], bool)
    left[:, :240] = True
    assert quality(img, left)["Sharpness"] < quality(img, ~left)["Sharpness"]
    with pytest.raises(ValueError):
        quality(img, np.zeros(img.shape[:2], bool))


def test_figures_stay_within_0_and_100():
    rng = np.random.default_rng(5)
    for img in (rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), scene(), solid((255, 255, 255))):
        for value in quality(img).values():
            assert 0.0 <= value <= 100.0


# -- foreground and background ---------------------------------------------------------------


def test_boxes_split_foreground_from_background():
    img = scene()
    img[90:270, 160:320] = (220, 20, 60)  # a crimson object in the middle of a busy scene
    props = image_properties(img, [(160 / 480, 90 / 360, 160 / 480, 180 / 360)])
    fg, bg = props["Foreground"]["DominantColors"], props["Background"]["DominantColors"]
    assert names(fg)[0] == "crimson" and fg[0]["PixelPercent"] > 90
    assert "crimson" not in names(bg)[:3]
    assert set(props["Foreground"]["Quality"]) == {"Brightness", "Sharpness"}
    assert set(props["Quality"]) == {"Brightness", "Sharpness", "Contrast"}


def test_several_boxes_make_one_foreground():
    img = solid((255, 255, 255), 100, 200)
    img[10:40, 10:50] = (0, 0, 255)
    img[60:90, 150:190] = (0, 0, 255)
    props = image_properties(img, [(0.05, 0.1, 0.2, 0.3), (0.75, 0.6, 0.2, 0.3)])
    assert names(props["Foreground"]["DominantColors"]) == ["blue"]
    assert names(props["Background"]["DominantColors"]) == ["white"]


def test_a_box_over_everything_leaves_no_background():
    props = image_properties(scene(), [(0.0, 0.0, 1.0, 1.0)])
    assert "Background" not in props and "Foreground" in props


def test_saliency_finds_an_object_without_boxes():
    rng = np.random.default_rng(2)
    img = np.clip(rng.normal((70, 110, 160), 6, (300, 400, 3)), 0, 255).astype(np.uint8)  # blue-grey
    img[40:110, 260:350] = (255, 215, 0)  # a gold object off-centre
    props = image_properties(img)
    assert names(props["Foreground"]["DominantColors"])[0] == "gold"
    assert "gold" not in names(props["Background"]["DominantColors"])[:1]


def test_a_plain_picture_falls_back_to_the_centre():
    props = image_properties(solid((0, 128, 0), 200, 200))
    for part in ("Foreground", "Background"):
        assert names(props[part]["DominantColors"]) == ["green"]
        assert props[part]["DominantColors"][0]["PixelPercent"] == pytest.approx(100.0)


# -- Rekognition's shapes -------------------------------------------------------------------


@pytest.mark.parametrize("boxes", [(), [(0.25, 0.25, 0.5, 0.5)]])
def test_output_matches_botocore_shapes(boxes):
    props = image_properties(scene(), boxes, max_dominant_colors=20)
    found = problems(_MODEL.shape_for("DetectLabelsImageProperties"), props)
    assert not found, "\n".join(found)
    for colour in props["DominantColors"]:
        assert set(colour) == set(_MODEL.shape_for("DominantColor").members)
        assert isinstance(colour["Red"], int) and 0 <= colour["Red"] <= 255
        assert colour["HexCode"] == "#{:02x}{:02x}{:02x}".format(
            colour["Red"], colour["Green"], colour["Blue"]
        )
        assert colour["SimplifiedColor"] in SIMPLIFIED
    instance = {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.3, "Height": 0.3}, "Confidence": 90.0}
    instance["DominantColors"] = box_dominant_colors(scene(), instance["BoundingBox"])
    assert not problems(_MODEL.shape_for("Instance"), instance)
    assert len(props["DominantColors"]) <= 20  # DetectLabelsMaxDominantColors allows 0-20
