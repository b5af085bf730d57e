"""DetectLabels' IMAGE_PROPERTIES without a model: quality, dominant colours, foreground/background.

The response follows Rekognition's `DetectLabelsImageProperties`:

    {"Quality": {"Brightness", "Sharpness", "Contrast"},
     "DominantColors": [DominantColor, ...],
     "Foreground": {"Quality": {"Brightness", "Sharpness"}, "DominantColors": [...]},
     "Background": {"Quality": {"Brightness", "Sharpness"}, "DominantColors": [...]}}

Rekognition's guide says Contrast is reported for the entire image only, and Brightness and
Sharpness for the foreground and background too; so are they here. Every figure is 0-100.

Quality (on a copy whose long side is at most 640 px, luma Y' as BT.601 weights it):
- Brightness: the mean luma as a percentage of white (100 * mean(Y') / 255).
- Contrast: the luma's robust spread, 100 * (P98(Y') - P2(Y')) / 255: a picture flattened
  towards its mean scores less; a few specks of black or white do not make a flat one contrasted.
- Sharpness: 100 * (1 - blur), blur being Crété-Roffet et al.'s no-reference blur effect ("The
  blur effect", SPIE 2007, as scikit-image's `blur_effect`): how much of the luma's variation
  between neighbouring pixels survives an 11-tap box blur, the worse of rows and columns. A sharp
  picture loses much of it to the blur (low blur, high sharpness); a blurred one has little left
  to lose. It is a ratio, so exposure and contrast do not change it. A region with no variation
  at all has nothing in focus and scores 0.

Dominant colours: the pixels of a copy of at most 160 px on the long side (sampled by nearest
neighbour, so that no colour is invented by averaging) are binned 4 bits a channel, and the bins'
mean colours clustered by weighted k-means (numpy, k-means++ from a fixed seed) in CIE Lab. Each
cluster is named by the nearest CSS colour in Lab (`faceledger/data/css_colors.csv`), and
clusters that get the same name are merged: as in the responses Rekognition was seen to return,
Red, Green, Blue and HexCode ("#rrggbb", lower case) are the named CSS colour's own values, and
one name appears once. SimplifiedColor is that CSS colour's row in the table; PixelPercent is
the share of the region's pixels. Colours are sorted by PixelPercent, at most `max_colors`. The
picture is clustered once; its foreground and background count their own pixels in the same
clusters (which keeps the three lists consistent, and the call cheap).

Foreground: the union of the given object boxes (Left, Top, Width, Height as fractions of the
picture). Without boxes, a background prior (after Wei et al., "Geodesic saliency using
background priors", ECCV 2012, without the geodesic part): the colours along the picture's border
are taken for the background, and the foreground is what differs plainly from all of them (Lab
distance over Otsu's threshold and over 12), on a 64 px copy. When that finds no region of a
sensible size (under 0.5% or over 80% of the picture, e.g. a plain picture), the foreground is
the central quarter (the middle half of each side), where a photographer puts the subject. A
region with no pixels is left out of the response.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

QUALITY_SIDE = 640  # long side for Brightness, Sharpness, Contrast
COLOR_SIDE = 160  # long side for the colour clusters: about 14,000 pixels of a 16:9 picture
SALIENCY_SIDE = 64
MIN_SALIENT_DELTA_E = 12.0  # Lab distance from every background colour: plainly another colour
KMEANS_CLUSTERS = 20  # Rekognition's most (MaxDominantColors); merged by name afterwards
KMEANS_ITERATIONS = 12
BINS = 1 << 12  # 4 bits a channel
SEED = 0
BLUR_TAPS = 11  # Crété-Roffet's (and scikit-image's) filter length

Box = tuple[float, float, float, float]  # Left, Top, Width, Height as fractions


def image_properties(
    rgb: np.ndarray, foreground_boxes: Sequence[Box] = (), max_dominant_colors: int = 10
) -> dict:
    """Rekognition's ImageProperties for an (H, W, 3) uint8 RGB picture (see the module's doc)."""
    rgb = _as_rgb(rgb)
    # Each measure gets its own copy, shrunk the cheapest way that is fair to it: luma by area
    # averaging, colours by nearest neighbour (a sample of real pixels), saliency from a sample.
    luma = _Luma(_shrink(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), QUALITY_SIDE, cv2.INTER_AREA))
    c_rgb = _shrink(rgb, COLOR_SIDE, cv2.INTER_NEAREST)

    if foreground_boxes:
        q_fg = _boxes_mask(luma.gray.shape, foreground_boxes)
        c_fg = _boxes_mask(c_rgb.shape[:2], foreground_boxes)
    else:
        salient = _salient_mask(_shrink(rgb, 4 * SALIENCY_SIDE, cv2.INTER_NEAREST))
        q_fg = _resize_mask(salient, luma.gray.shape)
        c_fg = _resize_mask(salient, c_rgb.shape[:2])

    colours = _Colours(c_rgb.reshape(-1, 3))  # clustered once; each region counts its pixels
    out = {"Quality": luma.quality(None), "DominantColors": colours.dominant(None, max_dominant_colors)}
    for name, q_mask, c_mask in (("Foreground", q_fg, c_fg), ("Background", ~q_fg, ~c_fg)):
        if not q_mask.any() or not c_mask.any():
            continue
        region_quality = luma.quality(q_mask)
        del region_quality["Contrast"]  # Rekognition reports Contrast for the whole picture only
        out[name] = {
            "Quality": region_quality,
            "DominantColors": colours.dominant(c_mask.ravel(), max_dominant_colors),
        }
    return out


def quality(rgb_or_gray: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Brightness, Sharpness and Contrast (0-100) of a picture, or of the pixels where `mask` is true.

    Measured at the resolution given: image_properties hands it a copy of at most 640 px.
    """
    gray = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(_as_rgb(rgb_or_gray), cv2.COLOR_RGB2GRAY)
    return _Luma(np.clip(gray, 0, 255).astype(np.uint8)).quality(mask)


