"""What the web UI needs from the service: session tokens (expiry, tampering, revoked keys,
the key's rights), face thumbnails, video frames, the calibration and fairness reports, and
the /ui page itself."""

from __future__ import annotations

import io
import json
import os
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from conftest import OBAMA_PORTRAIT
from http_server import running_app
from PIL import Image
from synthetic import fairness_report
from videos import compose, two_people

from faceledger.errors import ExpiredTokenException, UnrecognizedClientException
from faceledger.server.app import Settings
from faceledger.server.sessions import SessionTokens

# -- the token itself ----------------------------------------------------------------------


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_names_its_key_until_it_expires():
    clock = Clock(1_000_000.0)
    tokens = SessionTokens(b"k" * 32, lifetime=60, clock=clock)
    token, expires = tokens.issue("FLABC")
    assert expires == 1_000_060 and token.startswith("fls1.")
    assert tokens.verify(token) == "FLABC"
    clock.now = 1_000_059.9
    assert tokens.verify(token) == "FLABC"
    clock.now = 1_000_060
    with pytest.raises(ExpiredTokenException, match="expired"):
        tokens.verify(token)


def test_tampered_or_foreign_tokens_are_refused():
    tokens = SessionTokens(b"k" * 32)
    token, _ = tokens.issue("FLABC")
    prefix, payload, signature = token.split(".")
    # A payload naming another key, or claiming a later expiry, with the old signature.
    other = tokens.issue("FLOTHER")[0].split(".")[1]
    for bad in (
        f"{prefix}.{other}.{signature}",
        f"{prefix}.{payload}.{signature[:-2]}AA",
        f"{prefix}.{payload}.",
        "fls1.",
        "fls1.garbage",
    ):
        with pytest.raises(UnrecognizedClientException, match="sign in again"):
            tokens.verify(bad)
    with pytest.raises(UnrecognizedClientException):
        SessionTokens(b"another service" * 2).verify(token)


def test_lifetime_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELEDGER_SESSION_SECONDS", "5")
    tokens = SessionTokens.for_home(tmp_path)
    token, expires = tokens.issue("FLABC")
    assert 4 <= expires - tokens.clock() <= 5
    # Derived from the master key: a second instance (another worker) accepts the token.
    assert SessionTokens.for_home(tmp_path).verify(token) == "FLABC"
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600


# -- over HTTP -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-api")
    bucket = tmp_path_factory.mktemp("ui-bucket")
    compose(bucket / "two.mp4", two_people())
    os.environ["FACELEDGER_BUCKETS"] = f"clips={bucket}"
    try:
        with running_app(Settings(home=str(home), warm_up=False, retention_interval=0, video_jobs=False)) as (
            url,
            app,
        ):
            keys = app.state.faceledger.auth.keys
            admin, secret = keys.create("admin")
            limited, limited_secret = keys.create(
                "limited", ["ListCollections", "DescribeCollection"], ["kept"]
            )
            yield SimpleNamespace(
                url=url,
                app=app,
                home=home,
                keys=keys,
                admin=admin,
                secret=secret,
                limited=limited,
                limited_secret=limited_secret,
                http=httpx.Client(base_url=f"{url}/v1", timeout=120),
            )
    finally:
        del os.environ["FACELEDGER_BUCKETS"]


def _sign_in(api, key, secret) -> dict:
    r = api.http.post("/sessions", json={"AccessKeyId": key.access_key_id, "SecretAccessKey": secret})
    assert r.status_code == 200, r.text
    return r.json()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_gives_a_token_with_the_keys_rights(api):
    session = _sign_in(api, api.limited, api.limited_secret)
    assert session["AccessKeyId"] == api.limited.access_key_id
    assert session["Operations"] == ["ListCollections", "DescribeCollection"] and session["Collections"] == [
        "kept"
    ]
    assert "SecretAccessKey" not in session and api.limited_secret not in json.dumps(session)
    me = api.http.get("/sessions/current", headers=_bearer(session["SessionToken"]))
    assert me.json()["Name"] == "limited"
    # The same rights as the key: it may list, and may not create.
    assert api.http.get("/collections", headers=_bearer(session["SessionToken"])).status_code == 200
    denied = api.http.post(
        "/collections", json={"CollectionId": "x"}, headers=_bearer(session["SessionToken"])
    )
    assert denied.status_code == 403 and denied.json()["Code"] == "AccessDeniedException"
    assert "may not call CreateCollection" in denied.json()["Message"]


