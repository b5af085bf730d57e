"""The head's pose from its Face Mesh: the 468 points fitted, by rotation and scale, to a canonical
face (faceledger/data/facemesh_canonical.npy, made by tools/make_facemesh_canonical.py as the
mean mesh of the development photos, symmetric). Unlike a fit of a few 2-D landmarks to a generic
head, it holds to profile: the mesh is 3-D, and all of it takes part.

Angles as Rekognition gives them, in degrees: Roll > 0 when the face is tilted clockwise in the
picture, Yaw > 0 when it turns towards the picture's left edge, Pitch > 0 when it tilts up; zero is
the average pose of people facing the camera in news photos.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import numpy as np

from .attributes import Pose


@cache
def canonical() -> np.ndarray:
    with resources.files("faceledger").joinpath("data/facemesh_canonical.npy").open("rb") as f:
        return np.load(f).astype(np.float64)


def _normalised(points: np.ndarray) -> np.ndarray:
    p = points - points.mean(axis=0)
    return p / np.sqrt((p**2).sum(axis=1).mean())


def rotation(points: np.ndarray) -> np.ndarray:
    """R (3x3, no reflection) with the mesh ~ s * canonical @ R.T, in the camera's axes (x to the
    picture's right, y down, z away from the camera)."""
    a, b = canonical(), _normalised(points)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def pose(points: np.ndarray) -> Pose:
    """Roll, yaw and pitch of the head whose mesh is `points` (468, 3)."""
    r = rotation(points)
    # r = Rz(roll) Ry(yaw) Rx(-pitch): the same reading as attributes.estimate_pose's
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = -math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return Pose(roll=roll, yaw=yaw, pitch=pitch)
