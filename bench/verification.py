"""LFW 1:1 verification: faceledger and face_recognition side by side on ../shared/faces.

For every image of pairs.csv each library gives one embedding, of the largest face it detects
(or, when it finds none, of a box over the whole image: counted as a failure to detect). The
script prints per library the 5-fold accuracy (threshold chosen on the other 4 folds), the true
match rate at FMR <= 1e-3 and 1e-2 over all pairs, and FMR/TMR at dlib's 0.6 distance. For
faceledger it also derives the default similarity threshold (the lowest, to 0.1, with FMR <= 0.1%
on pairs.csv) and checks it on a larger set: all cross-identity pairs among one photo per person
of ids/ and singletons/, and all same-identity pairs of ids/ (audit-flagged photos left out).

Embeddings are cached in bench/results/*.npz; --fresh recomputes them. Run from the repository root:

    .venv/bin/python bench/verification.py [--fresh] [--workers 2] [--detector NAME]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from faceledger.processes.pool import default_workers, run_over_files
from faceledger.vision.detectors import DEFAULT_DETECTOR, NAMES
from faceledger.vision.similarity import distance_from_similarity, similarity_from_distance

# The team's labelled photos sit beside the repository (../shared/faces); FACES overrides.
FACES = Path(os.environ.get("FACES") or Path(__file__).resolve().parents[2] / "shared" / "faces")
RESULTS = Path(__file__).resolve().parent / "results"
DLIB_TOLERANCE = 0.6


# -- embeddings (module-level tasks: they run in worker processes) -------------------------


class FaceledgerEmbedding:
    """faceledger's embedding of a photo's largest face with one detector (picklable task)."""

    def __init__(self, detector: str):
        self.detector = detector

    def __call__(self, path: Path) -> dict:
        return faceledger_embedding(path, self.detector)


def faceledger_embedding(path: Path, detector: str) -> dict:
    from faceledger.inputs.images import decode_image, read_image_file
    from faceledger.vision import landmarks
    from faceledger.vision.analyze import analyze_faces, default_embedder
    from faceledger.vision.detect import Detection, confidence_from_score
    from faceledger.vision.detectors import make_detector

    rgb = decode_image(read_image_file(path), max_bytes=15 << 20).rgb
    faces = analyze_faces(rgb, make_detector(detector), embed=True, max_faces=1)
    if faces:
        return {"embedding": faces[0].embedding, "fallback": False}
    h, w = rgb.shape[:2]
    whole = Detection(
        left=0, top=0, right=w + 1, bottom=h + 1, score=0.0, confidence=confidence_from_score(0.0)
    )
    vector = default_embedder().embed(rgb, landmarks.shapes_5(rgb, [whole]))[0]
    return {"embedding": vector, "fallback": True}


def face_recognition_embedding(path: Path) -> dict:
    import face_recognition as fr

    img = fr.load_image_file(path)
    encodings = fr.face_encodings(img)  # HOG with 1 upsampling, 5-point landmarks, 1 jitter
    if len(encodings) > 1:  # same detector, same order: pick the largest box
        areas = [(bottom - top) * (right - left) for top, right, bottom, left in fr.face_locations(img)]
        encodings = [encodings[int(np.argmax(areas))]]
    if encodings:
        return {"embedding": encodings[0], "fallback": False}
    h, w = img.shape[:2]
    return {"embedding": fr.face_encodings(img, known_face_locations=[(0, w, h, 0)])[0], "fallback": True}


LIBRARIES = {"faceledger": FaceledgerEmbedding("hog"), "face_recognition": face_recognition_embedding}


def embeddings(lib: str, paths: list[str], workers: int, fresh: bool) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, fell-back flags) of `paths` (relative to FACES), computing what the cache lacks."""
    task = LIBRARIES[lib]
    detector = getattr(task, "detector", "hog")
    cache = RESULTS / (f"embeddings_{lib}.npz" if detector == "hog" else f"embeddings_{lib}_{detector}.npz")
    known: dict[str, tuple[np.ndarray, bool]] = {}
    if cache.exists() and not fresh:
        z = np.load(cache)
        known = {str(p): (e, bool(f)) for p, e, f in zip(z["paths"], z["embeddings"], z["fallback"])}
    todo = sorted(set(paths) - set(known))
    if todo:
        start = time.perf_counter()
        for i, (p, r) in enumerate(run_over_files(task, [FACES / t for t in todo], workers), 1):
            if "Error" in r:
                sys.exit(f"{lib} failed on {p}: {r['Error']}")
            known[str(p.relative_to(FACES))] = (np.asarray(r["embedding"], np.float32), r["fallback"])
            if i % 500 == 0 or i == len(todo):
                print(
                    f"  {lib}: {i}/{len(todo)} images, {time.perf_counter() - start:.0f} s", file=sys.stderr
                )
        RESULTS.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        np.savez(
            cache,
            paths=np.array(keys),
            embeddings=np.stack([known[k][0] for k in keys]),
            fallback=np.array([known[k][1] for k in keys]),
        )
    return np.stack([known[p][0] for p in paths]).astype(np.float64), np.array([known[p][1] for p in paths])


