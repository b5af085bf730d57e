"""Which of Rekognition's face attributes the models can estimate, and filling them in.

An attribute faceledger has no model for is left out of responses and named, with the reason,
in the response's FaceLedger member; so is one whose model is not installed.
"""

from __future__ import annotations

import numpy as np

from . import face_models, model_store

# Rekognition's attribute names -> the model that estimates them.
MODEL_OF = {
    "AGE_RANGE": "faceres",
    "GENDER": "faceres",
    "EMOTIONS": "emotion",
    "SMILE": "emotion",
    "EYE_DIRECTION": "iris",
}
NO_MODEL = ("BEARD", "EYEGLASSES", "FACE_OCCLUDED", "MUSTACHE", "SUNGLASSES")
NO_MODEL_REASON = "faceledger has no model that estimates it, so it is left out rather than guessed"
# The liveness score (0-100) below which a face is judged not live: see the README's figures.
LIVENESS_THRESHOLD = 40.0
# Smile is read from the expression model: a face smiles when HAPPY is its likelier reading.
SMILE_THRESHOLD = 0.5


def wanted_models(attributes: set[str]) -> dict[str, set[str]]:
    """model -> the attributes asked for that it estimates."""
    names = set(MODEL_OF) if "ALL" in attributes else attributes & set(MODEL_OF)
    out: dict[str, set[str]] = {}
    for a in names:
        out.setdefault(MODEL_OF[a], set()).add(a)
    return out


def unavailable(attributes: set[str]) -> list[dict]:
    """[{Attribute, Reason}] for each attribute asked for that will not be in the response."""
    out = []
    asked = set(NO_MODEL) if "ALL" in attributes else attributes & set(NO_MODEL)
    for a in sorted(asked):
        out.append({"Attribute": a, "Reason": NO_MODEL_REASON})
    for model, attrs in sorted(wanted_models(attributes).items()):
        try:
            model_store.onnx_path(model)
        except model_store.ModelsUnavailable as e:
            out.extend({"Attribute": a, "Reason": str(e)} for a in sorted(attrs))
    return out


def describe(rgb: np.ndarray, faces: list, attributes: set[str]) -> None:
    """Fill in the model-based attributes of `faces` (FaceAnalysis) that were asked for and can be had."""
    if not faces:
        return
    models = wanted_models(attributes)
    boxes = [(f.detection, f.points_5) for f in faces]
    for model in models:
        try:
            model_store.onnx_path(model)
        except model_store.ModelsUnavailable:
            continue  # named by unavailable()
        if model == "faceres":
            for f, ag in zip(faces, face_models.age_gender(rgb, boxes)):
                f.age_gender = ag
        elif model == "emotion":
            for f, em in zip(faces, face_models.emotions(rgb, boxes)):
                f.emotions = em
        elif model == "iris":
            with_68 = [f for f in faces if f.points_68 is not None and face_models.gaze_readable(f.points_68)]
            for f, g in zip(with_68, face_models.gaze(rgb, [f.points_68 for f in with_68])):
                f.gaze = g


def liveness(rgb: np.ndarray, faces: list) -> list[face_models.Liveness]:
    """Liveness of each face (FaceAnalysis); ModelsUnavailable when the models are not installed."""
    for model in ("antispoof", "liveness"):
        model_store.onnx_path(model)
    return face_models.liveness(rgb, [(f.detection, f.points_5) for f in faces])
