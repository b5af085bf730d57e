"""Stored video through the engine: faces at the right times, one track per appearance, the
right person matched, and damaged or wrong files failing their job with a clear message."""

from __future__ import annotations

import pytest
from conftest import BIDEN, OBAMA_PORTRAIT, needs_models
from videos import compose, expected_faces, two_people

from faceledger import FaceLedger
from faceledger.errors import (
    IdempotentParameterMismatchException,
    InvalidParameterException,
    ResourceNotFoundException,
)

pytestmark = pytest.mark.slow  # video decoding and analysis


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return compose(tmp_path_factory.mktemp("video") / "two_people.mp4", two_people())


@pytest.fixture(scope="module")
def fl(tmp_path_factory):
    engine = FaceLedger(home=tmp_path_factory.mktemp("video-home"))
    engine.create_collection(CollectionId="people")
    engine.index_faces(CollectionId="people", Image=OBAMA_PORTRAIT, ExternalImageId="obama", MaxFaces=1)
    engine.index_faces(CollectionId="people", Image=BIDEN, ExternalImageId="biden", MaxFaces=1)
    yield engine
    engine.close()


def run(fl: FaceLedger, job_id: str) -> str:
    assert fl.video_jobs.claim("test", 60) == job_id
    return fl.video_jobs.run(job_id, workers=2)


def test_faces_found_at_the_right_timestamps(fl, clip):
    job = fl.start_face_detection(Video=str(clip), JobTag="clip-1")["JobId"]
    assert fl.get_face_detection(JobId=job)["JobStatus"] == "IN_PROGRESS"
    assert run(fl, job) == "SUCCEEDED"
    first = fl.get_face_detection(JobId=job, MaxResults=5)
    assert first["JobTag"] == "clip-1" and first["NextToken"] and len(first["Faces"]) == 5
    meta = first["VideoMetadata"]
    assert (meta["Codec"], meta["FrameWidth"], meta["FrameHeight"], meta["DurationMillis"]) == (
        "h264",
        640,
        360,
        4000,
    )
    faces = first["Faces"] + fl.get_face_detection(JobId=job, NextToken=first["NextToken"])["Faces"]
    stamps = sorted({f["Timestamp"] for f in faces})
    assert stamps[0] == 0 and all(b - a == 200 for a, b in zip(stamps, stamps[1:]))  # 5 samples a second
    scenes = two_people()
    wrong = [
        t for t in range(0, 4000, 200) if sum(f["Timestamp"] == t for f in faces) != expected_faces(scenes, t)
    ]
    assert not wrong, f"wrong face counts at {wrong} ms"


@needs_models
def test_face_attributes_all_in_video(fl, clip):
    job = fl.start_face_detection(Video=str(clip), FaceAttributes="ALL")["JobId"]
    assert run(fl, job) == "SUCCEEDED"
    faces = fl.get_face_detection(JobId=job, MaxResults=10)["Faces"]
    assert faces and all(
        {"AgeRange", "Gender", "Emotions", "Smile", "EyeDirection", "EyesOpen"} <= set(f["Face"])
        for f in faces
    )
    assert all(f["Face"]["Gender"]["Value"] == "Male" for f in faces)  # Obama and Biden


def test_search_follows_each_appearance_and_names_the_person(fl, clip):
    job = fl.start_face_search(Video=str(clip), CollectionId="people")["JobId"]
    assert run(fl, job) == "SUCCEEDED"
    result = fl.get_face_search(JobId=job, SortBy="INDEX")
    persons = result["Persons"]
    tracks: dict[int, list] = {}
    for p in persons:
        tracks.setdefault(p["Person"]["Index"], []).append(p)
    assert len(tracks) == 3  # Obama, Biden, Obama again: one track per appearance
    spans = []
    for _, items in sorted(tracks.items()):
        names = {m["Face"]["ExternalImageId"] for p in items for m in p["FaceMatches"][:1]}
        spans.append((min(p["Timestamp"] for p in items), max(p["Timestamp"] for p in items), names))
    assert spans == [(0, 1800, {"obama"}), (1000, 2800, {"biden"}), (3000, 3800, {"obama"})]
    by_time = fl.get_face_search(JobId=job)["Persons"]
    assert [p["Timestamp"] for p in by_time] == sorted(p["Timestamp"] for p in by_time)
    ext = result["FaceLedger"]
    assert ext["Tracks"] == 3 and ext["CollectionSize"] == 2
    entry = fl.list_ledger(Operation="StartFaceSearch")["Entries"][-1]
    assert {m["ExternalImageId"] for m in entry["Detail"]["Matches"]} == {"obama", "biden"}


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.mp4", b"", "empty"),
        ("notes.mp4", b"these are not the frames you are looking for\n" * 50, "not a video"),
        ("photo.mp4", None, "still image"),
    ],
)
def test_files_that_are_not_videos_fail_their_job(fl, tmp_path, name, content, reason):
    import re

    path = tmp_path / name
    path.write_bytes(content if content is not None else OBAMA_PORTRAIT.read_bytes())
    job = fl.start_face_detection(Video=str(path))["JobId"]
    assert run(fl, job) == "FAILED"
    result = fl.get_face_detection(JobId=job)
    assert result["JobStatus"] == "FAILED" and re.search(reason, result["StatusMessage"]), result[
        "StatusMessage"
    ]


