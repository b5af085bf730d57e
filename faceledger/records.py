"""Response records shaped like Rekognition's; `to_dict()` gives the exact JSON members."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .vision.analyze import FaceAnalysis


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
class FaceDetail(Record):
    bounding_box: BoundingBox
    confidence: float
    landmarks: list[Landmark]
    pose: Pose
    quality: ImageQuality
    eyes_open: BooleanAttribute | None = None
    mouth_open: BooleanAttribute | None = None


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


@dataclass
class CompareFacesResponse(Record):
    source_image_face: ComparedSourceImageFace
    face_matches: list[CompareFacesMatch] = field(default_factory=list)
    unmatched_faces: list[ComparedFace] = field(default_factory=list)


def bounding_box(face: FaceAnalysis, width: int, height: int) -> BoundingBox:
    """Ratios of the image size; a face cut by the edge may give values outside 0..1."""
    d = face.detection
    return BoundingBox(width=d.width / width, height=d.height / height, left=d.left / width, top=d.top / height)


def landmarks(face: FaceAnalysis, width: int, height: int) -> list[Landmark]:
    return [Landmark(type=k, x=float(p[0]) / width, y=float(p[1]) / height) for k, p in face.landmarks.items()]


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
    )


def compared_face(face: FaceAnalysis, width: int, height: int) -> ComparedFace:
    d = face_detail(face, width, height)
    return ComparedFace(
        bounding_box=d.bounding_box, confidence=d.confidence, landmarks=d.landmarks, pose=d.pose, quality=d.quality
    )
