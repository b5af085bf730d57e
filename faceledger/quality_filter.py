"""QualityFilter: which faces are good enough to compare or index, and why not.

A face fails a level when any measure is past that level's bar; the reasons are Rekognition's
UnindexedFaces reasons. NONE filters nothing; AUTO is MEDIUM.

| level  | min box side (px) | Confidence | Sharpness | Brightness | abs(Yaw), abs(Pitch) |
|--------|------------------:|-----------:|----------:|-----------:|---------------------:|
| LOW    | 20                | 50         | 5         | 5 to 97    | 75                   |
| MEDIUM | 40                | 80         | 15        | 10 to 95   | 60                   |
| HIGH   | 64                | 95         | 30        | 20 to 90   | 40                   |
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidParameterException
from .vision.analyze import FaceAnalysis


@dataclass(frozen=True)
class Bar:
    min_side: float
    min_confidence: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_angle: float


BARS = {
    "LOW": Bar(20, 50, 5, 5, 97, 75),
    "MEDIUM": Bar(40, 80, 15, 10, 95, 60),
    "HIGH": Bar(64, 95, 30, 20, 90, 40),
}
LEVELS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")


def check_level(level: str | None, default: str) -> str:
    level = default if level is None else level
    if level not in LEVELS:
        raise InvalidParameterException(f"QualityFilter must be one of {', '.join(LEVELS)}; got {level!r}.")
    return level


def reasons(face: FaceAnalysis, level: str) -> list[str]:
    """Why `face` falls below `level` (empty when it passes)."""
    if level == "NONE":
        return []
    bar = BARS["MEDIUM" if level == "AUTO" else level]
    out = []
    d, q, p = face.detection, face.quality, face.pose
    if max(abs(p.yaw), abs(p.pitch)) > bar.max_angle:
        out.append("EXTREME_POSE")
    if q.brightness < bar.min_brightness or q.brightness > bar.max_brightness:
        out.append("LOW_BRIGHTNESS")
    if q.sharpness < bar.min_sharpness:
        out.append("LOW_SHARPNESS")
    if d.confidence < bar.min_confidence:
        out.append("LOW_CONFIDENCE")
    if min(d.width, d.height) < bar.min_side:
        out.append("SMALL_BOUNDING_BOX")
    return out
