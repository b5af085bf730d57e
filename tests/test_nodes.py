"""Several `faceledger serve` nodes on one PostgreSQL (standing in for machines: each its own
data directory and port), sharing the catalog and one master key file: a face indexed through one
node is found through the other at once, a key made once works on both, the ledger stays one
chain, and the rate limit counts across nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import OBAMA_PORTRAIT, OBAMA_SPEECH
from http_server import client, start_serve

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
