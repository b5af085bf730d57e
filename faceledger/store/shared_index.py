"""Collections' faces in a vector engine every node shares (Milvus), kept in step with the catalog.

The catalog stays the truth. Its `vector_sync` row says how far the engine has come for a
collection: every face with a key up to `key` and every deletion up to catalog `version`,
written by the engine's time `ts`. A sync brings the engine up to the catalog under that row's
lock (one node at a time per collection; the others go on): deleted faces are deleted, faces
above `key` written. Writes to a collection take its version's row lock before they insert, so
keys are committed in key order and `key` never passes a face that is not there yet.

A search asks the engine for faces up to `key`, waiting until it has seen the writes up to `ts`,
and scans the faces above `key` exactly from the catalog (what was indexed since the last sync,
on any node). So a face acknowledged by IndexFaces is found by the next search on every node,
whether or not the engine has it yet; deleted faces fall out when the catalog rescores. When
the engine cannot be reached, a collection small enough is searched exactly from the catalog,
and a larger one fails with InternalServerError (which SDKs retry), never with a silent miss.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, text, update

from ..errors import InternalServerError
from .catalog import Catalog, collections, erasures, faces, vector_sync
from .milvus import MilvusVectors, VectorEngineUnavailable

log = logging.getLogger("faceledger.vectors")

DIM = 128
# Faces searched exactly from the catalog while the engine is down: reading 50,000 embeddings
# takes ~0.3 s; larger collections fail typed instead.
EXACT_FALLBACK = int(os.environ.get("FACELEDGER_VECTOR_EXACT_FALLBACK", "50000"))

_ENSURE_ROW = text(
    "INSERT INTO vector_sync (collection_id, key, version, ts, faces, compacted, engine_id) "
    "VALUES (:cid, -1, -1, 0, 0, -1, -1) "
    "ON CONFLICT (collection_id) DO NOTHING"
)


class MilvusIndex:
    """One faceledger collection in the engine, as a VectorIndex (store/vectors.py)."""

    dim = DIM

    def __init__(self, engine: MilvusVectors, collection_id: str, last_key: int, faces: int, ts: int):
        self.engine = engine
        self.collection_id = collection_id
        self._last_key = last_key
        self._faces = faces
        self.ts = ts  # the engine's time of the last write this index knows of

    @property
    def last_key(self) -> int:
        return self._last_key

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys):
            self.ts = self.engine.upsert(self.collection_id, keys, vectors) or self.ts
            self._last_key = max(self._last_key, int(keys.max()))
            self._faces += len(keys)

    def remove(self, keys: np.ndarray) -> None:
        if len(keys):
            self.ts = self.engine.delete(keys) or self.ts
            self._faces = max(0, self._faces - len(keys))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.engine.search(self.collection_id, queries, k, self.ts)

    def __len__(self) -> int:
        return self._faces

    def save(self, path) -> None:  # the engine persists itself
        pass


class Snapshot:
    """What a search sees: the engine up to a key, and the catalog's faces above it, exactly."""

    dim = DIM

    def __init__(self, index: MilvusIndex, tail: tuple[np.ndarray, np.ndarray], catalog: Catalog):
        self.index = index
        self.tail_keys, self.tail_vectors = tail
        self.catalog = catalog
        self._everything = None  # the whole collection, read once if the engine fails

    def __len__(self) -> int:
        return len(self.index) + len(self.tail_keys)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, DIM)
        keys, vectors = self.tail_keys, self.tail_vectors
        if len(self.index):
            try:
                found = self.index.search(queries, k)
            except VectorEngineUnavailable:
                if len(self) > EXACT_FALLBACK:
                    raise InternalServerError(
                        "The vector engine could not be reached; retry shortly."
                    ) from None
                if self._everything is None:
                    self._everything = _concat(self.catalog.embeddings_after(self.index.collection_id, -1))
                keys, vectors = self._everything
                found = None
        else:
            found = None
        exact = _exact(queries, keys, vectors, k)
        return exact if found is None else _merge(found, exact, k)


def _exact(queries: np.ndarray, keys: np.ndarray, vectors: np.ndarray, k: int):
    n = len(queries)
    out_keys = np.full((n, k), -1, np.int64)
    out_dists = np.full((n, k), np.inf, np.float32)
    if len(keys):
        d = np.sqrt(
            np.maximum(
                (queries**2).sum(1)[:, None] - 2 * queries @ vectors.T + (vectors**2).sum(1)[None, :], 0
            )
        )
        top = np.argsort(d, axis=1)[:, :k]
        m = top.shape[1]
        out_keys[:, :m] = keys[top]
        out_dists[:, :m] = np.take_along_axis(d, top, axis=1)
    return out_keys, out_dists


