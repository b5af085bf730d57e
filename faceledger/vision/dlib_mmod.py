"""dlib's MMOD face detector around its ONNX graph: the image pyramid it looks at and the decoding
of its output map into boxes, as dlib's input_rgb_image_pyramid and loss_mmod do them.

dlib (input.h, image_pyramid.h) builds one tensor holding every level of a pyramid_down<6>
pyramid: the picture, (pixel - mean) / 256, in a first column of tiles, the smaller levels in a
second column beside them, 10 pixels of zeros between tiles and 11 around. Each level is resized
from the one above with tt::resize_bilinear. The network runs once over the whole tiled image;
every output cell scoring above 0 is an 80x80 window (in the tile's pixels) centred on the
cell's input pixel, mapped back from its tile to the picture; the windows, strongest first, go
through non-max suppression. The upsampling asked of cnn_face_detection_model_v1 is dlib's
pyramid_up, and boxes are mapped back down the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from .dlib_onnx import output_to_input, read, session
from .dlib_serialize import MMOD_FILE


@dataclass(frozen=True)
class MmodConfig:
    mean: np.ndarray  # the input layer's channel means (R, G, B)
    padding: int  # between the pyramid's tiles
    outer_padding: int  # around them
    windows: tuple[tuple[int, int], ...]  # (width, height) of each detector window, one per channel
    scale: np.ndarray  # output cell -> input pixel: p_in = p_out * scale + offset, per axis (y, x)
    offset: np.ndarray
    nms_iou: float
    nms_covered: float
    min_size: int  # the smallest input (rows or columns) every convolution has room in
    pyramid_n: int = 6  # pyramid_down<6>: each level 5/6 of the one above


@cache
def mmod_config() -> MmodConfig:
    from .models import weights_path

    net = read(weights_path(MMOD_FILE), MMOD_FILE)
    scale, offset = output_to_input(net)
    return MmodConfig(
        mean=np.array(net.input["mean_rgb"], dtype=np.float32),
        padding=net.input["padding"],
        outer_padding=net.input["outer_padding"],
        windows=tuple((w, h) for w, h, _ in net.loss["windows"]),
        scale=scale,
        offset=offset,
        nms_iou=net.loss["nms_iou"],
        nms_covered=net.loss["nms_percent_covered"],
        min_size=_min_size(net),
    )


def _min_size(net) -> int:
    convs = [
        (layer.params["weight"].shape[2], layer.params["stride"][0], layer.params["pad"][0])
        for layer in net.layers
        if layer.kind == "con"
    ]
    for size in range(1, 10_000):
        n = size
        for k, stride, pad in convs:
            if n + 2 * pad < k:
                break
            n = 1 + (n + 2 * pad - k) // stride
        else:
            return size
    raise ValueError("no input size fits the network")


def pyramid_rects(nr: int, nc: int, padding: int, outer: int, n: int = 6) -> tuple[list, int, int]:
    """Where each level of a pyramid_down<n> pyramid of an nr x nc image goes in dlib's tiled
    image, as (left, top, right, bottom) inclusive, and the tiled image's size (rows, cols):
    dlib's compute_tiled_image_pyramid_details (image_pyramid.h)."""
    rate = (n - 1.0) / n
    sizes = [(nc, nr)]  # (width, height)
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nc, nr))
    w0, h0 = sizes[0]
    total_height = sum(h + padding for _, h in sizes) - 2 * padding
    height, prev_width = 0, 0
    for w, h in sizes:  # the first column goes down until the rest fits beside it
        if w <= w0 - prev_width - padding and (height - h0) * 2 >= total_height - h0:
            break
        height += h + padding
        prev_width = w
    height -= padding
    rects = []
    y = outer
    i = 0
    while y < height + outer and i < len(sizes):
        w, h = sizes[i]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    while i < len(sizes):  # the second column, right-aligned, from the bottom up
        w, h = sizes[i]
        rect = (outer + w0 - w, y - h, outer + w0 - 1, y - 1)
        first = rects[0]
        if max(first[0], rect[0]) <= min(first[2], rect[2]) and max(first[1], rect[1]) <= min(
            first[3], rect[3]
        ):
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, height + 2 * outer, w0 + 2 * outer


