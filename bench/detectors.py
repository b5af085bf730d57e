"""Face detectors side by side on the labelled detection set: recall by face size, yaw and
condition, false detections, and milliseconds per megapixel.

The set is bench/labels/detection_set.jsonl with its images in bench/results/detection_set/
(build them first: `.venv/bin/python bench/detection_set.py`; see bench/labels/detection_set.md).
Each detector runs over the set on every core (faceledger.processes.pool.run_over_files, one
process per core); speed is timed afterwards on this one process over a fixed sample of the
images, after a warm-up. No model is loaded in this process before the workers fork.

Matching: a labelled face is found when a detection's box overlaps its box with IoU >= 0.4;
each face is matched by one detection and each detection matches one face (greedily, most
confident detection first). An unmatched detection that overlaps no labelled face is a false
detection, unless bench/labels/detection_review.jsonl records that spot (kind
"false_detection", verdict "face") as a face the labels lack; every such detection is cropped
into bench/results/detection_review/<detector>/ so the labels can be checked by eye, beside
contact sheets of false detections, missed faces and the faces one detector found and another
missed. An unmatched detection on a labelled face (a second box, or one too far off) is counted
apart. Yaw and the conditions are compared on faces of 40 px and up.

    .venv/bin/python bench/detectors.py [NAME ...] [--limit N] [--categories crowd,yaw,...]
        [--workers 2] [--time-images 12] [--reuse] [--list]

With no NAME, every candidate that can be constructed (`--list` shows them): CANDIDATES below,
then any DETECTORS table (name -> class) and any detector class in faceledger/vision/ and its
subfolders (a public class with a detect method and a non-empty `name`). A new detector that
follows the Detector protocol there is found by itself; anything else goes into CANDIDATES.
`--reuse` keeps each image's detections from an earlier run while the image is unchanged
(bench/results/detections/<name>.jsonl). Results: a table on stdout and
bench/results/detectors.json.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import detection_set as dset  # noqa: E402

from faceledger.processes.pool import default_workers, run_over_files, with_progress  # noqa: E402

RESULTS = dset.ROOT / "bench" / "results"
IMAGES = dset.OUT / "images"
REVIEW_DIR = RESULTS / "detection_review"
REVIEWED = dset.ROOT / "bench" / "labels" / "detection_review.jsonl"
CACHE = RESULTS / "detections"
IOU_MATCH = 0.4
OVERLAP = 0.1  # a detection "overlaps" a labelled face when this share of its box lies on the face's

# name -> factory (no arguments) -> an object with detect(rgb) -> [Detection]. Add a detector here
# when discovery does not find it (a class outside faceledger/vision/, or one that needs arguments),
# e.g. "blazeface-front": lambda: BlazeFaceDetector(variant="front").
CANDIDATES: dict[str, Callable[[], object]] = {}


def discover() -> dict[str, Callable[[], object]]:
    """Every candidate: CANDIDATES, then any DETECTORS table (name -> class) and any detector class
    in faceledger.vision's modules and subfolders (a public class of the module's own with a
    detect method and a non-empty `name`)."""
    import faceledger.vision as vision

    found: dict[str, Callable[[], object]] = dict(CANDIDATES)
    try:  # faceledger's own table of detectors by name first, wherever it lives
        from faceledger.vision import detect

        for name, cls in getattr(detect, "DETECTORS", {}).items():
            found.setdefault(name, cls)
    except Exception as e:
        print(f"faceledger.vision.detect: {type(e).__name__}: {e}", file=sys.stderr)
    known = set(found.values())
    # Every .py file under faceledger/vision/, subfolders too (with or without an __init__.py);
    # packages first, so that a table of detectors (detectors/__init__.py's) names them before
    # the scan of classes does.
    root = Path(vision.__path__[0])
    files = sorted(
        (p for p in root.rglob("*.py") if "__pycache__" not in p.parts),
        key=lambda p: (p.name != "__init__.py", p.relative_to(root).parts),
    )
    for path in files:
        parts = path.relative_to(root).with_suffix("").parts
        mod = ".".join(("faceledger", "vision", *(parts[:-1] if path.name == "__init__.py" else parts)))
        try:
            module = importlib.import_module(mod)
        except Exception as e:  # a module being written by someone else may not import yet
            print(f"skipped module {mod}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        table = getattr(module, "DETECTORS", None)
        if isinstance(table, dict):
            for name, entry in table.items():
                if name in found:
                    continue
                if inspect.isclass(entry):
                    found[name] = entry
                    known.add(entry)
                elif callable(getattr(entry, "load", None)):  # an entry that imports its class on use
                    try:
                        cls = entry.load()
                    except Exception as e:
                        print(f"skipped {name}: {type(e).__name__}: {e}", file=sys.stderr)
                        continue
                    found[name] = cls
                    known.add(cls)
                elif callable(entry):
                    found[name] = entry
        for attr, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and not attr.startswith("_")
                and callable(getattr(cls, "detect", None))
                and isinstance(getattr(cls, "name", None), str)
                and cls.name
                and not getattr(cls, "_is_protocol", False)
                and not inspect.isabstract(cls)
                and cls not in known
            ):
                found.setdefault(cls.name, cls)
                known.add(cls)
    return found


# -- Running a detector over the images (one process per core) ---------------------------------

_detectors: dict[str, object] = {}
_factories: dict[str, Callable[[], object]] = {}


def detector(name: str):
    if name not in _factories:  # a worker started by spawn rather than fork
        _factories.update(discover())
    if name not in _detectors:
        _detectors[name] = _factories[name]()
    return _detectors[name]


def _try(name: str, conn) -> None:
    try:
        detector(name).detect(np.zeros((96, 128, 3), np.uint8))
        conn.send("")
    except Exception as e:
        conn.send(f"{type(e).__name__}: {e}")


def try_detector(name: str) -> str:
    """'' when the detector can be constructed and run (tried in a child process, so that no
    model is loaded in this one before the workers fork), else what went wrong."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_try, args=(name, child))
    proc.start()
    proc.join()
    return parent.recv() if parent.poll() else f"the trial process ended with code {proc.exitcode}"


