"""1:N identification on ../shared/faces through faceledger's own collection and search path.

Enrols one photo of each of 80% of the people in ids/ plus every one-photo person in
singletons/ (distractors) into a collection, then searches with:
  - every other photo of the enrolled people: rank-1 rate (the right person first) and the
    rate at which the right person is found above the default threshold;
  - every photo of the 20% of ids/ people who were NOT enrolled: how many of these strangers
    get any match above the default threshold (false candidates).
Photos flagged in manifest.csv's audit_flag are left out. Embeddings are cached in
bench/results/identification_embeddings.npz (or taken from bench/verification.py's or
bench/calibrate_default.py's cache).

It then checks the calibration's promise: for the strangers, the false candidates measured per
search against N x FMR predicted by the shipped calibration, at several thresholds (the
calibration was measured on the same photos, so this checks the formula, not generalisation),
and what the ledger entry written before each search's answer costs.

    .venv/bin/python bench/identification.py [--faces ../shared/faces] [--fresh]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from faceledger import FaceLedger
from faceledger.accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from faceledger.engine.collections import PreparedFace
from faceledger.engine.records import BoundingBox, FaceDetail, ImageQuality, Pose
from faceledger.inputs.images import decode_image, read_image_file
from faceledger.processes.pool import default_workers, run_over_files
from faceledger.vision.analyze import analyze_faces
from faceledger.vision.detect import HogDetector

RESULTS = Path(__file__).parent / "results"


def embed_largest(path: Path) -> dict:
    faces = analyze_faces(decode_image(read_image_file(path)).rgb, HogDetector(), embed=True, max_faces=1)
    return {"embedding": faces[0].embedding if faces else None}


def embeddings(root: Path, paths: list[str], fresh: bool) -> dict[str, np.ndarray]:
    """Largest-face embeddings by path; photos with no detected face are left out."""
    shared = RESULTS / "embeddings_faceledger.npz"  # bench/verification.py's cache, same pipeline
    if shared.exists() and not fresh:
        data = np.load(shared)
        keep = ~data["fallback"]
        return dict(zip(data["paths"][keep].tolist(), data["embeddings"][keep]))
    calibrated = RESULTS / "calibration_embeddings.npz"  # bench/calibrate_default.py's, same pipeline
    if calibrated.exists() and not fresh:
        data = np.load(calibrated)
        return dict(zip(data["paths"].tolist(), data["embeddings"]))
    cache = RESULTS / "identification_embeddings.npz"
    if cache.exists() and not fresh:
        data = np.load(cache)
        return dict(zip(data["paths"].tolist(), data["vectors"]))
    out, start = {}, time.time()
    files = [root / p for p in paths]
    for i, (path, result) in enumerate(run_over_files(embed_largest, files, default_workers()), 1):
        if result.get("embedding") is not None:
            out[str(path.relative_to(root))] = result["embedding"]
        if i % 250 == 0:
            print(f"  embedded {i}/{len(files)} photos, {time.time() - start:.0f} s", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    np.savez(cache, paths=np.array(list(out)), vectors=np.stack(list(out.values())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", default=str(Path(__file__).resolve().parents[2] / "shared" / "faces"))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    root = Path(args.faces)
    rows = [r for r in csv.DictReader(open(root / "manifest.csv")) if not r["audit_flag"]]
    vectors = embeddings(root, [r["path"] for r in rows], args.fresh)
    by_person: dict[str, list[str]] = defaultdict(list)
    singles = []
    for r in rows:
        if r["path"] in vectors:
            (singles if r["path"].startswith("singletons/") else by_person[r["identity"]]).append(r["path"])
    people = sorted(p for p, photos in by_person.items() if len(photos) >= 2)
    random.Random(0).shuffle(people)
    cut = int(len(people) * 0.8)
    enrolled, strangers = people[:cut], people[cut:]

    detail = FaceDetail(BoundingBox(0, 0, 0, 0), 99.0, [], Pose(0, 0, 0), ImageQuality(50, 50))
    with tempfile.TemporaryDirectory() as home, FaceLedger(home=home) as fl:
        fl.create_collection(CollectionId="bench")
        gallery = [(p, by_person[p][0]) for p in enrolled] + [(Path(s).parent.name, s) for s in singles]
        start = time.time()
        for name, path in gallery:
            fl._store_indexed_faces("bench", [PreparedFace(detail, vectors[path], [])], name)
        enrol_s = time.time() - start

        def search(path):
            return fl._find_similar("bench", vectors[path], 0.0, 1)[0], fl._find_similar(
                "bench", vectors[path], DEFAULT_SIMILARITY_THRESHOLD, 50
            )

        rank1 = found = probes = 0
        search_times = []
        for person in enrolled:
            for path in by_person[person][1:]:
                t = time.perf_counter()
                (top_score, top_row), above = search(path)
                search_times.append(time.perf_counter() - t)
                probes += 1
                rank1 += top_row.external_image_id == person
                found += any(r.external_image_id == person for _, r in above)
        stranger_probes = stranger_hits = false_candidates = 0
        for person in strangers:
            for path in by_person[person]:
                _, above = search(path)
                stranger_probes += 1
                stranger_hits += bool(above)
                false_candidates += len(above)

        cal = fl.calibration
        checks = []
        for threshold in (
            DEFAULT_SIMILARITY_THRESHOLD,
            80.0,
            cal.threshold_for_fmr(1e-4),
            cal.threshold_for_fmr(1e-5),
        ):
            measured = sum(
                len(fl._find_similar("bench", vectors[p], threshold, 4096))
                for s in strangers
                for p in by_person[s]
            )
            checks.append(
                (threshold, cal.fmr(threshold), measured / stranger_probes, len(gallery) * cal.fmr(threshold))
            )

        from faceledger.engine.accountable import Search
        from faceledger.engine.policy import CollectionPolicy

        ledger_times = []
        search = Search("bench", 1, CollectionPolicy(), DEFAULT_SIMILARITY_THRESHOLD, len(gallery))
        for _ in range(500):
            t = time.perf_counter()
            fl._record_search(
                "SearchFacesByImage",
                search,
                [{"FaceId": "f" * 36, "Similarity": 80.0}],
                probe_sha256="0" * 64,
            )
            ledger_times.append(time.perf_counter() - t)
        verify_start = time.perf_counter()
        verified = fl.verify_ledger()
        verify_s = time.perf_counter() - verify_start

    ms = np.array(search_times) * 1000
    print(
        f"\n1:N identification, gallery {len(gallery)} faces ({len(enrolled)} enrolled people + "
        f"{len(singles)} distractors), "
        f"default threshold {DEFAULT_SIMILARITY_THRESHOLD}"
    )
    print(f"  enrolment through store_indexed_faces: {len(gallery) / enrol_s:.0f} faces/s")
    print(f"  probes of enrolled people: {probes}")
    print(f"    rank-1 (right person first, any score): {rank1 / probes:.2%}")
    print(f"    right person above the threshold:       {found / probes:.2%}")
    print(f"  probes of people not enrolled: {stranger_probes}")
    print(
        f"    with any match above the threshold:     {stranger_hits} "
        f"({stranger_hits / stranger_probes:.2%}),"
        f" {false_candidates} false candidates in all ({false_candidates / stranger_probes:.2f} per probe;"
        f" N x FMR = {len(gallery)} x {cal.fmr(DEFAULT_SIMILARITY_THRESHOLD):.2e} = "
        f"{len(gallery) * cal.fmr(DEFAULT_SIMILARITY_THRESHOLD):.2f} expected)"
    )
    print(
        f"  search (catalog + index, two calls per probe) p50 {np.percentile(ms, 50):.1f} ms, p99 "
        f"{np.percentile(ms, 99):.1f} ms"
    )
    print("\n  false candidates per stranger's search: measured against N x FMR of the shipped calibration")
    print("  | threshold | FMR | measured | predicted N x FMR |\n  |---:|---:|---:|---:|")
    for threshold, fmr, measured, predicted in checks:
        print(f"  | {threshold:.1f} | {fmr:.1e} | {measured:.3f} | {predicted:.3f} |")
    lt = np.array(ledger_times) * 1000
    print(
        f"\n  ledger entry per search (written before the answer): p50 {np.percentile(lt, 50):.2f} ms, p99 "
        f"{np.percentile(lt, 99):.2f} ms"
    )
    print(
        f"  verify: {verified['Entries']} entries in {verify_s:.2f} s ({verified['Entries'] / verify_s:,.0f} "
        f"entries/s), intact: {verified['Intact']}"
    )


if __name__ == "__main__":
    main()