def dominant_colors(rgb_pixels_or_region: np.ndarray, max_colors: int = 10) -> list[dict]:
    """Rekognition's DominantColors of an (H, W, 3) region or (N, 3) pixels, uint8 RGB.

    For Instances' DominantColors, pass the instance's crop (see `box_dominant_colors`).
    """
    pixels = np.asarray(rgb_pixels_or_region)
    if pixels.ndim == 3:
        pixels = _shrink(_as_rgb(pixels), COLOR_SIDE, cv2.INTER_NEAREST).reshape(-1, 3)
    elif not (pixels.ndim == 2 and pixels.shape[1] == 3):
        raise ValueError(f"expected (H, W, 3) or (N, 3) RGB, got shape {pixels.shape}")
    return _Colours(_as_rgb(pixels[None]).reshape(-1, 3)).dominant(None, max_colors)


def box_dominant_colors(rgb: np.ndarray, box: Box, max_colors: int = 10) -> list[dict]:
    """DominantColors of the part of `rgb` inside a BoundingBox (fractions); [] if it is empty."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _box_pixels(box, w, h)
    if x1 <= x0 or y1 <= y0:
        return []
    return dominant_colors(rgb[y0:y1, x0:x1], max_colors)


# -- colours --------------------------------------------------------------------------------


class _Colours:
    """(N, 3) uint8 pixels binned, the bins clustered in Lab, each cluster named by the palette."""

    def __init__(self, rgb: np.ndarray):
        # 4 bits a channel: at most 4,096 weighted bins to cluster instead of every pixel (noise
        # fills them all); a bin's mean, not its centre, keeps a flat colour exact.
        q = rgb >> 4
        self.key = (q[:, 0].astype(np.int32) << 8) | (q[:, 1].astype(np.int32) << 4) | q[:, 2]
        counts = np.bincount(self.key, minlength=BINS)
        self.occupied = np.flatnonzero(counts)
        self.css = np.zeros(0, int)  # the palette index of each occupied bin
        if len(self.occupied) == 0:
            return
        n = counts[self.occupied].astype(np.float64)
        means = np.stack(
            [np.bincount(self.key, weights=rgb[:, c], minlength=BINS)[self.occupied] / n for c in range(3)],
            axis=1,
        )
        lab = _lab(means[None]).reshape(-1, 3)
        centres = _kmeans(lab, n, KMEANS_CLUSTERS)
        palette = _palette()
        css_of_centre = np.argmin(((centres[:, None, :] - palette.lab[None]) ** 2).sum(-1), axis=1)
        self.css = css_of_centre[_nearest(lab, centres)]

    def dominant(self, mask: np.ndarray | None, max_colors: int) -> list[dict]:
        """DominantColors of the pixels where `mask` (flat, one per pixel) is true, or of all."""
        key = self.key if mask is None else self.key[mask]
        if max_colors <= 0 or len(key) == 0:
            return []
        palette = _palette()
        in_bins = np.bincount(key, minlength=BINS)[self.occupied]
        totals = np.bincount(self.css, weights=in_bins, minlength=len(palette.names))
        order = [i for i in np.argsort(-totals, kind="stable") if totals[i] > 0][:max_colors]
        return [
            {
                "Red": int(palette.rgb[i][0]),
                "Green": int(palette.rgb[i][1]),
                "Blue": int(palette.rgb[i][2]),
                "HexCode": palette.hex[i],
                "CSSColor": palette.names[i],
                "SimplifiedColor": palette.simplified[i],
                "PixelPercent": float(100.0 * totals[i] / len(key)),
            }
            for i in order
        ]


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Weighted Lloyd's k-means, k-means++ seeding from a fixed seed: the centres that hold weight."""
    points = points.astype(np.float32)
    if len(points) <= k:
        return points
    rng = np.random.default_rng(SEED)
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    dist = ((points - centres[0]) ** 2).sum(1)
    for _ in range(k - 1):
        p = dist * weights
        if p.sum() <= 0:
            break
        centres.append(points[rng.choice(len(points), p=p / p.sum())])
        dist = np.minimum(dist, ((points - centres[-1]) ** 2).sum(1))
    centres = np.array(centres)
    for _ in range(KMEANS_ITERATIONS):
        label = _nearest(points, centres)
        counts = np.bincount(label, weights=weights, minlength=len(centres))
        sums = np.stack(
            [np.bincount(label, weights=points[:, c] * weights, minlength=len(centres)) for c in range(3)],
            axis=1,
        )
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-9)[:, None], centres)
        moved = moved.astype(np.float32)
        shift = float(np.abs(moved - centres).max())
        centres = moved
        if shift < 0.1:  # a tenth of a Lab unit: far below a visible difference
            break
    counts = np.bincount(_nearest(points, centres), weights=weights, minlength=len(centres))
    return centres[counts > 0]


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, without the (N, K, 3) intermediate
    d = (centres**2).sum(1)[None, :] - 2.0 * points @ centres.T
    return np.argmin(d, axis=1)


