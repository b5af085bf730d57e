"""Face attributes on labelled photos of ../shared/faces: gender, age, expression, smile, liveness,
and the time each model takes per face.

Labels (bench/labels/, see its README): gender and birth year of public figures, crowd-sourced
expression labels of the photos. For each model it compares the pre-processing of Human (the
TF.js library the models come from: the face turned upright, RGB 0-255) with that of the
models' authors (the detector's box with a small margin, and for HSE FaceRes BGR less the
ImageNet mean pixel), over a few crop margins, and prints which did best. Liveness is measured
on the real photos (how many a threshold would wrongly refuse) and on simulated attacks made
from them (a photo of a screen, a print, a cartoon): simulations, not real presentation attacks.

    .venv/bin/python bench/attributes.py [--faces ../shared/faces] [--per-person 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from faceledger.inputs.images import decode_image, read_image_file
from faceledger.processes.pool import default_workers, run_over_files, with_progress
from faceledger.vision import face_models as fm
from faceledger.vision.analyze import analyze_faces
from faceledger.vision.detect import HogDetector

RESULTS = Path(__file__).parent / "results"
LABELS = Path(__file__).parent / "labels"
PHOTO_YEAR = 2003  # LFW's news photos were taken 2002-2004

# name -> Chip: Human's way (upright, RGB 0-255) and the authors' (box + margin, as the model was trained)
FACERES = {
    "human m0.10": fm.Chip(224, 0.10, True),
    "human m0.25": fm.Chip(224, 0.25, True),
    "human m0.40": fm.Chip(224, 0.40, True),
    "authors m0.05": fm.Chip(224, 0.05, False, colour="caffe_bgr"),
    "authors m0.15": fm.Chip(224, 0.15, False, colour="caffe_bgr"),
    "authors m0.25": fm.Chip(224, 0.25, False, colour="caffe_bgr"),
    "upright caffe m0.15": fm.Chip(224, 0.15, True, colour="caffe_bgr"),
}
EMOTION = {
    "human m0.10": fm.Chip(64, 0.10, True, grey=True),
    "human m0.25": fm.Chip(64, 0.25, True, grey=True),
    "authors m0.00": fm.Chip(64, 0.0, False, grey=True),
    "authors m0.10": fm.Chip(64, 0.10, False, grey=True),
    "authors m0.25": fm.Chip(64, 0.25, False, grey=True),
}
EXPRESSION_OF_LABEL = {
    "anger": "ANGRY",
    "disgust": "DISGUSTED",
    "fear": "FEAR",
    "happiness": "HAPPY",
    "sadness": "SAD",
    "surprise": "SURPRISED",
    "neutral": "CALM",
}


# -- simulated attacks on a real photo --------------------------------------------------------


def screen_replay(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo of the face on a screen: resampled by the screen's pixel grid, moire, a colour cast, glare."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    angle, period = rng.uniform(0, np.pi), rng.uniform(3.0, 6.0)
    moire = 12.0 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    img = (
        img * np.array([0.92, 1.0, 1.08])
        + moire[..., None]
        + 25.0 * np.exp(-((xx - w * 0.7) ** 2 + (yy - h * 0.3) ** 2) / (0.05 * w * h))[..., None]
    )
    return _jpeg(np.clip(img, 0, 255).astype(np.uint8), 70)


def print_attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A printed photo held to the camera: halftone dots, paper's lower contrast, a warm cast, blur."""
    g = rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    dots = 10.0 * np.sin(xx * 1.6) * np.sin(yy * 1.6)
    img = 40.0 + 0.7 * g + dots[..., None]
    img = img * np.array([1.05, 1.0, 0.9])
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (3, 3), 0)
    return _jpeg(img, 80)


