"""The object detectors (vision/objects.py): NanoDet's and CenterNet's heads as converted to ONNX
against TensorFlow.js's own outputs (tests/data/golden/objects, made by
tools/golden/make_object_golden.py), the numpy decoding against the graphs' own, objects found
in public-domain / CC0 pictures, and their calibrated confidence (data/object_confidence.json).
NMS, the confidence maps and the checks on inputs need no model."""

from __future__ import annotations

import hashlib
import json
import threading
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import COLLINS, DATA
from test_detectors_onnx import needs

from faceledger.vision import model_store, objects

GOLDEN = DATA / "golden" / "objects"
CAT, CUP = DATA / "objects" / "chelsea.jpg", DATA / "objects" / "coffee.jpg"
BOTH = [pytest.param(m, marks=needs(m), id=m) for m in objects.OBJECT_MODELS]


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _golden_input(model: str, golden) -> np.ndarray:
    rgb = _rgb(DATA / "objects" / str(golden["picture"]))
    if model == "nanodet":
        x = objects.nanodet_input(objects.square(rgb, objects.NANODET_SIDE))
    else:
        x = objects.centernet_input(objects.square(rgb, objects.CENTERNET_SIDE))
    x = np.ascontiguousarray(x, np.float32)
    assert hashlib.sha256(x.tobytes()).hexdigest() == str(golden["input_sha256"]), (
        "the picture no longer makes the input the golden fixture was made from (another OpenCV?)"
    )
    return x


def _run(model: str, x: np.ndarray) -> dict[str, np.ndarray]:
    sess = objects._session(model)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))


def _close(got: np.ndarray, ref: np.ndarray, rel: float) -> None:
    assert got.shape == ref.shape
    # float32: rounding in another order of summation, grown over some 50 layers
    assert np.max(np.abs(got - ref)) <= rel * max(1.0, float(np.max(np.abs(ref))))


@pytest.mark.parametrize("model", BOTH)
def test_heads_reproduce_tensorflow_js(model):
    golden = np.load(GOLDEN / f"{model}.npz")
    got = _run(model, _golden_input(model, golden))
    assert list(got) == model_store.HEADS[model][1]
    for name, value in got.items():
        ref = golden[f"output:{name}"]
        if f"rows:{name}" in golden:
            start, stop = golden[f"rows:{name}"]
            value = value[:, start:stop]
        _close(value, ref, 2e-4)


@needs("nanodet")
def test_nanodet_heads_read_as_the_graph_reads_them():
    """Class logits first, then 4 x 11 distance bins; cells row by row: the graph's own outputs."""
    golden = np.load(GOLDEN / "nanodet.npz")
    head32 = golden["output:PartitionedCall/Add_37"].reshape(169, 124).astype(np.float64)
    np.testing.assert_allclose(objects._sigmoid(head32[:, :80]), golden["output:Identity_2"][0], atol=1e-6)
    np.testing.assert_allclose(head32[:, 80:], golden["output:Identity_5"][0], atol=1e-5)


@needs("centernet")
def test_centernet_decoding_reproduces_the_graphs_detections():
    golden = np.load(GOLDEN / "centernet.npz")
    heat, pooled, sides = _run("centernet", _golden_input("centernet", golden)).values()
    boxes, scores, classes = objects.decode_centernet(heat, pooled, sides, 0.0)
    ref = golden["output:tower_0/detections"][0]  # x1, y1, x2, y2 (input pixels), score, class
    confident = ref[:, 4] > 0.05  # below it, near-equal scores may swap places
    n = int(confident.sum())
    assert n >= 3
    np.testing.assert_allclose(scores[:n], ref[:n, 4], atol=1e-4)
    np.testing.assert_array_equal(classes[:n], ref[:n, 5].astype(int))
    np.testing.assert_allclose(boxes[:n] * objects.CENTERNET_SIDE, ref[:n, :4], atol=0.05)


def _found(model: str, path: Path, min_confidence: float = 30) -> dict[str, objects.DetectedObject]:
    best: dict[str, objects.DetectedObject] = {}
    for o in objects.detect_objects(_rgb(path), model, min_confidence):
        best.setdefault(o.name, o)
    return best