class _Palette:
    def __init__(self, rows: list[dict]):
        self.names = [r["name"] for r in rows]
        self.hex = [r["hex"].lower() for r in rows]
        self.simplified = [r["simplified"] for r in rows]
        self.rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in self.hex], np.uint8)
        self.lab = _lab(self.rgb[None]).reshape(-1, 3)


@lru_cache(maxsize=1)
def _palette() -> _Palette:
    text = resources.files("faceledger").joinpath("data/css_colors.csv").read_text(encoding="utf-8")
    return _Palette(list(csv.DictReader(text.splitlines())))


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L 0-100, a and b about -128..127) of 0-255 sRGB, through OpenCV's float path."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


# -- quality --------------------------------------------------------------------------------


class _Luma:
    """One picture's luma and Crété-Roffet's per-pixel maps, measured once for every region."""

    def __init__(self, gray: np.ndarray):
        self.gray = gray
        g = gray.astype(np.float32)
        # For each axis: |difference| between neighbours, and how much of it the blur removes.
        self.maps = []
        for axis in (0, 1):
            ksize = (1, BLUR_TAPS) if axis == 0 else (BLUR_TAPS, 1)
            blurred = cv2.blur(g, ksize, borderType=cv2.BORDER_REFLECT)
            d_image = np.abs(np.diff(g, axis=axis))
            lost = np.maximum(0.0, d_image - np.abs(np.diff(blurred, axis=axis)))
            self.maps.append((d_image, lost))

    def quality(self, mask: np.ndarray | None) -> dict:
        m8 = None if mask is None else mask.astype(np.uint8)
        hist = cv2.calcHist([self.gray], [0], m8, [256], [0, 256]).ravel()
        n = hist.sum()
        if n == 0:
            raise ValueError("the mask selects no pixel")
        cdf = np.cumsum(hist) / n
        low, high = np.searchsorted(cdf, 0.02), np.searchsorted(cdf, 0.98)
        return {
            "Brightness": _percent(float(hist @ np.arange(256)) / n / 255.0),
            "Sharpness": _percent(1.0 - self._blur(m8)),
            "Contrast": _percent((high - low) / 255.0),
        }

    def _blur(self, m8: np.ndarray | None) -> float:
        """Crété-Roffet's blur in [0, 1] over the region; 1 where nothing varies."""
        worst, varied = 0.0, False
        for axis, (d_image, lost) in enumerate(self.maps):
            pairs = None
            if m8 is not None:
                pairs = (
                    cv2.bitwise_and(m8[1:], m8[:-1]) if axis == 0 else cv2.bitwise_and(m8[:, 1:], m8[:, :-1])
                )
                if not cv2.countNonZero(pairs):
                    continue
            total = cv2.mean(d_image, pairs)[0]
            if total <= 0.0:
                continue
            varied = True
            worst = max(worst, (total - cv2.mean(lost, pairs)[0]) / total)
        return worst if varied else 1.0


