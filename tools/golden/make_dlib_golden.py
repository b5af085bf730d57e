"""Make the golden fixtures of dlib's own networks, for tests/test_dlib_onnx.py: dlib (dlib-bin)
computes them once here; the tests hold the ONNX conversions to them without needing dlib.

Run once by hand:  python tools/golden/make_dlib_golden.py
Writes tests/data/golden/dlib/resnet.npz: the 150x150 chips of the faces of the photos in
tests/data (HOG, 5 points, dlib.get_face_chips, as the service aligns them; stored as PNG, which
is lossless) and dlib's embeddings of them; and tests/data/golden/dlib/mmod.npz: dlib's MMOD
detections (cnn_face_detection_model_v1) on small pictures derived from tests/data, with the
SHA-256 of each picture's pixels so that a test knows it rebuilt the very same picture. dlib's
Python API gives the detections only, not the network's output map.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import (  # noqa: E402  (tests/ is on the path only now)
    BIDEN,
    COLLINS,
    OBAMA_BLUE_ROOM,
    OBAMA_PORTRAIT,
    OBAMA_SPEECH,
    crop_around_face,
    jpeg_bytes,
)

PHOTOS = [OBAMA_PORTRAIT, OBAMA_SPEECH, OBAMA_BLUE_ROOM, BIDEN, COLLINS]


def photo(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def portrait(width: int) -> np.ndarray:
    """The official portrait scaled down to `width` pixels (OpenCV, area interpolation)."""
    rgb = photo(OBAMA_PORTRAIT)
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(cv2.resize(rgb, (width, round(h * width / w)), interpolation=cv2.INTER_AREA))


def group() -> np.ndarray:
    """tests/conftest.py's group_photo fixture, decoded: the same construction, line for line."""
    obama = crop_around_face(OBAMA_PORTRAIT, (250, 40, 720, 510), 420)
    biden = crop_around_face(BIDEN, (330, 130, 830, 630), 280)
    collins = Image.open(COLLINS).convert("RGB").crop((130, 20, 310, 200)).resize((260, 260))
    canvas = Image.new("RGB", (1120, 460), (200, 200, 200))
    canvas.paste(obama, (20, 20))
    canvas.paste(biden, (470, 60))
    canvas.paste(collins, (830, 100))
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes(canvas))).convert("RGB"))


def pixels_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()).hexdigest()


def png(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", optimize=True)
    return np.frombuffer(buf.getvalue(), np.uint8)


def main() -> None:
    import dlib

    from faceledger.vision import landmarks, models
    from faceledger.vision.detect import CnnDetector, HogDetector
    from faceledger.vision.dlib_onnx import sha256_of
    from faceledger.vision.embed import DlibResnetEmbedder, face_chips

    out_dir = ROOT / "tests/data/golden/dlib"
    provenance = {
        "dlib_version": np.array(dlib.__version__),
        "resnet_sha256": np.array(
            sha256_of(models.weights_path("dlib_face_recognition_resnet_model_v1.dat"))
        ),
        "mmod_sha256": np.array(sha256_of(models.weights_path("mmod_human_face_detector.dat"))),
    }

    chips, sources = [], []
    for path in PHOTOS:
        rgb = photo(path)
        dets = HogDetector().detect(rgb)
        for chip in face_chips(rgb, landmarks.shapes_5(rgb, dets)):
            chips.append(np.asarray(chip))
            sources.append(path.name)
    embeddings = DlibResnetEmbedder().embed_chips(chips)
    resnet = {f"chip{i}_png": png(c) for i, c in enumerate(chips)}
    np.savez_compressed(
        out_dir / "resnet.npz",
        sources=np.array(sources),
        embeddings=embeddings.astype(np.float32),
        **resnet,
        **provenance,
    )
    print(f"{len(chips)} chips from {len(PHOTOS)} photos")

    net = models.cnn_detector().model
    pictures = {
        "portrait320": (portrait(320), 0),
        "portrait200_up1": (portrait(200), 1),
        "group": (group(), 0),
    }
    mmod = {}
    for key, (rgb, upsample) in pictures.items():
        found = [
            (d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1, d.confidence)
            for d in net(rgb, upsample)
        ]
        mmod[f"{key}_detections"] = np.array(found, dtype=np.float64).reshape(-1, 5)
        mmod[f"{key}_upsample"] = np.array(upsample)
        mmod[f"{key}_sha256"] = np.array(pixels_sha256(rgb))
        print(key, rgb.shape, found)
    # The whole CnnDetector path (its rescaling to the smallest face Rekognition promises) on the group.
    end_to_end = [(d.left, d.top, d.right, d.bottom, d.score) for d in CnnDetector().detect(group())]
    mmod["group_cnn_detector"] = np.array(end_to_end, dtype=np.float64).reshape(-1, 5)
    print("CnnDetector on the group:", end_to_end)
    np.savez_compressed(out_dir / "mmod.npz", **mmod, **provenance)


if __name__ == "__main__":
    main()