def test_sign_in_refusals(api):
    wrong = api.http.post(
        "/sessions", json={"AccessKeyId": api.admin.access_key_id, "SecretAccessKey": "x" * 40}
    )
    unknown = api.http.post("/sessions", json={"AccessKeyId": "FLNOSUCHKEY", "SecretAccessKey": "x"})
    # The same answer for both: sign-in does not tell which key ids exist.
    assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
    assert wrong.json()["Code"] == "UnrecognizedClientException"
    missing = api.http.post("/sessions", json={"AccessKeyId": api.admin.access_key_id})
    assert missing.status_code == 400
    assert api.http.post("/sessions", content=b"not json").json()["Code"] == "SerializationException"


def test_expired_tampered_and_revoked_sessions_get_401(api):
    tokens = api.app.state.faceledger.auth.sessions
    token, _ = tokens.issue(api.admin.access_key_id)
    saved = tokens.clock
    tokens.clock = lambda: saved() + tokens.lifetime + 1
    try:
        expired = api.http.get("/collections", headers=_bearer(token))
    finally:
        tokens.clock = saved
    assert expired.status_code == 401 and expired.json()["Code"] == "ExpiredTokenException"
    tampered = api.http.get("/collections", headers=_bearer(token[:-3] + "abc"))
    assert tampered.status_code == 401 and tampered.json()["Code"] == "UnrecognizedClientException"

    doomed, doomed_secret = api.keys.create("doomed")
    session = _sign_in(api, doomed, doomed_secret)["SessionToken"]
    assert api.http.get("/collections", headers=_bearer(session)).status_code == 200
    api.keys.revoke(doomed.access_key_id)
    revoked = api.http.get("/collections", headers=_bearer(session))
    assert revoked.status_code == 401 and revoked.json()["Code"] == "UnrecognizedClientException"


def test_sign_out_ends_the_token_at_once(api):
    token = _sign_in(api, api.admin, api.secret)["SessionToken"]
    other = _sign_in(api, api.admin, api.secret)["SessionToken"]
    assert api.http.delete("/sessions/current", headers=_bearer(token)).json() == {"SignedOut": True}
    gone = api.http.get("/sessions/current", headers=_bearer(token))
    assert gone.status_code == 401 and "signed out" in gone.json()["Message"]
    assert api.http.get("/sessions/current", headers=_bearer(other)).status_code == 200  # only that session
    keyed = api.http.delete(
        "/sessions/current", headers={"Authorization": f"Bearer {api.admin.access_key_id}:{api.secret}"}
    )
    assert keyed.status_code == 400


def test_face_thumbnails_only_where_images_are_kept(api):
    h = _bearer(_sign_in(api, api.admin, api.secret)["SessionToken"])
    assert (
        api.http.post(
            "/collections", json={"CollectionId": "kept", "Policy": {"KeepImages": True}}, headers=h
        ).status_code
        == 200
    )
    assert api.http.post("/collections", json={"CollectionId": "bare"}, headers=h).status_code == 200
    face_ids = {}
    for cid in ("kept", "bare"):
        r = api.http.post(
            f"/collections/{cid}/faces",
            headers=h,
            data={"ExternalImageId": "obama"},
            files={"Image": ("o.jpg", OBAMA_PORTRAIT.read_bytes(), "image/jpeg")},
        )
        assert r.status_code == 200, r.text
        face_ids[cid] = r.json()["FaceRecords"][0]["Face"]["FaceId"]
    thumb = api.http.get(f"/collections/kept/faces/{face_ids['kept']}/image", headers=h, params={"Size": 120})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"] == "no-store"
    picture = Image.open(io.BytesIO(thumb.content))
    assert max(picture.size) == 120
    # The crop is the face: the engine finds one face in it, and it is Obama's.
    engine = api.app.state.faceledger.engine
    found = engine.compare_faces(SourceImage=OBAMA_PORTRAIT.read_bytes(), TargetImage=thumb.content).to_dict()
    assert found["FaceMatches"] and found["FaceMatches"][0]["Similarity"] > 90

    none = api.http.get(f"/collections/bare/faces/{face_ids['bare']}/image", headers=h)
    assert none.status_code == 404 and "KeepImages" in none.json()["Message"]
    bad = api.http.get(f"/collections/kept/faces/{face_ids['kept']}/image", headers=h, params={"Size": "big"})
    assert bad.status_code == 400
    # ListFaces is the right a thumbnail needs; the limited key has not got it.
    limited = _bearer(_sign_in(api, api.limited, api.limited_secret)["SessionToken"])
    denied = api.http.get(f"/collections/kept/faces/{face_ids['kept']}/image", headers=limited)
    assert denied.status_code == 403 and "ListFaces" in denied.json()["Message"]
    assert api.http.get(f"/collections/kept/faces/{face_ids['kept']}/image").status_code == 401


