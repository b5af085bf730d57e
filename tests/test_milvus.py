"""Milvus as the vector engine, against a real Milvus standalone server (the `milvus` extra): faces
are written to Milvus and found at once, through any node; deleted faces never come back; what
IndexFaces acknowledged while Milvus was down is found, then written when it is back; searches
during the outage answer exactly or fail typed; erasure leaves no copy in Milvus's segments."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import BIDEN, OBAMA_PORTRAIT, OBAMA_SPEECH, mirrored_jpeg, synthetic_faces
from http_server import client, start_serve
from test_nodes import _key

from faceledger import FaceLedger
from faceledger.errors import InternalServerError
from faceledger.store import shared_index

pytestmark = pytest.mark.slow


@pytest.fixture
def vector_url(milvus_server):
    """A Milvus collection of this test's own on the shared server, dropped afterwards (a Milvus
    restarted by a later test would otherwise load every earlier test's collection again)."""
    name = f"t_{uuid.uuid4().hex}"
    yield f"{milvus_server.url}/{name}"
    from pymilvus import connections, utility

    alias = f"cleanup-{name}"
    try:
        connections.connect(alias, host="127.0.0.1", port=str(milvus_server.port), timeout=10)
        if utility.has_collection(name, using=alias):
            utility.drop_collection(name, using=alias)
    except Exception:  # the server is gone: nothing to load again
        pass
    finally:
        connections.disconnect(alias)


@pytest.fixture
def fl(tmp_path, vector_url):
    engine = FaceLedger(home=tmp_path / "home", vector_url=vector_url)
    yield engine
    engine.close()


def _milvus_count(fl: FaceLedger, cid: str) -> int:
    return fl.indexes.engine.count(cid)


def _match_ids(response) -> list[str]:
    response = response.to_dict() if hasattr(response, "to_dict") else response
    return [m["Face"]["FaceId"] for m in response["FaceMatches"]]


def test_faces_are_written_to_milvus_and_found_at_once(fl, tmp_path, vector_url):
    fl.create_collection(CollectionId="staff")
    obama = fl.index_faces(CollectionId="staff", Image=OBAMA_PORTRAIT, MaxFaces=1).to_dict()["FaceRecords"][0]
    fl.index_faces(CollectionId="staff", Image=BIDEN, MaxFaces=1)
    assert _milvus_count(fl, "staff") == 2  # written through at IndexFaces, not only in the catalog
    found = fl.search_faces_by_image(CollectionId="staff", Image=OBAMA_SPEECH)
    assert _match_ids(found) == [obama["Face"]["FaceId"]]
    snapshot = fl.indexes.current("staff")
    assert len(snapshot.tail_keys) == 0 and len(snapshot.index) == 2  # Milvus answered, not the catalog
    # Another engine on the same catalog and Milvus (another node) sees the same faces.
    other = FaceLedger(home=tmp_path / "home", vector_url=vector_url)
    try:
        assert _match_ids(other.search_faces_by_image(CollectionId="staff", Image=OBAMA_SPEECH)) == [
            obama["Face"]["FaceId"]
        ]
    finally:
        other.close()
    # A deleted face never comes back, in faceledger or in Milvus.
    fl.delete_faces(CollectionId="staff", FaceIds=[obama["Face"]["FaceId"]])
    assert _match_ids(fl.search_faces_by_image(CollectionId="staff", Image=OBAMA_SPEECH)) == []
    assert _milvus_count(fl, "staff") == 1
    # A deleted collection leaves Milvus too; one made again under its name starts empty.
    fl.delete_collection(CollectionId="staff")
    assert _milvus_count(fl, "staff") == 0
    fl.create_collection(CollectionId="staff")
    assert _match_ids(fl.search_faces_by_image(CollectionId="staff", Image=OBAMA_SPEECH)) == []


