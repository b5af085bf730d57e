"""Stream processors: Rekognition's operations on the engine, and live search of a real RTSP
camera on loopback (GStreamer's RTSP server, tests/rtsp_server.py): the right person's events
arrive, a stranger gets no match, every search is on the ledger, the camera may drop and come
back, a processor outlives a restart of the service, and boto3 and the AWS CLI manage it."""

from __future__ import annotations

import json
import time

import pytest
from conftest import BIDEN, OBAMA_PORTRAIT
from http_server import Webhook
from rtsp_camera import RtspCamera, compose_clip, rtsp_available  # noqa: F401

from faceledger import FaceLedger
from faceledger.accountability.ledger import acting
from faceledger.engine.stream_runner import StreamRunner
from faceledger.errors import (
    InvalidParameterException,
    ResourceInUseException,
    ResourceNotFoundException,
)

ROLE = "arn:aws:iam::123456789012:role/faceledger"
CAMERA_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/door/1"
SINK_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/door-events"


@pytest.fixture
def fl(tmp_path):
    engine = FaceLedger(home=tmp_path / "home")
    engine.create_collection(CollectionId="staff")
    yield engine
    engine.close()


def _create(fl, name="door", source="rtsp://cam:secret@127.0.0.1:9/camera", sink=None, **kw):
    return fl.create_stream_processor(
        Input={"KinesisVideoStream": {"Arn": source}},
        Output={"KinesisDataStream": {"Arn": sink or f"file://{fl.home}/streams/unused.jsonl"}},
        Name=name,
        Settings={"FaceSearch": {"CollectionId": "staff", "FaceMatchThreshold": 90}},
        RoleArn=ROLE,
        **kw,
    ).to_dict()