def _bilinear(src: np.ndarray, rows: int, cols: int, integer: bool) -> np.ndarray:
    """[C, H, W] resized to rows x cols as dlib's resize_image(in, out, interpolate_bilinear) does
    for an image and an output of the same pixel type (interpolation.h): corners aligned (a
    source position is r * (H-1)/(rows-1)), row positions summed up in double; columns four at a
    time in float32 (positions stepped by 4 * (W-1)/(cols-1) in float32, weights multiplied out
    in float32) while the fourth column's right neighbour exists, the rest one by one in double.
    `integer`: uint8 pixels, the result truncated (the RGB version); else float planes (the
    version tt::resize_bilinear runs on the pyramid's tensor)."""
    chans, h, w = src.shape
    if rows <= 1 or cols <= 1:
        return np.zeros((chans, max(rows, 0), max(cols, 0)), np.uint8 if integer else np.float32)
    ys = (h - 1) / (rows - 1)
    y = np.cumsum(np.concatenate([[-ys], np.full(rows, ys)]))[1:]
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, h - 1)
    tb = y - top
    xs = (w - 1) / (cols - 1)
    lanes = np.array([-4 * xs, -3 * xs, -2 * xs, -xs], dtype=np.float32)
    step = np.float32(4 * xs)
    groups = []
    while 4 * (len(groups) + 1) <= cols:
        lanes = lanes + step
        if int(lanes[3]) + 1 >= w:
            break
        groups.append(lanes)
    n = 4 * len(groups)
    srcf = np.ascontiguousarray(src, dtype=np.float32)
    out = np.empty((chans, rows, cols), np.float64 if integer else np.float32)
    if n:
        x = np.concatenate(groups)
        left = x.astype(np.int64)
        lr = x - left.astype(np.float32)
        ilr = np.float32(1) - lr
        tbf, itb = tb.astype(np.float32)[:, None], (1 - tb).astype(np.float32)[:, None]
        weights = (itb * ilr, itb * lr, tbf * ilr, tbf * lr)  # top-left, top-right, bottom-left, -right
        at_top, at_bottom = (top * w)[:, None] + left, (bottom * w)[:, None] + left
        where = (at_top, at_top + 1, at_bottom, at_bottom + 1)  # flat indices into a plane
        acc, tmp = np.empty((rows, n), np.float32), np.empty((rows, n), np.float32)
        for c in range(chans):
            plane = srcf[c].ravel()
            np.take(plane, where[0], out=acc)
            acc *= weights[0]
            for k in (1, 2, 3):  # ((tl + tr) + bl) + br, in float32
                np.take(plane, where[k], out=tmp)
                tmp *= weights[k]
                acc += tmp
            out[c, :, :n] = acc
    if n < cols:
        x = np.cumsum(np.concatenate([[-xs + n * xs], np.full(cols - n, xs)]))[1:]  # x += xs, in turn
        left = np.floor(x).astype(np.int64)
        right = np.minimum(left + 1, w - 1)
        t = tb[:, None]
        tl, tr = srcf[:, top[:, None], left], srcf[:, top[:, None], right]
        bl, br = srcf[:, bottom[:, None], left], srcf[:, bottom[:, None], right]
        if integer:  # all in double
            lr = x - left
            tl, tr, bl, br = (v.astype(np.float64) for v in (tl, tr, bl, br))
        else:  # the weights along x in float32, the blend of the two rows in double
            lr = (x - left).astype(np.float32)
        upper = (1 - lr) * tl + lr * tr
        lower = (1 - lr) * bl + lr * br
        out[:, :, n:] = (1 - t) * upper.astype(np.float64) + t * lower.astype(np.float64)
    return np.trunc(out).astype(np.uint8) if integer else out


