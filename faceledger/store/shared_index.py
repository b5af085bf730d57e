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

import logging
import os
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, text, update

from ..errors import InternalServerError
from .catalog import Catalog, collections, faces, vector_sync
from .milvus import MilvusVectors, VectorEngineUnavailable

log = logging.getLogger("faceledger.vectors")

DIM = 128
# Faces searched exactly from the catalog while the engine is down: reading 50,000 embeddings
# takes ~0.3 s; larger collections fail typed instead.
EXACT_FALLBACK = int(os.environ.get("FACELEDGER_VECTOR_EXACT_FALLBACK", "50000"))

_ENSURE_ROW = text(
    "INSERT INTO vector_sync (collection_id, key, version, ts, faces) VALUES (:cid, -1, -1, 0, 0) "
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
                keys, vectors = _concat(self.catalog.embeddings_after(self.index.collection_id, -1))
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
    key: int
    version: int
    ts: int
    faces: int


class SharedIndexes:
    """The LiveIndexes interface (store/live_index.py) over a shared engine."""

    def __init__(self, catalog: Catalog, engine: MilvusVectors):
        self.catalog = catalog
        self.engine = engine
        self._lock = threading.Lock()

    def current(self, collection_id: str) -> Snapshot:
        """The collection as the engine holds it, with the catalog's faces it has not seen yet."""
        with self.catalog.read() as conn:
            version = conn.execute(
                select(collections.c.version).where(collections.c.collection_id == collection_id)
            ).scalar()
            if version is None:
                raise KeyError(collection_id)
            state = _read(conn, collection_id)
        if state.version != version and self._try_sync(collection_id):
            with self.catalog.read() as conn:
                state = _read(conn, collection_id)
        tail = _concat(self.catalog.embeddings_after(collection_id, state.key))
        index = MilvusIndex(self.engine, collection_id, state.key, state.faces, state.ts)
        return Snapshot(index, tail, self.catalog)

    def changed(self, collection_id: str) -> None:
        """Faces were added or deleted: write them to the engine now if it answers (if not, the
        next sync does, and searches scan them from the catalog meanwhile)."""
        self._try_sync(collection_id)

    def erased(self, collection_id: str) -> None:
        """Faces were erased: delete them from the engine and compact its segments, waiting for
        the other nodes' syncs; fails typed if the engine cannot be reached (the erasure is
        finished by the next sync, and by a retried Erase)."""
        try:
            self.sync(collection_id, wait=True)
        except VectorEngineUnavailable:
            raise InternalServerError(
                "Erased from the catalog, but the vector engine could not be reached to erase its "
                "copy; retry shortly."
            ) from None

    def forget(self, collection_id: str) -> None:
        """A deleted collection: its faces leave the engine (if it is down, the collection's next
        sync under the same id starts over and deletes them)."""
        try:
            self.engine.delete_collection(collection_id)
        except VectorEngineUnavailable:
            pass

    def save_all(self) -> None:  # the engine persists itself
        pass

    def _try_sync(self, collection_id: str) -> bool:
        try:
            return self.sync(collection_id)
        except VectorEngineUnavailable:
            return False

    def sync(self, collection_id: str, *, wait: bool = False, progress=None) -> bool:
        """Bring the engine up to the catalog for one collection. False if another node is
        syncing it (unless `wait`); VectorEngineUnavailable if the engine fails. `progress`
        (faces written, faces to write) is called after each batch."""
        postgresql = self.catalog.engine.dialect.name == "postgresql"
        with self.catalog.write() as conn:
            version = conn.execute(
                select(collections.c.version).where(collections.c.collection_id == collection_id)
            ).scalar()
            if version is None:
                return True
            conn.execute(_ENSURE_ROW, {"cid": collection_id})
            q = select(vector_sync).where(vector_sync.c.collection_id == collection_id)
            if postgresql:
                q = q.with_for_update(skip_locked=not wait)
            row = conn.execute(q).first()
            if row is None:
                return False  # another node holds it
            state = _Sync(row.key, row.version, row.ts, row.faces)
            if state.version == version:
                return True
            index = MilvusIndex(self.engine, collection_id, state.key, state.faces, state.ts)
            if state.key < 0:  # never synced: clear what an earlier collection of this id left
                index.ts = self.engine.delete_collection(collection_id) or index.ts
            erased = self.catalog.erased_since(collection_id, state.version, conn)
            index.remove(self.catalog.deleted_since(collection_id, state.version, conn))
            todo = (
                conn.execute(
                    select(func.count()).where(
                        faces.c.collection_id == collection_id, faces.c.key > state.key
                    )
                ).scalar()
                if progress
                else 0
            )
            done = 0
            for keys, vectors in self.catalog.embeddings_after(collection_id, state.key, conn=conn):
                index.add(keys, vectors)
                done += len(keys)
                if progress:
                    progress(done, todo)
            if erased:
                self.engine.compact()
            conn.execute(
                update(vector_sync)
                .where(vector_sync.c.collection_id == collection_id)
                .values(
                    key=index.last_key,
                    version=version,
                    ts=index.ts,
                    faces=self.catalog.count_faces(conn, collection_id),
                )
            )
        return True


def _read(conn, collection_id: str) -> _Sync:
    row = conn.execute(select(vector_sync).where(vector_sync.c.collection_id == collection_id)).first()
    return _Sync(row.key, row.version, row.ts, row.faces) if row else _Sync(-1, -1, 0, 0)


def _concat(parts) -> tuple[np.ndarray, np.ndarray]:
    parts = list(parts)
    if not parts:
        return np.empty(0, np.int64), np.empty((0, DIM), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