@pytest.mark.parametrize("model", BOTH)
def test_the_astronaut_is_a_person_filling_most_of_the_picture(model):
    person = _found(model, COLLINS)["person"]
    left, top, width, height = person.box
    assert person.score > 50
    assert left < 0.1 and top < 0.1 and 0.55 < width < 0.8 and height > 0.85


@pytest.mark.parametrize("model", BOTH)
def test_a_clearly_visible_person_passes_detect_labels_default_floor(model):
    """Calibrated by the person curve, a plain person is a likely label: above DetectLabels'
    MinConfidence of 55, though CenterNet's own score for it is near 60 and the calibration's, not
    the network's, is the confidence."""
    person = _found(model, COLLINS, 55)["person"]
    assert person.confidence >= 55
    assert person.confidence == pytest.approx(float(objects.calibrated(model, "person", person.score)))
    xs, ys = objects.confidence_map(model, "person")
    assert person.confidence == pytest.approx(float(np.interp(person.score, xs, ys)))


@pytest.mark.parametrize("model", BOTH)
def test_the_coffee_cup_is_a_cup(model):
    """At detect_objects' own floor (20): NanoDet's cup (raw 52) is calibrated by the curve of
    every class but person to 28, CenterNet's (raw 63) to 54."""
    cup = _found(model, CUP, objects.DEFAULT_MIN_CONFIDENCE)["cup"]
    left, top, width, height = cup.box
    # the cup and saucer's middle, whatever each model takes of the saucer
    assert 0.3 < left + width / 2 < 0.6 and top < 0.1


@needs("nanodet")
def test_nanodet_sees_the_cat():
    """The network's own view: NanoDet scores the cat 48 (and a dog 47). Calibrated by the curve
    of every class but person the cat is a label of confidence 19, not a likely one."""
    found = {name: raw for name, raw, _ in objects.raw_objects(_rgb(CAT), "nanodet", 40)}
    assert "cat" in found


@pytest.mark.parametrize("model", BOTH)
def test_any_size_and_aspect_gives_boxes_as_fractions_of_the_picture(model):
    rgb = _rgb(COLLINS)
    h, w = rgb.shape[:2]
    wide = np.full((h, 3 * w, 3), 255, np.uint8)
    wide[:, w : 2 * w] = rgb  # the astronaut in the middle third
    person = _found(model, COLLINS)["person"]
    found = [o for o in objects.detect_objects(wide, model, 30) if o.name == "person"]
    assert found, "no person in the widened picture"
    left, _, width, _ = found[0].box
    assert abs(left - (1 + person.box[0]) / 3) < 0.05 and abs(width - person.box[2] / 3) < 0.05
    for o in objects.detect_objects(cv2.resize(rgb, (37, 23)), model, 1):
        assert all(0 <= v <= 1 for v in o.box) and o.box[0] + o.box[2] <= 1 + 1e-9


@pytest.mark.parametrize("model", BOTH)
def test_min_confidence_and_order(model):
    low = objects.detect_objects(_rgb(CUP), model, 10)
    high = objects.detect_objects(_rgb(CUP), model, 50)
    assert len(high) < len(low)
    assert all(o.confidence >= 50 for o in high) and all(o.confidence >= 10 for o in low)
    assert [o.confidence for o in low] == sorted((o.confidence for o in low), reverse=True)
    for curve in objects.GROUPS:  # within a curve, confidence follows the score
        scores = [o.score for o in low if objects.group(o.name) == curve]
        assert scores == sorted(scores, reverse=True)
    for o in low:  # each object by its own group's curve
        assert o.confidence == pytest.approx(float(objects.calibrated(model, o.name, o.score)))
    assert {o.name for o in low} <= set(objects.COCO_CLASSES)
    assert objects.detect_objects(_rgb(CUP), model, 100) == []  # nothing is calibrated above 99.9


@pytest.mark.parametrize("model", BOTH)
def test_threads_share_the_session_and_agree(model):
    pictures = [_rgb(p) for p in (COLLINS, CAT, CUP)]
    alone = [objects.detect_objects(p, model) for p in pictures]
    got: dict[int, list] = {}

    def work(i: int) -> None:
        got[i] = objects.detect_objects(pictures[i % 3], model)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == alone[i % 3] for i in range(9))


