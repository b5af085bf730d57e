"""Stored video over HTTP, as a user runs it: boto3's StartFaceDetection / GetFaceSearch on a
video in a bucket, the completion webhook, the REST routes, and a service killed in the middle
of a job and started again: the job ends, it is not lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import BIDEN, OBAMA_PORTRAIT
from http_server import client, free_port, start_serve
from videos import Appearance, compose, obama_face, two_people

from faceledger import FaceLedger

pytestmark = pytest.mark.slow  # video jobs in a service


class Hooks(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", free_port()), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/done"
    server.shutdown()


def start_service(
    home: Path, bucket: Path, hook: str | None = None, stale: str = "60"
) -> tuple[subprocess.Popen, str]:
    env = {
        "FACELEDGER_BUCKETS": f"videos={bucket}",
        "FACELEDGER_JOB_STALE_SECONDS": stale,
        "FACELEDGER_WEBHOOKS": f"done={hook}" if hook else "",
        "FACELEDGER_VIDEO_WORKERS": "1",
    }
    proc, url, _ = start_serve(home, "--workers", "1", env=env, new_session=True)
    return proc, url


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(60)


@pytest.fixture(scope="module")
def served(tmp_path_factory, webhook):
    home = tmp_path_factory.mktemp("video-service")
    bucket = tmp_path_factory.mktemp("bucket")
    compose(bucket / "two_people.mp4", two_people())
    fl = FaceLedger(home=home)
    key, secret = fl.keys.create("t")
    fl.close()
    proc, url = start_service(home, bucket, webhook)
    yield url, client(url, key.access_key_id, secret), (key.access_key_id, secret)
    stop(proc)


def wait(get, job_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = get(JobId=job_id)
        if result["JobStatus"] != "IN_PROGRESS":
            return result
        time.sleep(0.5)
    raise AssertionError("the job did not finish")


def test_boto3_face_detection_and_search_with_a_webhook(served):
    url, rek, _ = served
    video = {"S3Object": {"Bucket": "videos", "Name": "two_people.mp4"}}
    channel = {
        "SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:done",
        "RoleArn": "arn:aws:iam::123456789012:role/x",
    }
    job = rek.start_face_detection(
        Video=video, JobTag="door-cam", NotificationChannel=channel, ClientRequestToken="d-1"
    )["JobId"]
    assert (
        rek.start_face_detection(
            Video=video, JobTag="door-cam", NotificationChannel=channel, ClientRequestToken="d-1"
        )["JobId"]
        == job
    )
    done = wait(rek.get_face_detection, job)
    assert done["JobStatus"] == "SUCCEEDED" and done["VideoMetadata"]["Codec"] == "h264"
    assert done["Video"] == video and done["JobTag"] == "door-cam" and len(done["Faces"]) == 25
    deadline = time.monotonic() + 20
    while not any(m["JobId"] == job for m in Hooks.received) and time.monotonic() < deadline:
        time.sleep(0.2)
    message = next(m for m in Hooks.received if m["JobId"] == job)
    assert (message["Status"], message["API"], message["JobTag"]) == (
        "SUCCEEDED",
        "StartFaceDetection",
        "door-cam",
    )
    assert message["Video"] == {"S3ObjectName": "two_people.mp4", "S3Bucket": "videos"}

    rek.create_collection(CollectionId="people")
    rek.index_faces(
        CollectionId="people",
        Image={"Bytes": OBAMA_PORTRAIT.read_bytes()},
        ExternalImageId="obama",
        MaxFaces=1,
    )
    rek.index_faces(
        CollectionId="people", Image={"Bytes": BIDEN.read_bytes()}, ExternalImageId="biden", MaxFaces=1
    )
    search = rek.start_face_search(Video=video, CollectionId="people", FaceMatchThreshold=80)["JobId"]
    found = wait(rek.get_face_search, search)
    assert found["JobStatus"] == "SUCCEEDED"
    names = {
        p["Person"]["Index"]: p["FaceMatches"][0]["Face"]["ExternalImageId"]
        for p in found["Persons"]
        if p["FaceMatches"]
    }
    assert sorted(names.values()) == ["biden", "obama", "obama"]
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.start_face_detection(
            Video=video,
            NotificationChannel={**channel, "SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:nowhere"},
        )
    failed = wait(
        rek.get_face_detection,
        rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "missing.mp4"}})["JobId"],
    )
    assert failed["JobStatus"] == "FAILED" and "InvalidS3ObjectException" in failed["StatusMessage"]


def test_rest_video_routes(served):
    url, _, (key_id, secret) = served
    h = httpx.Client(base_url=f"{url}/v1", headers={"Authorization": f"Bearer {key_id}:{secret}"}, timeout=60)
    job = h.post(
        "/videos/face-detection",
        json={"Video": {"S3Object": {"Bucket": "videos", "Name": "two_people.mp4"}}, "SampleRate": 2},
    ).json()["JobId"]
    deadline = time.monotonic() + 120
    while (r := h.get(f"/videos/face-detection/{job}").json())[
        "JobStatus"
    ] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert r["JobStatus"] == "SUCCEEDED"
    assert sorted({f["Timestamp"] for f in r["Faces"]}) == list(range(0, 4000, 500))  # 2 samples a second
    assert h.get("/videos/face-search/nosuchjob").status_code == 404


def test_a_job_survives_the_service_being_killed(tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    long_clip = [Appearance(obama_face(), 0.0, 12.0, (40, 60), (400, 60), 160, 160)]
    compose(bucket / "long.mp4", long_clip, duration=12.0)
    home = tmp_path / "home"
    home.mkdir()
    fl = FaceLedger(home=home)
    key, secret = fl.keys.create("t")
    proc, url = start_service(home, bucket, stale="2")
    rek = client(url, key.access_key_id, secret)
    job = rek.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "long.mp4"}})["JobId"]
    deadline = time.monotonic() + 60
    while fl.get_face_detection(JobId=job).get("FaceLedger", {}).get("Progress", 0) < 0.1:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.2)
    stop(proc, signal.SIGKILL)  # the service and its frame workers, mid-job
    assert fl.get_face_detection(JobId=job)["JobStatus"] == "IN_PROGRESS"
    proc, url = start_service(home, bucket, stale="2")
    try:
        done = wait(client(url, key.access_key_id, secret).get_face_detection, job, 180)
    finally:
        stop(proc)
    assert done["JobStatus"] == "SUCCEEDED"
    faces = []
    page = fl.get_face_detection(JobId=job)
    while True:
        faces += page["Faces"]
        if not page.get("NextToken"):
            break
        page = fl.get_face_detection(JobId=job, NextToken=page["NextToken"])
    assert len(faces) == 60  # every sample of the 12 s, once: the rerun replaced the partial work
    fl.close()
