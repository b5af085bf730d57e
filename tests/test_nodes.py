"""Several `faceledger serve` nodes on one PostgreSQL (standing in for machines: each its own
data directory and port), sharing the catalog and one master key file: a face indexed through one
node is found through the other at once, a key made once works on both, the ledger stays one
chain, the rate limit counts across nodes, and a video job whose node is killed with kill -9 is
finished by the other, every sample once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import OBAMA_PORTRAIT, OBAMA_SPEECH
from http_server import client, start_serve
from videos import Appearance, compose, obama_face

from faceledger import FaceLedger

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _cli(env: dict, home: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "faceledger"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _key(env: dict, home: Path, name: str) -> tuple[str, str]:
    made = json.loads(_cli(env, home, "keys", "create", "--name", name))
    return made["AccessKeyId"], made["SecretAccessKey"]


@pytest.fixture
def two_nodes(postgres_server, tmp_path, request):
    """(env, homes, a key, urls) of two nodes; a parameter, when given, is their --rate-limit."""
    rate = getattr(request, "param", None)
    env = {
        "FACELEDGER_DATABASE_URL": postgres_server.new_database(f"nodes{os.getpid()}{time.monotonic_ns()}"),
        "FACELEDGER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "FACELEDGER_WARM_UP": "0",
    }
    homes = [tmp_path / "a", tmp_path / "b"]
    for h in homes:
        h.mkdir()
    key = _key(env, homes[0], "ops")  # made before the nodes start: neither makes one of its own
    args = ("--rate-limit", str(rate)) if rate else ()
    nodes = [start_serve(h, *args, env=env) for h in homes]
    try:
        yield env, homes, key, [url for _, url, _ in nodes]
    finally:
        for proc, _, _ in nodes:
            proc.terminate()
            proc.wait(30)


def test_a_face_indexed_through_one_node_is_found_through_the_other(two_nodes):
    env, homes, (key_id, secret), (url_a, url_b) = two_nodes
    a, b = client(url_a, key_id, secret, retries=8), client(url_b, key_id, secret, retries=8)
    a.create_collection(CollectionId="staff")
    indexed = a.index_faces(
        CollectionId="staff", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}, ExternalImageId="obama"
    )
    (face,) = indexed["FaceRecords"]
    found = b.search_faces_by_image(CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()})
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [face["Face"]["FaceId"]]
    assert b.list_faces(CollectionId="staff")["Faces"][0]["ExternalImageId"] == "obama"
    b.delete_faces(CollectionId="staff", FaceIds=[face["Face"]["FaceId"]])
    again = a.search_faces_by_image(CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()})
    assert again["FaceMatches"] == []  # deleted through B: gone through A
    verified = json.loads(_cli(env, homes[1], "ledger", "verify"))
    assert verified["Intact"] and verified["Entries"] >= 5  # one chain, written by both nodes


@pytest.mark.parametrize("two_nodes", [0.2], indirect=True)  # a bucket of one, refilled every 5 s
def test_the_rate_limit_counts_across_nodes(two_nodes):
    env, homes, _, (url_a, url_b) = two_nodes
    key_id, secret = _key(env, homes[1], "burst")
    clients = [client(url, key_id, secret) for url in (url_a, url_b)]
    outcomes, started = [], time.monotonic()
    for i in range(8):
        try:
            clients[i % 2].list_collections()
            outcomes.append((i % 2, "ok"))
        except ClientError as e:
            outcomes.append((i % 2, e.response["Error"]["Code"]))
    if time.monotonic() - started < 5:  # no refill yet: one request in all, not one per node
        assert [o for _, o in outcomes].count("ok") == 1
    throttled = {node for node, o in outcomes if o == "ProvisionedThroughputExceededException"}
    assert throttled == {0, 1}


def test_a_video_job_whose_node_dies_is_finished_by_another(postgres_server, tmp_path):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    compose(
        bucket / "long.mp4",
        [Appearance(obama_face(), 0.0, 12.0, (40, 60), (400, 60), 160, 160)],
        duration=12.0,
    )
    env = {
        "FACELEDGER_DATABASE_URL": postgres_server.new_database(f"video{os.getpid()}{time.monotonic_ns()}"),
        "FACELEDGER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "FACELEDGER_WARM_UP": "0",
        "FACELEDGER_BUCKETS": f"videos={bucket}",
        "FACELEDGER_JOB_STALE_SECONDS": "2",
        "FACELEDGER_VIDEO_WORKERS": "1",
        "FACELEDGER_KEYFRAME_EVERY": "1",  # a full detection every sample: a job long enough to interrupt
    }
    homes = [tmp_path / "a", tmp_path / "b"]
    for h in homes:
        h.mkdir()
    key_id, secret = _key(env, homes[0], "video")
    # Progress is faceledger's own member, which boto3 does not pass on: read from the catalog.
    catalog = FaceLedger(home=tmp_path / "reader", database_url=env["FACELEDGER_DATABASE_URL"])
    # Node A alone when the job starts, so that A's runner is the one that takes it.
    node_a, url_a, _ = start_serve(homes[0], env=env, new_session=True)
    node_b = None
    try:
        a = client(url_a, key_id, secret)
        job = a.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "long.mp4"}})["JobId"]
        deadline = time.monotonic() + 90
        while (state := catalog.get_face_detection(JobId=job)).get("FaceLedger", {}).get("Progress", 0) < 0.1:
            assert state["JobStatus"] == "IN_PROGRESS", "node A finished before it could be stopped"
            assert time.monotonic() < deadline, "node A never started the job"
            time.sleep(0.2)
        node_b, url_b, _ = start_serve(homes[1], env=env, new_session=True)
        os.killpg(node_a.pid, signal.SIGKILL)  # node A and its frame workers, mid-job
        node_a.wait(30)
        assert catalog.get_face_detection(JobId=job)["JobStatus"] == "IN_PROGRESS"
        b = client(url_b, key_id, secret)
        deadline = time.monotonic() + 240
        while (done := b.get_face_detection(JobId=job))["JobStatus"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, "node B never finished the job"
            time.sleep(0.5)
        assert done["JobStatus"] == "SUCCEEDED"
        faces, token = [], None
        while True:
            page = b.get_face_detection(JobId=job, **({"NextToken": token} if token else {}))
            faces += page["Faces"]
            token = page.get("NextToken")
            if not token:
                break
        timestamps = [f["Timestamp"] for f in faces]
        assert len(timestamps) == 60 == len(set(timestamps))  # every sample of the 12 s, once
    finally:
        catalog.close()
        for node in (node_a, node_b):
            if node is not None and node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
                node.wait(60)


def test_a_postgresql_restart_fails_requests_typed_and_the_node_recovers_by_itself(tmp_path):
    from postgres import PostgresServer

    try:
        server = PostgresServer()  # its own server: this test stops it
    except Exception as e:
        pytest.skip(f"PostgreSQL could not be started: {e}")
    try:
        env = {
            "FACELEDGER_DATABASE_URL": server.new_database("outage"),
            "FACELEDGER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "FACELEDGER_WARM_UP": "0",
        }
        home = tmp_path / "node"
        home.mkdir()
        key_id, secret = _key(env, home, "ops")
        node, url, log = start_serve(home, "--workers", "1", env=env)
        try:
            rek = client(url, key_id, secret)
            rek.create_collection(CollectionId="staff")
            rek.index_faces(CollectionId="staff", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})
            server.stop()
            with pytest.raises(ClientError) as failed:
                rek.list_faces(CollectionId="staff")
            error = failed.value.response["Error"]
            assert (
                error["Code"] == "InternalServerError" and "catalog could not be reached" in error["Message"]
            )
            server.start()
            assert len(rek.list_faces(CollectionId="staff")["Faces"]) == 1  # no restart of the node
            found = rek.search_faces_by_image(
                CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()}
            )
            assert len(found["FaceMatches"]) == 1
            assert "the catalog is unreachable" in log.read_text()
        finally:
            node.terminate()
            node.wait(30)
    finally:
        server.close()