# -- metrics -------------------------------------------------------------------------------


def best_threshold(d: np.ndarray, same: np.ndarray) -> float:
    """The distance cut (match when d <= cut) with the highest accuracy on these pairs."""
    s = np.sort(d)
    cuts = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    accuracy = ((d[None, :] <= cuts[:, None]) == same[None, :]).mean(axis=1)
    return float(cuts[np.argmax(accuracy)])


def kfold_accuracy(d: np.ndarray, same: np.ndarray, fold: np.ndarray) -> tuple[float, float, list[float]]:
    accs, cuts = [], []
    for k in np.unique(fold):
        test = fold == k
        cut = best_threshold(d[~test], same[~test])
        accs.append(np.mean((d[test] <= cut) == same[test]))
        cuts.append(cut)
    return float(np.mean(accs)), float(np.std(accs)), cuts


def at_fmr(genuine: np.ndarray, impostor: np.ndarray, max_fmr: float) -> tuple[float, float, float]:
    """(cut, FMR, TMR) for the loosest cut (match when d < cut) accepting at most max_fmr of impostors."""
    allowed = int(np.floor(max_fmr * len(impostor) + 1e-9))
    s = np.sort(impostor)
    cut = float(s[allowed]) if allowed < len(s) else np.inf
    return cut, float(np.mean(impostor < cut)), float(np.mean(genuine < cut))


def lowest_similarity(impostor_d: np.ndarray, max_fmr: float) -> float:
    """The lowest similarity threshold, in steps of 0.1, with FMR (similarity >= threshold) <= max_fmr."""
    sims = similarity_from_distance(impostor_d)
    return next(t / 10 for t in range(1001) if np.mean(sims >= t / 10) <= max_fmr)


def rates(genuine_d: np.ndarray, impostor_d: np.ndarray, threshold: float) -> tuple[float, float, int]:
    """(FMR, TMR, false matches) when a pair matches at similarity >= threshold."""
    g, i = similarity_from_distance(genuine_d) >= threshold, similarity_from_distance(impostor_d) >= threshold
    return float(i.mean()), float(g.mean()), int(i.sum())


def pair_distances(emb: np.ndarray) -> np.ndarray:
    """Euclidean distances of all i < j rows."""
    sq = (emb**2).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T
    return np.sqrt(np.clip(d2[np.triu_indices(len(emb), 1)], 0.0, None))