def _calibration() -> dict:
    return json.loads(resources.files("faceledger").joinpath("data", objects.CALIBRATION).read_text())


@pytest.mark.parametrize("model", objects.OBJECT_MODELS)
@pytest.mark.parametrize("curve", objects.GROUPS)
def test_the_confidence_maps_are_monotone_and_percentages(model, curve):
    xs, ys = objects.confidence_map(model, curve)
    assert (xs[0], ys[0]) == (0.0, 0.0)  # below the lowest score measured: down to nothing
    assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) >= 0)
    assert xs[-1] <= 100 and 0 <= ys.min() and ys.max() <= 99.9
    name = "person" if curve == "person" else "dog"
    raw = np.linspace(0, 100, 1001)
    mapped = objects.calibrated(model, name, raw)
    assert np.all(np.diff(mapped) >= 0) and 0 <= mapped.min() and mapped.max() <= 99.9
    # the raw floor of the curve is its inverse, where the curve reaches it
    for least in (1.0, 20.0, 50.0, 55.0, 70.0, 90.0):
        if least > ys[-1]:
            assert objects.score_floor(model, least, curve) == float("inf")
        else:
            floor = objects.score_floor(model, least, curve)
            assert float(objects.calibrated(model, name, floor)) == pytest.approx(least)
    assert objects.score_floor(model, 100.0, curve) == float("inf")


@pytest.mark.parametrize("model", objects.OBJECT_MODELS)
def test_detect_objects_decodes_down_to_the_lower_floor_of_the_curves(model):
    """detect_objects decodes from the lower of the two curves' raw floors, so that neither group
    loses an object its own curve would pass; each object is then held to its own curve."""
    for least in (20.0, 50.0, 55.0, 70.0, 90.0, 100.0):
        floors = [objects.score_floor(model, least, g) for g in objects.GROUPS]
        assert objects.score_floor(model, least) == min(floors)
    with pytest.raises(ValueError, match="unknown curve"):
        objects.confidence_map(model, "dog")
    assert objects.group("person") == "person" and objects.group("cat") == objects.group("tv") == "other"