def decode(path: Path) -> np.ndarray:
    from faceledger.inputs.images import decode_image, read_image_file

    return decode_image(read_image_file(path), max_bytes=15 << 20).rgb


class DetectTask:
    """One detector over one image file: its boxes and the seconds detect() took (picklable)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, path: Path) -> dict:
        rgb = decode(path)
        det = detector(self.name)
        t = time.perf_counter()
        found = det.detect(rgb)
        seconds = time.perf_counter() - t
        boxes = [[d.left, d.top, d.right, d.bottom, d.confidence] for d in found]
        return {"boxes": [[round(float(v), 2) for v in b] for b in boxes], "seconds": seconds}


def set_signature() -> str:
    return hashlib.sha256(dset.LABELS.read_bytes()).hexdigest()[:16]


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_detector(name: str, records: list[dict], workers: int, reuse: bool) -> dict[str, dict]:
    """image -> {boxes, seconds}; with --reuse, an image's detections cached by an earlier run
    are kept while the image file is unchanged."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"{name}.jsonl"
    shas = {r["image"]: file_sha(IMAGES / r["image"]) for r in records}
    done: dict[str, dict] = {}
    if reuse and cache.exists():
        for line in cache.read_text().splitlines():
            r = json.loads(line)
            if shas.get(r["image"]) == r.get("sha"):
                done[r["image"]] = r
    todo = [IMAGES / r["image"] for r in records if r["image"] not in done]
    if todo:
        task = DetectTask(name)
        with open(cache, "a" if reuse else "w") as f:
            items = run_over_files(task, todo, workers)
            for path, r in with_progress(items, len(todo), name):
                if "Error" in r:
                    raise RuntimeError(f"{name} failed on {path.name}: {r['Error']}")
                r = {"image": path.name, "sha": shas[path.name], **r}
                done[path.name] = r
                f.write(json.dumps(r) + "\n")
                f.flush()
    print(f"  {name}: {len(records) - len(todo)} images from the cache, {len(todo)} run", flush=True)
    return {r["image"]: done[r["image"]] for r in records}


