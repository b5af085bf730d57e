"""DetectFaces on real faces: counts, order, boxes, landmarks, pose, quality, ALL attributes."""

from __future__ import annotations

import pytest
from conftest import (
    BIDEN,
    COLLINS,
    OBAMA_BLUE_ROOM,
    OBAMA_PORTRAIT,
    OBAMA_SPEECH,
    exif_rotated_jpeg,
    mirrored_jpeg,
)
from rekognition_shapes import assert_matches

from faceledger.errors import InvalidParameterException

DEFAULT_LANDMARKS = {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"}


def _inside(mark: dict, box: dict, slack: float = 0.02) -> bool:
    return (
        box["Left"] - slack <= mark["X"] <= box["Left"] + box["Width"] + slack
        and box["Top"] - slack <= mark["Y"] <= box["Top"] + box["Height"] + slack
    )


@pytest.mark.parametrize("path", [OBAMA_PORTRAIT, OBAMA_SPEECH, OBAMA_BLUE_ROOM, BIDEN])
def test_one_person_one_face(engine, path):
    faces = engine.detect_faces(Image={"Bytes": path.read_bytes()}).to_dict()["FaceDetails"]
    assert len(faces) == 1
    face = faces[0]
    assert face["Confidence"] > 99
    assert {m["Type"] for m in face["Landmarks"]} == DEFAULT_LANDMARKS
    assert all(_inside(m, face["BoundingBox"]) for m in face["Landmarks"])
    left = {m["Type"]: m for m in face["Landmarks"]}
    assert left["eyeLeft"]["X"] < left["eyeRight"]["X"]  # the viewer's left, as Rekognition
    assert left["eyeLeft"]["Y"] < left["nose"]["Y"] < left["mouthLeft"]["Y"]
    assert 0 < face["Quality"]["Brightness"] < 100 and 0 < face["Quality"]["Sharpness"] <= 100


def test_three_people_largest_first(engine, group_photo):
    response = engine.detect_faces(Image=group_photo).to_dict()
    assert_matches("DetectFaces", response)
    faces = response["FaceDetails"]
    assert len(faces) == 3
    widths = [f["BoundingBox"]["Width"] for f in faces]
    assert widths == sorted(widths, reverse=True)
    lefts = [f["BoundingBox"]["Left"] for f in faces]
    assert lefts == sorted(lefts)  # Obama (largest) left, Biden, then Collins on the right


def test_bounding_box_is_a_ratio_of_the_image(engine):
    face = engine.detect_faces(Image=OBAMA_PORTRAIT).to_dict()["FaceDetails"][0]["BoundingBox"]
    # The face spans about pixels 350-617 across a 910-wide portrait, 142-409 down 1137.
    assert face["Left"] == pytest.approx(350 / 910, abs=0.02)
    assert face["Width"] == pytest.approx(268 / 910, abs=0.03)
    assert face["Top"] == pytest.approx(142 / 1137, abs=0.02)


def test_no_face_is_an_empty_list(engine, no_face_photo):
    assert engine.detect_faces(Image=no_face_photo).to_dict() == {"FaceDetails": []}


def test_all_attributes_add_68_point_landmarks_eyes_and_mouth(engine):
    speech = engine.detect_faces(Image=OBAMA_SPEECH, Attributes=["ALL"]).to_dict()
    assert_matches("DetectFaces", speech)
    face = speech["FaceDetails"][0]
    types = {m["Type"] for m in face["Landmarks"]}
    assert DEFAULT_LANDMARKS < types and {"chinBottom", "leftEyeBrowUp", "mouthDown", "noseLeft"} <= types
    assert "leftPupil" not in types  # the 68-point model does not find pupils: left out, not invented
    assert all(_inside(m, face["BoundingBox"], slack=0.08) for m in face["Landmarks"])
    assert face["EyesOpen"]["Value"] is True and face["EyesOpen"]["Confidence"] > 50
    assert face["MouthOpen"]["Value"] is True  # mid-speech
    closed = engine.detect_faces(Image=BIDEN, Attributes=["ALL"]).to_dict()["FaceDetails"][0]
    assert closed["MouthOpen"]["Value"] is False


def test_single_attribute_asks_only_for_it(engine):
    face = engine.detect_faces(Image=OBAMA_SPEECH, Attributes=["EYES_OPEN"]).to_dict()["FaceDetails"][0]
    assert "EyesOpen" in face and "MouthOpen" not in face


def test_default_leaves_all_only_members_out(engine):
    face = engine.detect_faces(Image=OBAMA_SPEECH, Attributes=["DEFAULT"]).to_dict()["FaceDetails"][0]
    assert set(face) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}