def resize_tensor(src: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A [C, H, W] float plane resized as dlib's tt::resize_bilinear does it on the CPU."""
    return _bilinear(src, rows, cols, integer=False)


def tiled_pyramid(rgb: np.ndarray, cfg: MmodConfig) -> tuple[np.ndarray, list]:
    """The network's input, [1, 3, rows, cols], as input_rgb_image_pyramid::to_tensor builds it:
    zeros, the picture as (pixel - mean) / 256 in the first tile, and each further level resized
    from the one before it."""
    h, w = rgb.shape[:2]
    rects, rows, cols = pyramid_rects(h, w, cfg.padding, cfg.outer_padding, cfg.pyramid_n)
    data = np.zeros((3, rows, cols), dtype=np.float32)
    norm = (rgb.astype(np.float32) - cfg.mean) / np.float32(256)
    l0, t0, r0, b0 = rects[0]
    data[:, t0 : b0 + 1, l0 : r0 + 1] = norm.transpose(2, 0, 1)
    for (pl, pt, pr, pb), (ql, qt, qr, qb) in zip(rects, rects[1:]):
        data[:, qt : qb + 1, ql : qr + 1] = resize_tensor(
            data[:, pt : pb + 1, pl : pr + 1], qb - qt + 1, qr - ql + 1
        )
    return data[None], rects


def pyramid_up(rgb: np.ndarray) -> np.ndarray:
    """dlib's pyramid_up(img) with pyramid_down<2> (cnn_face_detection_model_v1's upsampling): the
    image resized to (2 rows + 1) x (2 cols + 2), the size of pyramid_down<2>::rect_up of its
    rectangle ((p + (1.25, 0.75)) * 2, rounded), by the RGB version of dlib's bilinear resize."""
    h, w = rgb.shape[:2]
    return _bilinear(rgb.transpose(2, 0, 1), 2 * h + 1, 2 * w + 2, integer=True).transpose(1, 2, 0)


def _nearest_rect(rects: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """dlib's nearest_rect for each point: the first rectangle holding it, else the closest."""
    left, top, right, bottom = (rects[:, i][None, :] for i in range(4))
    x, y = px[:, None], py[:, None]
    inside = (x >= left) & (x <= right) & (y >= top) & (y <= bottom)
    dist = np.hypot(np.clip(x, left, right) - x, np.clip(y, top, bottom) - y)
    return np.where(inside.any(axis=1), inside.argmax(axis=1), dist.argmin(axis=1))


def _round(v):
    return np.floor(np.asarray(v, dtype=np.float64) + 0.5).astype(np.int64)  # drectangle -> rectangle


def _area(rect) -> float:
    left, top, right, bottom = rect
    return float(max(0, right - left + 1) * max(0, bottom - top + 1))


def _overlaps(a, b, iou: float, covered: float) -> bool:
    """dlib's test_box_overlap: the intersection over the two boxes' bounding box, or over either."""
    inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / _area(a) > covered or inner / _area(b) > covered


def windows(scores: np.ndarray, rects: list, cfg: MmodConfig, level: int | None = None, threshold=0.0):
    """loss_mmod's tensor_to_dets: every output cell scoring above `threshold` is a detector window
    centred on the cell's input pixel (centered_drect), mapped from its pyramid tile back to the
    picture (tiled_pyramid_to_image: the nearest tile, then pyramid_down<n>::point_up once per
    level). `level` forces the level, for a map of one tile. Returns the boxes (left, top, right,
    bottom; floats) and their scores, strongest first."""
    ks, rs, cs = np.nonzero(scores > threshold)
    values = scores[ks, rs, cs].astype(np.float64)
    order = np.argsort(-values, kind="stable")
    ks, rs, cs, values = ks[order], rs[order], cs[order], values[order]
    py = rs * cfg.scale[0] + cfg.offset[0]
    px = cs * cfg.scale[1] + cfg.offset[1]
    tiles = np.array(rects, dtype=np.float64)
    if level is None:
        levels = _nearest_rect(tiles, _round(px), _round(py))
        origin = tiles[levels, :2]
    else:
        levels = np.full(len(values), level)
        origin = np.broadcast_to(tiles[0, :2], (len(values), 2))  # the one tile given
    half_w = (np.array([cfg.windows[k][0] for k in ks], dtype=np.float64) - 1) / 2
    half_h = (np.array([cfg.windows[k][1] for k in ks], dtype=np.float64) - 1) / 2
    box = np.stack([px - half_w, py - half_h, px + half_w, py + half_h], axis=1)
    box = box - np.concatenate([origin, origin], axis=1)
    ratio = cfg.pyramid_n / (cfg.pyramid_n - 1.0)
    for lv in range(1, int(levels.max(initial=0)) + 1):
        up = levels >= lv
        box[up] = box[up] * ratio + 0.3
    return box, values


def suppress(boxes: np.ndarray, scores: np.ndarray, cfg: MmodConfig) -> list:
    """loss_mmod's non-max suppression over windows sorted strongest first: each is kept unless it
    overlaps one kept before. Returns (left, top, right, bottom, score): dlib's inclusive integer
    rectangle (rounded from the window) and its score."""
    kept: list = []
    for rect, score in zip(_round(boxes), scores):
        rect = tuple(int(v) for v in rect)
        if any(_overlaps(k[:4], rect, cfg.nms_iou, cfg.nms_covered) for k in kept):
            continue
        kept.append((*rect, float(score)))
    return kept


def mmod_scores(image: np.ndarray, threads: int | None = None) -> np.ndarray:
    """The network's output map, [windows, H', W'], of one input tensor [1, 3, H, W] (no cells
    when the tensor is too small for the network)."""
    if min(image.shape[2:]) < mmod_config().min_size:
        return np.zeros((len(mmod_config().windows), 0, 0), np.float32)
    sess = session(MMOD_FILE, threads)
    return sess.run(None, {"image": np.ascontiguousarray(image, dtype=np.float32)})[0][0]


def mmod_detect(rgb: np.ndarray, upsample: int = 0, threads: int | None = None, tiled: bool = True) -> list:
    """What dlib.cnn_face_detection_model_v1(...)(rgb, upsample) finds, as (left, top, right + 1,
    bottom + 1, score) in the pixels of `rgb` (RGB, or grey). `tiled=False` runs each pyramid
    level as a picture of its own instead of dlib's tiling of them into one image (to measure what
    the tiling changes)."""
    cfg = mmod_config()
    work = np.asarray(rgb)
    work = np.ascontiguousarray(
        np.repeat(work[..., None], 3, axis=2) if work.ndim == 2 else work[..., :3], np.uint8
    )
    for _ in range(upsample):
        work = pyramid_up(work)
    if work.shape[0] < 1 or work.shape[1] < 1:
        return []
    if tiled:
        image, rects = tiled_pyramid(work, cfg)
        found = suppress(*windows(mmod_scores(image, threads), rects, cfg), cfg)
    else:
        found = _detect_levels(work, cfg, threads)
    out = []
    for left, top, right, bottom, score in found:
        box = np.array([left, top, right, bottom], dtype=np.float64)
        for _ in range(upsample):  # pyramid_down<2>::rect_down
            box = box / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
        left, top, right, bottom = (int(v) for v in _round(box))
        out.append((left, top, right + 1, bottom + 1, score))
    return out


def _detect_levels(rgb: np.ndarray, cfg: MmodConfig, threads: int | None) -> list:
    """Each pyramid level run alone instead: framed by the tiled image's outer margin of zeros,
    widened on the top and left so that the level sits on the same phase of the network's stride
    (8 pixels) as its tile does (else its windows would be sampled 0-7 pixels apart from dlib's).
    The windows of all levels then go through one non-max suppression, strongest first."""
    full, rects = tiled_pyramid(rgb, cfg)
    o = cfg.outer_padding
    sy, sx = (int(v) for v in cfg.scale)
    boxes, scores = [], []
    for level, (left, top, right, bottom) in enumerate(rects):
        my, mx = o + (top - o) % sy, o + (left - o) % sx
        h, w = bottom - top + 1, right - left + 1
        image = np.zeros((1, 3, my + h + o, mx + w + o), np.float32)
        image[0, :, my : my + h, mx : mx + w] = full[0, :, top : bottom + 1, left : right + 1]
        tile = [(mx, my, mx + w - 1, my + h - 1)]
        b, s = windows(mmod_scores(image, threads), tile, cfg, level)
        boxes.append(b)
        scores.append(s)
    box, score = np.concatenate(boxes), np.concatenate(scores)
    order = np.argsort(-score, kind="stable")
    return suppress(box[order], score[order], cfg)