def test_many_faces_each_find_themselves_through_milvus_and_the_catalog_tail(fl, monkeypatch):
    from sqlalchemy import select

    from faceledger.store.catalog import faces, vector_sync

    fl.create_collection(CollectionId="many")
    prepared = synthetic_faces(3000, seed=7)
    vectors = np.stack([p.embedding for p in prepared])
    fl._store_indexed_faces("many", prepared[:2500])  # written through to Milvus
    # These 500 reach only the catalog: searches find them in its tail until the next sync.
    monkeypatch.setattr(fl.indexes, "changed", lambda cid: None)
    fl._store_indexed_faces("many", prepared[2500:])
    with fl.catalog.read() as conn:
        keys = np.array([r[0] for r in conn.execute(select(faces.c.key).order_by(faces.c.key))])
        synced = conn.execute(select(vector_sync.c.key)).scalar()
    assert synced == keys[2499] and _milvus_count(fl, "many") == 2500
    snapshot = shared_index.Snapshot(
        shared_index.MilvusIndex(fl.indexes.engine, "many", int(synced), 2500, 0),
        shared_index._concat(fl.catalog.embeddings_after("many", int(synced))),
        fl.catalog,
    )
    found, dists = snapshot.search(vectors, 1)
    assert (found[:, 0] == keys).mean() >= 0.99  # HNSW's recall@1 on the Milvus part
    assert (found[2500:, 0] == keys[2500:]).all() and np.allclose(dists[2500:, 0], 0, atol=5e-3)
    # The next search syncs: Milvus holds all 3,000 and the tail is empty.
    current = fl.indexes.current("many")
    assert len(current.tail_keys) == 0 and _milvus_count(fl, "many") == 3000


def test_what_is_indexed_while_milvus_is_down_is_found_and_written_when_it_is_back(
    fl, milvus_server, monkeypatch
):
    fl.create_collection(CollectionId="outage")
    # Mirrored: an embedding no other test writes to this Milvus server's files.
    fl.index_faces(
        CollectionId="outage", Image={"Bytes": mirrored_jpeg(BIDEN)}, ExternalImageId="biden", MaxFaces=1
    )
    biden_embedding = _embedding(fl, "outage", "biden")
    assert _milvus_count(fl, "outage") == 1
    milvus_server.stop()
    try:
        started = time.monotonic()
        obama = fl.index_faces(CollectionId="outage", Image=OBAMA_PORTRAIT, MaxFaces=1).to_dict()[
            "FaceRecords"
        ][0]
        assert time.monotonic() - started < 30  # acknowledged from the catalog, not stuck on Milvus
        # A small collection is answered exactly from the catalog meanwhile...
        found = fl.search_faces_by_image(CollectionId="outage", Image=OBAMA_SPEECH)
        assert _match_ids(found) == [obama["Face"]["FaceId"]]
        # ...and a large one fails typed (SDKs retry InternalServerError), never with a silent miss.
        monkeypatch.setattr(shared_index, "EXACT_FALLBACK", 0)
        with pytest.raises(
            InternalServerError, match="The vector engine (could not be reached|is 1 faces behind)"
        ):
            fl.search_faces_by_image(CollectionId="outage", Image=OBAMA_SPEECH)
        monkeypatch.setattr(shared_index, "EXACT_FALLBACK", 50_000)
        # An erasure meanwhile is done in the catalog and says the engine's copy is not gone yet.
        with pytest.raises(InternalServerError, match="could not be reached to erase its copy"):
            fl.erase(CollectionId="outage", ExternalImageId="biden")
    finally:
        milvus_server.start()
    # Back: the face acknowledged during the outage is written to Milvus and found through it.
    deadline = time.monotonic() + 180
    while True:
        try:
            found = fl.search_faces_by_image(CollectionId="outage", Image=OBAMA_SPEECH)
            if _milvus_count(fl, "outage") == 1:
                break
        except Exception:  # Milvus loads its segments again after a restart
            pass
        assert time.monotonic() < deadline, "Milvus did not catch up within 3 minutes"
        time.sleep(1)
    assert _match_ids(found) == [obama["Face"]["FaceId"]]
    snapshot = fl.indexes.current("outage")
    assert len(snapshot.tail_keys) == 0 and len(snapshot.index) == 1  # Biden was erased meanwhile
    fl.run_retention()  # the service's sweep finishes the erasure the engine missed
    assert fl.indexes.reconcile() == []  # nothing pending any more
    deadline = time.monotonic() + 60
    while _files_holding(milvus_server.data, biden_embedding[:64]):
        assert time.monotonic() < deadline, "the erased face stayed in Milvus's segment files"
        time.sleep(1)


