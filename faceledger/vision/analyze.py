"""One pass over a picture: detect, landmarks, pose, quality and (on request) embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import appearance as appearance_models
from . import attributes, landmarks
from .detection import Detection, Detector
from .embed import DlibResnetEmbedder, Embedder

MAX_FACES = 100  # Rekognition's DetectFaces limit


@dataclass
class FaceAnalysis:
    """Everything measured about one face, in pixels of the upright image."""

    detection: Detection
    shape: object  # dlib's 5-point full_object_detection, what alignment needs
    points_5: np.ndarray
    landmarks: dict[str, np.ndarray]
    pose: attributes.Pose
    quality: attributes.Quality
    eyes_open: attributes.Judgement | None = None
    mouth_open: attributes.Judgement | None = None
    embedding: np.ndarray | None = None
    points_68: np.ndarray | None = None
    # From the attribute models, when asked for (see appearance.py)
    age_gender: object | None = None
    emotions: dict[str, float] | None = None
    gaze: object | None = None


_default_embedder: Embedder | None = None


def default_embedder() -> Embedder:
    global _default_embedder
    if _default_embedder is None:
        _default_embedder = DlibResnetEmbedder()
    return _default_embedder


def analyze_faces(
    rgb: np.ndarray,
    detector: Detector,
    *,
    all_attributes: bool = False,
    embed: bool = False,
    max_faces: int = MAX_FACES,
    embedder: Embedder | None = None,
    appearance: set[str] | frozenset[str] = frozenset(),
) -> list[FaceAnalysis]:
    """Faces largest first, at most `max_faces`. With `embed`, all of them share one batch.

    `appearance`: Rekognition attribute names (AGE_RANGE, EMOTIONS, ..., or ALL) for the models to fill in.
    """
    dets = sorted(detector.detect(rgb), key=lambda d: d.area, reverse=True)[:max_faces]
    if not dets:
        return []
    size = rgb.shape[:2]
    shapes = landmarks.shapes_5(rgb, dets)
    p5s = [landmarks.points_of(s) for s in shapes]
    p68s = landmarks.points_68(rgb, dets) if all_attributes else [None] * len(dets)
    faces = []
    for det, shape, p5, p68 in zip(dets, shapes, p5s, p68s):
        if p68 is None:
            marks, pose = landmarks.default_landmarks(p5), attributes.estimate_pose(p5, size)
        else:
            marks, pose = landmarks.all_landmarks(p68), attributes.estimate_pose(p68, size)
        faces.append(
            FaceAnalysis(
                detection=det,
                shape=shape,
                points_5=p5,
                landmarks=marks,
                pose=pose,
                quality=attributes.measure_quality(rgb, det),
                eyes_open=attributes.eyes_open(p68) if p68 is not None else None,
                mouth_open=attributes.mouth_open(p68) if p68 is not None else None,
                points_68=p68,
            )
        )
    if appearance:
        appearance_models.describe(rgb, faces, set(appearance))
    if embed:
        embed_faces(rgb, faces, embedder)
    return faces


def embed_faces(rgb: np.ndarray, faces: list[FaceAnalysis], embedder: Embedder | None = None) -> None:
    """Fill in the embeddings of `faces` (of the picture `rgb`) in one batch."""
    todo = [f for f in faces if f.embedding is None]
    if not todo:
        return
    vectors = (embedder or default_embedder()).embed(rgb, [f.shape for f in todo])
    for face, vector in zip(todo, vectors):
        face.embedding = vector