# -- the run -------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="recompute embeddings instead of using the cache")
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, choices=NAMES, help="faceledger's detector")
    args = ap.parse_args()
    LIBRARIES["faceledger"] = FaceledgerEmbedding(args.detector)
    start = time.perf_counter()

    with open(FACES / "pairs.csv", newline="") as f:
        pairs = list(csv.DictReader(f))
    fold = np.array([int(r["fold"]) for r in pairs])
    same = np.array([r["same"] == "1" for r in pairs])
    images = sorted({r["path1"] for r in pairs} | {r["path2"] for r in pairs})
    index = {p: i for i, p in enumerate(images)}
    i1, i2 = np.array([index[r["path1"]] for r in pairs]), np.array([index[r["path2"]] for r in pairs])
    print(
        f"pairs.csv: {len(pairs)} pairs ({same.sum()} genuine, {(~same).sum()} impostor), "
        f"{len(images)} images, {len(np.unique(fold))} folds; workers={args.workers}; faceledger's "
        f"detector: {args.detector}"
    )

    rows: dict[str, dict[str, str]] = {}
    per_lib = {}
    for lib in LIBRARIES:
        emb, fell_back = embeddings(lib, images, args.workers, args.fresh)
        d = np.linalg.norm(emb[i1] - emb[i2], axis=1)
        per_lib[lib] = emb, fell_back, d
        gen, imp = d[same], d[~same]
        acc, sd, cuts = kfold_accuracy(d, same, fold)
        c3, f3, t3 = at_fmr(gen, imp, 1e-3)
        c2, f2, t2 = at_fmr(gen, imp, 1e-2)
        f6, t6 = np.mean(imp <= DLIB_TOLERANCE), np.mean(gen <= DLIB_TOLERANCE)
        rows[lib] = {
            "failures to detect": f"{fell_back.sum()}/{len(images)} ({100 * fell_back.mean():.2f}%)",
            "pairs with a fallback face": f"{(fell_back[i1] | fell_back[i2]).sum()}",
            "5-fold accuracy": f"{100 * acc:.2f} ± {100 * sd:.2f} %",
            "fold cuts (distance)": " ".join(f"{c:.3f}" for c in cuts),
            "TMR @ FMR<=1e-3": f"{100 * t3:.2f} % (d < {c3:.4f}, FMR {100 * f3:.3f} %)",
            "TMR @ FMR<=1e-2": f"{100 * t2:.2f} % (d < {c2:.4f}, FMR {100 * f2:.3f} %)",
            "d <= 0.6: FMR / TMR": f"{100 * f6:.2f} % / {100 * t6:.2f} %",
            "genuine d median / impostor d median": f"{np.median(gen):.3f} / {np.median(imp):.3f}",
        }

    # The same image through both libraries (where both found a face).
    (a, fa, fl_d), (b, fb, _) = per_lib["faceledger"], per_lib["face_recognition"]
    both = ~fa & ~fb
    cross = np.linalg.norm(a[both] - b[both], axis=1)
    only_fl, only_fr = int((~fa & fb).sum()), int((fa & ~fb).sum())

    # faceledger's default similarity threshold, from pairs.csv.
    gen, imp = fl_d[same], fl_d[~same]
    threshold = lowest_similarity(imp, 1e-3)
    p_fmr, p_tmr, p_fm = rates(gen, imp, threshold)

    # ... checked on every cross-identity pair of one photo per person, and every same-person pair of ids/.
    with open(FACES / "manifest.csv", newline="") as f:
        manifest = [
            r
            for r in csv.DictReader(f)
            if not r["audit_flag"] and r["path"].split("/")[0] in ("ids", "singletons")
        ]
    by_identity: dict[str, list[str]] = defaultdict(list)
    for r in manifest:
        by_identity[r["identity"]].append(r["path"])
    big = sorted({p for ps in by_identity.values() for p in ps})
    emb, fell_back = embeddings("faceledger", big, args.workers, False)
    row = {p: i for i, p in enumerate(big)}
    firsts = [row[ps[0]] for ps in by_identity.values()]
    big_imp = pair_distances(emb[firsts])
    big_gen = np.concatenate(
        [
            pair_distances(emb[[row[p] for p in ps]])
            for ps in by_identity.values()
            if ps[0].startswith("ids/") and len(ps) > 1
        ]
    )
    b_fmr, b_tmr, b_fm = rates(big_gen, big_imp, threshold)
    big_threshold = lowest_similarity(big_imp, 1e-3)
    bb_fmr, bb_tmr, bb_fm = rates(big_gen, big_imp, big_threshold)
    n_ids = sum(1 for ps in by_identity.values() if ps[0].startswith("ids/"))

    # -- report ----------------------------------------------------------------------------
    print("\n== LFW pairs (pairs.csv) ==")
    width = max(len(k) for k in rows["faceledger"])
    print(f"{'':{width}}  {'faceledger':38}  face_recognition")
    for key in rows["faceledger"]:
        print(f"{key:{width}}  {rows['faceledger'][key]:38}  {rows['face_recognition'][key]}")

    print("\n== Same image, both libraries ==")
    print(
        f"faces found by both: {both.sum()}; only by faceledger: {only_fl}; only by face_recognition: "
        f"{only_fr}"
    )
    print(
        f"embedding distance faceledger vs face_recognition: median {np.median(cross):.4f}, "
        f"mean {cross.mean():.4f}, 95th pct {np.percentile(cross, 95):.4f}, max {cross.max():.4f}, "
        f"identical (< 1e-6) {np.mean(cross < 1e-6) * 100:.1f} %"
    )

    print("\n== faceledger default similarity threshold ==")
    print(
        f"lowest similarity (step 0.1) with FMR <= 0.1% on pairs.csv: {threshold:.1f}  "
        f"(distance {distance_from_similarity(threshold):.4f})"
    )
    print(
        f"  pairs.csv: FMR {100 * p_fmr:.3f} % ({p_fm}/{len(imp)}), TMR {100 * p_tmr:.2f} % ({len(gen)} "
        "genuine)"
    )
    print(
        f"  larger set: {len(firsts)} people ({n_ids} of ids/, {len(firsts) - n_ids} singletons), "
        f"{len(big)} photos, {fell_back.sum()} without a detected face (whole-image fallback)"
    )
    print(
        f"    FMR {100 * b_fmr:.4f} % ({b_fm}/{len(big_imp)} cross-identity pairs), "
        f"TMR {100 * b_tmr:.2f} % ({len(big_gen)} same-identity pairs of ids/)"
    )
    print(
        f"  for comparison, the lowest threshold with FMR <= 0.1% on the larger set: {big_threshold:.1f} "
        f"(FMR {100 * bb_fmr:.4f} %, TMR {100 * bb_tmr:.2f} %)"
    )
    print(f"\nelapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
