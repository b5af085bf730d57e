"""Throughput of detect + embed: faceledger vs face_recognition on the same images, in one run.

face_recognition is timed as its users call it: load_image_file + face_encodings in a plain loop
(one process). faceledger is timed as its users run it over a folder: faceledger.processes.pool.run_over_files
with a task that decodes the file and runs analyze_faces(..., embed=True), with workers=1 and 2,
for each detector of --detectors; and as `faceledger index-faces DIR` runs (engine.index_folder
into a new collection, every face stored before it is reported), with the default detector.
All include image decoding; none includes model loading (each is warmed up first; the worker
processes are forked from the warmed-up parent, their start-up is included).

face_recognition is not a dependency of faceledger: `.venv/bin/pip install --no-deps
face_recognition==1.3.0` (its dlib requirement is met by dlib-bin, already installed).

Images: N (default 400) photos of ../shared/faces/ids/ sampled with a fixed seed, or with
--large the 5 pictures of public-domain/ repeated to N (default 40). Run from the repository root:

    .venv/bin/python bench/throughput.py [--images N] [--large] [--seed 0] [--detectors hog,hog+cnn]
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import random
import resource
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from faceledger.processes.pool import run_over_files
from faceledger.vision.detectors import DEFAULT_DETECTOR

# The team's labelled photos sit beside the repository (../shared/faces); FACES overrides.
FACES = Path(os.environ.get("FACES") or Path(__file__).resolve().parents[2] / "shared" / "faces")


class FaceledgerTask:
    """Decode, detect with one detector, and embed every face (picklable: runs in the workers)."""

    def __init__(self, detector: str):
        self.detector = detector

    def __call__(self, path: Path) -> dict:
        from faceledger.inputs.images import decode_image, read_image_file
        from faceledger.vision.analyze import analyze_faces

        rgb = decode_image(read_image_file(path), max_bytes=15 << 20).rgb
        faces = analyze_faces(rgb, detector_named(self.detector), embed=True)
        return {"faces": len(faces)}


@functools.cache
def detector_named(name: str):
    from faceledger.vision.detectors import make_detector

    return make_detector(name)


def face_recognition_loop(paths: list[Path]) -> list[int]:
    import face_recognition

    counts = []
    for p in paths:
        img = face_recognition.load_image_file(p)
        counts.append(len(face_recognition.face_encodings(img)))
    return counts


def faceledger_run(paths: list[Path], workers: int, detector: str) -> list[int]:
    counts = []
    for p, r in run_over_files(FaceledgerTask(detector), paths, workers):
        if "Error" in r:
            raise SystemExit(f"faceledger failed on {p}: {r['Error']}")
        counts.append(r["faces"])
    return counts


def index_folder(paths: list[Path]) -> list[int]:
    """`faceledger index-faces DIR` as its engine runs it: a folder of the images (links), a new
    collection in a temporary data directory, every face stored before it is reported."""
    from faceledger import FaceLedger

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for i, p in enumerate(paths):
            (folder / f"{i:05d}{p.suffix}").symlink_to(p.resolve())
        fl = FaceLedger(home=Path(tmp) / "home")
        fl.create_collection(CollectionId="bench")
        counts = []
        for _, r in fl.index_folder("bench", folder, QualityFilter="NONE", MaxFaces=100, workers=2):
            counts.append(len(r.get("FaceRecords", [])))
        return counts


def pick_images(n: int | None, large: bool, seed: int) -> list[Path]:
    if large:
        return list(islice(cycle(sorted((FACES / "public-domain").iterdir())), n or 40))
    with open(FACES / "manifest.csv", newline="") as f:
        ids = sorted(r["path"] for r in csv.DictReader(f) if r["path"].startswith("ids/"))
    return [FACES / p for p in random.Random(seed).sample(ids, n or 400)]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="how many images (default 400, 40 with --large)")
    ap.add_argument(
        "--large", action="store_true", help="the public-domain pictures (up to 1434x2333) repeated"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--detectors",
        default=",".join(dict.fromkeys(["hog", DEFAULT_DETECTOR])),
        help="faceledger's detectors, comma-separated (default: HOG, as face_recognition, and the default)",
    )
    args = ap.parse_args()
    started = time.perf_counter()
    paths = pick_images(args.images, args.large, args.seed)
    for p in set(paths):
        p.read_bytes()  # into the page cache, so the first contender does not pay for the disk
    # Warm-up: load every model once in this process (forked workers inherit them).
    face_recognition_loop(paths[:1])
    detectors = args.detectors.split(",")
    for d in detectors:
        faceledger_run(paths[:1], 1, d)

    contenders = [("face_recognition (loop, 1 process)", face_recognition_loop)]
    for d in detectors:
        contenders += [
            (f"faceledger {d}, 1 process", lambda ps, d=d: faceledger_run(ps, 1, d)),
            (f"faceledger {d}, 2 processes", lambda ps, d=d: faceledger_run(ps, 2, d)),
        ]
    contenders.append((f"index-faces DIR ({DEFAULT_DETECTOR}, 2 processes)", index_folder))
    runs = {}
    for name, fn in contenders:
        wall, cpu = time.perf_counter(), cpu_seconds()
        counts = fn(paths)
        runs[name] = (time.perf_counter() - wall, cpu_seconds() - cpu, np.array(counts))
        print(f"  {name}: {runs[name][0]:.1f} s", flush=True)

    kind = "public-domain pictures, repeated" if args.large else f"ids/ photos, seed {args.seed}"
    print(f"\n== Detect + embed throughput: {len(paths)} images ({kind}) ==")
    print(
        f"{'':38} {'seconds':>8} {'images/s':>9} {'faces/s':>8} {'faces':>6} {'images w/ face':>15} "
        f"{'CPU/wall':>9}"
    )
    for name, (wall, cpu, counts) in runs.items():
        print(
            f"{name:38} {wall:8.1f} {len(paths) / wall:9.2f} {counts.sum() / wall:8.2f} {counts.sum():6d} "
            f"{(counts > 0).sum():15d} {cpu / wall:9.2f}"
        )
    base = runs["face_recognition (loop, 1 process)"]
    # (index-faces DIR stores every face: its count can differ from the detect-only rows' only
    # by a failed file)
    for name in list(runs)[1:]:
        print(f"speed-up of {name} over face_recognition: x{base[0] / runs[name][0]:.2f}")
    fl = runs[f"faceledger {detectors[0]}, 2 processes"][2]
    differ = np.flatnonzero(fl != base[2])
    print(
        f"images where the face counts differ (faceledger vs face_recognition): {len(differ)}"
        + (
            ", e.g. "
            f"{', '.join(f'{paths[i].relative_to(FACES)} {fl[i]} vs {base[2][i]}' for i in differ[:5])}"
            if len(differ)
            else ""
        )
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nload average at the end (1/5/15 min): {load} on {os.cpu_count()} CPUs (other jobs skew the "
        "figures)"
    )
    print(f"elapsed {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
