"""Stored-video speed: seconds of video processed per second of work (x real time) for 720p and
1080p H.264 at 5 samples a second, with 1 and 4 faces a frame, for face detection (detect and
landmarks) and face search (adds an embedding per face, tracking and one search per track), on
1 process and on every core. Videos are composed from the public-domain test photos (10 s,
25 fps), written to a temporary folder; the process pool's start-up is included.

    .venv/bin/python bench/video_speed.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from videos import Appearance, biden_face, compose, obama_face  # noqa: E402

from faceledger import FaceLedger  # noqa: E402
from faceledger.vision.detectors import DEFAULT_DETECTOR  # noqa: E402


def run_job(fl: FaceLedger, job: dict, workers: int) -> None:
    """A job run as the command line runs it: taken at once by this process."""
    assert fl.video_jobs.run(job["JobId"], workers=workers) == "SUCCEEDED"


def all_items(get, job_id: str, member: str) -> list:
    items, token = [], None
    while True:
        page = get(JobId=job_id, NextToken=token)
        items += page[member]
        token = page.get("NextToken")
        if not token:
            return items


def scene(width: int, height: int, faces: int, seconds: float) -> list[Appearance]:
    size = height // 4  # a face a quarter of the frame high
    out = []
    for i in range(faces):
        face = obama_face() if i % 2 == 0 else biden_face()
        x0 = int((i + 0.2) * width / (faces + 0.5))
        y = height // 3
        out.append(Appearance(face, 0.0, seconds, (x0, y), (x0 + width // 12, y), size, size))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--detectors",
        default=DEFAULT_DETECTOR,
        help="comma-separated detector names (default: the default detector)",
    )
    ap.add_argument(
        "--workers", default=None, help="comma-separated process counts (default: 1 and every core)"
    )
    args = ap.parse_args()
    detectors = args.detectors.split(",")
    cores = os.cpu_count() or 1
    counts = [int(n) for n in args.workers.split(",")] if args.workers else sorted({1, cores})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fl = FaceLedger(home=Path(tmp) / "home")
        fl.create_collection(CollectionId="people")
        fl.index_faces(
            CollectionId="people",
            Image=ROOT / "tests/data/obama_official_portrait.jpg",
            ExternalImageId="obama",
            MaxFaces=1,
        )
        for label, (w, h) in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
            for faces in (1, 4):
                path = compose(
                    Path(tmp) / f"{label}-{faces}.mp4",
                    scene(w, h, faces, args.seconds),
                    duration=args.seconds,
                    fps=25,
                    size=(w, h),
                )
                for detector, workers in itertools.product(detectors, counts):
                    t = time.perf_counter()
                    job = fl.start_face_detection(
                        Video=str(path), sample_rate=5.0, run_by="bench", detector=detector
                    )
                    run_job(fl, job, workers)
                    detect_s = time.perf_counter() - t
                    found = all_items(fl.get_face_detection, job["JobId"], "Faces")
                    t = time.perf_counter()
                    job = fl.start_face_search(
                        Video=str(path),
                        CollectionId="people",
                        FaceMatchThreshold=75.9,
                        sample_rate=5.0,
                        run_by="bench",
                        detector=detector,
                    )
                    run_job(fl, job, workers)
                    search_s = time.perf_counter() - t
                    matches = range(
                        fl.get_face_search(JobId=job["JobId"], MaxResults=1)["FaceLedger"]["Tracks"]
                    )
                    samples = int(args.seconds * 5)
                    row = (
                        label,
                        detector,
                        faces,
                        workers,
                        args.seconds / detect_s,
                        args.seconds / search_s,
                        len(found) / samples,
                        len(matches),
                    )
                    rows.append(row)
                    print(
                        f"  {label} {detector} {faces} face(s) {workers} process(es): detection "
                        f"x{row[4]:.2f} real time, search x{row[5]:.2f} ({row[6]:.1f} faces/sample, "
                        f"{row[7]} tracks)",
                        flush=True,
                    )
    print(
        "\n| video | detector | faces a frame | processes | face detection | face search | "
        "faces found a sample | tracks |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, detector, faces, workers, d, s, per, tracks in rows:
        print(f"| {label} | {detector} | {faces} | {workers} | x{d:.2f} | x{s:.2f} | {per:.1f} | {tracks} |")


if __name__ == "__main__":
    main()
