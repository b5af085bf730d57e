"""Drawing results onto pictures: boxes, landmarks and labels, for --draw."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..inputs.images import decode_image, read_image_file
from ..inputs.limits import ImageLimits

GREEN = (46, 204, 64)
RED = (230, 57, 70)
BLUE = (0, 116, 217)
GREY = (170, 170, 170)


def picture(path: Path) -> np.ndarray:
    """The picture a drawing is made on, read as the engine reads it (upright, RGB)."""
    limits = ImageLimits.from_env()
    return decode_image(read_image_file(path, limits), limits, max_bytes=limits.max_file_bytes).rgb


def _thickness(rgb: np.ndarray) -> int:
    return max(1, round(max(rgb.shape[:2]) / 500))


def draw_box(canvas: np.ndarray, box: dict, colour, label: str | None = None) -> None:
    """Draw a Rekognition BoundingBox (ratios) with an optional label above it."""
    h, w = canvas.shape[:2]
    t = _thickness(canvas)
    x0, y0 = round(box["Left"] * w), round(box["Top"] * h)
    x1, y1 = round((box["Left"] + box["Width"]) * w), round((box["Top"] + box["Height"]) * h)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, t, cv2.LINE_AA)
    if label:
        scale = max(0.4, t * 0.45)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t // 2))
        ty = y0 - 4 if y0 - th - base - 4 > 0 else y1 + th + 4
        cv2.rectangle(canvas, (x0, ty - th - base), (x0 + tw + 4, ty + base), colour, -1)
        cv2.putText(
            canvas,
            label,
            (x0 + 2, ty),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, t // 2),
            cv2.LINE_AA,
        )


def draw_landmarks(canvas: np.ndarray, marks: list[dict], colour=BLUE) -> None:
    h, w = canvas.shape[:2]
    r = _thickness(canvas) + 1
    for m in marks:
        cv2.circle(canvas, (round(m["X"] * w), round(m["Y"] * h)), r, colour, -1, cv2.LINE_AA)


def draw_face_details(rgb: np.ndarray, details: list[dict]) -> np.ndarray:
    canvas = rgb.copy()
    for i, d in enumerate(details):
        draw_box(canvas, d["BoundingBox"], GREEN, f"#{i + 1} {d['Confidence']:.1f}%")
        draw_landmarks(canvas, d.get("Landmarks", []))
    return canvas


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 16) -> np.ndarray:
    """Two pictures scaled to one height, next to each other on white."""
    height = min(max(left.shape[0], right.shape[0]), 1200)
    parts = [
        cv2.resize(p, (max(1, round(p.shape[1] * height / p.shape[0])), height), interpolation=cv2.INTER_AREA)
        for p in (left, right)
    ]
    out = np.full((height, parts[0].shape[1] + gap + parts[1].shape[1], 3), 255, dtype=np.uint8)
    out[:, : parts[0].shape[1]] = parts[0]
    out[:, parts[0].shape[1] + gap :] = parts[1]
    return out


def save(rgb: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"Cannot write an image as {path.suffix!r}: use .png or .jpg")
    path.write_bytes(buf.tobytes())
    return path