def _embedding(fl: FaceLedger, cid: str, external_image_id: str) -> bytes:
    from sqlalchemy import select

    from faceledger.store.catalog import faces

    with fl.catalog.read() as conn:
        return conn.execute(
            select(faces.c.embedding).where(
                faces.c.collection_id == cid, faces.c.external_image_id == external_image_id
            )
        ).scalar()


def test_a_milvus_that_lost_its_data_is_written_again(fl):
    fl.create_collection(CollectionId="lost")
    obama = fl.index_faces(CollectionId="lost", Image=OBAMA_PORTRAIT, MaxFaces=1).to_dict()["FaceRecords"][0]
    assert _milvus_count(fl, "lost") == 1
    from pymilvus import utility

    engine = fl.indexes.engine
    engine._call("drop", lambda c: utility.drop_collection(c.name, using=engine._alias))
    engine._collection = None  # as after a restart of Milvus with an empty volume
    # Found all along (the catalog's record of what Milvus held no longer counts), and written again.
    assert _match_ids(fl.search_faces_by_image(CollectionId="lost", Image=OBAMA_SPEECH)) == [
        obama["Face"]["FaceId"]
    ]
    assert _milvus_count(fl, "lost") == 1
    assert len(fl.indexes.current("lost").tail_keys) == 0


def _files_holding(root: Path, needle: bytes) -> list[str]:
    """Files under Milvus's storage that hold `needle`, but for its message queue (rocksmq, the
    write-ahead log, which keeps messages for rocksmq.retentionTimeInMinutes: see the README)."""
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and "rocksmq" not in p.parts:
            try:
                if needle in p.read_bytes():
                    hits.append(str(p.relative_to(root)))
            except OSError:
                pass
    return hits


def test_erasure_leaves_no_copy_in_milvus_segments(fl, milvus_server):
    fl.create_collection(CollectionId="c")
    fl.index_faces(CollectionId="c", Image=BIDEN, ExternalImageId="biden", MaxFaces=1)
    # Mirrored: an embedding no other test writes to this Milvus server's files.
    fl.index_faces(
        CollectionId="c", Image={"Bytes": mirrored_jpeg(OBAMA_PORTRAIT)}, ExternalImageId="obama", MaxFaces=1
    )
    needle = _embedding(fl, "c", "obama")[:64]
    fl.indexes.engine._call("flush", lambda c: c.flush())  # into a segment file, as time would
    deadline = time.monotonic() + 60  # the data node writes the files after flush answers
    while not _files_holding(milvus_server.data, needle):
        assert time.monotonic() < deadline, "the test cannot see Milvus's segment files"
        time.sleep(1)
    erased = fl.erase(CollectionId="c", ExternalImageId="obama")
    assert len(erased["DeletedFaces"]) == 1
    answered = time.monotonic()
    # Compaction has rewritten the segments when Erase answers; Milvus removes the old files at
    # its next garbage collection (dataCoord.gc.dropTolerance: 5 s here).
    while _files_holding(milvus_server.data, needle):
        assert time.monotonic() - answered < 60, _files_holding(milvus_server.data, needle)
        time.sleep(1)
    assert _match_ids(fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH)) == []
    assert _milvus_count(fl, "c") == 1  # Biden stays


@pytest.fixture
def two_milvus_nodes(postgres_server, milvus_server, tmp_path, vector_url):
    env = {
        "FACELEDGER_DATABASE_URL": postgres_server.new_database(f"mv{os.getpid()}{time.monotonic_ns()}"),
        "FACELEDGER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "FACELEDGER_WARM_UP": "0",
    }
    homes = [tmp_path / "a", tmp_path / "b"]
    for h in homes:
        h.mkdir()
    key = _key(env, homes[0], "ops")
    nodes = [start_serve(h, "--vector-url", vector_url, env=env) for h in homes]
    try:
        yield env, key, [url for _, url, _ in nodes]
    finally:
        for proc, _, _ in nodes:
            proc.terminate()
            proc.wait(30)


