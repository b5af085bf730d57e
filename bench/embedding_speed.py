"""dlib's networks on dlib-bin against their ONNX conversions on ONNX Runtime: milliseconds per
face for the ResNet embedder (batches of 1, 8 and 32 chips), and milliseconds per megapixel for
the MMOD detector (a 640x480 and a 1280x720 picture, no upsampling), ONNX on 1 intra-op thread
and on 2. dlib-bin runs as it comes (no threads setting). The chips are the golden fixtures'
(tests/data/golden/dlib/resnet.npz); the pictures are composed from the public-domain test photos.
Each figure is the best of --repeats runs, after one run to warm up.

    .venv/bin/python bench/embedding_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceledger.vision import dlib_mmod, models  # noqa: E402
from faceledger.vision.dlib_runtime import OnnxResnetEmbedder  # noqa: E402
from faceledger.vision.embed import DlibResnetEmbedder  # noqa: E402

DATA = ROOT / "tests" / "data"


def golden_chips() -> list[np.ndarray]:
    g = np.load(DATA / "golden" / "dlib" / "resnet.npz")
    return [
        np.asarray(Image.open(io.BytesIO(g[f"chip{i}_png"].tobytes()))) for i in range(len(g["embeddings"]))
    ]


def picture(width: int, height: int) -> np.ndarray:
    """Three of the test photos' faces side by side on grey, scaled to the picture's height."""
    canvas = np.full((height, width, 3), 200, np.uint8)
    crops = [
        ("obama_official_portrait.jpg", (40, 510, 250, 720)),
        ("biden_blue_room_crop.jpg", (130, 630, 330, 830)),
        ("astronaut_eileen_collins.png", (20, 200, 130, 310)),
    ]
    side = min(width // 3 - 10, int(height * 0.6))
    for i, (name, (t, b, left, r)) in enumerate(crops):
        face = np.asarray(Image.open(DATA / name).convert("RGB"))[t:b, left:r]
        face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
        x, y = 5 + i * (width // 3), (height - side) // 2
        canvas[y : y + side, x : x + side] = face
    return canvas


def best_of(fn, repeats: int) -> float:
    fn()  # warm up: sessions built, caches filled
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    chips = golden_chips()
    print("embedder: ms per face")
    print(f"{'batch':>6} {'dlib-bin':>10} {'onnx 1 thr':>11} {'onnx 2 thr':>11} {'speed-up':>9}")
    dlib_embedder = DlibResnetEmbedder()
    onnx = {t: OnnxResnetEmbedder(threads=t) for t in (1, 2)}
    for n in (1, 8, 32):
        batch = (chips * (n // len(chips) + 1))[:n]
        ref = best_of(lambda b=batch: dlib_embedder.embed_chips(b), args.repeats) / n * 1e3
        got = {
            t: best_of(lambda e=e, b=batch: e.embed_chips(b), args.repeats) / n * 1e3 for t, e in onnx.items()
        }
        print(f"{n:>6} {ref:>10.1f} {got[1]:>11.1f} {got[2]:>11.1f} {ref / min(got.values()):>8.1f}x")

    print("\nMMOD detector: ms per megapixel (upsample 0)")
    print(f"{'picture':>9} {'dlib-bin':>10} {'onnx 1 thr':>11} {'onnx 2 thr':>11} {'speed-up':>9}  faces")
    net = models.cnn_detector().model
    for width, height in ((640, 480), (1280, 720)):
        rgb = picture(width, height)
        mp = width * height / 1e6
        ref = best_of(lambda x=rgb: net(x, 0), max(1, args.repeats - 1)) / mp * 1e3
        got = {
            t: best_of(lambda t=t, x=rgb: dlib_mmod.mmod_detect(x, 0, threads=t), args.repeats) / mp * 1e3
            for t in (1, 2)
        }
        faces = (len(net(rgb, 0)), len(dlib_mmod.mmod_detect(rgb, 0)))
        speed_up = ref / min(got.values())
        print(
            f"{width}x{height:<4} {ref:>9.0f} {got[1]:>11.0f} {got[2]:>11.0f} {speed_up:>8.1f}x"
            f"  {faces[0]} dlib, {faces[1]} onnx"
        )


if __name__ == "__main__":
    main()
