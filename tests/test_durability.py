"""Crash safety and concurrency: acknowledged faces survive kill -9, the index is rebuilt from the
catalog, and threads and processes writing and searching at once lose nothing."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import BIDEN, COLLINS, OBAMA_PORTRAIT, OBAMA_SPEECH, synthetic_faces

from faceledger import FaceLedger
from faceledger.engine.collections import PreparedFace

pytestmark = pytest.mark.slow  # processes, crashes and PostgreSQL


def finds_itself(fl: FaceLedger, cid: str, face: PreparedFace) -> bool:
    hits = fl._find_similar(cid, face.embedding, 99.9, 1)
    return len(hits) == 1 and np.array_equal(hits[0][1].embedding, face.embedding)


def index_agrees_with_catalog(fl: FaceLedger, cid: str) -> bool:
    with fl.catalog.read() as conn:
        return len(fl.indexes.current(cid)) == fl.catalog.count_faces(conn, cid)


def test_kill_9_mid_folder_loses_no_acknowledged_face(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    sources = [OBAMA_PORTRAIT, OBAMA_SPEECH, BIDEN, COLLINS]
    for i in range(24):
        shutil.copy(sources[i % 4], folder / f"{i:02d}{sources[i % 4].suffix}")
    home = tmp_path / "home"
    cli = [sys.executable, "-m", "faceledger.cli", "--home", str(home)]
    subprocess.run(cli + ["collections", "create", "c"], check=True, capture_output=True)

    proc = subprocess.Popen(
        cli + ["index-faces", "c", str(folder), "--workers", "1"], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    for line in proc.stdout:
        acknowledged += [r["Face"]["FaceId"] for r in json.loads(line).get("FaceRecords", [])]
        if len(acknowledged) >= 6:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with FaceLedger(home=home) as fl:
        stored = {f["FaceId"] for f in fl.list_faces(CollectionId="c").to_dict()["Faces"]}
        assert set(acknowledged) <= stored
        assert len(stored) < 24  # it really was stopped part-way
        assert index_agrees_with_catalog(fl, "c")
        hits = fl.search_faces_by_image(CollectionId="c", Image=OBAMA_SPEECH).to_dict()["FaceMatches"]
        assert hits and all(h["Face"]["FaceId"] in stored for h in hits)


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale"])
def test_index_is_rebuilt_from_the_catalog(tmp_path, damage):
    home = tmp_path / "home"
    faces = synthetic_faces(300, seed=1)
    with FaceLedger(home=home) as fl:
        fl.create_collection(CollectionId="c")
        for face in faces[:200]:
            fl._store_indexed_faces("c", [face])
        fl.indexes.current("c")
        fl.indexes.save_all()
    index_file = home / "vectors" / "c.index"
    assert index_file.exists()
    if damage == "missing":
        index_file.unlink()
    elif damage == "corrupt":
        index_file.write_bytes(index_file.read_bytes()[:100] + b"garbage")
    else:  # the catalog moves on while no process holds the index
        with FaceLedger(home=home) as other:
            for face in faces[200:]:
                other._store_indexed_faces("c", [face])
            doomed = other.list_faces(CollectionId="c", MaxResults=10).to_dict()["Faces"]
            other.delete_faces(CollectionId="c", FaceIds=[f["FaceId"] for f in doomed])
            faces = faces[10:]
    with FaceLedger(home=home) as fl:
        assert index_agrees_with_catalog(fl, "c")
        expected = faces if damage == "stale" else faces[:200]
        assert all(finds_itself(fl, "c", f) for f in expected)


def test_threads_writing_and_searching_lose_nothing(tmp_path, database_url):
    with FaceLedger(home=tmp_path / "home", database_url=database_url) as fl:
        fl.create_collection(CollectionId="c")
        batches = [synthetic_faces(40, seed=s) for s in range(4)]
        errors, stop = [], threading.Event()

        def writer(batch):
            try:
                for face in batch:
                    fl._store_indexed_faces("c", [face])
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        def searcher():
            try:
                while not stop.is_set():
                    fl._find_similar("c", batches[0][0].embedding, 0, 10)
            except Exception as e:  # pragma: no cover
                errors.append(e)

        searchers = [threading.Thread(target=searcher) for _ in range(2)]
        writers = [threading.Thread(target=writer, args=(b,)) for b in batches]
        for t in searchers + writers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in searchers:
            t.join()
        assert not errors
        assert fl.describe_collection(CollectionId="c").to_dict()["FaceCount"] == 160
        assert all(finds_itself(fl, "c", f) for b in batches for f in b)


def _write_from_another_process(home: str, seed: int) -> None:
    with FaceLedger(home=Path(home)) as fl:
        for face in synthetic_faces(60, seed=seed):
            fl._store_indexed_faces("c", [face])


def test_processes_writing_at_once_lose_nothing(tmp_path):
    home = tmp_path / "home"
    with FaceLedger(home=home) as fl:
        fl.create_collection(CollectionId="c")
        fl._store_indexed_faces("c", synthetic_faces(1, seed=99))
        fl.indexes.current("c")  # this process holds an index from before the others wrote
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_write_from_another_process, args=(str(home), s)) for s in (1, 2, 3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0, 0, 0]
        assert fl.describe_collection(CollectionId="c").to_dict()["FaceCount"] == 181
        assert index_agrees_with_catalog(fl, "c")
        assert all(finds_itself(fl, "c", f) for s in (1, 2, 3) for f in synthetic_faces(60, seed=s))


def _open_catalog(url: str) -> str:
    from faceledger.store.catalog import Catalog

    Catalog(url).engine.dispose()
    return "ok"


def test_an_old_catalog_gains_new_columns_when_many_processes_open_it_at_once(tmp_path, database_url):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sqlalchemy import create_engine, inspect

    from faceledger.store.catalog import Catalog

    url = database_url or f"sqlite:///{tmp_path / 'catalog.db'}"
    Catalog(url).engine.dispose()
    old = create_engine(url)
    with old.begin() as conn:  # as a catalog made before MinLiveness was a policy member
        conn.exec_driver_sql("ALTER TABLE collection_policies DROP COLUMN min_liveness")
    with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert list(pool.map(_open_catalog, [url] * 6)) == ["ok"] * 6
    assert "min_liveness" in {c["name"] for c in inspect(old).get_columns("collection_policies")}
    old.dispose()
