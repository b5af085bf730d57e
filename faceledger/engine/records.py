"""Response records shaped like Rekognition's; `to_dict()` gives the exact JSON members."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..vision.analyze import FaceAnalysis
from ..vision.appearance import SMILE_THRESHOLD


def _member_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class Record:
    """Dataclass fields in snake_case become Rekognition's PascalCase members; None is left out."""

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            out[_member_name(f.name)] = _plain(value)
        return out


def _plain(value):
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, float):
        return float(value)
    return value


@dataclass
class BoundingBox(Record):
    width: float
    height: float
    left: float
    top: float


@dataclass
class Landmark(Record):
    type: str
    x: float
    y: float


@dataclass
class Pose(Record):
    roll: float
    yaw: float
    pitch: float


@dataclass
class ImageQuality(Record):
    brightness: float
    sharpness: float


@dataclass
class BooleanAttribute(Record):
    value: bool
    confidence: float


@dataclass
class AgeRange(Record):
    low: int
    high: int


@dataclass
class Gender(Record):
    value: str
    confidence: float


@dataclass
class Emotion(Record):
    type: str
    confidence: float


@dataclass
class EyeDirection(Record):
    yaw: float
    pitch: float
    confidence: float


@dataclass
class FaceDetail(Record):
    bounding_box: BoundingBox
    confidence: float
    landmarks: list[Landmark]
    pose: Pose
    quality: ImageQuality
    eyes_open: BooleanAttribute | None = None
    mouth_open: BooleanAttribute | None = None
    age_range: AgeRange | None = None
    gender: Gender | None = None
    emotions: list[Emotion] | None = None
    smile: BooleanAttribute | None = None
    eye_direction: EyeDirection | None = None


# FaceDetail members by the Attributes value that asks for them (beyond DEFAULT's).
DETAIL_OF_ATTRIBUTE = {
    "EYES_OPEN": "eyes_open",
    "MOUTH_OPEN": "mouth_open",
    "AGE_RANGE": "age_range",
    "GENDER": "gender",
    "EMOTIONS": "emotions",
    "SMILE": "smile",
    "EYE_DIRECTION": "eye_direction",
}


@dataclass
class ComparedFace(Record):
    bounding_box: BoundingBox
    confidence: float
    landmarks: list[Landmark]
    pose: Pose
    quality: ImageQuality


@dataclass
class ComparedSourceImageFace(Record):
    bounding_box: BoundingBox
    confidence: float


@dataclass
class CompareFacesMatch(Record):
    similarity: float
    face: ComparedFace


@dataclass
class DetectFacesResponse(Record):
    face_details: list[FaceDetail] = field(default_factory=list)
    # faceledger's own: the attributes asked for that could not be estimated, and why
    face_ledger: dict | None = None


@dataclass
class CompareFacesResponse(Record):
    source_image_face: ComparedSourceImageFace
    face_matches: list[CompareFacesMatch] = field(default_factory=list)
    unmatched_faces: list[ComparedFace] = field(default_factory=list)
    # faceledger's own: what the threshold means, the ledger entry, review (clients ignore it)
    face_ledger: dict | None = None


def bounding_box(face: FaceAnalysis, width: int, height: int) -> BoundingBox:
    """Ratios of the image size; a face cut by the edge may give values outside 0..1."""
    d = face.detection
    return BoundingBox(
        width=d.width / width, height=d.height / height, left=d.left / width, top=d.top / height
    )


def landmarks(face: FaceAnalysis, width: int, height: int) -> list[Landmark]:
    return [
        Landmark(type=k, x=float(p[0]) / width, y=float(p[1]) / height) for k, p in face.landmarks.items()
    ]


