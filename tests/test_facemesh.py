"""Face Mesh: 468 points whatever the detector, the head's pose to profile from them, DEFAULT's
landmarks measured (not estimated), and a dlib-like box for faces other detectors find."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import OBAMA_PORTRAIT, OBAMA_SPEECH, needs_models

from faceledger.inputs.images import decode_image
from faceledger.vision import facemesh, head_pose, landmarks
from faceledger.vision.analyze import analyze_faces
from faceledger.vision.detect import HogDetector
from faceledger.vision.detectors import make_detector


def _turned(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The canonical mesh turned by the angles (Rekognition's signs), as a mesh would come back."""
    y, p, r = (math.radians(a) for a in (yaw, -pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return 120.0 * head_pose.canonical() @ (rz @ ry @ rx).T + np.array([300.0, 200.0, 0.0])


@pytest.mark.parametrize(
    "yaw, pitch, roll", [(0, 0, 0), (30, 10, -5), (-60, -15, 10), (85, 5, 0), (-88, 0, 3)]
)
def test_pose_holds_to_profile(yaw, pitch, roll):
    pose = head_pose.pose(_turned(yaw, pitch, roll))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((yaw, pitch, roll), abs=0.5)


def test_turning_towards_the_left_edge_is_a_positive_yaw():
    mesh = _turned(40, 0, 0)
    nose, centre = mesh[facemesh.NOSE_TIP, 0], mesh[:, 0].mean()
    assert nose < centre  # the nose has moved towards the picture's left edge


@needs_models
def test_the_mesh_lies_on_the_face_and_its_pose_mirrors():
    rgb = decode_image(OBAMA_SPEECH.read_bytes()).rgb
    d = HogDetector().detect(rgb)[0]
    [mesh] = facemesh.meshes(rgb, [(d.left, d.top, d.right, d.bottom)])
    assert mesh.score > 0.9
    x0, y0, x1, y1 = mesh.box
    assert d.left - 0.2 * d.width < x0 < x1 < d.right + 0.2 * d.width
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    w = rgb.shape[1]
    [other] = facemesh.meshes(mirrored, [(w - d.right, d.top, w - d.left, d.bottom)])
    a, b = head_pose.pose(mesh.points), head_pose.pose(other.points)
    assert a.yaw > 10 and a.yaw == pytest.approx(-b.yaw, abs=2) and a.roll == pytest.approx(-b.roll, abs=2)


@needs_models
def test_default_landmarks_agree_with_the_68_point_model():
    rgb = decode_image(OBAMA_PORTRAIT.read_bytes()).rgb
    d = HogDetector().detect(rgb)[0]
    [mesh] = facemesh.meshes(rgb, [(d.left, d.top, d.right, d.bottom)], refine=False)
    measured = facemesh.default_landmarks(mesh)
    reference = landmarks.all_landmarks(landmarks.points_68(rgb, [d])[0])
    eyes = np.linalg.norm(reference["eyeLeft"] - reference["eyeRight"])
    for name, point in measured.items():
        assert np.linalg.norm(point - reference[name]) < 0.08 * eyes, name


@needs_models
def test_another_detectors_face_gets_a_dlib_like_box():
    rgb = decode_image(OBAMA_PORTRAIT.read_bytes()).rgb
    hog = HogDetector().detect(rgb)[0]
    [face] = analyze_faces(rgb, make_detector("blazeface-back"))
    box = face.detection
    inter = max(0, min(box.right, hog.right) - max(box.left, hog.left)) * max(
        0, min(box.bottom, hog.bottom) - max(box.top, hog.top)
    )
    assert inter / (box.area + hog.area - inter) > 0.6
    assert abs(face.pose.yaw) < 10 and face.mesh is not None


def test_cv2_is_what_the_mesh_crops_with():  # the crop's map and its inverse agree
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[40:60, 90:110] = 255
    crop, m = facemesh._crop(rgb, 100.0, 50.0, 40.0)
    assert crop.shape == (facemesh.INPUT, facemesh.INPUT, 3)
    back = cv2.invertAffineTransform(m) @ np.array([facemesh.INPUT / 2, facemesh.INPUT / 2, 1.0])
    assert back == pytest.approx([100.0, 50.0])
