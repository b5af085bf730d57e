"""QualityFilter bars from measurement: how well faces match, by each quality measure.

For every photo of ../shared/faces/ids (audit-flagged ones left out) the service's own pipeline
(IndexFaces' default detector, or --detector) finds the largest face and records its measures (min box side in
px, Confidence, Sharpness, Brightness, abs Yaw, abs Pitch) and its embedding. A face's true match
rate (TMR) is the fraction of its genuine comparisons (the other photos of the same person) with
similarity >= the default threshold. The dev photos are ordinary (large, frontal, lit), so the
tails the bars cut are also made synthetically: one probe photo per person is downscaled, blurred,
darkened or over-exposed, re-detected and measured, and its TMR is that of the degraded probe
against the other, undegraded photos of the person.

For each measure the bins are judged on the dev photos where a bin holds at least MIN_FACES of
them, and on the degraded probes where it does not (the tails): real photos outrank a synthetic
stand-in wherever there are enough of them. Each bar is the edge of a bin: scanning from the good
end of the measure towards the bad, the first judged bin that is worse than the rest by the
level's criterion, and all past it, are refused; if no judged bin is, the bar sits at the outer
edge of the last judged one (faces past it were not measured well enough to vouch for). "Overall"
is the mean TMR of all dev faces, or for a synthetic set the TMR of the same probes undegraded;
the 95% interval of a bin is its mean TMR +- 1.96 standard errors, faces as the unit:

    LOW     unusable: the interval's upper end is below half the overall rate
    AUTO    clearly worse: the interval's upper end is 10 points or more below the overall rate
    MEDIUM  worse: the bin's TMR is 5 points or more below the overall rate
    HIGH    not yet at the overall rate: the bin's TMR is 2 points or more below it

Measurements are cached in bench/results/quality_bars_*_DETECTOR.npz; --fresh recomputes them. From the
repository root (about 25 minutes on 2 cores):

    .venv/bin/python bench/quality_bars.py --workers 2
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceledger.accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from faceledger.engine import quality_filter
from faceledger.processes.pool import default_workers, run_over_files
from faceledger.vision.detectors import DEFAULT_DETECTOR
from faceledger.vision.similarity import similarity_from_distance

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("FACES") or ROOT.parent / "shared" / "faces")
RESULTS = ROOT / "bench" / "results"
MEASURES = ("side", "confidence", "sharpness", "brightness", "yaw", "pitch")
MIN_FACES = 30  # a bin with fewer faces is not judged

# Degradations of a probe: downscaled so that its box side is about `level` px; Gaussian blur of
# `level` px in the 128-px frame Sharpness is measured in (so the same for any face size); pixel
# values times `level` (darker, or over-exposed and clipped above 1).
DEGRADATIONS = {
    "scale": (28, 32, 36, 40, 44, 48, 56, 64, 80, 96),
    "blur": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    "dark": (0.4, 0.25, 0.15, 0.12, 0.1, 0.08, 0.06),
    "bright": (1.5, 2.0, 2.5, 3.0, 4.0, 6.0),
}


# -- measuring (module-level callables: they run in worker processes) ----------------------


DETECTOR = DEFAULT_DETECTOR  # --detector; forked workers inherit it


@functools.cache
def detector_named(name: str):
    from faceledger.vision.detectors import make_detector

    return make_detector(name)


def measure_largest(rgb: np.ndarray) -> dict | None:
    from faceledger.vision.analyze import analyze_faces, embed_faces

    faces = analyze_faces(rgb, detector_named(DETECTOR), max_faces=1)
    if not faces:
        return None
    embed_faces(rgb, faces)
    f = faces[0]
    d, q, p = f.detection, f.quality, f.pose
    return {
        "side": min(d.width, d.height),
        "confidence": d.confidence,
        "sharpness": q.sharpness,
        "brightness": q.brightness,
        "yaw": abs(p.yaw),
        "pitch": abs(p.pitch),
        "embedding": f.embedding,
    }


def read_rgb(path: Path) -> np.ndarray:
    from faceledger.inputs.images import decode_image, read_image_file

    return decode_image(read_image_file(path), max_bytes=15 << 20).rgb


def degrade(rgb: np.ndarray, kind: str, level: float, side: float) -> np.ndarray:
    if kind == "scale":
        f = level / side
        h, w = rgb.shape[:2]
        return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    if kind == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), sigmaX=level * side / 128.0)
    return np.clip(np.rint(rgb.astype(np.float32) * level), 0, 255).astype(np.uint8)  # dark, bright


class MeasurePhoto:
    def __call__(self, path: Path) -> dict:
        return {"face": measure_largest(read_rgb(path))}


class MeasureDegraded:
    def __call__(self, path: Path) -> dict:
        rgb = read_rgb(path)
        base = measure_largest(rgb)
        if base is None:
            return {"faces": []}
        out = [("none", 0.0, base)]
        for kind, levels in DEGRADATIONS.items():
            out += [
                (kind, level, measure_largest(degrade(rgb, kind, level, base["side"]))) for level in levels
            ]
        return {"faces": out}


def run(task, paths: list[Path], workers: int, label: str):
    start = time.perf_counter()
    for i, (path, result) in enumerate(run_over_files(task, paths, workers), 1):
        if "Error" in result:
            sys.exit(f"{label} failed on {path}: {result['Error']}")
        if i % 200 == 0 or i == len(paths):
            print(f"  {label}: {i}/{len(paths)} photos, {time.perf_counter() - start:.0f} s", file=sys.stderr)
        yield path, result


def save(path: Path, rows: list[dict]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.array([r[k] for r in rows]) for k in rows[0]})


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def dev_faces(workers: int, fresh: bool) -> tuple[dict[str, np.ndarray], int]:
    """Measures and embedding of the largest face of every unflagged ids/ photo; and how many had none."""
    cache = RESULTS / f"quality_bars_dev_{DETECTOR}.npz"
    with open(FACES / "manifest.csv", newline="") as f:
        photos = [r for r in csv.DictReader(f) if r["path"].startswith("ids/") and not r["audit_flag"]]
    if cache.exists() and not fresh:
        dev = load(cache)
        return dev, len(photos) - len(dev["path"])
    rows = []
    for (_, result), photo in zip(
        run(MeasurePhoto(), [FACES / p["path"] for p in photos], workers, "dev"), photos
    ):
        if result["face"] is not None:
            rows.append({"path": photo["path"], "identity": photo["identity"], **result["face"]})
    save(cache, rows)
    return load(cache), len(photos) - len(rows)


def synthetic_faces(dev: dict[str, np.ndarray], workers: int, fresh: bool) -> dict[str, np.ndarray]:
    """Degraded probes, one per person with another detected photo: the first photo of each."""
    cache = RESULTS / f"quality_bars_synthetic_{DETECTOR}.npz"
    if cache.exists() and not fresh:
        return load(cache)
    firsts: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    for path, identity in zip(dev["path"], dev["identity"]):
        firsts.setdefault(str(identity), str(path))
        counts[str(identity)] += 1
    probes = [p for i, p in firsts.items() if counts[i] > 1]
    nan = {m: math.nan for m in MEASURES} | {"embedding": np.full(128, np.nan, np.float32)}
    rows = []
    for path, result in run(MeasureDegraded(), [FACES / p for p in probes], workers, "synthetic"):
        for kind, level, face in result["faces"]:
            rows.append(
                {
                    "path": str(path.relative_to(FACES)),
                    "kind": kind,
                    "level": level,
                    "found": face is not None,
                    **(face or nan),
                }
            )
    save(cache, rows)
    return load(cache)


# -- true match rates ------------------------------------------------------------------------


def dev_tmr(dev: dict[str, np.ndarray]) -> np.ndarray:
    """Per face: the fraction of its genuine comparisons at or above the default threshold (nan alone)."""
    tmr = np.full(len(dev["path"]), np.nan)
    rows: dict[str, list[int]] = defaultdict(list)
    for i, identity in enumerate(dev["identity"]):
        rows[str(identity)].append(i)
    emb = dev["embedding"].astype(np.float64)
    for idx in rows.values():
        if len(idx) < 2:
            continue
        e = emb[idx]
        sim = similarity_from_distance(np.linalg.norm(e[:, None] - e[None], axis=2))
        match = (sim >= DEFAULT_SIMILARITY_THRESHOLD).astype(float)
        np.fill_diagonal(match, 0.0)
        tmr[idx] = match.sum(axis=1) / (len(idx) - 1)
    return tmr


def synthetic_tmr(syn: dict[str, np.ndarray], dev: dict[str, np.ndarray]) -> np.ndarray:
    """Per degraded probe: the fraction of the person's other (undegraded) photos it matches
    (nan: not found)."""
    by_path = {str(p): i for i, p in enumerate(dev["path"])}
    gallery: dict[str, list[int]] = defaultdict(list)
    for i, identity in enumerate(dev["identity"]):
        gallery[str(identity)].append(i)
    emb = dev["embedding"].astype(np.float64)
    out = np.full(len(syn["path"]), np.nan)
    for k, (path, found) in enumerate(zip(syn["path"], syn["found"])):
        if not found:
            continue
        probe = by_path[str(path)]
        others = [i for i in gallery[str(dev["identity"][probe])] if i != probe]
        d = np.linalg.norm(emb[others] - syn["embedding"][k].astype(np.float64), axis=1)
        out[k] = float(np.mean(similarity_from_distance(d) >= DEFAULT_SIMILARITY_THRESHOLD))
    return out


# -- bins and bars -----------------------------------------------------------------------------


@dataclass
class Bin:
    lo: float
    hi: float
    n: int
    tmr: float
    ci: tuple[float, float]


def bins(values: np.ndarray, tmr: np.ndarray, edges: list[float]) -> list[Bin]:
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = tmr[(values >= lo) & (values < hi) & ~np.isnan(tmr)]
        if len(t) == 0:
            out.append(Bin(lo, hi, 0, math.nan, (math.nan, math.nan)))
            continue
        half = 1.96 * float(np.std(t, ddof=1)) / math.sqrt(len(t)) if len(t) > 1 else 1.0
        out.append(
            Bin(lo, hi, len(t), float(t.mean()), (max(0.0, t.mean() - half), min(1.0, t.mean() + half)))
        )
    return out


CRITERIA = {  # is a bin worse than the rest (overall rate `o`) by this level's measure?
    "LOW": lambda b, o: b.ci[1] < o / 2,
    "AUTO": lambda b, o: b.ci[1] <= o - 0.10,
    "MEDIUM": lambda b, o: b.tmr <= o - 0.05,
    "HIGH": lambda b, o: b.tmr <= o - 0.02,
}


@dataclass
class Judged:
    """A bin of the table a bar is placed on, and what it is judged against (None: too few faces)."""

    bin: Bin
    overall: float | None
    source: str


def merged(
    dev: tuple[list[Bin], float] | None,
    synthetic: tuple[list[Bin], float] | None,
    lo: float = -math.inf,
    hi: float = math.inf,
) -> list[Judged]:
    """The bins from `lo` to `hi` (one side of a measure bad at both ends), each judged on the dev
    photos if they hold enough faces, else on the degraded probes."""
    out = []
    for i, d in enumerate(dev[0] if dev else synthetic[0]):
        if d.lo < lo or d.hi > hi:
            continue
        s = synthetic[0][i] if synthetic else None
        if dev is None:
            d = Bin(d.lo, d.hi, 0, math.nan, (math.nan, math.nan))
        if d.n >= MIN_FACES:
            out.append(Judged(d, dev[1], "dev"))
        elif s is not None and s.n >= MIN_FACES:
            out.append(Judged(s, synthetic[1], "synthetic"))
        else:
            out.append(Judged(d if d.n or s is None else s, None, ""))
    return out


def bar(table: list[Judged], level: str, low_is_bad: bool = True) -> float:
    """Scanning from the good end: the edge of the first judged bin worse by the level's criterion;
    if none is, the outer edge of the last judged bin."""
    last = math.nan
    for j in table[::-1] if low_is_bad else table:
        if j.overall is None:
            continue
        if CRITERIA[level](j.bin, j.overall):
            return j.bin.hi if low_is_bad else j.bin.lo
        last = j.bin.lo if low_is_bad else j.bin.hi
    return last


def fmt_edge(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


def print_table(title: str, table: list[Bin], overall: float) -> None:
    print(f"\n{title} (overall TMR {100 * overall:.1f}%)")
    print(f"  {'bin':>14}  {'faces':>6}  {'TMR %':>6}  {'95% interval':>13}  {'vs overall':>10}")
    for b in table:
        name = f"[{fmt_edge(b.lo)}, {fmt_edge(b.hi)})"
        if b.n == 0:
            print(f"  {name:>14}  {0:>6}")
            continue
        mark = "" if b.n >= MIN_FACES else "  (too few to judge)"
        print(
            f"  {name:>14}  {b.n:>6}  {100 * b.tmr:6.1f}  {100 * b.ci[0]:5.1f} - {100 * b.ci[1]:5.1f}  "
            f"{100 * (b.tmr - overall):+10.1f}{mark}"
        )


LEVELS = ("LOW", "AUTO", "MEDIUM", "HIGH")  # loosest first
_OLD_MEDIUM = quality_filter.Bar(40, 80, 15, 10, 95, 60)
FORMER = {  # the bars before this benchmark, for comparison
    "LOW": quality_filter.Bar(20, 50, 5, 5, 97, 75),
    "AUTO": _OLD_MEDIUM,
    "MEDIUM": _OLD_MEDIUM,
    "HIGH": quality_filter.Bar(64, 95, 30, 20, 90, 40),
}


def nests(strict: quality_filter.Bar, loose: quality_filter.Bar) -> bool:
    """Whatever `strict` accepts, `loose` accepts."""
    return (
        all(
            getattr(strict, f) >= getattr(loose, f)
            for f in ("min_side", "min_confidence", "min_sharpness", "min_brightness")
        )
        and strict.max_brightness <= loose.max_brightness
        and strict.max_angle <= loose.max_angle
    )


def passes(m: dict[str, np.ndarray], b: quality_filter.Bar) -> np.ndarray:
    """Which faces a bar keeps (quality_filter.reasons, vectorised)."""
    return (
        (np.maximum(m["yaw"], m["pitch"]) <= b.max_angle)
        & (m["brightness"] >= b.min_brightness)
        & (m["brightness"] <= b.max_brightness)
        & (m["sharpness"] >= b.min_sharpness)
        & (m["confidence"] >= b.min_confidence)
        & (m["side"] >= b.min_side)
    )


def kept_vs_dropped(label: str, keep: np.ndarray, tmr: np.ndarray) -> None:
    def rate(sel: np.ndarray) -> str:
        t = tmr[sel & ~np.isnan(tmr)]
        if len(t) < 2:
            return f"{len(t)} faces"
        half = 1.96 * float(np.std(t, ddof=1)) / math.sqrt(len(t))
        low, high = 100 * (t.mean() - half), 100 * (t.mean() + half)
        return f"TMR {100 * t.mean():.1f}% (95% {low:.1f} - {high:.1f}), {len(t)} faces"

    print(f"  {label}: kept {rate(keep)}; dropped {rate(~keep)}")


# -- the run -----------------------------------------------------------------------------------

EDGES = {
    "side": [0, 28, 32, 36, 40, 44, 48, 52, 56, 64, 72, 80, 100, 150, 250, 300, math.inf],
    "confidence": [90, 92, 94, 96, 98, 99, 99.5, 99.8, 101],
    "sharpness": [0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 25, 101],
    "brightness": [0, 2, 4, 6, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 85, 90, 95, 101],
    "angle": [0, 10, 20, 30, 40, 45, 50, 60, 75, 181],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--fresh", action="store_true", help="recompute the measurements instead of using the cache"
    )
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, help="the detector (default: IndexFaces')")
    args = ap.parse_args()
    start = time.perf_counter()
    global DETECTOR
    DETECTOR = args.detector
    print(f"detector: {DETECTOR}")

    dev, missed = dev_faces(args.workers, args.fresh)
    syn = synthetic_faces(dev, args.workers, args.fresh)
    dev_t, syn_t = dev_tmr(dev), synthetic_tmr(syn, dev)
    dev["angle"] = np.maximum(dev["yaw"], dev["pitch"])
    syn["angle"] = np.maximum(syn["yaw"], syn["pitch"])
    judged = ~np.isnan(dev_t)
    overall = float(dev_t[judged].mean())
    people = len(set(dev["identity"][judged]))
    print(
        f"dev set: {len(dev['path']) + missed} photos of ids/ without an audit flag, {missed} without a "
        "detected face; "
        f"{judged.sum()} faces of {people} people with a genuine comparison"
    )
    print(
        f"default similarity threshold {DEFAULT_SIMILARITY_THRESHOLD}; overall TMR {100 * overall:.1f}% "
        f"(mean over faces of the fraction of their genuine comparisons that match)"
    )

    print("\n== Dev photos: TMR per bin of each measure ==")
    dev_tables = {}
    for m in ("side", "confidence", "sharpness", "brightness", "yaw", "pitch", "angle"):
        dev_tables[m] = bins(dev[m], dev_t, EDGES["angle" if m in ("yaw", "pitch") else m])
        print_table(
            {"angle": "max(abs Yaw, abs Pitch)", "yaw": "abs Yaw", "pitch": "abs Pitch"}.get(
                m, m.capitalize()
            ),
            dev_tables[m],
            overall,
        )

    print("\n== Synthetic: one probe per person degraded, against the person's other photos ==")
    base = syn["kind"] == "none"
    print(f"{base.sum()} probes; undegraded TMR {100 * np.nanmean(syn_t[base]):.1f}%")
    print(f"  {'degradation':>16}  {'found %':>7}  {'median of the measure':>22}  {'TMR %':>6}")
    target = {"scale": "side", "blur": "sharpness", "dark": "brightness", "bright": "brightness"}
    for kind, levels in DEGRADATIONS.items():
        for level in levels:
            sel = (syn["kind"] == kind) & (syn["level"] == level)
            found = syn["found"][sel]
            med = np.nanmedian(syn[target[kind]][sel]) if found.any() else math.nan
            print(
                f"  {kind + ' ' + f'{level:g}':>16}  {100 * found.mean():7.1f}  "
                f"{target[kind] + f' {med:.1f}':>22}  "
                f"{100 * np.nanmean(syn_t[sel]) if found.any() else math.nan:6.1f}"
            )
    syn_tables = {}
    for kind, m in target.items():
        sel = (syn["kind"] == kind) & syn["found"]
        probes = np.isin(syn["path"], syn["path"][sel]) & base
        syn_over = float(np.nanmean(syn_t[probes]))
        syn_tables[kind] = (bins(np.where(sel, syn[m], np.nan), syn_t, EDGES[m]), syn_over)
        print_table(f"{m.capitalize()} of {kind} probes", *syn_tables[kind])

    # Each bar on the dev photos' bins, and where they are too few, the degraded probes' (pose and
    # confidence have no synthetic stand-in). Size on the downscaled probes alone: among the dev
    # photos the smaller faces are other photos (other sources, crops, scenes), so their rate says
    # nothing about size as such. Brightness is bad at both ends: each bar on its own side of 50.
    sources = {
        "min_side": (merged(None, syn_tables["scale"]), True),
        "min_confidence": (merged((dev_tables["confidence"], overall), None), True),
        "min_sharpness": (merged((dev_tables["sharpness"], overall), syn_tables["blur"]), True),
        "min_brightness": (merged((dev_tables["brightness"], overall), syn_tables["dark"], hi=50), True),
        "max_brightness": (merged((dev_tables["brightness"], overall), syn_tables["bright"], lo=50), False),
        "max_angle": (merged((dev_tables["angle"], overall), None), False),
    }
    print(
        "\n== The tables the bars are placed on (dev photos where a bin has enough, else degraded probes) =="
    )
    for f, (table, _) in sources.items():
        print(f"\n{f}")
        print(
            f"  {'bin':>14}  {'source':>9}  {'faces':>6}  {'TMR %':>6}  {'95% interval':>13}  "
            f"{'vs overall':>10}"
        )
        for j in table:
            name = f"[{fmt_edge(j.bin.lo)}, {fmt_edge(j.bin.hi)})"
            if j.overall is None:
                print(f"  {name:>14}  {'':>9}  {j.bin.n:>6}  (too few to judge)")
                continue
            b = j.bin
            print(
                f"  {name:>14}  {j.source:>9}  {b.n:>6}  {100 * b.tmr:6.1f}  {100 * b.ci[0]:5.1f} - "
                f"{100 * b.ci[1]:5.1f}  "
                f"{100 * (b.tmr - j.overall):+10.1f}"
            )
    derived = {
        level: quality_filter.Bar(**{f: bar(t, level, low) for f, (t, low) in sources.items()})
        for level in LEVELS
    }
    print("\n== Derived bars ==")
    fields = list(sources)
    print(f"  {'level':>6}  " + "  ".join(f"{f:>14}" for f in fields))
    for level, b in derived.items():
        print(f"  {level:>6}  " + "  ".join(f"{fmt_edge(getattr(b, f)):>14}" for f in fields))
    for strict, loose in zip(LEVELS[::-1], LEVELS[::-1][1:]):
        if not nests(derived[strict], derived[loose]):
            print(f"  WARNING: {strict} accepts a face that {loose} refuses")

    print("\n== What the bars keep ==")
    shipped = {lv: quality_filter.BARS.get(lv, quality_filter.BARS["MEDIUM"]) for lv in LEVELS}
    for name, table in (
        ("derived", derived),
        ("faceledger/quality_filter.py", shipped),
        ("former (AUTO = MEDIUM)", FORMER),
    ):
        print(f"{name} bars:")
        for level, b in table.items():
            keep = passes(dev, b)
            print(f"  {level:>6}: dev faces indexed {keep.sum()}/{len(keep)} = {100 * keep.mean():.1f}%")
        kept_vs_dropped("AUTO, dev faces", passes(dev, table["AUTO"]), dev_t)
        degraded = syn["found"] & (syn["kind"] != "none")
        sub = {m: syn[m][degraded] for m in MEASURES}
        kept_vs_dropped("AUTO, degraded probes", passes(sub, table["AUTO"]), syn_t[degraded])
    print(f"\nelapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