def test_a_truncated_video_fails_clearly(fl, clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 2])
    job = fl.start_face_detection(Video=str(cut))["JobId"]
    assert run(fl, job) == "FAILED"
    assert "video" in fl.get_face_detection(JobId=job)["StatusMessage"]


def test_start_parameters(fl, clip):
    a = fl.start_face_detection(Video=str(clip), ClientRequestToken="tok-1")["JobId"]
    assert fl.start_face_detection(Video=str(clip), ClientRequestToken="tok-1")["JobId"] == a  # idempotent
    with pytest.raises(IdempotentParameterMismatchException):
        fl.start_face_detection(Video=str(clip), ClientRequestToken="tok-1", JobTag="other")
    with pytest.raises(ResourceNotFoundException):
        fl.start_face_search(Video=str(clip), CollectionId="nobody")
    with pytest.raises(ResourceNotFoundException):
        fl.get_face_detection(JobId="0" * 32)
    with pytest.raises(ResourceNotFoundException):
        fl.get_face_search(JobId=a)  # a detection job
    with pytest.raises(InvalidParameterException, match="webhook"):
        fl.start_face_detection(
            Video=str(clip),
            NotificationChannel={"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:t", "RoleArn": "r"},
        )
    with pytest.raises(InvalidParameterException):
        fl.start_face_detection(Video=str(clip), FaceAttributes="SOME")


def test_the_cli_runs_its_own_job_and_leaves_queued_ones_alone(fl, clip):
    import json
    import subprocess
    import sys
    from pathlib import Path

    queued = fl.start_face_detection(Video=str(clip), JobTag="queued-for-the-service")["JobId"]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "faceledger"),
            "--home",
            str(fl.home),
            "video",
            "detect-faces",
            str(clip),
            "--workers",
            "1",
            "--sample-rate",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    assert ran["JobId"] != queued and ran["JobStatus"] == "SUCCEEDED"
    assert fl.get_face_detection(JobId=queued)["JobStatus"] == "IN_PROGRESS"
    assert fl.video_jobs.claim("test", 60, queued) == queued  # still there for a service to take, untouched
    assert fl.video_jobs.run(queued) == "SUCCEEDED"


def test_cli_video_search_draws_the_video_and_a_timeline(fl, clip, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    import av

    bin_ = Path(sys.executable).parent / "faceledger"
    done = subprocess.run(
        [
            str(bin_),
            "--home",
            str(fl.home),
            "video",
            "search-faces",
            str(clip),
            "--collection",
            "people",
            "--draw",
            str(tmp_path / "out.mp4"),
            "--timeline",
            str(tmp_path / "who.png"),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["JobStatus"] == "SUCCEEDED" and "NextToken" not in result
    assert {m["Face"]["ExternalImageId"] for p in result["Persons"] for m in p["FaceMatches"][:1]} == {
        "obama",
        "biden",
    }
    with av.open(str(tmp_path / "out.mp4")) as drawn:
        assert drawn.streams.video[0].codec_context.name == "h264" and drawn.streams.video[0].frames == 40
    assert (tmp_path / "who.png").stat().st_size > 5000
    bad = subprocess.run(
        [str(bin_), "--home", str(fl.home), "video", "detect-faces", str(OBAMA_PORTRAIT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "still image" in bad.stderr


def test_the_webhook_is_retried_until_it_answers():
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from http_server import free_port

    from faceledger.video.notify import notify

    calls = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(503 if len(calls) < 3 else 200)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notify(
            f"http://127.0.0.1:{server.server_port}/",
            "job1",
            "SUCCEEDED",
            "StartFaceDetection",
            {"Video": {"Path": "x.mp4"}, "JobTag": "t"},
        )
        deadline = time.monotonic() + 15
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.shutdown()
    assert len(calls) == 3 and calls[-1]["JobId"] == "job1" and calls[-1]["Status"] == "SUCCEEDED"
