"""Make faceledger/data/facemesh_canonical.npy: the mean face of MediaPipe Face Mesh's 468 points,
the shape vision/head_pose.py fits to every mesh to tell the head's pose.

The mean is measured, not taken from elsewhere: the meshes of the largest face of every photo of
../shared/faces/ids (audit-flagged ones left out), each centred and scaled to unit size, are
aligned to their mean by rotation (generalised Procrustes analysis) until the mean settles. Its
orientation is then the people's average pose in those photos (news photos of people facing the
camera); it is made left-right symmetric (each point and its mirror image averaged), which sets
roll and yaw to zero exactly, while pitch zero stays the photos' average head pitch. Run once, by
hand, from the repository root:

    .venv/bin/python tools/make_facemesh_canonical.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("FACES") or ROOT.parent / "shared" / "faces")
OUT = ROOT / "faceledger" / "data" / "facemesh_canonical.npy"


def normalised(points: np.ndarray) -> np.ndarray:
    p = points - points.mean(axis=0)
    return p / np.sqrt((p**2).sum(axis=1).mean())


def rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation R (no reflection) that best maps centred a onto centred b: b ~ a @ R.T."""
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def mirror_pairs(shape: np.ndarray) -> np.ndarray:
    """For each point, the point nearest its mirror image across x = 0 (the shape symmetric about it)."""
    mirrored = shape * np.array([-1.0, 1.0, 1.0])
    d = ((mirrored[:, None, :] - shape[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def main() -> None:
    from faceledger.inputs.images import decode_image, read_image_file
    from faceledger.vision import facemesh
    from faceledger.vision.detect import HogDetector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="at most this many photos (0: all)")
    args = ap.parse_args()
    with open(FACES / "manifest.csv", newline="") as f:
        photos = [
            r["path"] for r in csv.DictReader(f) if r["path"].startswith("ids/") and not r["audit_flag"]
        ]
    if args.limit:
        photos = photos[: args.limit]
    detector, shapes = HogDetector(), []
    for i, rel in enumerate(photos, 1):
        rgb = decode_image(read_image_file(FACES / rel), max_bytes=15 << 20).rgb
        found = sorted(detector.detect(rgb), key=lambda d: -d.area)[:1]
        for m in facemesh.meshes(rgb, [(d.left, d.top, d.right, d.bottom) for d in found]):
            if m.score > 0.5:
                shapes.append(normalised(m.points))
        if i % 500 == 0:
            print(f"  {i}/{len(photos)} photos, {len(shapes)} meshes", file=sys.stderr)
    shapes = np.stack(shapes)
    mean = shapes[0]
    for _ in range(10):  # align every mesh to the mean, then the mean to the meshes
        aligned = np.stack([s @ rotation(s, mean).T for s in shapes])
        new = normalised(aligned.mean(axis=0))
        # keep the people's average orientation: turn the mean by the meshes' average rotation to it
        turns = np.stack([rotation(new, s) for s in shapes])
        u, _, vt = np.linalg.svd(turns.mean(axis=0))
        new = new @ (u @ vt).T
        if np.abs(new - mean).max() < 1e-6:
            break
        mean = new
    # Symmetric: turned halfway towards its own mirror image, its symmetry plane is x = 0 (that
    # sets roll and yaw to zero); then each point is averaged with its mirror.
    flip = np.array([-1.0, 1.0, 1.0])
    pairs = mirror_pairs(mean)
    half = cv2.Rodrigues(rotation(mean, mean[pairs] * flip))[0] / 2
    mean = min(
        (mean @ cv2.Rodrigues(h)[0].T for h in (half, -half)),
        key=lambda m: np.abs(m - m[mirror_pairs(m)] * flip).max(),
    )
    pairs = mirror_pairs(mean)
    symmetric = (mean + mean[pairs] * flip) / 2
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.save(OUT, symmetric.astype(np.float32))
    asym = np.abs(mean - symmetric).max()
    print(
        f"{len(shapes)} meshes from {len(photos)} photos; largest asymmetry removed {asym:.4f}; wrote {OUT}"
    )


if __name__ == "__main__":
    main()
