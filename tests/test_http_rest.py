"""The native REST API: bearer keys, multipart and JSON bodies, Rekognition's members and
responses, errors with HTTP statuses, the OpenAPI document and the offline docs page."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import httpx
import pytest
from conftest import BIDEN, OBAMA_PORTRAIT, OBAMA_SPEECH, needs_models
from http_server import running_app
from rekognition_shapes import assert_matches

from faceledger.server.app import Settings


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with running_app(Settings(home=str(tmp_path_factory.mktemp("rest")))) as (url, app):
        keys = app.state.faceledger.auth.keys
        admin, secret = keys.create("admin")
        reader, reader_secret = keys.create(
            "reader", ["ListCollections", "DescribeCollection", "ListLedger"], ["people"]
        )
        second, second_secret = keys.create("second reviewer", ["ReviewCandidate"])
        yield SimpleNamespace(
            url=url,
            http=httpx.Client(
                base_url=f"{url}/v1",
                headers={"Authorization": f"Bearer {admin.access_key_id}:{secret}"},
                timeout=120,
            ),
            reader=httpx.Client(
                base_url=f"{url}/v1",
                headers={"Authorization": f"Bearer {reader.access_key_id}:{reader_secret}"},
            ),
            anonymous=httpx.Client(base_url=f"{url}/v1"),
            second=httpx.Client(
                base_url=f"{url}/v1",
                headers={"Authorization": f"Bearer {second.access_key_id}:{second_secret}"},
            ),
            wrong=httpx.Client(
                base_url=f"{url}/v1", headers={"Authorization": f"Bearer {admin.access_key_id}:{'x' * 40}"}
            ),
        )


def _files(path, field="Image"):
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def test_detect_and_compare_by_upload_and_by_json(api, group_photo):
    r = api.http.post("/detect-faces", files=_files(group_photo), data={"Attributes": "ALL"})
    assert r.status_code == 200, r.text
    assert_matches("DetectFaces", r.json())
    assert len(r.json()["FaceDetails"]) == 3 and "EyesOpen" in r.json()["FaceDetails"][0]
    as_json = {"Image": {"Bytes": base64.b64encode(OBAMA_PORTRAIT.read_bytes()).decode()}}
    assert len(api.http.post("/detect-faces", json=as_json).json()["FaceDetails"]) == 1
    files = {**_files(OBAMA_PORTRAIT, "SourceImage"), **_files(group_photo, "TargetImage")}
    compared = api.http.post("/compare-faces", files=files, data={"SimilarityThreshold": "90"})
    assert_matches("CompareFaces", compared.json())
    assert len(compared.json()["FaceMatches"]) == 1


def test_collection_resources(api):
    h = api.http
    assert h.post("/collections", json={"CollectionId": "people"}).status_code == 200
    assert h.post("/collections", json={"CollectionId": "people"}).status_code == 409
    ids = {}
    for name, path in (("obama", OBAMA_PORTRAIT), ("biden", BIDEN)):
        r = h.post(
            "/collections/people/faces", files=_files(path), data={"ExternalImageId": name, "MaxFaces": "1"}
        )
        assert r.status_code == 200, r.text
        assert_matches("IndexFaces", r.json())
        ids[name] = r.json()["FaceRecords"][0]["Face"]["FaceId"]
    assert h.get("/collections/people").json()["FaceCount"] == 2
    assert h.get("/collections").json()["CollectionIds"] == ["people"]
    page = h.get("/collections/people/faces", params={"MaxResults": 1}).json()
    assert len(page["Faces"]) == 1 and page["NextToken"]
    hit = h.post("/collections/people/search", files=_files(OBAMA_SPEECH), data={"MaxFaces": "1"}).json()
    assert_matches("SearchFacesByImage", hit)
    assert hit["FaceMatches"][0]["Face"]["FaceId"] == ids["obama"]
    by_face = h.get(
        f"/collections/people/faces/{ids['obama']}/search", params={"FaceMatchThreshold": 0}
    ).json()
    assert [m["Face"]["FaceId"] for m in by_face["FaceMatches"]] == [ids["biden"]]

    assert h.post("/collections/people/users", json={"UserId": "barack"}).status_code == 200
    assoc = h.post("/collections/people/users/barack/faces", json={"FaceIds": [ids["obama"]]}).json()
    assert assoc["UserStatus"] == "ACTIVE"
    assert h.get("/collections/people/users").json()["Users"][0]["UserId"] == "barack"
    users = h.post("/collections/people/users/search", files=_files(OBAMA_SPEECH)).json()
    assert users["UserMatches"][0]["User"]["UserId"] == "barack"
    assert h.get("/collections/people/users/barack/search").status_code == 200
    assert h.get(f"/collections/people/faces/{ids['obama']}/search-users").status_code == 200
    assert (
        h.post(
            "/collections/people/users/barack/faces/disassociate", json={"FaceIds": [ids["obama"]]}
        ).status_code
        == 200
    )
    assert h.delete("/collections/people/users/barack").status_code == 200
    assert h.delete(f"/collections/people/faces/{ids['biden']}").json()["DeletedFaces"] == [ids["biden"]]
    assert h.post("/collections/people/faces/delete", json={"FaceIds": [ids["obama"]]}).json()[
        "DeletedFaces"
    ] == [ids["obama"]]
    assert h.delete("/collections/people").status_code == 200
    assert h.get("/collections/people").status_code == 404


def test_errors_carry_type_and_http_status(api, no_face_photo):
    h = api.http
    cases = [
        (h.get("/collections/missing"), 404, "ResourceNotFoundException"),
        (
            h.post("/detect-faces", files={"Image": ("x.gif", b"GIF89a....", "image/gif")}),
            400,
            "InvalidImageFormatException",
        ),
        (
            h.post(
                "/compare-faces",
                files={**_files(no_face_photo, "SourceImage"), **_files(OBAMA_PORTRAIT, "TargetImage")},
            ),
            400,
            "InvalidParameterException",
        ),
        (
            h.post(
                "/detect-faces",
                json={"Image": {"Bytes": base64.b64encode(b"\xff\xd8\xff" + bytes(6_000_000)).decode()}},
            ),
            413,
            "ImageTooLargeException",
        ),
        (h.post("/collections", json={"CollectionId": "no spaces"}), 400, "InvalidParameterException"),
        (h.get("/collections", params={"MaxResults": "many"}), 400, "SerializationException"),
        (
            h.post("/detect-faces", content=b"{oops", headers={"Content-Type": "application/json"}),
            400,
            "SerializationException",
        ),
        (api.anonymous.get("/collections"), 401, "MissingAuthenticationTokenException"),
        (api.wrong.get("/collections"), 401, "InvalidSignatureException"),
        (api.reader.post("/collections", json={"CollectionId": "nope"}), 403, "AccessDeniedException"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["Code"]) == (status, code), response.text
        assert response.json()["Message"]
    assert api.reader.get("/collections").status_code == 200


def test_openapi_document_and_offline_docs(api):
    doc = httpx.get(f"{api.url}/openapi.json").json()
    paths = doc["paths"]
    assert {
        "/v1/detect-faces",
        "/v1/collections/{CollectionId}/faces",
        "/v1/collections/{CollectionId}/search",
    } <= set(paths)
    index = paths["/v1/collections/{CollectionId}/faces"]["post"]
    assert "multipart/form-data" in index["requestBody"]["content"]
    schema = index["responses"]["200"]["content"]["application/json"]["schema"]
    assert "FaceRecords" in schema["properties"]
    page = httpx.get(f"{api.url}/docs").text
    assert "/docs/static/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert httpx.get(f"{api.url}/docs/static/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(f"{api.url}/health").json()["Status"] == "ok"


def test_accountability_routes(api):
    h = api.http
    assert (
        h.post(
            "/collections",
            json={"CollectionId": "watch", "Policy": {"RequireReview": True, "RequirePurpose": True}},
        ).status_code
        == 200
    )
    assert h.get("/collections/watch/policy").json()["Policy"]["RequireReview"] is True
    assert (
        h.put("/collections/watch/policy", json={"Policy": {"MinThreshold": 80}}).json()["Policy"][
            "MinThreshold"
        ]
        == 80
    )
    h.post("/collections/watch/faces", files=_files(OBAMA_PORTRAIT), data={"ExternalImageId": "obama"})
    refused = h.post("/collections/watch/search", files=_files(OBAMA_SPEECH))
    assert refused.status_code == 400 and "Purpose" in refused.json()["Message"]
    found = h.post(
        "/collections/watch/search",
        files=_files(OBAMA_SPEECH),
        data={"Purpose": "audit test", "CaseId": "c-1"},
    ).json()
    review = found["FaceLedger"]["Review"]
    candidate = review["CandidateIds"][0]
    assert h.get("/collections/watch/review").json()["Candidates"][0]["CandidateId"] == candidate
    # two different keys confirm; the same key twice is refused
    assert (
        h.post(f"/collections/watch/review/{candidate}", json={"Decision": "CONFIRM"}).json()["Candidate"][
            "Status"
        ]
        == "PENDING"
    )
    assert h.post(f"/review/{candidate}", json={"Decision": "CONFIRM"}).status_code == 409
    second = api.second.post(f"/review/{candidate}", json={"Decision": "CONFIRM"}).json()["Candidate"]
    assert second["Status"] == "CONFIRMED"
    assert (
        h.get("/collections/watch/identifications").json()["Identifications"][0]["CandidateId"] == candidate
    )
    entries = h.get("/ledger", params={"CollectionId": "watch", "CaseId": "c-1"}).json()["Entries"]
    assert [e["Operation"] for e in entries] == ["SearchFacesByImage"] and entries[0][
        "Purpose"
    ] == "audit test"
    decisions = h.get("/ledger", params={"Operation": "ReviewCandidate"}).json()["Entries"]
    assert len({e["Actor"] for e in decisions}) == 2
    assert h.get("/ledger/verify").json()["Intact"] is True
    assert h.post("/collections/watch/erase", json={"ExternalImageId": "obama"}).json()["DeletedFaces"]
    assert h.post("/retention/run").json()["FacesDeleted"] == 0
    assert h.get("/ledger", params={"Since": "not a time"}).status_code == 400
    assert h.post("/collections/watch/erase", json={"Nope": 1}).status_code == 400
    # a key limited to some collections must name one to read the ledger
    assert api.reader.get("/ledger").status_code == 403


@needs_models
def test_liveness_and_attributes_over_rest(api):
    r = api.http.post("/liveness", files=_files(OBAMA_PORTRAIT), data={"LivenessThreshold": "20"})
    assert r.status_code == 200, r.text
    face = r.json()["Faces"][0]
    assert r.json()["LivenessThreshold"] == 20 and face["Liveness"]["Live"] is True
    assert set(face["Liveness"]) == {"Live", "Score", "RealFace", "LiveCapture"}
    as_json = {"Image": {"Bytes": base64.b64encode(OBAMA_PORTRAIT.read_bytes()).decode()}}
    assert api.http.post("/liveness", json=as_json).json()["Faces"][0]["BoundingBox"]
    # A native operation's Image is Rekognition's Image: never a path on the server.
    refused = api.http.post("/liveness", json={"Image": "/etc/passwd"})
    assert refused.status_code == 400 and refused.json()["Code"] == "SerializationException"
    assert (
        api.http.post("/liveness", json={"Image": as_json["Image"], "LivenessThreshold": 200}).status_code
        == 400
    )
    missing = api.http.post("/liveness", json={})
    assert missing.status_code == 400 and "Image is required" in missing.json()["Message"]
    # IndexFaces takes faceledger's LivenessThreshold beside Rekognition's members.
    assert api.http.post("/collections", json={"CollectionId": "liveness"}).status_code == 200
    r = api.http.post(
        "/collections/liveness/faces", files=_files(OBAMA_PORTRAIT), data={"LivenessThreshold": "100"}
    )
    assert r.status_code == 200 and r.json()["UnindexedFaces"][0]["Reasons"] == ["LOW_FACE_QUALITY"]
    detail = api.http.post("/detect-faces", files=_files(OBAMA_PORTRAIT), data={"Attributes": "ALL"}).json()
    assert_matches("DetectFaces", {k: v for k, v in detail.items() if k != "FaceLedger"})
    assert {"AgeRange", "Gender", "Emotions", "Smile", "EyeDirection"} <= set(detail["FaceDetails"][0])
    assert {m["Attribute"] for m in detail["FaceLedger"]["UnavailableAttributes"]} >= {"BEARD", "SUNGLASSES"}
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    assert "multipart/form-data" in paths["/v1/liveness"]["post"]["requestBody"]["content"]
    assert paths["/v1/liveness"]["post"]["tags"] == ["images"]
