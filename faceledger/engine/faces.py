"""DetectFaces and CompareFaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterException
from ..vision import appearance
from ..vision.analyze import MAX_FACES, analyze_faces, embed_faces
from ..vision.similarity import similarities
from . import quality_filter, records, validate
from .accountable import AccountableOperations, Search
from .base import ImageInput, models_needed
from .policy import CollectionPolicy

ATTRIBUTE_VALUES = (
    "DEFAULT",
    "ALL",
    "AGE_RANGE",
    "BEARD",
    "EMOTIONS",
    "EYE_DIRECTION",
    "EYEGLASSES",
    "EYES_OPEN",
    "GENDER",
    "MOUTH_OPEN",
    "MUSTACHE",
    "FACE_OCCLUDED",
    "SMILE",
    "SUNGLASSES",
)
# Attributes that need the 68-point landmarks.
_NEEDS_68 = {"ALL", "EYES_OPEN", "MOUTH_OPEN", "EYE_DIRECTION"}


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

    def _begin_image_search(
        self,
        collection_id,
        image,
        quality,
        threshold,
        threshold_name: str,
        most,
        most_name: str,
        most_limit: int,
        detector: str | None = None,
    ) -> tuple[Search, Probe]:
        """A search with the largest face of a picture: the search's preamble, then the probe (the
        policy is checked before the picture is worked on)."""
        level = quality_filter.check_level(quality, "NONE")
        self._detector(detector)  # an unknown name is refused before anything else
        search = self._begin_search(collection_id, threshold, threshold_name, most, most_name, most_limit)
        return search, self._largest_face(image, level, detector=detector)

    def _largest_face(
        self, Image: ImageInput, level: str, *, where: str = "the image", detector: str | None = None
    ) -> Probe:
        """The largest face that passes the quality filter, embedded; InvalidParameterException if none."""
        img = self._load_image(Image)
        faces = [
            f
            for f in analyze_faces(img.rgb, self._detector(detector))
            if not quality_filter.reasons(f, level)
        ]
        if not faces:
            passes = "" if level == "NONE" else f" that passes QualityFilter {level}"
            raise InvalidParameterException(f"No face was found in {where}{passes}.")
        embed_faces(img.rgb, faces[:1])
        detail = records.face_detail(faces[0], img.width, img.height)
        return Probe(
            box=detail.bounding_box,
            confidence=detail.confidence,
            embedding=faces[0].embedding,
            detail=detail,
            sha256=img.sha256,
        )

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
        img = self._load_image(Image)
        faces = analyze_faces(
            img.rgb, self._detector(detector), all_attributes=bool(wanted & _NEEDS_68), appearance=wanted
        )
        details = [only_wanted(records.face_detail(f, img.width, img.height), wanted) for f in faces]
        missing = appearance.unavailable(wanted)
        return records.DetectFacesResponse(
            face_details=details, face_ledger={"UnavailableAttributes": missing} if missing else None
        )

    # -- DetectLiveness (faceledger's own) -------------------------------------------------

    def detect_liveness(
        self,
        Image: ImageInput | None = None,
        LivenessThreshold: float | None = None,
        *,
        detector: str | None = None,
    ) -> records.Plain:
        """Passive liveness of each face of a still image: is it a real, live capture?

        Two small models, both must agree: one trained to tell real photos from computer-made or
        edited faces, one to tell live captures from replayed recordings. Score 0-100 is the weaker.
        """
        if Image is None:
            raise InvalidParameterException("Image is required: {'Bytes': ...} or {'S3Object': ...}.")
        threshold = validate.percentage(LivenessThreshold, "LivenessThreshold", appearance.LIVENESS_THRESHOLD)
        img = self._load_image(Image)
        faces = analyze_faces(img.rgb, self._detector(detector))
        scores = liveness_of(img.rgb, faces)
        out = []
        for face, s in zip(faces, scores):
            out.append(
                {
                    "BoundingBox": records.bounding_box(face, img.width, img.height).to_dict(),
                    "Confidence": face.detection.confidence,
                    "Liveness": {
                        "Live": s.score >= threshold,
                        "Score": s.score,
                        "RealFace": 100.0 * s.real,
                        "LiveCapture": 100.0 * s.live,
                    },
                }
            )
        return records.Plain(Faces=out, LivenessThreshold=threshold)

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
        threshold = self._threshold_for(CollectionPolicy(), given, "SimilarityThreshold", "CompareFaces")
        level = quality_filter.check_level(QualityFilter, "NONE")
        probe = self._largest_face(SourceImage, level, where="the source image", detector=detector)
        target = self._load_image(TargetImage)
        found = analyze_faces(target.rgb, self._detector(detector), max_faces=MAX_FACES)
        candidates = [f for f in found if not quality_filter.reasons(f, level)]
        embed_faces(target.rgb, candidates)

        response = records.CompareFacesResponse(
            source_image_face=records.ComparedSourceImageFace(
                bounding_box=probe.box, confidence=probe.confidence
            )
        )
        if candidates:
            scores = similarities(probe.embedding, np.stack([c.embedding for c in candidates]))
            for face, score in sorted(zip(candidates, scores), key=lambda fs: -fs[1]):
                shown = records.compared_face(face, target.width, target.height)
                if score >= threshold:
                    response.face_matches.append(
                        records.CompareFacesMatch(similarity=float(score), face=shown)
                    )
                else:
                    response.unmatched_faces.append(shown)
        response.face_ledger = self._record_comparison(
            threshold,
            len(candidates),
            [m.similarity for m in response.face_matches],
            probe.sha256,
            target.sha256,
        )
        return response


def liveness_of(rgb, faces: list) -> list:
    with models_needed("Liveness cannot be assessed"):
        return appearance.liveness(rgb, faces)


def not_live(rgb, faces: list, threshold: float | None) -> set[int]:
    """Indexes of `faces` whose liveness score is below `threshold` (none when it is None)."""
    if threshold is None or not faces:
        return set()
    return {i for i, s in enumerate(liveness_of(rgb, faces)) if s.score < threshold}


def only_wanted(detail: records.FaceDetail, wanted: set[str]) -> records.FaceDetail:
    """Drop the members of attributes not asked for (ALL keeps them all)."""
    if "ALL" not in wanted:
        for attribute, member in records.DETAIL_OF_ATTRIBUTE.items():
            if attribute not in wanted:
                setattr(detail, member, None)
    return detail


def check_attributes(attributes: Sequence[str] | None) -> set[str]:
    if attributes is None:
        return {"DEFAULT"}
    if isinstance(attributes, str) or not all(isinstance(a, str) for a in attributes):
        raise InvalidParameterException(
            "Attributes must be a list of strings, such as ['DEFAULT'] or ['ALL']."
        )
    bad = [a for a in attributes if a not in ATTRIBUTE_VALUES]
    if bad:
        raise InvalidParameterException(
            f"Unknown Attributes value(s) {', '.join(map(repr, bad))}: use {', '.join(ATTRIBUTE_VALUES)}."
        )
    return set(attributes) or {"DEFAULT"}
