"""Rekognition's wire protocol, end to end: an unmodified boto3 client against the service on
127.0.0.1, every operation, every error type, SigV4 and key rights; S3Object through a moto S3
server (standing in for a real object store) and through a local bucket folder."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from types import SimpleNamespace
from unittest import mock
from urllib.parse import quote

import httpx
import pytest
from botocore.exceptions import ClientError
from conftest import BIDEN, COLLINS, OBAMA_PORTRAIT, OBAMA_SPEECH, jpeg_bytes, needs_models
from http_server import client, free_port, running_app, signed_request
from PIL import Image
from rekognition_shapes import assert_matches

from faceledger.errors import ProvisionedThroughputExceededException
from faceledger.server.app import Settings
from faceledger.store.keys import KeyStore
from faceledger.vision import model_store


def _strip(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, s3_server):
    home = tmp_path_factory.mktemp("service")
    bucket_dir = tmp_path_factory.mktemp("bucket")
    (bucket_dir / "portraits").mkdir()
    (bucket_dir / "portraits" / "obama.jpg").write_bytes(OBAMA_PORTRAIT.read_bytes())
    env = {
        "FACELEDGER_BUCKETS": f"local-photos={bucket_dir}",
        "FACELEDGER_S3_ENDPOINT_URL": s3_server,
        "FACELEDGER_S3_ACCESS_KEY_ID": "testing",
        "FACELEDGER_S3_SECRET_ACCESS_KEY": "testing",
    }
    with mock.patch.dict(os.environ, env), running_app(Settings(home=str(home))) as (url, app):
        keys: KeyStore = app.state.faceledger.auth.keys
        admin, admin_secret = keys.create("admin")
        limited, limited_secret = keys.create(
            "limited", ["DetectFaces", "ListCollections", "IndexFaces"], ["allowed"]
        )
        gone, gone_secret = keys.create("gone")
        keys.revoke(gone.access_key_id)
        yield SimpleNamespace(
            url=url,
            app=app,
            home=home,
            admin=client(url, admin.access_key_id, admin_secret),
            admin_key=(admin.access_key_id, admin_secret),
            limited=client(url, limited.access_key_id, limited_secret),
            revoked=client(url, gone.access_key_id, gone_secret),
        )


def _error(call, code: str, status: int | None = None) -> str:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    assert err["Code"] == code, err
    if status is not None:
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    return err["Message"]


# -- every operation ---------------------------------------------------------------------------


def test_detect_and_compare_faces(service, group_photo):
    c = service.admin
    found = c.detect_faces(Image={"Bytes": group_photo.read_bytes()}, Attributes=["ALL"])
    assert_matches("DetectFaces", _strip(found))
    assert len(found["FaceDetails"]) == 3
    assert "EyesOpen" in found["FaceDetails"][0]
    if model_store.installed() is not None:  # the attribute models reach boto3 in Rekognition's shapes
        assert {"AgeRange", "Gender", "Emotions", "Smile", "EyeDirection"} <= set(found["FaceDetails"][0])
    compared = c.compare_faces(
        SourceImage={"Bytes": OBAMA_PORTRAIT.read_bytes()}, TargetImage={"Bytes": group_photo.read_bytes()}
    )
    assert_matches("CompareFaces", _strip(compared))
    assert len(compared["FaceMatches"]) == 1 and len(compared["UnmatchedFaces"]) == 2


def test_collection_faces_and_users_round_trip(service):
    c = service.admin
    created = c.create_collection(CollectionId="staff")
    assert_matches("CreateCollection", _strip(created))
    assert "staff" in c.list_collections()["CollectionIds"]
    indexed = {}
    for name, path in (("obama", OBAMA_PORTRAIT), ("biden", BIDEN), ("collins", COLLINS)):
        r = c.index_faces(
            CollectionId="staff", Image={"Bytes": path.read_bytes()}, ExternalImageId=name, MaxFaces=1
        )
        assert_matches("IndexFaces", _strip(r))
        indexed[name] = r["FaceRecords"][0]["Face"]["FaceId"]
    described = c.describe_collection(CollectionId="staff")
    assert_matches("DescribeCollection", _strip(described))
    assert described["FaceCount"] == 3
    page = c.list_faces(CollectionId="staff", MaxResults=2)
    assert_matches("ListFaces", _strip(page))
    rest = c.list_faces(CollectionId="staff", MaxResults=2, NextToken=page["NextToken"])
    assert {f["FaceId"] for f in page["Faces"] + rest["Faces"]} == set(indexed.values())

    hit = c.search_faces_by_image(CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()})
    assert_matches("SearchFacesByImage", _strip(hit))
    assert hit["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    by_id = c.search_faces(CollectionId="staff", FaceId=indexed["obama"], FaceMatchThreshold=0)
    assert_matches("SearchFaces", _strip(by_id))
    assert indexed["obama"] not in {m["Face"]["FaceId"] for m in by_id["FaceMatches"]}

    c.create_user(CollectionId="staff", UserId="barack")
    assert_matches("ListUsers", _strip(c.list_users(CollectionId="staff")))
    associated = c.associate_faces(CollectionId="staff", UserId="barack", FaceIds=[indexed["obama"]])
    assert_matches("AssociateFaces", _strip(associated))
    assert associated["UserStatus"] == "ACTIVE"
    users = c.search_users_by_image(CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()})
    assert_matches("SearchUsersByImage", _strip(users))
    assert users["UserMatches"][0]["User"]["UserId"] == "barack"
    by_user = c.search_users(CollectionId="staff", FaceId=indexed["obama"])
    assert_matches("SearchUsers", _strip(by_user))
    kept = c.delete_faces(CollectionId="staff", FaceIds=[indexed["obama"]])
    assert kept["DeletedFaces"] == []
    assert kept["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    dis = c.disassociate_faces(CollectionId="staff", UserId="barack", FaceIds=[indexed["obama"]])
    assert_matches("DisassociateFaces", _strip(dis))
    assert_matches("DeleteUser", _strip(c.delete_user(CollectionId="staff", UserId="barack")))
    deleted = c.delete_faces(CollectionId="staff", FaceIds=[indexed["biden"]])
    assert_matches("DeleteFaces", _strip(deleted))
    assert deleted["DeletedFaces"] == [indexed["biden"]]
    assert_matches("DeleteCollection", _strip(c.delete_collection(CollectionId="staff")))
    assert "staff" not in c.list_collections()["CollectionIds"]


def test_s3_object_from_an_s3_compatible_store(service, s3_server):
    s3 = client(s3_server, "testing", "testing", service="s3")
    s3.create_bucket(Bucket="faces-in")
    s3.put_object(Bucket="faces-in", Key="people/obama.jpg", Body=OBAMA_PORTRAIT.read_bytes())
    found = service.admin.detect_faces(Image={"S3Object": {"Bucket": "faces-in", "Name": "people/obama.jpg"}})
    assert len(found["FaceDetails"]) == 1
    s3.put_bucket_versioning(Bucket="faces-in", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="faces-in", Key="v.jpg", Body=OBAMA_PORTRAIT.read_bytes())["VersionId"]
    s3.put_object(Bucket="faces-in", Key="v.jpg", Body=b"not an image any more")
    old = {"S3Object": {"Bucket": "faces-in", "Name": "v.jpg", "Version": v1}}
    assert len(service.admin.detect_faces(Image=old)["FaceDetails"]) == 1
    _error(
        lambda: service.admin.detect_faces(Image={"S3Object": {"Bucket": "faces-in", "Name": "v.jpg"}}),
        "InvalidImageFormatException",
    )
    _error(
        lambda: service.admin.detect_faces(Image={"S3Object": {"Bucket": "faces-in", "Name": "missing.jpg"}}),
        "InvalidS3ObjectException",
    )
    _error(
        lambda: service.admin.detect_faces(Image={"S3Object": {"Bucket": "no-such-bucket", "Name": "x.jpg"}}),
        "InvalidS3ObjectException",
    )


def test_s3_object_from_a_local_bucket_folder(service):
    found = service.admin.detect_faces(
        Image={"S3Object": {"Bucket": "local-photos", "Name": "portraits/obama.jpg"}}
    )
    assert len(found["FaceDetails"]) == 1
    _error(
        lambda: service.admin.detect_faces(
            Image={"S3Object": {"Bucket": "local-photos", "Name": "../x.jpg"}}
        ),
        "InvalidS3ObjectException",
    )


# -- every error type --------------------------------------------------------------------------


def test_engine_errors_arrive_as_their_rekognition_types(service, no_face_photo):
    c = service.admin
    assert c.exceptions.InvalidImageFormatException
    _error(
        lambda: c.detect_faces(Image={"Bytes": b"GIF89a not supported"}), "InvalidImageFormatException", 400
    )
    _error(
        lambda: c.detect_faces(Image={"Bytes": jpeg_bytes(Image.new("RGB", (50, 50)))}),
        "InvalidParameterException",
    )
    _error(
        lambda: c.detect_faces(Image={"Bytes": b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 10)}),
        "ImageTooLargeException",
    )
    _error(
        lambda: c.compare_faces(
            SourceImage={"Bytes": no_face_photo.read_bytes()},
            TargetImage={"Bytes": OBAMA_PORTRAIT.read_bytes()},
        ),
        "InvalidParameterException",
    )
    _error(lambda: c.describe_collection(CollectionId="never-made"), "ResourceNotFoundException")
    c.create_collection(CollectionId="twice")
    _error(lambda: c.create_collection(CollectionId="twice"), "ResourceAlreadyExistsException")
    c.create_user(CollectionId="twice", UserId="u1")
    _error(lambda: c.create_user(CollectionId="twice", UserId="u1"), "ConflictException")
    _error(
        lambda: c.list_faces(CollectionId="twice", NextToken="not-a-token"), "InvalidPaginationTokenException"
    )
    # botocore raises the modelled class itself
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.delete_collection(CollectionId="never-made")
    c.delete_collection(CollectionId="twice")


def test_requests_are_validated_against_the_service_model(service):
    key_id, secret = service.admin_key

    def send(target, body) -> httpx.Response:
        req = signed_request(service.url, key_id, secret, target, body)
        return httpx.post(req.url, content=req.body, headers=dict(req.headers))

    bad = send(
        "RekognitionService.SearchFacesByImage",
        json.dumps({"CollectionId": "bad id!", "Image": {"Bytes": "AAAA"}}).encode(),
    )
    assert bad.status_code == 400
    assert bad.json()["__type"] == "InvalidParameterException"
    assert "collectionId" in bad.json()["message"] and "regular expression" in bad.json()["message"]
    missing = send("RekognitionService.IndexFaces", b'{"CollectionId": "c"}').json()
    assert missing["__type"] == "InvalidParameterException" and "image" in missing["message"]
    out_of_range = send("RekognitionService.ListFaces", b'{"CollectionId": "c", "MaxResults": 5000}').json()
    assert "less than or equal to 4096" in out_of_range["message"]
    enum = send(
        "RekognitionService.DetectFaces",
        json.dumps({"Image": {"Bytes": "AAAA"}, "Attributes": ["AGE"]}).encode(),
    )
    assert "enum" in enum.json()["message"]
    unknown = send("RekognitionService.ListCollections", b'{"MaxResult": 3}').json()
    assert unknown["__type"] == "InvalidParameterException" and "MaxResult" in unknown["message"]
    assert (
        send("RekognitionService.ListCollections", b"{not json").json()["__type"] == "SerializationException"
    )
    assert (
        send("RekognitionService.DetectFaces", b'{"Image": {"Bytes": "***"}}').json()["__type"]
        == "SerializationException"
    )
    assert send("RekognitionService.DetectText", b"{}").json()["__type"] == "UnknownOperationException"
    assert send(None, b"{}").json()["__type"] == "UnknownOperationException"
    ok = send(
        "RekognitionService.DetectFaces",
        json.dumps({"Image": {"Bytes": base64.b64encode(OBAMA_PORTRAIT.read_bytes()).decode()}}).encode(),
    )
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/x-amz-json-1.1"
    assert ok.headers["x-amzn-requestid"]


def test_authentication_errors(service):
    key_id, secret = service.admin_key
    _error(
        lambda: client(service.url, "FLNOSUCHKEY000000000", secret).list_collections(),
        "UnrecognizedClientException",
        403,
    )
    _error(
        lambda: client(service.url, key_id, "wrong" * 8).list_collections(), "InvalidSignatureException", 403
    )
    _error(lambda: service.revoked.list_collections(), "UnrecognizedClientException")
    unsigned = httpx.post(
        service.url,
        content=b"{}",
        headers={
            "X-Amz-Target": "RekognitionService.ListCollections",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert unsigned.status_code == 403 and unsigned.json()["__type"] == "MissingAuthenticationTokenException"
    # a signature made 20 minutes before the server's time is refused, one made 5 minutes before is not
    auth = service.app.state.faceledger.auth
    for minutes, expected in ((20, "InvalidSignatureException"), (5, None)):
        req = signed_request(service.url, key_id, secret, "RekognitionService.ListCollections", b"{}")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        with mock.patch.object(auth, "clock", lambda later=later: later):
            r = httpx.post(req.url, content=req.body, headers=dict(req.headers))
        assert (r.json().get("__type") if r.status_code != 200 else None) == expected, r.text
        if expected:
            assert "expired" in r.json()["message"]
    # the body is covered by the signature
    req = signed_request(service.url, key_id, secret, "RekognitionService.ListCollections", b"{}")
    tampered = httpx.post(req.url, content=b'{"MaxResults": 1}', headers=dict(req.headers))
    assert tampered.json()["__type"] == "InvalidSignatureException"
    # service scope
    req = signed_request(
        service.url, key_id, secret, "RekognitionService.ListCollections", b"{}", service="s3"
    )
    assert "service" in httpx.post(req.url, content=req.body, headers=dict(req.headers)).json()["message"]


def test_key_rights_limit_operations_and_collections(service):
    service.admin.create_collection(CollectionId="allowed")
    service.admin.create_collection(CollectionId="forbidden")
    lim = service.limited
    assert lim.detect_faces(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})["FaceDetails"]
    assert set(lim.list_collections()["CollectionIds"]) == {"allowed"}
    lim.index_faces(CollectionId="allowed", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})
    msg = _error(
        lambda: lim.index_faces(CollectionId="forbidden", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}),
        "AccessDeniedException",
    )
    assert "forbidden" in msg
    _error(lambda: lim.delete_collection(CollectionId="allowed"), "AccessDeniedException")
    with pytest.raises(lim.exceptions.AccessDeniedException):
        lim.search_faces_by_image(CollectionId="allowed", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})


class SteppedClock:
    """A clock for the rate limiter that moves only forward, and only when told to (or by
    `step` at every reading)."""

    def __init__(self, start: float = 5.0):
        self.now, self.step = start, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_rate_limit_answers_provisioned_throughput_exceeded(tmp_path):
    with running_app(Settings(home=str(tmp_path), rate_limit=2.0, warm_up=False)) as (url, app):
        key, secret = app.state.faceledger.auth.keys.create("busy")
        c = client(url, key.access_key_id, secret)
        clock = SteppedClock()
        app.state.faceledger.auth.limiter.clock = clock  # no refill while counting
        codes = []
        for _ in range(6):
            try:
                c.list_collections()
                codes.append("ok")
            except c.exceptions.ProvisionedThroughputExceededException:
                codes.append("throttled")
        assert codes == ["ok", "ok"] + ["throttled"] * 4
        # time moves on at each reading: boto3's own retries back off and get through
        clock.step = 0.3
        assert client(url, key.access_key_id, secret, retries=5).list_collections()["CollectionIds"] == []


def test_rate_limiter_never_runs_backwards():
    from faceledger.server.auth import RateLimiter

    readings = iter([1000.0, 1000.0, 3.0, 3.5, 4.5])
    limiter = RateLimiter(1.0, clock=lambda: next(readings))
    limiter.take("k")  # 1000.0: the burst's one token
    with pytest.raises(ProvisionedThroughputExceededException):
        limiter.take("k")  # 1000.0: empty
    with pytest.raises(ProvisionedThroughputExceededException):
        limiter.take("k")  # 3.0: a reading from an earlier clock: no time passed, none owed
    with pytest.raises(ProvisionedThroughputExceededException):
        limiter.take("k")  # 3.5: half a token
    limiter.take("k")  # 4.5: a second and a half since the clock went back: a token again


def test_region_is_enforced_only_when_configured(tmp_path):
    with running_app(Settings(home=str(tmp_path), region="eu-west-1", warm_up=False)) as (url, app):
        key, secret = app.state.faceledger.auth.keys.create("eu")
        assert (
            client(url, key.access_key_id, secret, region="eu-west-1").list_collections()["CollectionIds"]
            == []
        )
        msg = _error(
            lambda: client(url, key.access_key_id, secret, region="us-east-1").list_collections(),
            "InvalidSignatureException",
        )
        assert "region" in msg


def test_quota_and_internal_errors(service):
    c = service.admin
    engine = service.app.state.faceledger.engine
    c.create_collection(CollectionId="crowded")
    prepared = engine._prepare_index_faces(OBAMA_PORTRAIT, MaxFaces=1)
    face_ids = [
        engine._store_indexed_faces("crowded", prepared).face_records[0].face.face_id for _ in range(101)
    ]
    c.create_user(CollectionId="crowded", UserId="many")
    assert (
        len(
            c.associate_faces(CollectionId="crowded", UserId="many", FaceIds=face_ids[:100])[
                "AssociatedFaces"
            ]
        )
        == 100
    )
    _error(
        lambda: c.associate_faces(CollectionId="crowded", UserId="many", FaceIds=face_ids[100:]),
        "ServiceQuotaExceededException",
    )

    def broken(**_):
        raise RuntimeError("a fault inside the engine")

    with mock.patch.object(engine, "list_collections", broken):
        message = _error(lambda: c.list_collections(), "InternalServerError", 500)
    assert "fault" not in message  # the cause goes to the log, not to the caller
    assert c.list_collections()["CollectionIds"]


def test_policy_purpose_and_case_travel_as_headers(service):
    c = service.admin
    engine = service.app.state.faceledger.engine
    engine.create_collection(CollectionId="guarded", policy={"RequirePurpose": True, "RequireCase": True})
    c.index_faces(CollectionId="guarded", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}, MaxFaces=1)
    probe = {"Bytes": OBAMA_SPEECH.read_bytes()}
    msg = _error(
        lambda: c.search_faces_by_image(CollectionId="guarded", Image=probe), "InvalidParameterException"
    )
    assert "X-FaceLedger-Purpose" in msg

    def add_context(request, **_):
        request.headers["X-FaceLedger-Purpose"] = quote("lost child, Søren")  # header values are ASCII
        request.headers["X-FaceLedger-Case-Id"] = "case-42"
        request.headers["X-FaceLedger-Max-False-Match-Rate"] = "1e-4"

    c.meta.events.register("before-sign.rekognition.SearchFacesByImage", add_context)
    try:
        found = c.search_faces_by_image(CollectionId="guarded", Image=probe)
    finally:
        c.meta.events.unregister("before-sign.rekognition.SearchFacesByImage", add_context)
    assert found["FaceMatches"]
    entry = engine.list_ledger(CollectionId="guarded", Operation="SearchFacesByImage")["Entries"][-1]
    assert (entry["Purpose"], entry["CaseId"]) == ("lost child, Søren", "case-42")
    assert entry["Actor"] == service.admin_key[0]
    assert entry["FalseMatchRate"] <= 1e-4


@needs_models
def test_liveness_threshold_travels_as_a_header_and_the_policy_holds_without_it(service):
    c = service.admin
    c.create_collection(CollectionId="door")
    image = {"Bytes": OBAMA_PORTRAIT.read_bytes()}

    def bar(value):
        def add(request, **_):
            request.headers["X-FaceLedger-Liveness-Threshold"] = value

        return add

    for value, indexed in (("100", 0), ("1", 1)):
        hook = bar(value)
        c.meta.events.register("before-sign.rekognition.IndexFaces", hook)
        try:
            r = c.index_faces(CollectionId="door", Image=image)
        finally:
            c.meta.events.unregister("before-sign.rekognition.IndexFaces", hook)
        assert len(r["FaceRecords"]) == indexed
        assert [u["Reasons"] for u in r["UnindexedFaces"]] == ([] if indexed else [["LOW_FACE_QUALITY"]])
    hook = bar("lots")
    c.meta.events.register("before-sign.rekognition.IndexFaces", hook)
    try:
        _error(lambda: c.index_faces(CollectionId="door", Image=image), "InvalidParameterException")
    finally:
        c.meta.events.unregister("before-sign.rekognition.IndexFaces", hook)
    # A plain boto3 call, no header: the collection's MinLiveness still applies.
    service.app.state.faceledger.engine.put_collection_policy(
        CollectionId="door", Policy={"MinLiveness": 100}
    )
    r = c.index_faces(CollectionId="door", Image=image)
    assert not r["FaceRecords"] and r["UnindexedFaces"][0]["Reasons"] == ["LOW_FACE_QUALITY"]


def test_the_extension_member_is_on_the_wire(service):
    """botocore drops members it does not know, so raw JSON shows what the service adds."""
    key_id, secret = service.admin_key
    body = json.dumps(
        {
            "SourceImage": {"Bytes": base64.b64encode(OBAMA_PORTRAIT.read_bytes()).decode()},
            "TargetImage": {"Bytes": base64.b64encode(OBAMA_SPEECH.read_bytes()).decode()},
        }
    ).encode()
    req = signed_request(service.url, key_id, secret, "RekognitionService.CompareFaces", body)
    out = httpx.post(req.url, content=req.body, headers=dict(req.headers), timeout=60).json()
    ext = out["FaceLedger"]
    assert ext["Comparisons"] == 1 and ext["FalseMatchRate"] < 0.01 and ext["Calibration"] == "default"
    assert ext["ExpectedFalseMatches"] == pytest.approx(ext["FalseMatchRate"])


def test_hostile_and_odd_requests_get_typed_errors(service):
    key_id, secret = service.admin_key

    def send(req, content=None, headers=None):
        return httpx.post(
            req.url,
            content=req.body if content is None else content,
            headers={**dict(req.headers), **(headers or {})},
        )

    deep = signed_request(service.url, key_id, secret, "RekognitionService.ListCollections", b"[" * 100_000)
    assert send(deep).json()["__type"] == "SerializationException"
    req = signed_request(service.url, key_id, secret, "RekognitionService.ListCollections", b"{}")
    assert send(req, headers={"X-Amz-Date": "20261340T000000Z"}).json()["__type"] in (
        "IncompleteSignatureException",
        "InvalidSignatureException",
    )
    # a signature that does not cover the operation is refused, so it cannot be replayed on another
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    bare = AWSRequest(method="POST", url=service.url + "/", data=b"{}", headers={})
    SigV4Auth(Credentials(key_id, secret), "rekognition", "us-east-1").add_auth(bare)
    r = httpx.post(
        bare.url,
        content=b"{}",
        headers={**dict(bare.headers), "X-Amz-Target": "RekognitionService.DeleteCollection"},
    )
    assert r.json()["__type"] == "InvalidSignatureException" and "x-amz-target" in r.json()["message"]
    # a client that signs without the body says so, and is accepted
    unsigned = AWSRequest(
        method="POST",
        url=service.url + "/",
        data=b"{}",
        headers={
            "X-Amz-Target": "RekognitionService.ListCollections",
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
        },
    )
    SigV4Auth(Credentials(key_id, secret), "rekognition", "us-east-1").add_auth(unsigned)
    assert httpx.post(unsigned.url, content=b"{}", headers=dict(unsigned.headers)).status_code == 200
    _error(
        lambda: service.admin.detect_faces(Image={"S3Object": {"Bucket": "local-photos", "Name": "a\x00b"}}),
        "InvalidParameterException",
    )


def test_a_limited_key_learns_nothing_of_other_collections(service):
    for cid in ("a-secret-1", "allowed", "z-secret-2"):
        try:
            service.admin.create_collection(CollectionId=cid)
        except service.admin.exceptions.ResourceAlreadyExistsException:
            pass
    seen, token = [], None
    while True:
        page = service.limited.list_collections(MaxResults=1, **({"NextToken": token} if token else {}))
        seen += page["CollectionIds"]
        token = page.get("NextToken")
        if token:
            assert "secret" not in base64.urlsafe_b64decode(token.encode()).decode()
        else:
            break
    assert seen == ["allowed"]
