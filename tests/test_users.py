"""Users: faces of one person grouped, found by face, by user and by image."""

from __future__ import annotations

import pytest
from conftest import BIDEN, COLLINS, OBAMA_BLUE_ROOM, OBAMA_PORTRAIT, OBAMA_SPEECH
from rekognition_shapes import assert_matches

from faceledger import FaceLedger
from faceledger.errors import ConflictException, InvalidParameterException, ResourceNotFoundException


@pytest.fixture
def fl(tmp_path, database_url):
    with FaceLedger(home=tmp_path / "home", database_url=database_url) as engine:
        engine.create_collection(CollectionId="c")
        yield engine


def _index(fl, path, name) -> str:
    return fl.index_faces(CollectionId="c", Image=path, ExternalImageId=name, MaxFaces=1).to_dict()[
        "FaceRecords"
    ][0]["Face"]["FaceId"]


@pytest.fixture
def faces(fl):
    return {
        name: _index(fl, path, name)
        for name, path in (
            ("obama1", OBAMA_PORTRAIT),
            ("obama2", OBAMA_SPEECH),
            ("biden", BIDEN),
            ("collins", COLLINS),
        )
    }


def test_users_collect_faces_and_are_found_by_image(fl, faces):
    assert fl.create_user(CollectionId="c", UserId="barack").to_dict() == {}
    fl.create_user(CollectionId="c", UserId="joe")
    response = fl.associate_faces(
        CollectionId="c", UserId="barack", FaceIds=[faces["obama1"], faces["obama2"], faces["biden"]]
    ).to_dict()
    assert_matches("AssociateFaces", response)
    assert [f["FaceId"] for f in response["AssociatedFaces"]] == [faces["obama1"], faces["obama2"]]
    assert response["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert response["UserStatus"] == "ACTIVE"
    fl.associate_faces(CollectionId="c", UserId="joe", FaceIds=[faces["biden"]])

    found = fl.search_users_by_image(CollectionId="c", Image=OBAMA_BLUE_ROOM).to_dict()
    assert_matches("SearchUsersByImage", found)
    assert [m["User"]["UserId"] for m in found["UserMatches"]] == ["barack"]

    by_face = fl.search_users(CollectionId="c", FaceId=faces["obama2"]).to_dict()
    assert_matches("SearchUsers", by_face)
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["barack"]
    assert by_face["SearchedFace"] == {"FaceId": faces["obama2"]}
    assert fl.search_users(CollectionId="c", UserId="joe").to_dict()["UserMatches"] == []

    listed = fl.list_users(CollectionId="c").to_dict()
    assert_matches("ListUsers", listed)
    assert listed["Users"] == [
        {"UserId": "barack", "UserStatus": "ACTIVE"},
        {"UserId": "joe", "UserStatus": "ACTIVE"},
    ]
    assert fl.describe_collection(CollectionId="c").to_dict()["UserCount"] == 2
    assert len(fl.list_faces(CollectionId="c", UserId="barack").to_dict()["Faces"]) == 2


def test_faces_of_a_user_are_kept_from_deletion_and_other_users(fl, faces):
    fl.create_user(CollectionId="c", UserId="u1")
    fl.create_user(CollectionId="c", UserId="u2")
    fl.associate_faces(CollectionId="c", UserId="u1", FaceIds=[faces["collins"]])
    taken = fl.associate_faces(CollectionId="c", UserId="u2", FaceIds=[faces["collins"]]).to_dict()
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    refused = fl.delete_faces(CollectionId="c", FaceIds=[faces["collins"]]).to_dict()
    assert refused["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    out = fl.disassociate_faces(CollectionId="c", UserId="u1", FaceIds=[faces["collins"]]).to_dict()
    assert_matches("DisassociateFaces", out)
    assert out["DisassociatedFaces"] == [{"FaceId": faces["collins"]}] and out["UserStatus"] == "CREATED"
    assert fl.delete_faces(CollectionId="c", FaceIds=[faces["collins"]]).to_dict()["DeletedFaces"] == [
        faces["collins"]
    ]


def test_user_errors(fl, faces):
    fl.create_user(CollectionId="c", UserId="u", ClientRequestToken="t-1")
    assert (
        fl.create_user(CollectionId="c", UserId="u", ClientRequestToken="t-1").to_dict() == {}
    )  # idempotent
    with pytest.raises(ConflictException):
        fl.create_user(CollectionId="c", UserId="u")
    with pytest.raises(ResourceNotFoundException):
        fl.associate_faces(CollectionId="c", UserId="nobody", FaceIds=[faces["biden"]])
    with pytest.raises(InvalidParameterException):
        fl.create_user(CollectionId="c", UserId="bad user")
    with pytest.raises(InvalidParameterException):
        fl.search_users(CollectionId="c")
    fl.delete_user(CollectionId="c", UserId="u")
    with pytest.raises(ResourceNotFoundException):
        fl.delete_user(CollectionId="c", UserId="u")


def test_deleting_a_user_keeps_its_faces(fl, faces):
    fl.create_user(CollectionId="c", UserId="u")
    fl.associate_faces(CollectionId="c", UserId="u", FaceIds=[faces["biden"]])
    fl.delete_user(CollectionId="c", UserId="u")
    biden = fl.list_faces(CollectionId="c", FaceIds=[faces["biden"]]).to_dict()["Faces"][0]
    assert "UserId" not in biden