def _appearance(face: FaceAnalysis) -> dict:
    """The model-based members of a FaceDetail (see vision/appearance.py)."""
    out: dict = {}
    if face.age_gender is not None:
        ag = face.age_gender
        out["age_range"] = AgeRange(low=ag.low, high=ag.high)
        male = ag.male >= 0.5
        out["gender"] = Gender(
            value="Male" if male else "Female", confidence=100.0 * (ag.male if male else 1.0 - ag.male)
        )
    if face.emotions is not None:
        ranked = sorted(face.emotions.items(), key=lambda kv: -kv[1])
        out["emotions"] = [Emotion(type=t, confidence=100.0 * p) for t, p in ranked]
        happy = face.emotions["HAPPY"]
        smiling = happy >= SMILE_THRESHOLD
        out["smile"] = BooleanAttribute(value=smiling, confidence=100.0 * (happy if smiling else 1.0 - happy))
    if face.gaze is not None:
        # Confidence: how far the head is from frontal, where the iris reading is best.
        turn = max(abs(face.pose.yaw), abs(face.pose.pitch))
        conf = max(0.0, min(100.0, 100.0 - 1.5 * turn))
        out["eye_direction"] = EyeDirection(yaw=face.gaze.yaw, pitch=face.gaze.pitch, confidence=conf)
    return out


def face_detail(face: FaceAnalysis, width: int, height: int) -> FaceDetail:
    def judgement(j):
        return None if j is None else BooleanAttribute(value=bool(j.value), confidence=j.confidence)

    return FaceDetail(
        bounding_box=bounding_box(face, width, height),
        confidence=face.detection.confidence,
        landmarks=landmarks(face, width, height),
        pose=Pose(roll=face.pose.roll, yaw=face.pose.yaw, pitch=face.pose.pitch),
        quality=ImageQuality(brightness=face.quality.brightness, sharpness=face.quality.sharpness),
        eyes_open=judgement(face.eyes_open),
        mouth_open=judgement(face.mouth_open),
        **_appearance(face),
    )


def compared_face(face: FaceAnalysis, width: int, height: int) -> ComparedFace:
    d = face_detail(face, width, height)
    return ComparedFace(
        bounding_box=d.bounding_box,
        confidence=d.confidence,
        landmarks=d.landmarks,
        pose=d.pose,
        quality=d.quality,
    )


# -- collections ------------------------------------------------------------------------------


@dataclass
class Face(Record):
    """A face stored in a collection."""

    face_id: str
    bounding_box: BoundingBox
    image_id: str
    external_image_id: str | None
    confidence: float
    index_faces_model_version: str
    user_id: str | None = None

    @classmethod
    def from_row(cls, row) -> Face:
        return cls(
            face_id=row.face_id,
            bounding_box=BoundingBox(
                width=row.box_width, height=row.box_height, left=row.box_left, top=row.box_top
            ),
            image_id=row.image_id,
            external_image_id=row.external_image_id,
            confidence=row.confidence,
            index_faces_model_version=row.model_version,
            user_id=row.user_id,
        )


@dataclass
class FaceRecord(Record):
    face: Face
    face_detail: FaceDetail


@dataclass
class UnindexedFace(Record):
    reasons: list[str]
    face_detail: FaceDetail


@dataclass
class FaceMatch(Record):
    similarity: float
    face: Face


@dataclass
class IndexFacesResponse(Record):
    face_records: list[FaceRecord]
    face_model_version: str
    unindexed_faces: list[UnindexedFace]


@dataclass
class SearchFacesByImageResponse(Record):
    searched_face_bounding_box: BoundingBox
    searched_face_confidence: float
    face_matches: list[FaceMatch]
    face_model_version: str
    # faceledger's own: what the threshold means, the ledger entry, review (clients ignore it)
    face_ledger: dict | None = None


@dataclass
class SearchFacesResponse(Record):
    searched_face_id: str
    face_matches: list[FaceMatch]
    face_model_version: str
    # faceledger's own: what the threshold means, the ledger entry, review (clients ignore it)
    face_ledger: dict | None = None


@dataclass
class User(Record):
    user_id: str
    user_status: str


@dataclass
class UserMatch(Record):
    similarity: float
    user: User


class Plain(dict):
    """A response with no nested records worth a dataclass; `to_dict()` like the others."""

    def to_dict(self) -> dict:
        return _plain(dict(self))