def time_detector(name: str, records: list[dict], n: int) -> dict:
    """Wall and CPU milliseconds per megapixel on this one process over a fixed sample of images."""
    sample = spread(records, n)
    det = detector(name)
    images = [decode(IMAGES / r["image"]) for r in sample]
    det.detect(images[0])  # warm-up
    wall = cpu = 0.0
    for rgb in images:
        c0, t0 = _cpu(), time.perf_counter()
        det.detect(rgb)
        wall += time.perf_counter() - t0
        cpu += _cpu() - c0
    mp = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
    return {
        "images": [r["image"] for r in sample],
        "megapixels": round(mp, 2),
        "ms_per_mp": round(1000 * wall / mp, 1),
        "cpu_ms_per_mp": round(1000 * cpu / mp, 1),
    }


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def spread(records: list[dict], n: int | None) -> list[dict]:
    """n images spread over the scene kinds (as even a share of each kind as its size allows, and
    evenly through each kind's images), in the set's order; all when n is None."""
    if n is None or n >= len(records):
        return records
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_kind[r["category"]].append(r)
    quota = dict.fromkeys(by_kind, 0)
    while sum(quota.values()) < n:
        for kind in sorted(by_kind):
            if quota[kind] < len(by_kind[kind]) and sum(quota.values()) < n:
                quota[kind] += 1
    names = {r["image"] for kind, rs in by_kind.items() for r in thin(rs, quota[kind])}
    return [r for r in records if r["image"] in names]


# -- Matching ----------------------------------------------------------------------------------


def overlap_share(det, box) -> float:
    ix = max(0.0, min(det[2], box[2]) - max(det[0], box[0]))
    iy = max(0.0, min(det[3], box[3]) - max(det[1], box[1]))
    area = max((det[2] - det[0]) * (det[3] - det[1]), 1e-6)
    return ix * iy / area


def match(record: dict, boxes: list[list[float]], reviewed: list[dict]) -> dict:
    """Which labelled faces were found, and what the other detections were."""
    faces = record["faces"]
    found = [None] * len(faces)  # index of the matching detection
    kinds = []  # per detection: "match", "overlap" (on a labelled face, unmatched), "unlabelled", "false"
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i][4])
    kinds = [""] * len(boxes)
    for i in order:
        b = boxes[i]
        best, best_iou = None, IOU_MATCH
        for j, f in enumerate(faces):
            if found[j] is None:
                v = dset.iou(b, f["box"])
                if v >= best_iou:
                    best, best_iou = j, v
        if best is not None:
            found[best] = i
            kinds[i] = "match"
        elif any(overlap_share(b, f["box"]) >= OVERLAP for f in faces):
            kinds[i] = "overlap"
        else:
            r = review_of(record["image"], b, reviewed)
            kinds[i] = "unlabelled" if r is not None and r["verdict"] == "face" else "false"
    return {"found": found, "kinds": kinds}


def review_of(image: str, box, reviewed: list[dict]) -> dict | None:
    for r in reviewed:
        if r["image"] == image and r["kind"] == "false_detection" and dset.iou(box, r["box"]) >= IOU_MATCH:
            return r
    return None


def load_reviewed() -> list[dict]:
    if not REVIEWED.exists():
        return []
    return [json.loads(line) for line in REVIEWED.read_text().splitlines() if line.strip()]


# -- Figures -----------------------------------------------------------------------------------