def test_processors_are_created_described_listed_and_deleted(fl):
    arn = _create(fl)["StreamProcessorArn"]
    assert arn.endswith(":streamprocessor/door")
    described = fl.describe_stream_processor(Name="door").to_dict()
    assert described["Status"] == "STOPPED"
    # The camera's password is never given back.
    assert described["Input"]["KinesisVideoStream"]["Arn"] == "rtsp://cam:***@127.0.0.1:9/camera"
    assert described["Settings"]["FaceSearch"] == {"CollectionId": "staff", "FaceMatchThreshold": 90.0}
    with pytest.raises(ResourceInUseException):
        _create(fl)
    for i in range(3):
        _create(fl, name=f"lobby-{i}")
    first = fl.list_stream_processors(MaxResults=2).to_dict()
    rest = fl.list_stream_processors(MaxResults=2, NextToken=first["NextToken"]).to_dict()
    names = [p["Name"] for p in first["StreamProcessors"] + rest["StreamProcessors"]]
    assert names == ["door", "lobby-0", "lobby-1", "lobby-2"] and "NextToken" not in rest
    fl.update_stream_processor(
        Name="door",
        RegionsOfInterestForUpdate=[{"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}}],
    )
    assert len(fl.describe_stream_processor(Name="door")["RegionsOfInterest"]) == 1
    fl.update_stream_processor(Name="door", ParametersToDelete=["RegionsOfInterest"])
    assert "RegionsOfInterest" not in fl.describe_stream_processor(Name="door").to_dict()
    # Start, then Delete refused while it should run; Stop when no node holds it stops at once.
    assert fl.start_stream_processor(Name="door")["SessionId"]
    assert fl.describe_stream_processor(Name="door")["Status"] == "STARTING"
    with pytest.raises(ResourceInUseException):
        fl.start_stream_processor(Name="door")
    with pytest.raises(ResourceInUseException):
        fl.delete_stream_processor(Name="door")
    fl.stop_stream_processor(Name="door")
    assert fl.describe_stream_processor(Name="door")["Status"] == "STOPPED"
    with pytest.raises(ResourceInUseException):
        fl.stop_stream_processor(Name="door")
    fl.delete_stream_processor(Name="door")
    with pytest.raises(ResourceNotFoundException):
        fl.describe_stream_processor(Name="door")
    operations = {e["Operation"] for e in fl.list_ledger()["Entries"]}
    assert {"CreateStreamProcessor", "StartStreamProcessor", "StopStreamProcessor"} <= operations


def test_bad_processors_are_refused_with_the_reason(fl):
    with pytest.raises(InvalidParameterException, match="registered"):
        _create(fl, source=CAMERA_ARN)  # an ARN nobody mapped to a camera
    with pytest.raises(InvalidParameterException, match="rtsp://"):
        _create(fl, source="ftp://127.0.0.1/camera")
    with pytest.raises(InvalidParameterException, match="S3Destination"):
        fl.create_stream_processor(
            Input={"KinesisVideoStream": {"Arn": "rtsp://127.0.0.1:9/x"}},
            Output={"S3Destination": {"Bucket": "b"}},
            Name="x",
            Settings={"FaceSearch": {"CollectionId": "staff"}},
            RoleArn=ROLE,
        )
    with pytest.raises(ResourceNotFoundException):
        fl.create_stream_processor(
            Input={"KinesisVideoStream": {"Arn": "rtsp://127.0.0.1:9/x"}},
            Output={"KinesisDataStream": {"Arn": f"file://{fl.home}/streams/x.jsonl"}},
            Name="x",
            Settings={"FaceSearch": {"CollectionId": "nobody"}},
            RoleArn=ROLE,
        )
    with pytest.raises(InvalidParameterException, match="Name"):
        _create(fl, name="no spaces")
    # Registered ARNs lead to their URLs; the registry never shows a password either.
    fl.put_stream_endpoint(Arn=CAMERA_ARN, Url="rtsp://cam:secret@127.0.0.1:9/camera")
    # A file sink writes in the data directory's streams folder, nowhere else.
    with pytest.raises(InvalidParameterException, match="streams folder"):
        _create(fl, sink=f"file://{fl.home}/streams/../catalog.db")
    with pytest.raises(InvalidParameterException, match="streams folder"):
        fl.put_stream_endpoint(Arn=SINK_ARN, Url="file:///etc/cron.d/x")
    fl.put_stream_endpoint(Arn=SINK_ARN, Url=f"file://{fl.home}/streams/door.jsonl")
    _create(fl, source=CAMERA_ARN, sink=SINK_ARN)
    assert fl.describe_stream_processor(Name="door")["Input"]["KinesisVideoStream"]["Arn"] == CAMERA_ARN
    shown = fl.list_stream_endpoints().to_dict()["Endpoints"]
    assert {"Arn": CAMERA_ARN, "Kind": "source", "Url": "rtsp://cam:***@127.0.0.1:9/camera"} in shown


def test_the_policy_refuses_a_processor_without_a_purpose(fl):
    fl.put_collection_policy(CollectionId="staff", Policy={"RequirePurpose": True})
    with pytest.raises(InvalidParameterException, match="requires a purpose"):
        _create(fl)
    with acting("ops", purpose="Building access control", case_id="door-2026"):
        _create(fl)
    described = fl.describe_stream_processor(Name="door").to_dict()
    assert described["FaceLedger"]["Purpose"] == "Building access control"


# -- live, against a real RTSP camera ------------------------------------------------------


@pytest.fixture
def camera(tmp_path, rtsp_available):  # noqa: F811
    """10 frames a second, looping: Obama for 3 s, an empty hall for 1 s, Biden for 3 s."""
    frames = compose_clip(tmp_path / "frames", [(OBAMA_PORTRAIT, 30), (None, 10), (BIDEN, 30)])
    cam = RtspCamera(frames, fps=10)
    yield cam
    cam.stop()


def _events(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} within {seconds:g} s")


@pytest.mark.slow
def test_live_search_finds_the_right_person_and_records_every_search(fl, camera, tmp_path):
    obama = fl.index_faces(CollectionId="staff", Image=OBAMA_PORTRAIT, ExternalImageId="obama").to_dict()
    obama_id = obama["FaceRecords"][0]["Face"]["FaceId"]
    sink = fl.home / "streams" / "events.jsonl"
    _create(fl, source=camera.url, sink=f"file://{sink}")
    fl.start_stream_processor(Name="door")
    runner = StreamRunner(fl, slots=1, give_up=4).start()
    try:
        _wait(lambda: fl.describe_stream_processor(Name="door")["Status"] == "RUNNING", 60, "RUNNING")

        def both_seen():
            events = _events(sink)
            matched = [e for e in events if e["FaceSearchResponse"][0]["MatchedFaces"]]
            strangers = [e for e in events if not e["FaceSearchResponse"][0]["MatchedFaces"]]
            return (matched, strangers) if matched and strangers else None

        matched, strangers = _wait(both_seen, 60, "Obama matched and Biden unmatched")
        face = matched[0]["FaceSearchResponse"][0]["MatchedFaces"][0]
        assert face["Face"]["FaceId"] == obama_id and face["Similarity"] >= 90
        assert matched[0]["StreamProcessorInformation"]["Status"] == "RUNNING"
        info = matched[0]["InputInformation"]["KinesisVideo"]
        # The frame was sent at ProducerTimestamp + FrameOffsetInSeconds, and decoded after that.
        sent = info["ProducerTimestamp"] + info["FrameOffsetInSeconds"]
        assert sent - 0.05 <= info["ServerTimestamp"] <= sent + 30
        # Every event's matches come from a search on the ledger, with the processor's name.
        entries = {e["Seq"]: e for e in fl.list_ledger(Operation="StreamProcessorSearch")["Entries"]}
        for event in matched + strangers:
            for seq in event["FaceLedger"]["LedgerSeqs"]:
                assert entries[seq]["Detail"]["StreamProcessor"] == "door"
        assert any(m["FaceId"] == obama_id for e in entries.values() for m in e["Detail"]["Matches"])

        # The camera drops: the processor keeps RUNNING and reconnects; events resume.
        camera.stop()
        _wait(
            lambda: not fl.describe_stream_processor(Name="door")["FaceLedger"]["Connected"], 15, "seen down"
        )
        camera.start()
        before = len(_events(sink))
        _wait(lambda: len(_events(sink)) > before + 3, 60, "events after the camera came back")
        described = fl.describe_stream_processor(Name="door").to_dict()
        assert described["Status"] == "RUNNING" and described["FaceLedger"]["Reconnects"] >= 1

        # Stop: STOPPING until its node sees it, then STOPPED; no event after that.
        fl.stop_stream_processor(Name="door")
        _wait(lambda: fl.describe_stream_processor(Name="door")["Status"] == "STOPPED", 15, "STOPPED")
        count = len(_events(sink))
        time.sleep(1.5)
        assert len(_events(sink)) == count

        # A camera gone for longer than the processor waits: FAILED, with the reason.
        fl.start_stream_processor(Name="door")
        _wait(lambda: fl.describe_stream_processor(Name="door")["Status"] == "RUNNING", 60, "RUNNING again")
        camera.stop()
        failed = _wait(
            lambda: (d := fl.describe_stream_processor(Name="door").to_dict())["Status"] == "FAILED" and d,
            30,
            "FAILED",
        )
        assert "could not be read" in failed["StatusMessage"] and "secret" not in failed["StatusMessage"]
    finally:
        runner.stop()


def _stream_events(hook: Webhook) -> list[tuple[float, dict]]:
    return [(t, b) for t, b in hook.received if "FaceSearchResponse" in b]


@pytest.mark.slow
def test_boto3_and_the_aws_cli_run_a_processor_that_survives_a_restart(camera, tmp_path):
    import re

    from http_server import client, start_serve
    from test_http_serve import _aws

    secret = "webhook-secret"
    hook = Webhook(secret)
    home = tmp_path / "served"
    home.mkdir()
    env = {
        "FACELEDGER_WEBHOOK_SECRET": secret,
        "FACELEDGER_WEBHOOKS": f"door-status={hook.url}",
        "FACELEDGER_WARM_UP": "0",
        "FACELEDGER_STREAM_STALE_SECONDS": "3",
    }
    proc, url, log = start_serve(home, env=env)
    try:
        key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", log.read_text())[1]
        key_secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())[1]
        rek = client(url, key_id, key_secret)
        rek.create_collection(CollectionId="staff")
        rek.index_faces(
            CollectionId="staff", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}, ExternalImageId="obama"
        )
        rek.create_stream_processor(
            Input={"KinesisVideoStream": {"Arn": camera.url}},
            Output={"KinesisDataStream": {"Arn": hook.url}},
            Name="door",
            Settings={"FaceSearch": {"CollectionId": "staff", "FaceMatchThreshold": 90}},
            RoleArn=ROLE,
            NotificationChannel={"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:door-status"},
        )
        rek.start_stream_processor(Name="door")
        _wait(lambda: rek.describe_stream_processor(Name="door")["Status"] == "RUNNING", 90, "RUNNING")
        matched = _wait(
            lambda: [t for t, e in _stream_events(hook) if e["FaceSearchResponse"][0]["MatchedFaces"]],
            60,
            "a match",
        )
        assert matched and hook.bad_signatures == 0
        statuses = [b["Status"] for _, b in hook.received if "StreamProcessorArn" in b]
        assert "RUNNING" in statuses
        # The AWS CLI sees it as boto3 does.
        listed = _aws(url, key_id, key_secret, tmp_path, "list-stream-processors")
        assert listed["StreamProcessors"] == [{"Name": "door", "Status": "RUNNING"}]

        # The service restarts: the processor, left RUNNING, resumes on its own.
        proc.terminate()
        proc.wait(30)
        count = len(_stream_events(hook))
        proc, url, log = start_serve(home, env=env)
        rek = client(url, key_id, key_secret)
        _wait(lambda: len(_stream_events(hook)) > count + 3, 90, "events after the restart")
        described = rek.describe_stream_processor(Name="door")
        assert described["Status"] == "RUNNING"

        _aws(url, key_id, key_secret, tmp_path, "stop-stream-processor", "--name", "door")
        _wait(lambda: rek.describe_stream_processor(Name="door")["Status"] == "STOPPED", 20, "STOPPED")
        rek.delete_stream_processor(Name="door")
        assert rek.list_stream_processors()["StreamProcessors"] == []
    finally:
        proc.terminate()
        proc.wait(30)
        hook.close()


