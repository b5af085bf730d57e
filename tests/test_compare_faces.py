"""CompareFaces: same person above the default threshold, other people below, Rekognition's shape."""

from __future__ import annotations

import pytest
from conftest import BIDEN, COLLINS, OBAMA_BLUE_ROOM, OBAMA_PORTRAIT, OBAMA_SPEECH
from rekognition_shapes import assert_matches

from faceledger.accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from faceledger.errors import InvalidParameterException, InvalidS3ObjectException
from faceledger.vision.similarity import distance_from_similarity, similarity_from_distance


@pytest.mark.parametrize("target", [OBAMA_SPEECH, OBAMA_BLUE_ROOM])
def test_same_person_matches_above_the_default_threshold(engine, target):
    response = engine.compare_faces(SourceImage=OBAMA_PORTRAIT, TargetImage=target).to_dict()
    assert_matches("CompareFaces", response)
    assert len(response["FaceMatches"]) == 1 and response["UnmatchedFaces"] == []
    assert response["FaceMatches"][0]["Similarity"] >= DEFAULT_SIMILARITY_THRESHOLD


@pytest.mark.parametrize(
    "source, target", [(OBAMA_PORTRAIT, BIDEN), (OBAMA_PORTRAIT, COLLINS), (BIDEN, COLLINS)]
)
def test_different_people_stay_below_the_default_threshold(engine, source, target):
    response = engine.compare_faces(SourceImage=source, TargetImage=target).to_dict()
    assert response["FaceMatches"] == []
    assert len(response["UnmatchedFaces"]) >= 1
    scored = engine.compare_faces(SourceImage=source, TargetImage=target, SimilarityThreshold=0).to_dict()
    assert scored["FaceMatches"][0]["Similarity"] < DEFAULT_SIMILARITY_THRESHOLD


def test_group_photo_matches_only_the_right_face(engine, group_photo):
    response = engine.compare_faces(SourceImage=OBAMA_SPEECH, TargetImage=group_photo).to_dict()
    assert_matches("CompareFaces", response)
    assert len(response["FaceMatches"]) == 1
    assert response["FaceMatches"][0]["Face"]["BoundingBox"]["Left"] < 0.3  # Obama is on the left
    assert len(response["UnmatchedFaces"]) == 2
    assert set(response["SourceImageFace"]) == {"BoundingBox", "Confidence"}


def test_threshold_zero_returns_every_face_ranked(engine, group_photo):
    matches = engine.compare_faces(
        SourceImage=BIDEN, TargetImage=group_photo, SimilarityThreshold=0
    ).to_dict()["FaceMatches"]
    assert len(matches) == 3
    sims = [m["Similarity"] for m in matches]
    assert sims == sorted(sims, reverse=True)
    assert 0.35 < matches[0]["Face"]["BoundingBox"]["Left"] < 0.7  # Biden, in the middle, first


def test_no_face_in_the_source_is_an_invalid_parameter(engine, no_face_photo):
    with pytest.raises(InvalidParameterException, match="source"):
        engine.compare_faces(SourceImage=no_face_photo, TargetImage=OBAMA_PORTRAIT)


def test_no_face_in_the_target_gives_empty_lists(engine, no_face_photo):
    response = engine.compare_faces(SourceImage=OBAMA_PORTRAIT, TargetImage=no_face_photo).to_dict()
    assert response["FaceMatches"] == [] and response["UnmatchedFaces"] == []


@pytest.mark.parametrize("threshold", [-1, 100.5, "80", True])
def test_bad_threshold_is_an_invalid_parameter(engine, threshold):
    with pytest.raises(InvalidParameterException, match="SimilarityThreshold"):
        engine.compare_faces(
            SourceImage=OBAMA_PORTRAIT, TargetImage=OBAMA_SPEECH, SimilarityThreshold=threshold
        )


def test_bad_quality_filter_is_an_invalid_parameter(engine):
    with pytest.raises(InvalidParameterException, match="QualityFilter"):
        engine.compare_faces(SourceImage=OBAMA_PORTRAIT, TargetImage=OBAMA_SPEECH, QualityFilter="BEST")


def test_quality_filter_drops_faces_below_the_bar(engine, tmp_path):
    # A 30-pixel face passes NONE but not MEDIUM (boxes under 40 px).
    from conftest import jpeg_bytes
    from PIL import Image

    small = Image.open(OBAMA_PORTRAIT).convert("RGB").crop((320, 100, 650, 460)).resize((36, 39))
    frame = Image.new("RGB", (400, 300), (90, 100, 110))
    frame.paste(small, (180, 130))
    target = {"Bytes": jpeg_bytes(frame)}
    loose = engine.compare_faces(
        SourceImage=OBAMA_PORTRAIT, TargetImage=target, SimilarityThreshold=0
    ).to_dict()
    assert len(loose["FaceMatches"]) == 1
    strict = engine.compare_faces(
        SourceImage=OBAMA_PORTRAIT, TargetImage=target, SimilarityThreshold=0, QualityFilter="MEDIUM"
    ).to_dict()
    assert strict["FaceMatches"] == []


def test_s3_objects_from_a_local_bucket_folder(tmp_path, monkeypatch):
    from faceledger import FaceLedger

    (tmp_path / "people").mkdir()
    (tmp_path / "people" / "obama.jpg").write_bytes(OBAMA_PORTRAIT.read_bytes())
    (tmp_path / "secret.jpg").write_bytes(OBAMA_PORTRAIT.read_bytes())
    monkeypatch.setenv("FACELEDGER_BUCKETS", f"photos={tmp_path / 'people'}")
    engine = FaceLedger(home=tmp_path / "home")
    found = engine.compare_faces(
        SourceImage={"S3Object": {"Bucket": "photos", "Name": "obama.jpg"}}, TargetImage=OBAMA_SPEECH
    )
    assert found.to_dict()["FaceMatches"]
    for bad in (
        {"Bucket": "photos", "Name": "missing.jpg"},
        {"Bucket": "photos", "Name": "../secret.jpg"},
        {"Bucket": "photos", "Name": "obama.jpg", "Version": "v1"},
    ):
        with pytest.raises(InvalidS3ObjectException):
            engine.compare_faces(SourceImage={"S3Object": bad}, TargetImage=OBAMA_SPEECH)


def test_similarity_scale_is_monotonic_and_invertible():
    import numpy as np

    d = np.linspace(0, 1.5, 151)
    s = similarity_from_distance(d)
    assert np.all(np.diff(s) < 0) and s[0] > 99.9 and s[-1] < 0.01
    assert similarity_from_distance(0.6) == pytest.approx(50)
    for sim in (1, 50, 80, DEFAULT_SIMILARITY_THRESHOLD, 99):
        assert similarity_from_distance(distance_from_similarity(sim)) == pytest.approx(sim)
