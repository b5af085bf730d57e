"""Face tracks across sampled frames: a detection joins the track whose last box it overlaps
most (intersection over union), so that one appearance of a person is one track with one Index,
searched once. A shot cut ends every track, and a track is split where its face turns out to be
someone else (see analyze.track_faces)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_IOU = 0.3
MAX_MISSED = 2  # samples a track may miss (a turned head, a blink of the detector) and go on

# Correlation of two aligned chips' 30x30 grey thumbnails at or above which a face is the same
# picture of the same face as the one last embedded, and needs no embedding of its own. On the
# test photos: the same face moved, scaled, rotated up to 6 degrees, relit +-15% and recompressed
# scored 0.977 or more; different people -0.46 to 0.40, also at equal size on an identical
# background. Two photos of one person also score below it: a change of light or pose is re-verified.
SAME_LOOK = 0.9


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Boxes as (left, top, width, height) in any common unit."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    h = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = w * h
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    index: int
    box: tuple[float, float, float, float]
    missed: int = 0
    best_score: float = -1.0  # size x confidence of the best face seen, the one searched with
    embedding: object = None
    look: object = None  # the thumbnail (see look) of the face last embedded
    detections: list = field(default_factory=list)


def look(chip: np.ndarray) -> np.ndarray:
    """An aligned 150x150 chip as a 30x30 grey thumbnail, zero mean and unit norm: cheap to compare."""
    grey = chip.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    k = grey.shape[0] // 30
    t = grey[: 30 * k, : 30 * k].reshape(30, k, 30, k).mean(axis=(1, 3))
    t -= t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def same_look(a: np.ndarray | None, b: np.ndarray) -> bool:
    return a is not None and float((a * b).sum()) >= SAME_LOOK


class Tracker:
    def __init__(self):
        self.tracks: list[Track] = []
        self._live: list[Track] = []
        self._count = 0

    def update(self, boxes: list[tuple[float, float, float, float]]) -> list[Track]:
        """The track of each box of one sampled frame, in order; new tracks for new faces."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self._live) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        assigned: dict[int, Track] = {}
        used = set()
        for score, ti, bi in pairs:
            if score < MIN_IOU:
                break
            if ti in used or bi in assigned:
                continue
            used.add(ti)
            assigned[bi] = self._live[ti]
        for bi, box in enumerate(boxes):
            track = assigned.get(bi)
            if track is None:
                track = self._new(box)
                self._live.append(track)
                assigned[bi] = track
            track.box, track.missed = box, 0
        for t in list(self._live):
            if t not in assigned.values():
                t.missed += 1
        self._live = [t for t in self._live if t.missed <= MAX_MISSED]
        return [assigned[bi] for bi in range(len(boxes))]

    def _new(self, box) -> Track:
        track = Track(index=self._count, box=box)
        self._count += 1
        self.tracks.append(track)
        return track

    def forget_ended(self) -> None:
        """Keep only the live tracks (a live stream's tracks would otherwise pile up for ever)."""
        self.tracks = list(self._live)

    def cut(self) -> None:
        """A shot cut: every track ends, and every face after it starts a new one."""
        self._live = []

    def split(self, track: Track) -> Track:
        """End `track` at its last face, which starts a new track in its place."""
        new = self._new(track.box)
        self._live = [new if t is track else t for t in self._live]
        return new