def test_boto3_against_two_nodes_on_one_postgresql_and_one_milvus(two_milvus_nodes, vector_url):
    env, (key_id, secret), (url_a, url_b) = two_milvus_nodes
    a, b = client(url_a, key_id, secret, retries=8), client(url_b, key_id, secret, retries=8)
    a.create_collection(CollectionId="staff")
    obama = a.index_faces(CollectionId="staff", Image={"Bytes": OBAMA_PORTRAIT.read_bytes()}, MaxFaces=1)
    b.index_faces(CollectionId="staff", Image={"Bytes": BIDEN.read_bytes()}, MaxFaces=1)
    face_id = obama["FaceRecords"][0]["Face"]["FaceId"]
    assert _match_ids(
        b.search_faces_by_image(CollectionId="staff", Image={"Bytes": OBAMA_SPEECH.read_bytes()})
    ) == [face_id]
    assert _match_ids(a.search_faces(CollectionId="staff", FaceId=face_id)) == []  # never itself
    # The vectors are in Milvus, where both nodes wrote them.
    from faceledger.store.milvus import MilvusVectors

    milvus = MilvusVectors(vector_url)
    try:
        assert milvus.count("staff") == 2
    finally:
        milvus.close()


def test_nodes_writing_one_collection_at_once_lose_no_face(postgres_server, tmp_path, vector_url):
    """Two engines (nodes) on one PostgreSQL index into one collection from four threads while
    each write syncs Milvus: every face is found as its own nearest, and Milvus ends with all."""
    import threading

    url = postgres_server.new_database(f"mvc{os.getpid()}{time.monotonic_ns()}")
    nodes = [FaceLedger(home=tmp_path / n, database_url=url, vector_url=vector_url) for n in "ab"]
    try:
        nodes[0].create_collection(CollectionId="busy")
        prepared = synthetic_faces(400, seed=11)
        errors = []

        def write(node: FaceLedger, part: list) -> None:
            try:
                for i in range(0, len(part), 10):
                    node._store_indexed_faces("busy", part[i : i + 10])
            except Exception as e:  # reported below
                errors.append(e)

        threads = [
            threading.Thread(target=write, args=(nodes[i % 2], prepared[i * 100 : (i + 1) * 100]))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        vectors = np.stack([p.embedding for p in prepared])
        for node in nodes:
            snapshot = node.indexes.current("busy")
            found, dists = snapshot.search(vectors, 1)
            assert np.allclose(dists[:, 0], 0, atol=5e-3)  # each face finds itself, on both nodes
        nodes[1].indexes.sync("busy", wait=True)
        assert _milvus_count(nodes[0], "busy") == 400
    finally:
        for node in nodes:
            node.close()


def test_vectors_sync_writes_a_collection_to_milvus_with_progress(tmp_path, vector_url):
    """A collection indexed before Milvus was in use: `faceledger vectors sync` writes it all."""
    import json
    import subprocess
    import sys

    home = tmp_path / "home"
    plain = FaceLedger(home=home)  # the embedded index: nothing in Milvus
    plain.create_collection(CollectionId="before")
    plain._store_indexed_faces("before", synthetic_faces(120, seed=3))
    plain.close()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "faceledger"), "--home", str(home), "vectors", "sync"]
        + ["--vector-url", vector_url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "before: 120 of 120 faces written" in done.stderr
    (report,) = json.loads(done.stdout)["Collections"]
    assert report["CollectionId"] == "before" and report["FaceCount"] == 120
    fl = FaceLedger(home=home, vector_url=vector_url)
    try:
        assert _milvus_count(fl, "before") == 120 and len(fl.indexes.current("before").tail_keys) == 0
    finally:
        fl.close()