def cartoon(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A painted or computer-drawn look: OpenCV's edge-preserving stylisation."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(cv2.stylization(bgr, sigma_s=60, sigma_r=0.45), cv2.COLOR_BGR2RGB)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


ATTACKS = {
    "screen replay (simulated)": screen_replay,
    "print (simulated)": print_attack,
    "cartoon (simulated)": cartoon,
}


def _liveness(rgb: np.ndarray) -> float | None:
    faces = analyze_faces(rgb, HogDetector(), max_faces=1)
    if not faces:
        return None
    return fm.liveness(rgb, [(faces[0].detection, faces[0].points_5)])[0].score


def measure(path: Path) -> dict:
    rgb = decode_image(read_image_file(path)).rgb
    faces = analyze_faces(rgb, HogDetector(), max_faces=1)
    if not faces:
        return {"found": False}
    box = [(faces[0].detection, faces[0].points_5)]
    out: dict = {"found": True, "faceres": {}, "emotion": {}}
    for name, chip in FACERES.items():
        probs, male = fm.age_gender_raw(rgb, box, chip)
        p = probs[0].astype(np.float64) / probs[0].sum()
        top2 = np.argsort(p)[::-1][:2]
        out["faceres"][name] = {
            "male": float(male[0]),
            "mean": float(p @ np.arange(len(p))),
            "top2": float(1 + top2 @ (p[top2] / p[top2].sum())),  # the HSE authors' decoding
            "cdf": np.cumsum(p).round(5).tolist(),
        }
    for name, chip in EMOTION.items():
        out["emotion"][name] = fm.emotions(rgb, box, chip)[0]
    out["liveness"] = fm.liveness(rgb, box)[0].score
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    out["attacks"] = {name: _liveness(make(rgb, rng)) for name, make in ATTACKS.items()}
    return out


def _read_labels(faces: Path):
    manifest = [r for r in csv.DictReader(open(faces / "manifest.csv")) if not r["audit_flag"]]
    gender = (
        {r["identity"]: r["gender"] for r in csv.DictReader(open(LABELS / "gender.csv"))}
        if (LABELS / "gender.csv").exists()
        else {}
    )
    born = (
        {r["identity"]: int(r["birth_year"]) for r in csv.DictReader(open(LABELS / "birth_years.csv"))}
        if (LABELS / "birth_years.csv").exists()
        else {}
    )
    expression = (
        {r["path"]: r["emotion"] for r in csv.DictReader(open(LABELS / "emotions.csv"))}
        if (LABELS / "emotions.csv").exists()
        else {}
    )
    return manifest, gender, born, expression


def _select(manifest, gender, born, expression, per_person: int, seed: int = 7) -> list[dict]:
    """Up to `per_person` labelled photos of each person, so that a few much-photographed people
    do not dominate."""
    by_person = defaultdict(list)
    for r in manifest:
        if r["identity"] in gender or r["identity"] in born or r["path"] in expression:
            by_person[r["identity"]].append(r)
    rng = random.Random(seed)
    chosen = []
    for person in sorted(by_person):
        rows = by_person[person]
        rng.shuffle(rows)
        chosen += rows[:per_person]
    return chosen


def widen_for(mean, q10, q90, truth, target: float) -> float:
    """The factor k for which [mean - k (mean - q10), mean + k (q90 - mean)] holds `target` of the
    true ages."""
    lo_k, hi_k = 0.05, 20.0
    for _ in range(50):
        k = (lo_k + hi_k) / 2
        lo, hi = np.floor(mean - k * (mean - q10)), np.ceil(mean + k * (q90 - mean))
        if np.mean((lo <= truth) & (truth <= hi)) >= target:
            hi_k = k
        else:
            lo_k = k
    return float(hi_k)


def _latency(sample: list[Path], repeat: int = 30) -> dict[str, float]:
    """Milliseconds per face for each model, one face per call, one thread, after a warm-up."""
    rgb = decode_image(read_image_file(sample[0])).rgb
    f = analyze_faces(rgb, HogDetector(), all_attributes=True, max_faces=1)[0]
    box = [(f.detection, f.points_5)]
    calls = {
        "faceres (age, gender)": lambda: fm.age_gender(rgb, box),
        "emotion (expressions, smile)": lambda: fm.emotions(rgb, box),
        "iris x2 (eye direction)": lambda: fm.gaze(rgb, [f.points_68]),
        "antispoof + liveness": lambda: fm.liveness(rgb, box),
    }
    out = {}
    for name, call in calls.items():
        call()
        t = time.perf_counter()
        for _ in range(repeat):
            call()
        out[name] = (time.perf_counter() - t) / repeat * 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "faces")
    ap.add_argument("--per-person", type=int, default=4)
    ap.add_argument("--age-only", action="store_true", help="only the photos with a known age (LFW's)")
    ap.add_argument("--gender-only", action="store_true", help="only gender, with the FaceRes input in use")
    ap.add_argument(
        "--limit", type=int, default=0, help="at most this many photos, chosen at random (0: all)"
    )
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    manifest, gender, born, expression = _read_labels(args.faces)
    if args.gender_only:
        global FACERES, EMOTION, ATTACKS
        FACERES, EMOTION, ATTACKS = {"authors m0.25": FACERES["authors m0.25"]}, {}, {}
        expression = {}
    if args.age_only:
        manifest = [
            r for r in manifest if r["identity"] in born and r["source_repo"] == "muxspace/facial_expressions"
        ]
    rows = _select(manifest, gender, born, expression, args.per_person)
    if args.limit and len(rows) > args.limit:
        rows = random.Random(11).sample(rows, args.limit)
    paths = [args.faces / r["path"] for r in rows]
    print(
        f"{len(rows)} photos of {len({r['identity'] for r in rows})} people; labels: gender {len(gender)} "
        "people, "
        f"birth year {len(born)} people, expression {len(expression)} photos"
    )
    t0 = time.perf_counter()
    results = dict(with_progress(run_over_files(measure, paths, args.workers), len(paths), "attributes"))
    print(f"measured in {time.perf_counter() - t0:.0f} s")
    found = [
        (r, results[args.faces / r["path"]]) for r in rows if results[args.faces / r["path"]].get("found")
    ]
    print(f"a face found in {len(found)} of {len(rows)}")
    report: dict = {"photos": len(rows), "faces": len(found)}

    # Gender
    print("\n## Gender (accuracy on people whose gender is a matter of public record)")
    g_rows = [(r, m) for r, m in found if r["identity"] in gender]
    counts = Counter(gender[r["identity"]] for r, _ in g_rows)
    print(f"{len(g_rows)} photos: {dict(counts)}")
    report["gender"] = {}
    for name in FACERES:
        acc = {}
        for label in ("male", "female"):
            sel = [m["faceres"][name]["male"] >= 0.5 for r, m in g_rows if gender[r["identity"]] == label]
            acc[label] = float(np.mean([s == (label == "male") for s in sel])) if sel else float("nan")
        overall = np.mean(
            [(m["faceres"][name]["male"] >= 0.5) == (gender[r["identity"]] == "male") for r, m in g_rows]
        )
        report["gender"][name] = {"accuracy": float(overall), **acc}
        print(f"  {name:22s} accuracy {overall:.3f}  (men {acc['male']:.3f}, women {acc['female']:.3f})")

    chosen = "authors m0.25"  # face_models.CHIPS["faceres"]
    print(f"  {chosen}, by the probability above which a face is called male:")
    report["gender_by_cut"] = {}
    for cut in (0.4, 0.5, 0.6, 0.7):
        men = np.mean(
            [m["faceres"][chosen]["male"] >= cut for r, m in g_rows if gender[r["identity"]] == "male"]
        )
        women = np.mean(
            [m["faceres"][chosen]["male"] < cut for r, m in g_rows if gender[r["identity"]] == "female"]
        )
        overall = np.mean(
            [(m["faceres"][chosen]["male"] >= cut) == (gender[r["identity"]] == "male") for r, m in g_rows]
        )
        report["gender_by_cut"][cut] = {
            "accuracy": float(overall),
            "male": float(men),
            "female": float(women),
        }
        print(f"    {cut:.1f}: accuracy {overall:.3f} (men {men:.3f}, women {women:.3f})")

    # Age
    print(f"\n## Age (true age taken as {PHOTO_YEAR} - birth year, +-1 year)")
    # LFW's photos only: the few from other sources were taken in other years.
    a_rows = [
        (r, m)
        for r, m in found
        if r["identity"] in born and r["source_repo"] == "muxspace/facial_expressions"
    ]
    print(f"{len(a_rows)} photos of {len({r['identity'] for r, _ in a_rows})} people")
    report["age"] = {}
    for name in FACERES:
        truth = np.array([PHOTO_YEAR - born[r["identity"]] for r, _ in a_rows], float)
        mean = np.array([m["faceres"][name]["mean"] for _, m in a_rows]) + fm.AGE_OFFSET
        top2 = np.array([m["faceres"][name]["top2"] for _, m in a_rows])
        cdfs = np.array([m["faceres"][name]["cdf"] for _, m in a_rows])
        q10 = np.array([np.searchsorted(c, 0.1) for c in cdfs], float) + fm.AGE_OFFSET
        q90 = np.array([np.searchsorted(c, 0.9) for c in cdfs], float) + fm.AGE_OFFSET
        raw = float(np.mean((q10 <= truth) & (truth <= q90)))
        k = widen_for(mean, q10, q90, truth, 0.8)
        lo, hi = np.floor(mean - k * (mean - q10)), np.ceil(mean + k * (q90 - mean))
        report["age"][name] = {
            "mae_mean": float(np.mean(np.abs(mean - truth))),
            "mae_top2": float(np.mean(np.abs(top2 - truth))),
            "bias": float(np.mean(mean - truth)),
            "coverage_10_90": raw,
            "width_10_90": float(np.mean(q90 - q10)),
            "widen_for_80": k,
            "width_80": float(np.mean(hi - lo)),
            "coverage_80": float(np.mean((lo <= truth) & (truth <= hi))),
        }
        a = report["age"][name]
        print(
            f"  {name:22s} MAE {a['mae_mean']:.1f} y (expectation), {a['mae_top2']:.1f} y (authors' top-2); "
            f"bias {a['bias']:+.1f}; "
            f"10-90% span holds the truth {raw:.0%} ({a['width_10_90']:.0f} y wide); x{k:.2f} for 80%: "
            f"{a['width_80']:.0f} y wide"
        )

    # Expressions and smile
    print("\n## Expressions (crowd labels of muxspace/facial_expressions)")
    e_rows = [(r, m) for r, m in found if expression.get(r["path"]) in EXPRESSION_OF_LABEL]
    print(f"{len(e_rows)} photos: {dict(Counter(expression[r['path']] for r, _ in e_rows))}")
    report["emotion"] = {}
    for name in EMOTION:
        top = [max(m["emotion"][name], key=m["emotion"][name].get) for _, m in e_rows]
        truth = [EXPRESSION_OF_LABEL[expression[r["path"]]] for r, _ in e_rows]
        per_class = {
            c: float(np.mean([t == p for t, p in zip(truth, top) if t == c])) for c in sorted(set(truth))
        }
        balanced = float(np.mean(list(per_class.values())))
        smile_true = [t == "HAPPY" for t in truth]
        smile = [m["emotion"][name]["HAPPY"] >= 0.5 for _, m in e_rows]
        smile_acc = float(np.mean([a == b for a, b in zip(smile, smile_true)]))
        report["emotion"][name] = {
            "accuracy": float(np.mean([t == p for t, p in zip(truth, top)])),
            "balanced": balanced,
            "per_class": per_class,
            "smile_accuracy": smile_acc,
        }
        print(
            f"  {name:22s} top-1 {report['emotion'][name]['accuracy']:.3f}, balanced {balanced:.3f}, smile "
            f"{smile_acc:.3f}; " + ", ".join(f"{c} {v:.2f}" for c, v in per_class.items())
        )

    # Liveness
    print("\n## Liveness (score 0-100; real photos should pass, simulated attacks should not)")
    real = np.array([m["liveness"] for _, m in found])
    report["liveness"] = {"real": {}, "attacks": {}}
    for t in (30, 40, 50, 60, 70):
        report["liveness"]["real"][t] = float(np.mean(real < t))
    print(
        "  real photos refused at threshold "
        + ", ".join(f"{t}: {v:.1%}" for t, v in report["liveness"]["real"].items())
    )
    for attack in ATTACKS:
        s = np.array([m["attacks"][attack] for _, m in found if m["attacks"][attack] is not None])
        caught = {t: float(np.mean(s < t)) for t in (30, 40, 50, 60, 70)}
        report["liveness"]["attacks"][attack] = {
            "faces": len(s),
            "caught": caught,
            "median": float(np.median(s)),
        }
        print(
            f"  {attack:28s} caught at threshold "
            + ", ".join(f"{t}: {v:.1%}" for t, v in caught.items())
            + f" (median score {np.median(s):.0f}, real {np.median(real):.0f})"
        )

    print("\n## Milliseconds per face (one thread)")
    report["latency_ms"] = _latency(paths)
    for name, ms in report["latency_ms"].items():
        print(f"  {name:30s} {ms:6.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "attributes.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {RESULTS / 'attributes.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
