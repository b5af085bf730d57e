"""Collections, IndexFaces, ListFaces, DeleteFaces, SearchFaces and SearchFacesByImage on real faces."""

from __future__ import annotations

import re

import pytest
from conftest import BIDEN, COLLINS, OBAMA_BLUE_ROOM, OBAMA_PORTRAIT, OBAMA_SPEECH
from rekognition_shapes import assert_matches

from faceledger import FaceLedger
from faceledger.accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from faceledger.errors import (
    InvalidPaginationTokenException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def fl(tmp_path, database_url):
    with FaceLedger(home=tmp_path / "home", database_url=database_url) as engine:
        yield engine


@pytest.fixture
def people(fl):
    """A collection holding Obama (portrait), Biden and Collins, one face each."""
    fl.create_collection(CollectionId="people")
    ids = {}
    for name, path in (("obama", OBAMA_PORTRAIT), ("biden", BIDEN), ("collins", COLLINS)):
        response = fl.index_faces(
            CollectionId="people", Image=path, ExternalImageId=name, MaxFaces=1
        ).to_dict()
        ids[name] = response["FaceRecords"][0]["Face"]["FaceId"]
    return ids


def test_collection_lifecycle(fl):
    created = fl.create_collection(CollectionId="staff.2026").to_dict()
    assert_matches("CreateCollection", created)
    assert created["StatusCode"] == 200 and created["CollectionArn"].endswith("collection/staff.2026")
    from botocore.utils import ArnParser

    arn = ArnParser().parse_arn(created["CollectionArn"])
    assert (arn["partition"], arn["service"], arn["resource"]) == (
        "aws",
        "rekognition",
        "collection/staff.2026",
    )
    assert len(arn["account"]) == 12 and arn["account"].isdigit() and arn["region"]
    described = fl.describe_collection(CollectionId="staff.2026").to_dict()
    assert_matches("DescribeCollection", described)
    assert (
        described["FaceCount"] == 0 and described["UserCount"] == 0 and described["CreationTimestamp"] > 1.7e9
    )
    assert fl.list_collections().to_dict()["CollectionIds"] == ["staff.2026"]
    assert fl.delete_collection(CollectionId="staff.2026").to_dict() == {"StatusCode": 200}
    assert fl.list_collections().to_dict()["CollectionIds"] == []


def test_the_arn_names_the_configured_region_and_account(fl, monkeypatch):
    monkeypatch.setenv("FACELEDGER_REGION", "eu-west-1")
    monkeypatch.setenv("FACELEDGER_ACCOUNT_ID", "123456789012")
    arn = fl.create_collection(CollectionId="arn").to_dict()["CollectionArn"]
    assert arn == "arn:aws:rekognition:eu-west-1:123456789012:collection/arn"
    assert fl.describe_collection(CollectionId="arn").to_dict()["CollectionARN"] == arn


def test_max_faces_above_100_is_accepted_and_capped(fl, group_photo):
    fl.create_collection(CollectionId="many")
    indexed = fl.index_faces(CollectionId="many", Image=group_photo, MaxFaces=5000).to_dict()
    assert len(indexed["FaceRecords"]) == 3
    with pytest.raises(InvalidParameterException):
        fl.index_faces(CollectionId="many", Image=group_photo, MaxFaces=0)


def test_collection_errors(fl):
    fl.create_collection(CollectionId="a")
    with pytest.raises(ResourceAlreadyExistsException):
        fl.create_collection(CollectionId="a")
    for op in (fl.describe_collection, fl.delete_collection):
        with pytest.raises(ResourceNotFoundException):
            op(CollectionId="missing")
    for bad in ("", "has space", "x" * 256, "slash/", None, 5):
        with pytest.raises(InvalidParameterException):
            fl.create_collection(CollectionId=bad)


def test_list_collections_pages(fl):
    for i in range(5):
        fl.create_collection(CollectionId=f"c{i}")
    first = fl.list_collections(MaxResults=2).to_dict()
    assert_matches("ListCollections", first)
    assert first["CollectionIds"] == ["c0", "c1"] and first["FaceModelVersions"] == ["1.0", "1.0"]
    second = fl.list_collections(MaxResults=2, NextToken=first["NextToken"]).to_dict()
    third = fl.list_collections(MaxResults=2, NextToken=second["NextToken"]).to_dict()
    assert second["CollectionIds"] == ["c2", "c3"] and third["CollectionIds"] == ["c4"]
    assert "NextToken" not in third
    with pytest.raises(InvalidPaginationTokenException):
        fl.list_collections(NextToken="not-a-token")


def test_index_faces_records(fl, group_photo):
    fl.create_collection(CollectionId="g")
    response = fl.index_faces(CollectionId="g", Image=group_photo, ExternalImageId="group:1").to_dict()
    assert_matches("IndexFaces", response)
    records = response["FaceRecords"]
    assert len(records) == 3 and response["UnindexedFaces"] == []
    assert len({r["Face"]["ImageId"] for r in records}) == 1
    assert all(UUID.fullmatch(r["Face"]["FaceId"]) for r in records)
    assert all(r["Face"]["ExternalImageId"] == "group:1" for r in records)
    assert fl.describe_collection(CollectionId="g").to_dict()["FaceCount"] == 3


def test_index_faces_max_faces_keeps_the_largest(fl, group_photo):
    fl.create_collection(CollectionId="g")
    response = fl.index_faces(CollectionId="g", Image=group_photo, MaxFaces=1).to_dict()
    assert len(response["FaceRecords"]) == 1
    assert [u["Reasons"] for u in response["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]] * 2
    kept = response["FaceRecords"][0]["Face"]["BoundingBox"]["Width"]
    assert all(kept > u["FaceDetail"]["BoundingBox"]["Width"] for u in response["UnindexedFaces"])


def test_index_faces_quality_filter_reasons(fl):
    from conftest import jpeg_bytes
    from PIL import Image

    small = Image.open(OBAMA_PORTRAIT).convert("RGB").crop((320, 100, 650, 460)).resize((36, 39))
    frame = Image.new("RGB", (400, 300), (90, 100, 110))
    frame.paste(small, (180, 130))
    fl.create_collection(CollectionId="q")
    response = fl.index_faces(
        CollectionId="q", Image={"Bytes": jpeg_bytes(frame)}, QualityFilter="HIGH"
    ).to_dict()
    assert response["FaceRecords"] == []
    assert "SMALL_BOUNDING_BOX" in response["UnindexedFaces"][0]["Reasons"]
    loose = fl.index_faces(
        CollectionId="q", Image={"Bytes": jpeg_bytes(frame)}, QualityFilter="NONE"
    ).to_dict()
    assert len(loose["FaceRecords"]) == 1


def test_index_faces_errors(fl, no_face_photo):
    with pytest.raises(ResourceNotFoundException):
        fl.index_faces(CollectionId="nope", Image=OBAMA_PORTRAIT)
    fl.create_collection(CollectionId="c")
    with pytest.raises(InvalidParameterException, match="ExternalImageId"):
        fl.index_faces(CollectionId="c", Image=OBAMA_PORTRAIT, ExternalImageId="has space")
    with pytest.raises(InvalidParameterException, match="MaxFaces"):
        fl.index_faces(CollectionId="c", Image=OBAMA_PORTRAIT, MaxFaces=0)
    assert fl.index_faces(CollectionId="c", Image=no_face_photo).to_dict()["FaceRecords"] == []
    assert fl.describe_collection(CollectionId="c").to_dict()["FaceCount"] == 0


def test_search_by_image_finds_the_right_person_first(fl, people):
    for probe in (OBAMA_SPEECH, OBAMA_BLUE_ROOM):
        response = fl.search_faces_by_image(CollectionId="people", Image=probe).to_dict()
        assert_matches("SearchFacesByImage", response)
        assert [m["Face"]["ExternalImageId"] for m in response["FaceMatches"]] == ["obama"]
        assert response["FaceMatches"][0]["Similarity"] >= DEFAULT_SIMILARITY_THRESHOLD
        assert response["SearchedFaceConfidence"] > 90
    ranked = fl.search_faces_by_image(
        CollectionId="people", Image=OBAMA_SPEECH, FaceMatchThreshold=0
    ).to_dict()
    assert [m["Face"]["ExternalImageId"] for m in ranked["FaceMatches"]][0] == "obama"
    assert len(ranked["FaceMatches"]) == 3
    one = fl.search_faces_by_image(
        CollectionId="people", Image=OBAMA_SPEECH, FaceMatchThreshold=0, MaxFaces=1
    ).to_dict()
    assert len(one["FaceMatches"]) == 1


def test_a_stranger_gets_no_match(fl, people):
    fl.delete_faces(CollectionId="people", FaceIds=[people["obama"]])
    response = fl.search_faces_by_image(CollectionId="people", Image=OBAMA_SPEECH).to_dict()
    assert response["FaceMatches"] == []


def test_search_faces_by_face_id_never_returns_itself(fl, people):
    fl.index_faces(CollectionId="people", Image=OBAMA_SPEECH, ExternalImageId="obama-2")
    response = fl.search_faces(CollectionId="people", FaceId=people["obama"]).to_dict()
    assert_matches("SearchFaces", response)
    assert response["SearchedFaceId"] == people["obama"]
    assert [m["Face"]["ExternalImageId"] for m in response["FaceMatches"]] == ["obama-2"]
    with pytest.raises(ResourceNotFoundException):
        fl.search_faces(CollectionId="people", FaceId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(InvalidParameterException):
        fl.search_faces(CollectionId="people", FaceId="NOT-A-UUID")


def test_delete_faces_removes_them_from_every_later_search(fl, people, tmp_path, database_url):
    response = fl.delete_faces(
        CollectionId="people", FaceIds=[people["obama"], "00000000-0000-0000-0000-000000000000"]
    ).to_dict()
    assert_matches("DeleteFaces", response)
    assert response["DeletedFaces"] == [people["obama"]]
    assert response["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    found = fl.search_faces_by_image(
        CollectionId="people", Image=OBAMA_SPEECH, FaceMatchThreshold=0
    ).to_dict()
    assert "obama" not in [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]]
    fl.close()
    with FaceLedger(
        home=tmp_path / "home", database_url=database_url
    ) as reopened:  # as a new process sees it
        found = reopened.search_faces_by_image(
            CollectionId="people", Image=OBAMA_SPEECH, FaceMatchThreshold=0
        ).to_dict()
        assert sorted(m["Face"]["ExternalImageId"] for m in found["FaceMatches"]) == ["biden", "collins"]


def test_list_faces_pages_and_filters(fl, people):
    page = fl.list_faces(CollectionId="people", MaxResults=2).to_dict()
    assert_matches("ListFaces", page)
    rest = fl.list_faces(CollectionId="people", MaxResults=2, NextToken=page["NextToken"]).to_dict()
    listed = [f["ExternalImageId"] for f in page["Faces"] + rest["Faces"]]
    assert listed == ["obama", "biden", "collins"] and "NextToken" not in rest
    only = fl.list_faces(CollectionId="people", FaceIds=[people["biden"]]).to_dict()["Faces"]
    assert [f["FaceId"] for f in only] == [people["biden"]]


def test_collection_deletion_takes_its_faces(fl, people):
    fl.delete_collection(CollectionId="people")
    fl.create_collection(CollectionId="people")
    assert fl.list_faces(CollectionId="people").to_dict()["Faces"] == []
    found = fl.search_faces_by_image(
        CollectionId="people", Image=OBAMA_SPEECH, FaceMatchThreshold=0
    ).to_dict()
    assert found["FaceMatches"] == []
