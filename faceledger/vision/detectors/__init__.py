"""Every face detector faceledger can run, by name: dlib's HOG and MMOD CNN (vision/detect.py) and
the ONNX detectors of this package, converted by `faceledger models install`. Each is a Detector
(vision/detection.py): `name`, `detect(rgb) -> list[Detection]`, keypoints where the model gives
them. The classes load on first use (this table imports nothing heavy), so the command line can
list the names at once and model_store can use faceapi_graphs without loading a detector.

| name | class | network |
|---|---|---|
| hog | detect.HogDetector | dlib's HOG + linear SVM, frontal faces |
| cnn | detect.CnnDetector | dlib's MMOD CNN, converted to ONNX (dlib_onnx.py) |
| hog+cnn | combined.HogCnnDetector | HOG, plus the CNN's faces of 80 px and up that HOG missed |
| hog+faceboxes | combined.HogFaceBoxesDetector | HOG, plus FaceBoxes' faces the mesh confirms |
| cnn-dlib | detect.DlibCnnDetector | the same network, run by dlib |
| blazeface-back | blazeface.BlazeFaceBackDetector | MediaPipe BlazeFace full range, 256x256 |
| mediapipe-short | blazeface.MediaPipeShortDetector | MediaPipe face_detection_short_range, 128x128 |
| mediapipe-full | blazeface.MediaPipeFullDetector | MediaPipe face_detection_full_range, 192x192 |
| faceboxes | faceboxes.FaceBoxesDetector | FaceBoxes (WIDER FACE), fully convolutional |
| ssd-mobilenetv1 | faceapi.SsdMobilenetV1Detector | face-api.js SSD MobileNetV1 (WIDER FACE), 512x512 |
| tiny-face-detector | faceapi.TinyFaceDetector | face-api.js tiny face detector, fully convolutional |

common.py holds what the ONNX ones share (sessions, NMS, the pyramid of scales and tiles);
faceapi_graphs.py builds face-api's two graphs at install time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _hog():
    from ..detect import HogDetector

    return HogDetector


def _cnn():
    from ..detect import CnnDetector

    return CnnDetector


def _cnn_dlib():
    from ..detect import DlibCnnDetector

    return DlibCnnDetector


def _combined(cls: str):
    def load():
        from . import combined

        return getattr(combined, cls)

    return load


def _blazeface(cls: str):
    def load():
        from . import blazeface

        return getattr(blazeface, cls)

    return load


def _faceboxes():
    from .faceboxes import FaceBoxesDetector

    return FaceBoxesDetector


def _faceapi(cls: str):
    def load():
        from . import faceapi

        return getattr(faceapi, cls)

    return load


@dataclass(frozen=True)
class Entry:
    load: Callable[[], type]  # the class, imported on first use
    what: str  # for --help and the docs


DETECTORS = {
    "hog": Entry(_hog, "dlib's HOG: fast, frontal faces only"),
    "cnn": Entry(
        _cnn, "dlib's MMOD CNN on ONNX Runtime: turned faces, dlib's boxes, about 0.4 s a megapixel"
    ),
    "hog+cnn": Entry(
        _combined("HogCnnDetector"), "HOG, and the CNN at most at the picture's size for the faces HOG misses"
    ),
    "hog+faceboxes": Entry(
        _combined("HogFaceBoxesDetector"), "HOG, and FaceBoxes' faces HOG misses that the face mesh confirms"
    ),
    "cnn-dlib": Entry(_cnn_dlib, "the same network run by dlib itself, about 6 s a megapixel"),
    "blazeface-back": Entry(_blazeface("BlazeFaceBackDetector"), "MediaPipe BlazeFace, full range"),
    "mediapipe-short": Entry(_blazeface("MediaPipeShortDetector"), "MediaPipe face detection, short range"),
    "mediapipe-full": Entry(_blazeface("MediaPipeFullDetector"), "MediaPipe face detection, full range"),
    "faceboxes": Entry(_faceboxes, "FaceBoxes (WIDER FACE)"),
    "ssd-mobilenetv1": Entry(_faceapi("SsdMobilenetV1Detector"), "face-api.js SSD MobileNetV1 (WIDER FACE)"),
    "tiny-face-detector": Entry(_faceapi("TinyFaceDetector"), "face-api.js tiny face detector"),
}
NAMES = tuple(DETECTORS)
# For pictures and video alike; chosen by bench/detectors.py, bench/verification.py,
# bench/throughput.py and bench/video_speed.py (the README's figures).
DEFAULT_DETECTOR = "hog+faceboxes"


def make_detector(name: str):
    """A new detector by name; InvalidParameterException for a name faceledger does not have."""
    from ...errors import InvalidParameterException

    entry = DETECTORS.get(name.lower()) if isinstance(name, str) else None
    if entry is None:
        raise InvalidParameterException(
            f"Unknown detector {str(name)[:64]!r}: choose one of {', '.join(NAMES)}."
        )
    return entry.load()()