# -- foreground -----------------------------------------------------------------------------


def _boxes_mask(shape: tuple[int, int], boxes: Sequence[Box]) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), bool)
    for box in boxes:
        x0, y0, x1, y1 = _box_pixels(box, w, h)
        mask[y0:y1, x0:x1] = True
    return mask


def _box_pixels(box, w: int, h: int) -> tuple[int, int, int, int]:
    """A BoundingBox's pixel span, clipped to the picture; a box under a pixel keeps one."""
    if isinstance(box, dict):
        box = (box["Left"], box["Top"], box["Width"], box["Height"])
    left, top, width, height = (float(v) for v in box)
    eps = 1e-6  # 0.2 + 0.4 is 0.6000000000000001: no extra row for a float's last bit
    x0 = int(np.clip(np.floor(left * w + eps), 0, w))
    y0 = int(np.clip(np.floor(top * h + eps), 0, h))
    x1 = int(np.clip(np.ceil((left + width) * w - eps), 0, w))
    y1 = int(np.clip(np.ceil((top + height) * h - eps), 0, h))
    if width > 0 and height > 0 and x0 < w and y0 < h:
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    return x0, y0, x1, y1


def _salient_mask(rgb: np.ndarray) -> np.ndarray:
    """The salient region on a SALIENCY_SIDE square, or its central quarter when there is none.

    Background prior: the colours along the picture's border (clustered, a cluster under 10% of
    the border being taken for an object that touches it) are the background; a pixel's saliency
    is its Lab distance to the nearest of them, cut by Otsu's threshold and never under
    MIN_SALIENT_DELTA_E, so that grain on a plain picture is no object.
    """
    side, ring = SALIENCY_SIDE, SALIENCY_SIDE // 16
    lab = _lab(cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA))
    border = np.ones((side, side), bool)
    border[ring:-ring, ring:-ring] = False
    edge = lab[border]
    centres = _kmeans(edge, np.ones(len(edge)), 6)
    counts = np.bincount(_nearest(edge, centres), minlength=len(centres))
    background = centres[counts >= 0.1 * len(edge)]
    points = lab.reshape(-1, 3)
    distance = np.sqrt(((points[:, None, :] - background[None]) ** 2).sum(-1).min(1)).reshape(side, side)
    distance = cv2.GaussianBlur(distance.astype(np.float32), (0, 0), 1.0)
    scaled = np.clip(distance * (255.0 / max(float(distance.max()), 1e-6)), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    salient = (scaled > otsu) & (distance > MIN_SALIENT_DELTA_E)
    if 0.005 <= salient.mean() <= 0.8:
        return salient
    q = side // 4
    mask = np.zeros((side, side), bool)
    mask[q : side - q, q : side - q] = True
    return mask


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST) > 0


# -- helpers --------------------------------------------------------------------------------


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB picture, got shape {rgb.shape}")
    rgb = rgb[:, :, :3]
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _shrink(rgb: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=interpolation)


def _percent(fraction: float) -> float:
    return float(np.clip(100.0 * fraction, 0.0, 100.0))