def _wilson_lower(right: int, n: int, z: float = 1.96) -> float:
    p = right / n
    return (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


@pytest.mark.parametrize("model", objects.OBJECT_MODELS)
def test_each_knot_is_the_lower_bound_of_what_it_rests_on(model):
    """Conservative: a knot's value is the lower end of the 95% Wilson interval of the precision of
    the detections pooled into it, under that precision; for each group's curve (person, other).
    No pooled curve over all classes is shipped: nothing reads one."""
    entry = _calibration()["models"][model]
    assert set(entry["curves"]) == set(objects.GROUPS) and "knots" not in entry
    assert sum(c["detections"] for c in entry["curves"].values()) == entry["detections"]
    assert sum(c["right"] for c in entry["curves"].values()) == entry["right"]
    assert entry["curves"]["person"]["right"] == entry["by_class"]["person"][1]
    assert entry["curves"]["person"]["detections"] == entry["by_class"]["person"][0]
    for curve in entry["curves"].values():
        xs, ys = np.array(curve["knots"], np.float64).T
        assert (xs[0], ys[0]) == (0.0, 0.0) and np.all(np.diff(xs) > 0) and np.all(np.diff(ys) >= 0)
        counts, rights = curve["knot_detections"], curve["knot_right"]
        assert len(counts) == len(rights) == len(xs) and (counts[0], rights[0]) == (0, 0)
        assert sum(counts) == curve["detections"] and sum(rights) == curve["right"]
        for y, n, right in zip(ys[1:], counts[1:], rights[1:]):
            assert y == pytest.approx(min(100 * _wilson_lower(right, n), 99.9), abs=0.006)
            assert y <= 100 * right / n
        by_source = curve["by_source"].values()
        assert (
            sum(n for n, _ in by_source) == curve["detections"]
            and sum(r for _, r in by_source) == curve["right"]
        )
    # the person curve rests on the photos alone: the stamp scenes have no person
    assert set(entry["curves"]["person"]["by_source"]) == {"photos"}


def test_the_confidence_maps_say_what_they_rest_on():
    data = _calibration()
    assert data["made_by"].startswith("bench/object_models.py --calibrate")
    assert data["measured_on"]["pictures"] >= 90 and "groups" in data
    for model in objects.OBJECT_MODELS:
        entry = data["models"][model]
        assert sum(n for n, _ in entry["by_class"].values()) == entry["detections"]
        assert sum(right for _, right in entry["by_class"].values()) == entry["right"]


def test_without_the_models_it_says_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELEDGER_MODELS", str(tmp_path))
    with pytest.raises(model_store.ModelsUnavailable, match="models install"):
        objects.detect_objects(np.zeros((8, 8, 3), np.uint8), "centernet")


def test_unknown_model_and_bad_pictures_are_refused():
    with pytest.raises(ValueError, match="unknown object model"):
        objects.raw_heads(np.zeros((8, 8, 3), np.uint8), "yolo")
    with pytest.raises(ValueError, match="RGB"):
        objects.detect_objects(np.zeros((8, 8), np.uint8))


def test_coco_classes_in_the_models_order():
    assert len(objects.COCO_CLASSES) == len(set(objects.COCO_CLASSES)) == 80
    assert objects.COCO_CLASSES[0] == "person" and objects.COCO_CLASSES[41] == "cup"
    assert objects.COCO_CLASSES[15] == "cat" and objects.COCO_CLASSES[79] == "toothbrush"
    assert {m.name for m in model_store.MODELS.values() if m.kind == "objects"} == set(objects.OBJECT_MODELS)


def test_nms_is_class_wise():
    boxes = np.array([[0, 0, 0.5, 0.5], [0.01, 0, 0.5, 0.5], [0, 0, 0.5, 0.5], [0.6, 0.6, 1, 1]])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    classes = np.array([0, 0, 16, 0])
    assert objects.nms(boxes, scores, classes, 0.5, 100).tolist() == [0, 2, 3]
    assert objects.nms(boxes, scores, classes, 0.5, 2).tolist() == [0, 2]


def test_nanodet_decoding_of_a_made_up_head():
    """One confident cell of the stride-32 head, its distributions peaked at known bins."""
    heads = [np.full((1, s, s, 124), -20.0, np.float32) for s in (52, 26, 13)]
    cell = heads[2][0, 6, 4]  # row 6, column 4: centre (4.5, 6.5) x 32 px
    cell[41] = 5.0  # class 41: cup
    for side, peak in enumerate((1, 2, 3, 4)):
        cell[80 + side * 11 + peak] = 30.0
    boxes, scores, classes = objects.decode_nanodet(heads, 0.5)
    assert classes.tolist() == [41] and scores[0] == pytest.approx(1 / (1 + np.exp(-5.0)))
    cx, cy = 4.5 * 32, 6.5 * 32
    want = np.array([cx - 32, cy - 64, cx + 96, cy + 128]) / objects.NANODET_SIDE
    np.testing.assert_allclose(boxes[0], want, atol=1e-6)


def test_the_stamps_the_label_tests_compose_are_out_of_the_calibration():
    """bench/stamp_labels.csv maps Tux Paint's stamps to COCO classes for the calibration's stamp
    scenes; the stamps tests/test_detect_labels.py composes are excluded, so that its Dog, Horse,
    Giraffe and Bird are measured out of sample. Every label is a COCO class, empty or exclude."""
    import csv
    import fnmatch

    from test_detect_labels import ANIMALS

    with open(Path(__file__).parents[1] / "bench" / "stamp_labels.csv") as f:
        rules = [(r["pattern"], r["label"]) for r in csv.DictReader(f)]
    assert {label for _, label in rules} <= set(objects.COCO_CLASSES) | {"", "exclude"}
    used = {f"animals/{stamp}" for stamps in ANIMALS.values() for stamp in stamps}
    assert len(used) == 4
    for stamp in used:
        assert next(label for pattern, label in rules if fnmatch.fnmatchcase(stamp, pattern)) == "exclude"
