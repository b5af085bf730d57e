"""One pass over a picture: detect, landmarks, pose, quality and (on request) embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import appearance as appearance_models
from . import attributes, facemesh, head_pose, landmarks
from .detection import Detection, Detector
from .dlib_runtime import OnnxResnetEmbedder
from .embed import Embedder
from .model_store import ModelsUnavailable

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
    mesh: object | None = None  # facemesh.Mesh, when the Face Mesh model is installed


_default_embedder: Embedder | None = None


def default_embedder() -> Embedder:
    global _default_embedder
    if _default_embedder is None:
        _default_embedder = OnnxResnetEmbedder()
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
    dlib_boxes = getattr(detector, "dlib_boxes", False)
    meshes = _meshes(rgb, dets, refine=not dlib_boxes)
    if not dlib_boxes:  # dlib's 5-point model (alignment) and the quality bars expect dlib's boxes
        dets = [_as_dlib_box(d, m) for d, m in zip(dets, meshes)]
    shapes = landmarks.shapes_5(rgb, dets)
    p5s = [landmarks.points_of(s) for s in shapes]
    p68s = landmarks.points_68(rgb, dets) if all_attributes else [None] * len(dets)
    faces = []
    for det, mesh, shape, p5, p68 in zip(dets, meshes, shapes, p5s, p68s):
        if p68 is not None:
            marks = landmarks.all_landmarks(p68)
        elif mesh is not None:
            marks = facemesh.default_landmarks(mesh)
        else:
            marks = landmarks.default_landmarks(p5)
        if mesh is not None:  # the mesh holds to profile; the 2-D fits do not
            pose = head_pose.pose(mesh.points)
        else:
            pose = attributes.estimate_pose(p68 if p68 is not None else p5, size)
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
                mesh=mesh,
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


def _meshes(rgb: np.ndarray, dets: list[Detection], refine: bool) -> list:
    """Each face's Face Mesh, or None for all when the model is not installed (then pose and
    landmarks come from dlib's 5 or 68 points, frontal only, as before the mesh)."""
    try:
        return facemesh.meshes(rgb, [(d.left, d.top, d.right, d.bottom) for d in dets], refine=refine)
    except ModelsUnavailable:
        return [None] * len(dets)


def _as_dlib_box(det: Detection, mesh) -> Detection:
    """The face's box as dlib's detectors draw it, from its mesh (see facemesh.dlib_box)."""
    if mesh is None:
        return det
    left, top, right, bottom = facemesh.dlib_box(mesh)
    return Detection(left, top, right, bottom, det.score, det.confidence, det.keypoints)
