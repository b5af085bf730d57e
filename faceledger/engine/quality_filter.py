"""QualityFilter: which faces are good enough to compare or index, and why not.

A face fails a level when any measure is past that level's bar; the reasons are Rekognition's
UnindexedFaces reasons. NONE filters nothing. Each bar was placed by bench/quality_bars.py where
the true match rate at the default threshold falls: for LOW, to under half the overall rate (the
unusable); for AUTO, 10 points or more below it with 95% confidence (the clearly worse); for
MEDIUM, 5 points below; for HIGH, 2 points below. Where no measured bin is worse, the bar sits
at the edge of what was measured (faces past it were never measured well enough to vouch for).
Measured with the default detector (HOG + FaceBoxes) and the pose from the Face Mesh.

Pose is the exception: the development photos hold 3,917 faces under 30 degrees (by the mesh,
which reads strong turns low) and 24 beyond, too few for a bin of their own, so the rule would
put AUTO's bar at 30 and refuse turned faces the detector now finds. Those 24 match at 76%
(against 84% at 20-30 and 90% under 20), not clearly worse by AUTO's test, so LOW and AUTO keep
faces to 45 degrees; MEDIUM and HIGH stop at 20, where the 20-30 bin is 5 points below.

| level  | min box side (px) | Confidence | Sharpness | Brightness | abs(Yaw), abs(Pitch) |
|--------|------------------:|-----------:|----------:|-----------:|---------------------:|
| LOW    | 36                | 90         | 1         | 2 to 90    | 45                   |
| AUTO   | 36                | 90         | 2         | 8 to 80    | 45                   |
| MEDIUM | 52                | 90         | 3         | 10 to 70   | 20                   |
| HIGH   | 52                | 98         | 6         | 40 to 70   | 20                   |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InvalidParameterException

if TYPE_CHECKING:
    from ..vision.analyze import FaceAnalysis


@dataclass(frozen=True)
class Bar:
    min_side: float
    min_confidence: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_angle: float


BARS = {
    "LOW": Bar(36, 90, 1, 2, 90, 45),
    "AUTO": Bar(36, 90, 2, 8, 80, 45),
    "MEDIUM": Bar(52, 90, 3, 10, 70, 20),
    "HIGH": Bar(52, 98, 6, 40, 70, 20),
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
    bar = BARS[level]
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
