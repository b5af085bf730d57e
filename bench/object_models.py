"""NanoDet and CenterNet side by side on labelled pictures: precision and recall of the labels each
picture gets (a COCO class found at least once), of boxes where bench/object_labels.csv gives
them (IoU >= 0.5), at a few confidence floors, and milliseconds per picture.

    FACELEDGER_ONNX_THREADS=2 python bench/object_models.py [--faces N]

Pictures: bench/object_labels.csv (hand labels of scikit-image's sample pictures, which `pip
download scikit-image==0.24.0` into /tmp and unzipping skimage/data/ gives in
/tmp/skim/skimage/data; Debian's opencv-doc examples, `apt-get download opencv-doc` and `dpkg -x`
into /tmp/ocv/x; ../shared/faces/nonface; tests/data), and N photos of ../shared/faces (each has
a person). A missing source is skipped with a message. "nanodet-human" is NanoDet fed as human
feeds it (RGB / 255), to show why vision/objects.py does not.
"""

from __future__ import annotations

import argparse
import csv
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
FLOORS = (30.0, 40.0, 50.0)


def pictures(faces: int) -> list[tuple[str, set[str], list[tuple[str, np.ndarray]]]]:
    """(path, labels, [(label, box xyxy)]) for every picture whose source is present."""
    out, missing = [], set()
    with open(Path(__file__).with_name("object_labels.csv")) as f:
        for row in csv.DictReader(f):
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
        out += [(str(SOURCES["faces"] / r["path"]), {"person"}, []) for r in rows[::step][:faces]]
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


def run(model: str, items) -> tuple[list, float]:
    found, took = [], []
    for path, _, _ in items:
        rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        found.append(objects.detect_objects(rgb, model, min(FLOORS)))
        took.append(time.perf_counter() - start)
    return found, 1000 * float(np.median(took))


def score(items, found, floor: float) -> dict[str, float]:
    tp = fp = fn = btp = bfp = bfn = 0
    for (_, labels, boxes), objs in zip(items, found):
        objs = [o for o in objs if o.confidence >= floor]
        names = {o.name for o in objs}
        tp, fp, fn = tp + len(names & labels), fp + len(names - labels), fn + len(labels - names)
        if not boxes:
            continue
        labelled = {name for name, _ in boxes}
        preds = [(o.name, np.array([*o.box[:2], o.box[0] + o.box[2], o.box[1] + o.box[3]])) for o in objs]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=60, help="photos of ../shared/faces (each has a person)")
    args = parser.parse_args()
    manifest = model_store.installed() or {"models": {}}
    items = pictures(args.faces)
    print(f"{len(items)} pictures; {sum(len(b) for _, _, b in items)} boxes drawn")
    print(f"{'model':<14} {'floor':>5} {'labelP':>7} {'labelR':>7} {'boxP':>6} {'boxR':>6} {'ms/img':>7}")
    for model in MODELS:
        if model.partition("-")[0] not in manifest["models"]:
            print(f"skipped: {model} is not installed (faceledger models install)")
            continue
        found, ms = run(model, items)
        for floor in FLOORS:
            s = score(items, found, floor)
            figures = f"{s['P']:>7.2f} {s['R']:>7.2f} {s['boxP']:>6.2f} {s['boxR']:>6.2f}"
            print(f"{model:<14} {floor:>5.0f} {figures} {ms:>7.0f}")


if __name__ == "__main__":
    main()
