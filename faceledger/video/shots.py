"""Shot cuts between sampled frames, so that no face track (and no match) crosses one.

A frame's signature is the colour histogram of each of its 4x4 regions (luma in 8 levels, each
colour difference in 4). The change between two frames is the median over the 16 regions of how
much of the region's histogram moved (half the L1 distance, 0 to 1). A cut changes the colours of
nearly the whole picture at once; motion, a zoom or a pan changes few regions much, or many a
little, and a face moving or changing (even a face swapped at the same place) stays in a few
regions, so it is left to re-verification (see analyze.track_faces).

CUT, 0.5 (over half the regions changed over half their colours): on composed clips at 5 samples
a second, the largest change without a cut was 0.39 (a pan of 12% of the frame between samples),
0.28 for a close-up face crossing the frame and 0.22 for a zoom of x3 in 2 s; the smallest at a
hard cut was 0.57 (between two photos of Obama), and 0.66 to 1.0 for other cuts.
"""

from __future__ import annotations

import numpy as np

GRID = 4
LEVELS = (8, 4, 4)  # Y, Cb, Cr
WIDTH = 160  # frames are subsampled to about this width: the signature costs the same at any size
CUT = 0.5


def signature(rgb: np.ndarray) -> np.ndarray:
    """(GRID * GRID, 128) float32: each region's normalised colour histogram."""
    step = max(1, rgb.shape[1] // WIDTH)
    x = rgb[::step, ::step].astype(np.float32)
    y = x @ np.float32([0.299, 0.587, 0.114])
    cb, cr = (x[..., 2] - y) * 0.564 + 128, (x[..., 0] - y) * 0.713 + 128
    (ny, nb, nr) = LEVELS
    q = np.clip(y * ny / 256, 0, ny - 1).astype(np.int64) * nb + np.clip(cb * nb / 256, 0, nb - 1).astype(
        np.int64
    )
    q = q * nr + np.clip(cr * nr / 256, 0, nr - 1).astype(np.int64)
    h, w = q.shape
    region = (np.arange(h) * GRID // h)[:, None] * GRID + (np.arange(w) * GRID // w)[None, :]
    bins = ny * nb * nr
    hist = np.bincount((region * bins + q).ravel(), minlength=GRID * GRID * bins).reshape(GRID * GRID, bins)
    return (hist / hist.sum(axis=1, keepdims=True)).astype(np.float32)


def change(a: np.ndarray, b: np.ndarray) -> float:
    """0 (same colours everywhere) to 1: the median region's share of colours that changed."""
    return float(np.median(0.5 * np.abs(a - b).sum(axis=1)))


def is_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """Whether the sample with signature `current` starts a new shot after the one before it."""
    return previous is not None and change(previous, current) >= CUT
