"""The operations, with Rekognition's parameter names, so code written for boto3 ports as it is:

    FaceLedger().detect_faces(Image={"Bytes": data}, Attributes=["ALL"]).to_dict()

Surfaces (CLI, HTTP) adapt to these methods; none of them repeats an operation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import calibration, images, quality_filter, records
from .config import ImageLimits
from .errors import InvalidParameterException, InvalidS3ObjectException
from .vision.analyze import MAX_FACES, analyze_faces, embed_faces
from .vision.detect import Detector, make_detector

ATTRIBUTE_VALUES = (
    "DEFAULT", "ALL", "AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES", "EYES_OPEN",
    "GENDER", "MOUTH_OPEN", "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES",
)  # fmt: skip
# Attributes that need the 68-point landmarks; the others of the list above come with the
# attribute models and are left out of responses until then.
_NEEDS_68 = {"ALL", "EYES_OPEN", "MOUTH_OPEN"}

ImageInput = dict | bytes | str | os.PathLike


class FaceLedger:
    """The engine. One per process is enough: models load once, on first use, and are shared."""

    def __init__(self, *, detector: str = "hog", limits: ImageLimits | None = None):
        self.limits = limits or ImageLimits.from_env()
        self.default_detector = detector
        self._detectors: dict[str, Detector] = {}

    # -- inputs ---------------------------------------------------------------------------

    def load_image(self, image: ImageInput) -> images.DecodedImage:
        """An Image member ({"Bytes": ...} or {"S3Object": ...}), raw bytes, or a local path."""
        if isinstance(image, (str, os.PathLike)):
            data = images.read_image_file(Path(image), self.limits)
            return images.decode_image(data, self.limits, max_bytes=self.limits.max_file_bytes)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return images.decode_image(bytes(image), self.limits)
        if not isinstance(image, dict):
            raise InvalidParameterException("Image must be {'Bytes': ...}, {'S3Object': ...}, bytes or a path.")
        given = [k for k in ("Bytes", "S3Object") if image.get(k) is not None]
        unknown = set(image) - {"Bytes", "S3Object"}
        if unknown:
            raise InvalidParameterException(f"Unknown Image members: {', '.join(sorted(unknown))}.")
        if len(given) != 1:
            raise InvalidParameterException("Image needs exactly one of Bytes or S3Object.")
        if given[0] == "S3Object":
            raise InvalidS3ObjectException("No S3-compatible store is configured for this faceledger.")
        return images.decode_image(image["Bytes"], self.limits)

    def detector(self, name: str | None = None) -> Detector:
        name = (name or self.default_detector).lower()
        if name not in self._detectors:
            self._detectors[name] = make_detector(name)
        return self._detectors[name]

    # -- DetectFaces ----------------------------------------------------------------------

    def detect_faces(
        self,
        Image: ImageInput,
        Attributes: Sequence[str] | None = None,
        *,
        detector: str | None = None,
    ) -> records.DetectFacesResponse:
        """Up to 100 faces, largest first; no face gives an empty list."""
        wanted = _check_attributes(Attributes)
        img = self.load_image(Image)
        faces = analyze_faces(img.rgb, self.detector(detector), all_attributes=bool(wanted & _NEEDS_68))
        details = [records.face_detail(f, img.width, img.height) for f in faces]
        if "ALL" not in wanted:
            for d in details:
                d.eyes_open = d.eyes_open if "EYES_OPEN" in wanted else None
                d.mouth_open = d.mouth_open if "MOUTH_OPEN" in wanted else None
        return records.DetectFacesResponse(face_details=details)

    # -- CompareFaces ---------------------------------------------------------------------

    def compare_faces(
        self,
        SourceImage: ImageInput,
        TargetImage: ImageInput,
        SimilarityThreshold: float | None = None,
        QualityFilter: str | None = None,
        *,
        detector: str | None = None,
    ) -> records.CompareFacesResponse:
        """The largest face of the source against the up to 100 largest faces of the target."""
        threshold = _check_threshold(SimilarityThreshold)
        level = quality_filter.check_level(QualityFilter, "NONE")
        det = self.detector(detector)

        source = self.load_image(SourceImage)
        source_faces = [f for f in analyze_faces(source.rgb, det) if not quality_filter.reasons(f, level)]
        if not source_faces:
            raise InvalidParameterException("No face was found in the source image" + (
                "" if level == "NONE" else f" that passes QualityFilter {level}") + ".")
        probe = source_faces[0]
        embed_faces(source.rgb, [probe])

        target = self.load_image(TargetImage)
        candidates = [
            f for f in analyze_faces(target.rgb, det, max_faces=MAX_FACES) if not quality_filter.reasons(f, level)
        ]
        embed_faces(target.rgb, candidates)

        response = records.CompareFacesResponse(
            source_image_face=records.ComparedSourceImageFace(
                bounding_box=records.bounding_box(probe, source.width, source.height),
                confidence=probe.detection.confidence,
            )
        )
        if candidates:
            scores = calibration.similarities(probe.embedding, np.stack([c.embedding for c in candidates]))
            for face, score in sorted(zip(candidates, scores), key=lambda fs: -fs[1]):
                shown = records.compared_face(face, target.width, target.height)
                if score >= threshold:
                    response.face_matches.append(records.CompareFacesMatch(similarity=float(score), face=shown))
                else:
                    response.unmatched_faces.append(shown)
        return response


def _check_attributes(attributes: Sequence[str] | None) -> set[str]:
    if attributes is None:
        return {"DEFAULT"}
    if isinstance(attributes, str) or not all(isinstance(a, str) for a in attributes):
        raise InvalidParameterException("Attributes must be a list of strings, such as ['DEFAULT'] or ['ALL'].")
    bad = [a for a in attributes if a not in ATTRIBUTE_VALUES]
    if bad:
        raise InvalidParameterException(
            f"Unknown Attributes value(s) {', '.join(map(repr, bad))}: use {', '.join(ATTRIBUTE_VALUES)}."
        )
    return set(attributes) or {"DEFAULT"}


def _check_threshold(value: float | None) -> float:
    if value is None:
        return calibration.DEFAULT_SIMILARITY_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 100.0:
        raise InvalidParameterException(f"SimilarityThreshold must be a number from 0 to 100; got {value!r}.")
    return float(value)