# Yaw and the conditions are compared on faces of 40 px and up (Rekognition's smallest): the
# small faces would otherwise weigh on whichever group holds more of them. Crowds are small faces
# by nature, so their row takes them all.
MIN_SIZE = 40


def plain(f: dict) -> bool:
    return not (f["occluded"] or f["dark"] or f["blurred"])


CONDITIONS = {
    "occluded": lambda f: f["occluded"] is not None and f["size"] >= MIN_SIZE,
    "dark": lambda f: f["dark"] and f["size"] >= MIN_SIZE,
    "blurred": lambda f: f["blurred"] and f["size"] >= MIN_SIZE,
    "crowd (12+ faces; all sizes)": lambda f: f["crowd"] == "crowd",
    "group (2-11 faces)": lambda f: f["crowd"] == "group" and f["size"] >= MIN_SIZE,
    "real photos": lambda f: f["paste"] == "real" and f["size"] >= MIN_SIZE,
    "none of these, |yaw| < 30": lambda f: f["size"] >= MIN_SIZE and abs(f["yaw"]) < 30 and plain(f),
}


def figures(records: list[dict], runs: dict[str, dict], reviewed: list[dict]) -> dict:
    faces = [(r, j, f) for r in records for j, f in enumerate(r["faces"])]
    nonface = [r for r in records if r["category"] == "nonface"]
    matched = {r["image"]: match(r, runs[r["image"]]["boxes"], reviewed) for r in records}
    hit = {(r["image"], j): matched[r["image"]]["found"][j] is not None for r, j, _ in faces}

    def recall(pred) -> dict:
        sel = [(r["image"], j) for r, j, f in faces if pred(f)]
        n = len(sel)
        k = sum(hit[s] for s in sel)
        return {"n": n, "found": k, "recall": round(k / n, 4) if n else None}

    out = {
        "all": recall(lambda f: True),
        "size": {b: recall(lambda f, b=b: f["size_bin"] == b) for b in dset.SIZE_BIN_NAMES},
        "yaw": {
            b: recall(lambda f, b=b: f["yaw_bin"] == b and f["size"] >= MIN_SIZE and plain(f))
            for b in dset.YAW_BIN_NAMES
        },
        "condition": {c: recall(p) for c, p in CONDITIONS.items()},
    }
    kinds = defaultdict(int)
    for r in records:
        if r["category"] == "nonface":
            continue
        for k in matched[r["image"]]["kinds"]:
            kinds[k] += 1
    nf_false = sum(len(runs[r["image"]]["boxes"]) for r in nonface)
    nf_mp = sum(r["width"] * r["height"] for r in nonface) / 1e6
    face_images = [r for r in records if r["category"] != "nonface"]
    out["false"] = {
        "nonface_images": len(nonface),
        "on_nonface_images": nf_false,
        "per_nonface_image": round(nf_false / len(nonface), 3) if nonface else None,
        "per_nonface_megapixel": round(nf_false / nf_mp, 3) if nonface else None,
        "in_face_scenes": kinds["false"],
        "per_face_scene": round(kinds["false"] / len(face_images), 3) if face_images else None,
        "on_unlabelled_faces": kinds["unlabelled"],
        "overlapping_a_face_unmatched": kinds["overlap"],
    }
    secs = sum(runs[r["image"]]["seconds"] for r in records)
    mp = sum(r["width"] * r["height"] for r in records) / 1e6
    out["pool_ms_per_mp"] = round(1000 * secs / mp, 1)
    out["matches"] = matched
    return out


# -- Review: crops of the detections that overlap no label, and contact sheets ------------------