def _merge(a, b, k: int):
    """The k nearest of two results, each key once."""
    keys = np.concatenate([a[0], b[0]], axis=1)
    dists = np.concatenate([a[1], b[1]], axis=1)
    out_keys = np.full((len(keys), k), -1, np.int64)
    out_dists = np.full((len(keys), k), np.inf, np.float32)
    for i in range(len(keys)):
        seen, j = set(), 0
        for c in np.argsort(dists[i], kind="stable"):
            key = int(keys[i, c])
            if key < 0 or key in seen:
                continue
            seen.add(key)
            out_keys[i, j], out_dists[i, j] = key, dists[i, c]
            j += 1
            if j == k:
                break
    return out_keys, out_dists


@dataclass
class _Sync:
    key: int = -1
    version: int = -1
    ts: int = 0
    faces: int = 0
    compacted: int = -1
    engine_id: int = -1


class SharedIndexes:
    """The LiveIndexes interface (store/live_index.py) over a shared engine. `lock_directory`
    holds the file locks that order syncs on a SQLite catalog (one machine); on PostgreSQL the
    catalog's row locks do, across machines."""

    def __init__(self, catalog: Catalog, engine: MilvusVectors, lock_directory: Path):
        self.catalog = catalog
        self.engine = engine
        self.lock_directory = lock_directory
        self._postgresql = catalog.engine.dialect.name == "postgresql"

    def current(self, collection_id: str) -> Snapshot:
        """The collection as the engine holds it, with the catalog's faces it has not seen yet."""
        state, version = self._state(collection_id)
        if state.version != version and self._try_sync(collection_id):
            state, version = self._state(collection_id)
        with self.catalog.read() as conn:
            behind = conn.execute(
                select(func.count()).where(faces.c.collection_id == collection_id, faces.c.key > state.key)
            ).scalar()
        if behind > EXACT_FALLBACK:  # a first sync or a long outage: too many to scan per search
            raise InternalServerError(
                f"The vector engine is {behind:,} faces behind the catalog for this collection; retry "
                "shortly (faceledger vectors sync writes them now)."
            )
        tail = _concat(self.catalog.embeddings_after(collection_id, state.key))
        index = MilvusIndex(self.engine, collection_id, state.key, state.faces, state.ts)
        return Snapshot(index, tail, self.catalog)

    def _state(self, collection_id: str) -> tuple[_Sync, int]:
        """How far the engine has come, and the collection's version; KeyError if it is gone."""
        with self.catalog.read() as conn:
            version = conn.execute(
                select(collections.c.version).where(collections.c.collection_id == collection_id)
            ).scalar()
            if version is None:
                raise KeyError(collection_id)
            state = _read(conn, collection_id)
        try:
            if state.engine_id != self.engine.identity():
                state = _Sync()  # the engine lost what it held (or is another one): nothing counts
        except VectorEngineUnavailable:
            pass  # the search fails over to the catalog
        return state, version

    def changed(self, collection_id: str) -> None:
        """Faces were added or deleted: write them to the engine now if it answers. Best effort:
        the change is committed already, and the next sync writes what this one could not."""
        self._try_sync(collection_id)

    def erased(self, collection_id: str) -> None:
        """Faces were erased: delete them from the engine and compact its segments, waiting for
        the other nodes' syncs; fails typed if the engine cannot be reached (the erasure is
        finished by a retried Erase, `faceledger vectors sync` or the service's next sweep)."""
        try:
            self.sync(collection_id, wait=True, compact=True)
        except VectorEngineUnavailable:
            raise InternalServerError(
                "Erased from the catalog, but the vector engine could not be reached to erase its "
                "copy; retry shortly."
            ) from None

    def reconcile(self) -> list[str]:
        """Finish the erasures whose compaction has not run (the engine was down); the
        collections done. Called by the service's retention sweep."""
        with self.catalog.read() as conn:
            pending = [
                r[0]
                for r in conn.execute(
                    select(erasures.c.collection_id)
                    .join(vector_sync, vector_sync.c.collection_id == erasures.c.collection_id)
                    .where(erasures.c.version > vector_sync.c.compacted)
                )
            ]
        for cid in pending:
            self.sync(cid, wait=True, compact=True)
        return pending

    def forget(self, collection_id: str) -> None:
        """A deleted collection: its faces leave the engine. If the engine cannot be reached they
        stay there, unsearchable (no catalog row), until a collection of the same id is made and
        its first sync clears them; the failure is logged."""
        try:
            self.engine.delete_collection(collection_id)
        except VectorEngineUnavailable:
            log.error("the faces of deleted collection %r are still in the vector engine", collection_id)

    def save_all(self) -> None:  # the engine persists itself
        pass

    def close(self) -> None:
        self.engine.close()

    def _try_sync(self, collection_id: str) -> bool:
        try:
            return self.sync(collection_id)
        except VectorEngineUnavailable:
            return False
        except Exception:  # the catalog busy or unreachable: a later sync catches up
            log.exception("syncing %r with the vector engine failed", collection_id)
            return False

    def sync(self, collection_id: str, *, wait: bool = False, compact: bool = False, progress=None) -> bool:
        """Bring the engine up to the catalog for one collection (and with `compact`, compact
        away erased faces). False if another node is syncing it (unless `wait`);
        VectorEngineUnavailable if the engine fails. `progress(written, to write)` after each
        batch."""
        engine_id = self.engine.identity()
        with self.catalog.write() as conn:  # the row, committed on its own: nobody waits on it
            if (
                conn.execute(
                    select(collections.c.version).where(collections.c.collection_id == collection_id)
                ).scalar()
                is None
            ):
                return True
            conn.execute(_ENSURE_ROW, {"cid": collection_id})
        with self._locked(collection_id, wait) as held:
            if held is None:
                return False
            conn, version, state = held
            if state.engine_id != engine_id:
                state = _Sync()
            erased_at = conn.execute(
                select(erasures.c.version).where(erasures.c.collection_id == collection_id)
            ).scalar()
            compacting = compact and erased_at is not None and erased_at > state.compacted
            if state.version == version and not compacting:
                return True
            index = MilvusIndex(self.engine, collection_id, state.key, state.faces, state.ts)
            if state.key < 0:  # never synced: clear what an earlier collection of this id left
                index.ts = self.engine.delete_collection(collection_id) or index.ts
            index.remove(self.catalog.deleted_since(collection_id, state.version, conn))
            todo = conn.execute(
                select(func.count()).where(faces.c.collection_id == collection_id, faces.c.key > state.key)
            ).scalar()
            done = 0
            for keys, vectors in self.catalog.embeddings_after(collection_id, state.key, conn=conn):
                index.add(keys, vectors)
                done += len(keys)
                if progress:
                    progress(done, todo)
            compacted = state.compacted
            if compacting:
                self.engine.compact()
                compacted = version
            values = dict(
                key=index.last_key,
                version=version,
                ts=index.ts,
                faces=self.catalog.count_faces(conn, collection_id),
                compacted=compacted,
                engine_id=engine_id,
            )
            written = update(vector_sync).where(vector_sync.c.collection_id == collection_id).values(**values)
            if self._postgresql:
                conn.execute(written)
            else:  # still under the file lock
                with self.catalog.write() as w:
                    w.execute(written)
        return True

    @contextmanager
    def _locked(self, collection_id: str, wait: bool):
        """(connection, version, state) with the collection's sync to ourselves, or None if
        another holds it and `wait` is False. PostgreSQL: a transaction holding the sync row and a
        key-share lock on the collection (so a DeleteCollection waits for the sync to end).
        SQLite: a file lock, and a read snapshot (the catalog's write lock is not held while the
        engine works: searches write the ledger meanwhile)."""
        if self._postgresql:
            with self.catalog.write() as conn:
                version = conn.execute(
                    select(collections.c.version)
                    .where(collections.c.collection_id == collection_id)
                    .with_for_update(read=True, key_share=True)  # FOR KEY SHARE: writers pass
                ).scalar()
                row = conn.execute(
                    select(vector_sync)
                    .where(vector_sync.c.collection_id == collection_id)
                    .with_for_update(skip_locked=not wait)
                ).first()
                if version is None or row is None:
                    yield None
                    return
                yield conn, version, _Sync(*row[1:])
            return
        self.lock_directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(collection_id.encode()).hexdigest()[:32]
        with open(self.lock_directory / f"sync-{name}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            with self.catalog.read() as conn:
                version = conn.execute(
                    select(collections.c.version).where(collections.c.collection_id == collection_id)
                ).scalar()
                if version is None:
                    yield None
                    return
                yield conn, version, _read(conn, collection_id)


def _read(conn, collection_id: str) -> _Sync:
    row = conn.execute(select(vector_sync).where(vector_sync.c.collection_id == collection_id)).first()
    return _Sync(*row[1:]) if row else _Sync()


def _concat(parts) -> tuple[np.ndarray, np.ndarray]:
    parts = list(parts)
    if not parts:
        return np.empty(0, np.int64), np.empty((0, DIM), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