def test_the_command_line_and_the_rest_api_manage_processors(tmp_path, capsys):
    import httpx
    from http_server import running_app

    from faceledger.cli import main
    from faceledger.server.app import Settings

    home = str(tmp_path / "home")
    assert main(["--home", home, "collections", "create", "staff"]) == 0
    assert main(["--home", home, "streams", "sources", "add", CAMERA_ARN, "rtsp://u:pw@127.0.0.1:9/x"]) == 0
    assert main(["--home", home, "streams", "sinks", "add", SINK_ARN, f"file://{home}/streams/e.jsonl"]) == 0
    args = ["--input", CAMERA_ARN, "--output", SINK_ARN, "--collection", "staff", "--threshold", "95"]
    assert main(["--home", home, "streams", "create", "door", *args]) == 0
    capsys.readouterr()
    assert main(["--home", home, "streams", "describe", "door"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["Settings"]["FaceSearch"]["FaceMatchThreshold"] == 95.0
    assert main(["--home", home, "streams", "sources"]) == 0
    assert "pw" not in capsys.readouterr().out

    with running_app(Settings(home=home, streams=False)) as (url, app):
        key, secret = app.state.faceledger.auth.keys.create("ops")
        http = httpx.Client(
            base_url=f"{url}/v1", headers={"Authorization": f"Bearer {key.access_key_id}:{secret}"}
        )
        made = http.post(
            "/streams",
            json={
                "Name": "lobby",
                "Input": {"KinesisVideoStream": {"Arn": "rtsp://127.0.0.1:9/lobby"}},
                "Output": {"KinesisDataStream": {"Arn": f"file://{home}/streams/lobby.jsonl"}},
                "Settings": {"FaceSearch": {"CollectionId": "staff"}},
                "RoleArn": ROLE,
                "SampleRate": 2,
            },
        )
        assert made.status_code == 200, made.text
        assert [p["Name"] for p in http.get("/streams").json()["StreamProcessors"]] == ["door", "lobby"]
        assert http.get("/streams/lobby").json()["FaceLedger"]["SampleRate"] == 2.0
        assert http.post("/streams/lobby/start").json()["SessionId"]
        assert http.delete("/streams/lobby").status_code == 409  # ResourceInUseException
        assert http.post("/streams/lobby/stop").status_code == 200
        assert http.delete("/streams/lobby").status_code == 200
        assert http.get("/streams/lobby").status_code == 404
        wrong = http.post(
            "/streams", json={"Name": "x", "Input": {}, "Output": {}, "Settings": {}, "RoleArn": ROLE}
        )
        assert wrong.status_code == 400
        endpoints = http.get("/stream-endpoints").json()["Endpoints"]
        assert {e["Kind"] for e in endpoints} == {"source", "sink"}
        # Prometheus's text format, for a scraper with a key.
        scraped = httpx.get(f"{url}/metrics", headers=http.headers).text
        assert 'faceledger_stream_status{processor="door",status="STOPPED"} 1' in scraped
        assert "faceledger_stream_slots " in scraped
        assert httpx.get(f"{url}/metrics").status_code == 401
        # A key limited to another collection sees none of these processors, nor the cameras.
        other, other_secret = app.state.faceledger.auth.keys.create("other", None, ["other"])
        limited = httpx.Client(
            base_url=f"{url}/v1", headers={"Authorization": f"Bearer {other.access_key_id}:{other_secret}"}
        )
        assert limited.get("/streams").json()["StreamProcessors"] == []
        assert limited.get("/streams/door").status_code == 403
        assert limited.get("/stream-endpoints").status_code == 403
        assert "door" not in httpx.get(f"{url}/metrics", headers=limited.headers).text


def test_a_processor_runs_on_one_node_and_moves_when_its_node_goes_quiet(fl):
    _create(fl)
    fl.start_stream_processor(Name="door")
    a = StreamRunner(fl, slots=2, stale_after=1.0)
    b = StreamRunner(fl, slots=2, stale_after=1.0)
    assert a._claim(2) == ["door"] and b._claim(2) == []  # one conditional update wins
    assert fl.stream_processor("door").claimed_by == a.name
    time.sleep(1.5)  # a beats no more: as if its node died
    assert b._claim(2) == ["door"] and a._claim(2) == []
    assert fl.stream_processor("door").claimed_by == b.name