def crop(rgb: np.ndarray, box, out_side: int = 128, margin: float = 0.3) -> np.ndarray:
    left, top, right, bottom = box[:4]
    w, h = right - left, bottom - top
    s = max(w, h) * (1 + 2 * margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    side = max(1, int(round(s)))
    pad = side
    big = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    c = big[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    c = cv2.resize(
        c, (out_side, out_side), interpolation=cv2.INTER_AREA if side > out_side else cv2.INTER_CUBIC
    )
    # the box itself, in the crop
    k = out_side / side
    p0 = (int((left - x0) * k), int((top - y0) * k))
    p1 = (int((right - x0) * k), int((bottom - y0) * k))
    c = c.copy()
    cv2.rectangle(c, p0, p1, (0, 255, 0), 1)
    return c


def sheet(tiles: list[tuple[np.ndarray, str]], path: Path, cols: int = 8) -> None:
    if not tiles:
        return
    side = tiles[0][0].shape[0]
    cells = []
    for img, caption in tiles:
        cell = np.full((side + 28, side, 3), 255, np.uint8)
        cell[:side] = img
        for k, line in enumerate(caption.split("\n")[:2]):
            cv2.putText(cell, line[:24], (2, side + 11 + 13 * k), cv2.FONT_HERSHEY_PLAIN, 0.75, (0, 0, 0), 1)
        cells.append(cell)
    while len(cells) % cols:
        cells.append(np.full_like(cells[0], 255))
    rows = [np.hstack(cells[i : i + cols]) for i in range(0, len(cells), cols)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def review_output(
    records: list[dict], runs: dict[str, dict[str, dict]], figs: dict[str, dict], sheet_max: int = 96
) -> list[str]:
    """Crops of every false detection per detector, and contact sheets; returns the sheets written."""
    REVIEW_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    by_image = {r["image"]: r for r in records}
    rgbs: dict[str, np.ndarray] = {}

    def image(name: str) -> np.ndarray:
        if name not in rgbs:
            if len(rgbs) > 8:
                rgbs.clear()
            rgbs[name] = decode(IMAGES / name)
        return rgbs[name]

    for name, run in runs.items():
        d = REVIEW_DIR / name
        if d.exists():
            for old in d.glob("*.png"):
                old.unlink()
        d.mkdir(exist_ok=True)
        false_spots, missed_spots = [], []
        for img_name, m in sorted(figs[name]["matches"].items()):
            boxes = run[img_name]["boxes"]
            for i, kind in enumerate(m["kinds"]):
                if kind in ("false", "unlabelled"):
                    b = boxes[i]
                    c = crop(image(img_name), b)
                    tag = f"{Path(img_name).stem}_{int(b[0])}_{int(b[1])}_{int(b[2])}_{int(b[3])}"
                    cv2.imwrite(str(d / f"{tag}.png"), cv2.cvtColor(c, cv2.COLOR_RGB2BGR))
                    false_spots.append(
                        (img_name, b, f"{Path(img_name).stem}\n{int(b[2] - b[0])}px c{b[4]:.0f} {kind}")
                    )
            for j, i in enumerate(m["found"]):
                if i is None:
                    f = by_image[img_name]["faces"][j]
                    missed_spots.append((img_name, f["box"], caption(img_name, f)))
        # a spread over the whole list, not only its first images
        false_tiles = [(crop(image(n), b), c) for n, b, c in thin(false_spots, sheet_max)]
        missed_tiles = [(crop(image(n), b), c) for n, b, c in thin(missed_spots, sheet_max)]
        for tiles, what in ((false_tiles, "false"), (missed_tiles, "missed")):
            if tiles:
                path = REVIEW_DIR / f"{name}_{what}.png"
                sheet(tiles, path)
                written.append(str(path))
    names = list(runs)
    for a in range(len(names)):
        for b in range(len(names)):
            if a == b or (len(names) > 3 and 0 not in (a, b)):
                continue  # with many detectors, each against the first named only
            ma, mb = figs[names[a]]["matches"], figs[names[b]]["matches"]
            tiles = []
            for img_name in sorted(ma):
                for j, (ia, ib) in enumerate(zip(ma[img_name]["found"], mb[img_name]["found"])):
                    if ia is not None and ib is None:
                        f = by_image[img_name]["faces"][j]
                        tiles.append((f, img_name))
            if tiles:
                cells = [(crop(image(n), f["box"]), caption(n, f)) for f, n in thin(tiles, sheet_max)]
                path = REVIEW_DIR / f"found_by_{names[a]}_missed_by_{names[b]}.png"
                sheet(cells, path)
                written.append(str(path))
    return written


def thin(items: list, n: int) -> list:
    """At most n items, evenly spread over the list."""
    if len(items) <= n:
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def caption(image_name: str, f: dict) -> str:
    flags = "".join(
        c
        for c, on in (
            ("O", f["occluded"]),
            ("D", f["dark"]),
            ("B", f["blurred"]),
            ("C", f["crowd"] == "crowd"),
        )
        if on
    )
    return f"{Path(image_name).stem}\n{f['size']:.0f}px y{f['yaw']:.0f} {flags}"


# -- The table ---------------------------------------------------------------------------------


def pct(r: dict) -> str:
    return "-" if r["recall"] is None else f"{100 * r['recall']:.1f}%"


def table(names: list[str], figs: dict[str, dict], timing: dict[str, dict]) -> str:
    first = figs[names[0]]
    rows: list[tuple[str, list[str]]] = [("faces found (all)", [pct(figs[n]["all"]) for n in names])]
    rows.append((f"  of {first['all']['n']} labelled faces", [str(figs[n]["all"]["found"]) for n in names]))
    rows.append(("recall by face width (px)", [""] * len(names)))
    for b in dset.SIZE_BIN_NAMES:
        rows.append((f"  {b:8} n={first['size'][b]['n']}", [pct(figs[n]["size"][b]) for n in names]))
    rows.append((f"recall by |yaw| (degrees; {MIN_SIZE}+ px, no condition)", [""] * len(names)))
    for b in dset.YAW_BIN_NAMES:
        rows.append((f"  {b:8} n={first['yaw'][b]['n']}", [pct(figs[n]["yaw"][b]) for n in names]))
    rows.append((f"recall by condition ({MIN_SIZE}+ px)", [""] * len(names)))
    for c in CONDITIONS:
        rows.append((f"  {c} n={first['condition'][c]['n']}", [pct(figs[n]["condition"][c]) for n in names]))
    fl = first["false"]
    rows.append(
        (
            f"false detections per non-face image (n={fl['nonface_images']})",
            [f"{figs[n]['false']['per_nonface_image']:.2f}" for n in names],
        )
    )
    rows.append(("false detections in face scenes", [str(figs[n]["false"]["in_face_scenes"]) for n in names]))
    rows.append(
        (
            "  on faces the labels lack (not counted)",
            [str(figs[n]["false"]["on_unlabelled_faces"]) for n in names],
        )
    )
    rows.append(
        (
            "unmatched boxes on a labelled face",
            [str(figs[n]["false"]["overlapping_a_face_unmatched"]) for n in names],
        )
    )
    rows.append(("ms per megapixel (1 process, wall)", [f"{timing[n]['ms_per_mp']:.0f}" for n in names]))
    rows.append(("  CPU ms per megapixel", [f"{timing[n]['cpu_ms_per_mp']:.0f}" for n in names]))
    rows.append(("  ms per megapixel in the pool run", [f"{figs[n]['pool_ms_per_mp']:.0f}" for n in names]))
    w0 = max(len(r[0]) for r in rows) + 2
    w = max(9, *(len(n) + 2 for n in names))
    lines = [" " * w0 + "".join(f"{n:>{w}}" for n in names)]
    lines += [f"{label:<{w0}}" + "".join(f"{v:>{w}}" for v in vals) for label, vals in rows]
    return "\n".join(lines)


def summary(records: list[dict], run: dict[str, dict], figs: dict, timing: dict) -> dict:
    """One detector's figures for the JSON file, with its missed faces and false detections listed."""
    missed, false = [], []
    for r in records:
        m = figs["matches"][r["image"]]
        for j, i in enumerate(m["found"]):
            if i is None:
                f = r["faces"][j]
                missed.append(
                    {"image": r["image"], "face": j, **{k: f[k] for k in ("box", "size", "yaw", "photo")}}
                )
        for i, kind in enumerate(m["kinds"]):
            if kind == "false":
                false.append({"image": r["image"], "box": run[r["image"]]["boxes"][i]})
    return {
        "timing": timing,
        **{k: v for k, v in figs.items() if k != "matches"},
        "missed": missed,
        "false_detections": false,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="detectors (default: every candidate that can be constructed)")
    ap.add_argument("--limit", type=int, default=None, help="only N images, spread over the scene kinds")
    ap.add_argument("--categories", default=None, help="only these scene kinds (comma-separated)")
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--time-images", type=int, default=12, help="images timed on one process")
    ap.add_argument("--reuse", action="store_true", help="reuse detections cached from an earlier run")
    ap.add_argument("--list", action="store_true", help="list the candidates and stop")
    args = ap.parse_args()
    candidates = discover()
    if args.list:
        for name, factory in candidates.items():
            print(f"{name}: {getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', factory)}")
        return
    if not dset.LABELS.exists() or not IMAGES.is_dir():
        raise SystemExit("the set is not built: run .venv/bin/python bench/detection_set.py first")
    records = dset.load_labels()
    missing = [r["image"] for r in records if not (IMAGES / r["image"]).exists()]
    if missing:
        raise SystemExit(
            f"{len(missing)} images missing (e.g. {missing[0]}): rebuild with bench/detection_set.py"
        )
    if args.categories:
        keep = set(args.categories.split(","))
        records = [r for r in records if r["category"] in keep]
    records = spread(records, args.limit)

    names = args.names or list(candidates)
    _factories.update(candidates)
    usable = []
    for name in names:
        if name not in candidates:
            print(f"skipped {name}: no such candidate (have: {', '.join(candidates)})", file=sys.stderr)
            continue
        problem = try_detector(name)
        if problem:
            print(f"skipped {name}: cannot be constructed or run: {problem}", file=sys.stderr)
            continue
        usable.append(name)
    if not usable:
        raise SystemExit("no detector to run")

    n_faces = sum(len(r["faces"]) for r in records)
    mp = sum(r["width"] * r["height"] for r in records) / 1e6
    print(
        f"{len(records)} images ({mp:.0f} megapixels), {n_faces} labelled faces; running {', '.join(usable)}"
    )
    reviewed = load_reviewed()
    runs, figs, timing = {}, {}, {}
    # Every pool run before any model is loaded here: a forked worker can hang on the thread pool
    # state a model left in its parent (dlib's CNN does); then the timing, on this one process.
    for name in usable:
        t = time.perf_counter()
        runs[name] = run_detector(name, records, args.workers, args.reuse)
        figs[name] = figures(records, runs[name], reviewed)
        print(f"  {name}: {time.perf_counter() - t:.0f} s over the set", flush=True)
    for name in usable:
        timing[name] = time_detector(name, records, args.time_images)
        print(f"  {name}: timed, {timing[name]['ms_per_mp']:.0f} ms per megapixel", flush=True)
    print()
    print(table(usable, figs, timing))
    sheets = review_output(records, runs, figs)
    out = {
        "set": {"labels": str(dset.LABELS.relative_to(dset.ROOT)), "signature": set_signature()},
        "images": [r["image"] for r in records],
        "faces": n_faces,
        "iou_match": IOU_MATCH,
        "detectors": {n: summary(records, runs[n], figs[n], timing[n]) for n in usable},
    }
    (RESULTS / "detectors.json").write_text(json.dumps(out, indent=1))
    print(f"\nresults in {RESULTS / 'detectors.json'}; review crops and sheets in {REVIEW_DIR}:")
    for s in sheets:
        print(f"  {s}")


if __name__ == "__main__":
    main()
