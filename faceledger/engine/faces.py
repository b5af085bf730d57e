"""DetectFaces and CompareFaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import calibration, quality_filter, records
from ..errors import InvalidParameterException
from ..vision.analyze import MAX_FACES, analyze_faces, embed_faces
from . import validate
from .accountability import AccountableOperations, CollectionPolicy
from .base import ImageInput

ATTRIBUTE_VALUES = (
    "DEFAULT", "ALL", "AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES", "EYES_OPEN",
    "GENDER", "MOUTH_OPEN", "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES",
)  # fmt: skip
# Attributes that need the 68-point landmarks; the others of the list above come with the
# attribute models and are left out of responses until then.
_NEEDS_68 = {"ALL", "EYES_OPEN", "MOUTH_OPEN"}

@dataclass
class Probe:
    """The face a comparison or a search is made with."""

    box: records.BoundingBox
    confidence: float
    embedding: np.ndarray
    detail: records.FaceDetail
    sha256: str  # of the image the face came from


class FaceOperations(AccountableOperations):
    """DetectFaces and CompareFaces: operations on pictures alone, no collection involved."""

    def largest_face(self, Image: ImageInput, level: str, *, where: str = "the image", detector: str | None = None) -> Probe:
        """The largest face that passes the quality filter, embedded; InvalidParameterException if none."""
        img = self.load_image(Image)
        faces = [f for f in analyze_faces(img.rgb, self.detector(detector)) if not quality_filter.reasons(f, level)]
        if not faces:
            passes = "" if level == "NONE" else f" that passes QualityFilter {level}"
            raise InvalidParameterException(f"No face was found in {where}{passes}.")
        embed_faces(img.rgb, faces[:1])
        detail = records.face_detail(faces[0], img.width, img.height)
        return Probe(box=detail.bounding_box, confidence=detail.confidence, embedding=faces[0].embedding, detail=detail,
                     sha256=img.sha256)  # fmt: skip

    # -- DetectFaces ----------------------------------------------------------------------

    def detect_faces(
        self,
        Image: ImageInput,
        Attributes: Sequence[str] | None = None,
        *,
        detector: str | None = None,
    ) -> records.DetectFacesResponse:
        """Up to 100 faces, largest first; no face gives an empty list."""
        wanted = check_attributes(Attributes)
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
        given = validate.percentage(SimilarityThreshold, "SimilarityThreshold", None)
        threshold = self.threshold_for(CollectionPolicy(), given, "SimilarityThreshold", "CompareFaces")
        level = quality_filter.check_level(QualityFilter, "NONE")
        probe = self.largest_face(SourceImage, level, where="the source image", detector=detector)
        target = self.load_image(TargetImage)
        found = analyze_faces(target.rgb, self.detector(detector), max_faces=MAX_FACES)
        candidates = [f for f in found if not quality_filter.reasons(f, level)]
        embed_faces(target.rgb, candidates)

        response = records.CompareFacesResponse(
            source_image_face=records.ComparedSourceImageFace(bounding_box=probe.box, confidence=probe.confidence)
        )
        if candidates:
            scores = calibration.similarities(probe.embedding, np.stack([c.embedding for c in candidates]))
            for face, score in sorted(zip(candidates, scores), key=lambda fs: -fs[1]):
                shown = records.compared_face(face, target.width, target.height)
                if score >= threshold:
                    response.face_matches.append(records.CompareFacesMatch(similarity=float(score), face=shown))
                else:
                    response.unmatched_faces.append(shown)
        response.face_ledger = self.record_comparison(
            threshold, len(candidates), [m.similarity for m in response.face_matches], probe.sha256, target.sha256
        )
        return response


def check_attributes(attributes: Sequence[str] | None) -> set[str]:
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