def test_video_frame_at_a_time(api):
    h = _bearer(_sign_in(api, api.admin, api.secret)["SessionToken"])
    job = api.http.post(
        "/videos/face-detection",
        headers=h,
        json={"Video": {"S3Object": {"Bucket": "clips", "Name": "two.mp4"}}},
    )
    assert job.status_code == 200, job.text
    job_id = job.json()["JobId"]
    # The frame at 1.5 s shows Obama and Biden: two faces, where the video puts them.
    r = api.http.get(f"/videos/{job_id}/frame", headers=h, params={"Timestamp": 1500})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-faceledger-frame-timestamp"] == "1500"
    frame = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    assert frame.shape == (360, 640, 3)
    faces = api.app.state.faceledger.engine.detect_faces(Image=r.content).to_dict()["FaceDetails"]
    assert len(faces) == 2
    first = api.http.get(f"/videos/{job_id}/frame", headers=h, params={"Timestamp": 0})
    assert (
        len(api.app.state.faceledger.engine.detect_faces(Image=first.content).to_dict()["FaceDetails"]) == 1
    )
    # Past the end: the last frame.
    assert (
        api.http.get(f"/videos/{job_id}/frame", headers=h, params={"Timestamp": 99_000}).headers[
            "x-faceledger-frame-timestamp"
        ]
        == "3900"
    )
    assert api.http.get(f"/videos/{job_id}/frame", headers=h).status_code == 400
    assert api.http.get("/videos/nosuchjob/frame", headers=h, params={"Timestamp": 0}).status_code == 404
    # A key limited to collections may not see a detection job's frames.
    limited = _bearer(_sign_in(api, api.limited, api.limited_secret)["SessionToken"])
    assert (
        api.http.get(f"/videos/{job_id}/frame", headers=limited, params={"Timestamp": 0}).status_code == 403
    )


def test_calibration_report_and_plots(api):
    h = _bearer(_sign_in(api, api.limited, api.limited_secret)["SessionToken"])
    cal = api.http.get("/calibration", headers=h).json()
    assert cal["Name"] == "default" and cal["DefaultThreshold"] == 75.9
    row = next(r for r in cal["Table"] if r["Threshold"] == 75.9)
    assert row["FalseMatchRate"] == pytest.approx(9.2e-4, rel=0.01)
    assert row["ExpectedFalseCandidates"]["10000"] == pytest.approx(row["FalseMatchRate"] * 10_000)
    for plot in cal["Plots"]:
        png = api.http.get(f"/calibration/plots/{plot}", headers=h)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png.content)).size[0] > 400
    assert api.http.get("/calibration/plots/nothing", headers=h).status_code == 404


def test_fairness_report_from_the_data_directory(api):
    h = _bearer(_sign_in(api, api.admin, api.secret)["SessionToken"])
    missing = api.http.get("/fairness", headers=h)
    assert missing.status_code == 404 and "faceledger evaluate" in missing.json()["Message"]
    report = fairness_report(api.home / "fairness")
    got = api.http.get("/fairness", headers=h).json()
    assert [g["Group"] for g in got["Groups"]] == ["a", "b"]
    assert got["Groups"][1]["FalseMatchRate"] == report.groups[1].fmr > report.groups[0].fmr
    for plot in got["Plots"]:
        assert api.http.get(f"/fairness/plots/{plot}", headers=h).content.startswith(b"\x89PNG")


def test_ui_page_is_served_with_a_strict_policy(api):
    page = httpx.get(f"{api.url}/ui/")
    assert page.status_code == 200 and "<title>faceledger</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{api.url}/", follow_redirects=False).headers["location"] == "/ui/"
    script = httpx.get(f"{api.url}/ui/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # Every script the page loads is in the package (nothing from elsewhere).
    assert "http://" not in page.text and "https://" not in page.text


def test_new_routes_are_in_the_openapi_document(api):
    paths = httpx.get(f"{api.url}/openapi.json").json()["paths"]
    for path in (
        "/v1/sessions",
        "/v1/sessions/current",
        "/v1/collections/{CollectionId}/faces/{FaceId}/image",
        "/v1/videos/{JobId}/frame",
        "/v1/calibration",
        "/v1/calibration/plots/{Plot}",
        "/v1/fairness",
    ):
        assert path in paths, path
    assert "image/jpeg" in paths["/v1/videos/{JobId}/frame"]["get"]["responses"]["200"]["content"]