@pytest.mark.parametrize("attributes", [["EVERYTHING"], "ALL", [1]])
def test_bad_attributes_are_invalid_parameters(engine, attributes):
    with pytest.raises(InvalidParameterException):
        engine.detect_faces(Image=OBAMA_PORTRAIT, Attributes=attributes)


@pytest.mark.parametrize("attributes", [["DEFAULT"], ["ALL"]])
def test_mirror_flips_yaw_and_roll(engine, attributes):
    # The speech photo has Obama turned clearly towards the picture's left edge (Yaw > 0).
    upright = engine.detect_faces(Image=OBAMA_SPEECH, Attributes=attributes).to_dict()["FaceDetails"][0][
        "Pose"
    ]
    mirrored = engine.detect_faces(Image=mirrored_jpeg(OBAMA_SPEECH), Attributes=attributes).to_dict()[
        "FaceDetails"
    ][0]["Pose"]
    assert upright["Yaw"] > 10
    assert upright["Yaw"] == pytest.approx(-mirrored["Yaw"], abs=3)
    assert upright["Roll"] == pytest.approx(-mirrored["Roll"], abs=3)


def test_frontal_portrait_has_a_small_pose(engine):
    pose = engine.detect_faces(Image=OBAMA_PORTRAIT, Attributes=["ALL"]).to_dict()["FaceDetails"][0]["Pose"]
    assert abs(pose["Yaw"]) < 10 and abs(pose["Roll"]) < 5 and abs(pose["Pitch"]) < 20


def test_exif_rotated_jpeg_gives_the_upright_faces(engine):
    upright = engine.detect_faces(Image=OBAMA_PORTRAIT).to_dict()["FaceDetails"]
    rotated = engine.detect_faces(Image={"Bytes": exif_rotated_jpeg(OBAMA_PORTRAIT)}).to_dict()["FaceDetails"]
    assert len(rotated) == len(upright) == 1
    for key in ("Left", "Top", "Width", "Height"):
        assert rotated[0]["BoundingBox"][key] == pytest.approx(upright[0]["BoundingBox"][key], abs=0.01)


def test_cnn_detector_finds_the_face(engine):
    # A crop keeps the CNN quick on a CPU.
    from conftest import jpeg_bytes
    from PIL import Image as PILImage

    crop = jpeg_bytes(PILImage.open(COLLINS).convert("RGB").crop((120, 20, 320, 220)))
    faces = engine.detect_faces(Image={"Bytes": crop}, detector="cnn").to_dict()["FaceDetails"]
    assert len(faces) == 1 and faces[0]["Confidence"] > 90
    hog = engine.detect_faces(Image={"Bytes": crop}).to_dict()["FaceDetails"]
    assert faces[0]["BoundingBox"]["Left"] == pytest.approx(hog[0]["BoundingBox"]["Left"], abs=0.1)


def test_unknown_detector_is_an_invalid_parameter(engine):
    with pytest.raises(InvalidParameterException, match="detector"):
        engine.detect_faces(Image=OBAMA_PORTRAIT, detector="yolo")


@pytest.mark.parametrize(
    "image",
    [
        {},
        {"Bytes": b"x", "S3Object": {"Bucket": "b", "Name": "n"}},
        {"Bytez": b""},
        42,
        {"Bytes": "aGVsbG8="},
    ],
)
def test_malformed_image_members_are_invalid_parameters(engine, image):
    with pytest.raises(InvalidParameterException):
        engine.detect_faces(Image=image)


def test_small_faces_of_a_1080p_frame_are_found(engine):
    # Rekognition finds faces of 40x40 px in 1920x1080: paste the portrait's face at that size.
    from conftest import jpeg_bytes
    from PIL import Image as PILImage

    face = PILImage.open(OBAMA_PORTRAIT).convert("RGB").crop((320, 100, 650, 460)).resize((60, 65))
    frame = PILImage.new("RGB", (1920, 1080), (90, 100, 110))
    frame.paste(face, (900, 500))
    found = engine.detect_faces(Image={"Bytes": jpeg_bytes(frame)}).to_dict()["FaceDetails"]
    assert len(found) == 1
    assert found[0]["BoundingBox"]["Width"] * 1920 == pytest.approx(48, abs=15)
