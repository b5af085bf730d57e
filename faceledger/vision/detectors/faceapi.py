"""face-api.js's face detectors (@vladmandic/face-api 1.7.15, MIT), on ONNX graphs that
faceapi_graphs.py builds from the package's weights; their decoding here in numpy.

- ssd-mobilenetv1: SSD with a MobileNetV1 body, 512x512 (fixed: the priors are part of the
  weights), trained on WIDER FACE by yeephycho. Priors are (ymin, xmin, ymax, xmax) fractions,
  encodings (ty, tx, th, tw) scaled by (10, 10, 5, 5); the face score is sigmoid of class 1.
  Input RGB scaled to [-1, 1]. face-api's NMS: plain, IoU 0.5.
- tiny-face-detector: Tiny-YOLOv2 with depthwise-separable convolutions, fully convolutional
  (sides multiples of 32; face-api's default input is 416), 5 anchor boxes per 32 px cell:
  centre (col + sigmoid(tx), row + sigmoid(ty)) cells, size exp(tw, th) x the anchor's cells,
  score sigmoid. Input RGB less face-api's mean pixel, / 255. face-api's NMS: plain, IoU 0.4.

Neither gives keypoints.
"""

from __future__ import annotations

import numpy as np

from .common import Candidates, OnnxDetector, session, sigmoid

SSD_SIZE = 512
SSD_SCALE_FACTORS = np.array([10.0, 10.0, 5.0, 5.0])

TINY_CELL = 32
TINY_ANCHORS = np.array(
    [
        [1.603231, 2.094468],
        [6.041143, 7.080126],
        [2.882459, 3.518061],
        [4.266906, 5.178857],
        [9.041765, 10.66308],
    ]
)
TINY_MEAN_RGB = np.array([117.001, 114.697, 97.404], np.float32)


def ssd_normalise(tiles: np.ndarray) -> np.ndarray:
    return tiles.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def ssd_decode(encodings: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """(ymin, xmin, ymax, xmax) fractions of the input, from encodings [A, 4] on priors [A, 4]."""
    ha, wa = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    yc, xc = priors[:, 0] + ha / 2, priors[:, 1] + wa / 2
    t = encodings.astype(np.float64) / SSD_SCALE_FACTORS
    y, x = t[:, 0] * ha + yc, t[:, 1] * wa + xc
    h, w = np.exp(t[:, 2]) * ha, np.exp(t[:, 3]) * wa
    return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], 1)


def tiny_normalise(img: np.ndarray) -> np.ndarray:
    return (img.astype(np.float32) - TINY_MEAN_RGB) / np.float32(255.0)


def tiny_decode(out: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x0, y0, x1, y1) in input pixels and scores, from one output [gh, gw, 25]."""
    gh, gw = out.shape[:2]
    t = out.reshape(gh, gw, len(TINY_ANCHORS), 5).astype(np.float64)
    scores = sigmoid(t[..., 4])
    rows, cols, k = np.nonzero(scores >= min_score)
    v = t[rows, cols, k]
    cx = (cols + sigmoid(v[:, 0])) * TINY_CELL
    cy = (rows + sigmoid(v[:, 1])) * TINY_CELL
    w = np.exp(v[:, 2]) * TINY_ANCHORS[k, 0] * TINY_CELL
    h = np.exp(v[:, 3]) * TINY_ANCHORS[k, 1] * TINY_CELL
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), scores[rows, cols, k]


class SsdMobilenetV1Detector(OnnxDetector):
    """face-api's SSD MobileNetV1 (WIDER FACE), 512x512 tiles; no keypoints."""

    name = "ssd-mobilenetv1"
    model = "ssd-mobilenetv1"
    native = SSD_SIZE
    face_range = (20.0, 400.0)
    default_min_score = 0.5
    iou = 0.5
    batch = 4

    def _infer(self, inputs):
        sess = session(self.model)
        enc, logits, priors = sess.run(None, {"input": ssd_normalise(np.stack(inputs))})
        out = []
        for e, g in zip(enc, logits):
            scores = sigmoid(g[:, 1].astype(np.float64))
            keep = scores >= self.min_score
            boxes = np.clip(ssd_decode(e[keep], priors[keep]), 0.0, 1.0) * SSD_SIZE
            out.append(Candidates(boxes[:, [1, 0, 3, 2]], scores[keep], np.zeros((int(keep.sum()), 0, 2))))
        return out


class TinyFaceDetector(OnnxDetector):
    """face-api's tiny face detector, fully convolutional, on the whole picture at the scale that
    brings Rekognition's smallest face to about 40 px, and coarser scales for larger faces; no
    keypoints."""

    name = "tiny-face-detector"
    model = "tiny-face-detector"
    native = None
    face_range = (48.0, 240.0)
    whole_side = 416  # face-api's default input size
    default_min_score = 0.6
    iou = 0.4

    def _infer(self, inputs):
        sess = session(self.model)
        out = []
        for img in inputs:
            h, w = img.shape[:2]
            ph, pw = -(-h // TINY_CELL) * TINY_CELL, -(-w // TINY_CELL) * TINY_CELL
            padded = np.zeros((ph, pw, 3), np.uint8)
            padded[:h, :w] = img
            raw = sess.run(None, {"input": tiny_normalise(padded)[None]})[0][0]
            boxes, scores = tiny_decode(raw, self.min_score)
            out.append(Candidates(boxes, scores, np.zeros((len(scores), 0, 2))))
        return out
