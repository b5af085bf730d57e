"""Finer labels from an ImageNet-1k classifier (EfficientNet-Lite0, efficientnet_onnx.py): dog
breeds, a few animals, foods, objects and the handful of scene classes ImageNet has (seashore,
lakeside, alp, valley, volcano, coral reef...).

faceledger/data/imagenet_labels.csv maps the classes that name a Rekognition-style label cleanly;
the rest stay unmapped and never become labels. A label's confidence is the softmax summed over
the classes mapped to it (three poodle classes are one Poodle), never over its descendants': with
no person class in ImageNet, a portrait spreads its mass over dogs and apes, and summed up the
line (all 118 breeds into Dog, everything into Animal) that made a face 80% Animal on LFW photos.

Preprocessing follows TensorFlow's EfficientNet evaluation (preprocessing.py's centre crop with a
32-pixel padding): the centre square of 224/256 of the shorter side, resized to 224x224 bicubic.
The input is (x - 127) / 128 (in the graph), as TensorFlow trained the Lite models: on pictures,
it gave more confident right answers than torchvision's ImageNet mean and std (Chelsea: tiger
cat 39%, Egyptian 36%, tabby 18% against 24/35/28%; coffee: espresso 93% against 84%).

The network is the installed set's "efficientnet-lite0" (`faceledger models install` converts
it; model_store.py verifies it like every model). A set installed before the classifier joined it
has none: then the package's weights are converted here on first use (~3 s), kept in this
process's memory and never written.

ImageNet's class order and names (faceledger/data/imagenet_labels.csv, columns wnid and
imagenet_name) are timm 1.0.31's data/_info/imagenet_synsets.txt and
imagenet_synset_to_lemma.txt (Apache-2.0); the label column is ours.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import numpy as np

from . import efficientnet_onnx, model_store, onnx_sessions

CROP_FRACTION = 224 / (224 + 32)
CLASSIFIER_VERSION = "efficientnet-lite0-imagenet1k"


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The Rekognition label of each ImageNet class index ("" when it has none)."""
    path = resources.files("faceledger").joinpath("data/imagenet_labels.csv")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if [int(r["index"]) for r in rows] != list(range(1000)):
        raise ValueError("imagenet_labels.csv must list the 1000 classes in order")
    return tuple(r["label"] for r in rows)


@cache
def _label_matrix() -> tuple[tuple[str, ...], np.ndarray]:
    """Label names and a (1000, labels) 0/1 matrix: class i counts towards label j when j is the
    class's label."""
    per_class = imagenet_labels()
    names = sorted({label for label in per_class if label})
    column = {n: j for j, n in enumerate(names)}
    matrix = np.zeros((len(per_class), len(names)), dtype=np.float32)
    for i, label in enumerate(per_class):
        if label:
            matrix[i, column[label]] = 1.0
    return tuple(names), matrix


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """The network's input for a picture: uint8 [224, 224, 3] RGB."""
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB picture, not shape {rgb.shape}")
    h, w = rgb.shape[:2]
    side = max(1, int(round(CROP_FRACTION * min(h, w))))
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(np.ascontiguousarray(rgb[top : top + side, left : left + side], dtype=np.uint8))
    size = efficientnet_onnx.SIDE
    # reducing_gap: a box reduction first, then bicubic: a 1254-pixel crop in 7-10 ms, not 16
    return np.asarray(crop.resize((size, size), Image.BICUBIC, reducing_gap=2.0), dtype=np.uint8)


def model() -> str | bytes:
    """The classifier's ONNX model: the installed set's file (verified against its manifest), or,
    when the set has none (installed before the classifier joined it, or no set at all), the
    pinned weights converted in memory. ModelsUnavailable when the set's file is damaged;
    ImportError when there is neither it nor the weights' package."""
    try:
        return str(model_store.onnx_path(model_store.CLASSIFIER))
    except model_store.ModelsUnavailable:
        manifest = model_store.installed()
        if manifest is not None and model_store.CLASSIFIER in manifest["models"]:
            raise  # in the set but damaged, or of another version: as for every installed model
    return _converted_in_memory()


@cache
def _converted_in_memory() -> bytes:
    pth = model_store.classifier_weights()
    return efficientnet_onnx.convert(pth, model_store.CLASSIFIER_SHA256).SerializeToString()


def logits(images: np.ndarray, threads: int | None = None) -> np.ndarray:
    """ImageNet-1k logits of uint8 [N, 224, 224, 3] RGB pictures (onnx_sessions.py's session
    cache and thread budget)."""
    side = efficientnet_onnx.SIDE
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (side, side, 3):
        raise ValueError(f"images must be N x {side} x {side} x 3, not {images.shape}")
    return onnx_sessions.session_of(model(), threads).run(None, {"image": images})[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def classify(
    rgb: np.ndarray, *, threads: int | None = None, min_confidence: float = 1.0
) -> list[tuple[str, float]]:
    """(Rekognition label, confidence 0-100) for a picture, most confident first, labels under
    min_confidence left out. ImportError when the classifier's package is not installed."""
    probs = softmax(logits(preprocess(rgb)[None], threads)[0].astype(np.float64))
    names, matrix = _label_matrix()
    scores = 100.0 * (probs @ matrix)
    out = [(names[j], float(s)) for j, s in enumerate(scores) if s >= min_confidence]
    out.sort(key=lambda x: (-x[1], x[0]))
    return out
