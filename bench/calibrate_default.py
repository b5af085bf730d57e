"""The default calibration faceledger ships: genuine and impostor score counts measured on the
team's labelled photos (../shared/faces: ids/ and singletons/, photos with an audit flag left
out). Only the counts are written, to faceledger/data/default_calibration.json; no photo and no
embedding leaves ../shared. Embeddings are cached in bench/results/.

    .venv/bin/python bench/calibrate_default.py [--fresh]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

from faceledger.accountability import calibration
from faceledger.accountability.datasets import EmbedLargestFace, LabelledFaces
from faceledger.processes.pool import default_workers, run_over_files, with_progress

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("FACES") or ROOT.parent / "shared" / "faces")
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "faceledger" / "data" / "default_calibration.json"


def embed(fresh: bool) -> LabelledFaces:
    cache = RESULTS / "calibration_embeddings.npz"
    if cache.exists() and not fresh:
        return LabelledFaces.load(cache)
    with open(FACES / "manifest.csv") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if not r["audit_flag"] and r["path"].startswith(("ids/", "singletons/"))
        ]
    paths = [FACES / r["path"] for r in rows]
    kept_paths, ids, vectors, missed = [], [], [], 0
    for (_, result), row in zip(
        with_progress(run_over_files(EmbedLargestFace(), paths, default_workers()), len(paths), "embedding"),
        rows,
    ):
        if "Error" in result:
            missed += 1
            continue
        kept_paths.append(row["path"])
        ids.append(row["identity"])
        vectors.append(result["Embedding"])
    print(f"{len(rows)} photos, {missed} without a detected face", file=sys.stderr)
    faces = LabelledFaces(kept_paths, ids, np.stack(vectors), {})
    RESULTS.mkdir(exist_ok=True)
    faces.save(cache)
    return faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    faces = embed(args.fresh)
    cal = calibration.measure(
        faces.embeddings,
        faces.identities,
        name="default",
        description=(
            f"faceledger's development set: {len(set(faces.identities)):,} people, {len(faces.paths):,} "
            "photos "
            "(mostly Labeled Faces in the Wild), dlib ResNet v1 embeddings, HOG detection"
        ),
    )
    cal.save(OUT)
    print(
        f"{cal.faces:,} faces of {cal.people:,} people: {cal.genuine_pairs:,} genuine and "
        f"{cal.impostor_pairs:,} impostor pairs"
    )
    for t in (70.0, 75.9, 80.0, 85.0, 90.0, 95.0, 99.0):
        print(
            f"  threshold {t:5.1f}: FMR {cal.fmr(t):.2e} (95% upper {cal.fmr_upper95(t):.2e}), FNMR "
            f"{cal.fnmr(t):.3f}"
        )
    for target in (1e-3, 1e-4, 1e-5, 1e-6):
        try:
            print(f"  FMR <= {target:.0e}: threshold {cal.threshold_for_fmr(target)}")
        except calibration.CalibrationError as e:
            print(f"  FMR <= {target:.0e}: {e}")
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
