"""Milvus as the vector engine (`FACELEDGER_VECTOR_URL=milvus://HOST:PORT[/NAME]`).

Every faceledger collection lives in one Milvus collection (NAME, default `faceledger_faces`),
told apart by a partition key. Measured with 50 collections of 2,000 faces on 2 cores: one
Milvus collection with a partition key built its index in 36 s, loaded in 7 s and took 71 MB;
one Milvus collection each took 75 s, 200 s and 284 MB, for the same search times. Each face is
its catalog key, its collection and its embedding; the catalog stays the source of truth
(store/shared_index.py keeps Milvus in step with it).

Milvus's own client raises many kinds of error and retries for long by default; here each call
has a deadline, and any failure becomes VectorEngineUnavailable, after which calls fail at once
for a moment rather than queue behind a dead server.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

log = logging.getLogger("faceledger.vectors")

DIM = 128
DEFAULT_PORT = 19530
DEFAULT_NAME = "faceledger_faces"
# HNSW as the embedded index uses it (store/vectors.py): M 32; ef 512 for recall@1 above 0.99.
HNSW_M = 32
EF_CONSTRUCTION = 128
EF_SEARCH = 512
MAX_TOPK = 16_384  # Milvus's limit on results per query
BATCH = 10_000  # faces per insert: well under Milvus's 64 MB message limit
BACK_OFF = 5.0  # seconds calls fail at once after the engine failed


class VectorEngineUnavailable(RuntimeError):
    """Milvus could not be reached or refused the call."""


@dataclass(frozen=True)
class MilvusAddress:
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, url: str) -> MilvusAddress:
        parts = urlsplit(url)
        if parts.scheme != "milvus" or not parts.hostname:
            raise ValueError(f"A vector URL is milvus://HOST:PORT[/NAME], not {url!r}.")
        name = parts.path.strip("/") or DEFAULT_NAME
        if not (name.isascii() and name.replace("_", "a").isalnum()) or name[0].isdigit():
            raise ValueError(f"The Milvus collection name {name!r} must be letters, digits and _.")
        return cls(parts.hostname, parts.port or DEFAULT_PORT, name)


def _milvus_errors() -> tuple[type[BaseException], ...]:
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError, OSError)


class MilvusVectors:
    """One Milvus collection holding every faceledger collection's faces, opened on first use
    (created with its index if it does not exist) and reopened after a failure."""

    def __init__(self, url: str, *, timeout: float | None = None):
        self.address = MilvusAddress.parse(url)
        # Whole seconds: pymilvus retries a failed call for 75 attempts (minutes) unless its
        # timeout is an int, which then bounds the retries too.
        self.timeout = max(1, int(timeout or float(os.environ.get("FACELEDGER_VECTOR_TIMEOUT", "5"))))
        self._alias = f"faceledger-{os.getpid()}-{id(self)}"
        self._lock = threading.Lock()
        self._collection = None
        self._identity = None  # Milvus's id of its collection: a new one means its data are gone
        self._failed_at = -BACK_OFF

    # -- connection -------------------------------------------------------------------------

    def _open(self):
        from pymilvus import Collection, CollectionSchema, DataType, FieldSchema, connections, utility
        from pymilvus.client.types import LoadState

        a = self.address
        connections.disconnect(self._alias)  # a failed channel is not reused
        connections.connect(self._alias, host=a.host, port=str(a.port), timeout=self.timeout)
        if not utility.has_collection(a.name, using=self._alias, timeout=self.timeout):
            schema = CollectionSchema(
                [
                    FieldSchema("key", DataType.INT64, is_primary=True),
                    FieldSchema("collection", DataType.VARCHAR, max_length=255, is_partition_key=True),
                    FieldSchema("embedding", DataType.FLOAT_VECTOR, dim=DIM),
                ],
                description="faceledger: face embeddings by catalog key, derived from the catalog",
            )
            collection = Collection(a.name, schema, using=self._alias, timeout=self.timeout)
            collection.create_index(
                "embedding",
                {
                    "index_type": "HNSW",
                    "metric_type": "L2",
                    "params": {"M": HNSW_M, "efConstruction": EF_CONSTRUCTION},
                },
                timeout=self.timeout,
            )
        else:
            collection = Collection(a.name, using=self._alias, timeout=self.timeout)
        # Loaded already (by another node, or by hand with replicas: load() again would ask for one).
        if utility.load_state(a.name, using=self._alias, timeout=self.timeout) != LoadState.Loaded:
            collection.load(timeout=self.timeout * 6)
        self._identity = int(collection.describe(timeout=self.timeout)["collection_id"])
        return collection

    def _call(self, what: str, fn):
        """fn(collection), with the engine opened; VectorEngineUnavailable on any failure."""
        errors = _milvus_errors()
        try:
            with self._lock:
                # Checked under the lock too: threads that queued behind a failing open fail at once.
                if time.monotonic() - self._failed_at < BACK_OFF:
                    raise VectorEngineUnavailable(f"Milvus failed under {BACK_OFF:g} s ago")
                if self._collection is None:
                    self._collection = self._open()
                collection = self._collection
            return fn(collection)
        except errors as exc:
            with self._lock:
                self._failed_at = time.monotonic()
                self._collection = None
            log.warning("Milvus %s failed: %s", what, exc)
            raise VectorEngineUnavailable(f"Milvus {what} failed: {exc}") from exc

    def identity(self) -> int:
        """Milvus's id of the collection faceledger writes to (opening it if need be)."""
        return self._call("open", lambda c: self._identity)

    def close(self) -> None:
        from pymilvus import connections

        with self._lock:
            self._collection = None
            connections.disconnect(self._alias)

    # -- changes (each returns Milvus's timestamp of the write) ------------------------------

    def upsert(self, collection_id: str, keys: np.ndarray, vectors: np.ndarray) -> int:
        """Write faces, replacing any with the same keys (a sync repeated after a crash never
        doubles a face). Delete, then insert: Milvus 2.3's own upsert puts rows with a partition
        key in the wrong partition, where filtered searches never see them."""
        ts = 0
        for start in range(0, len(keys), BATCH):
            k = keys[start : start + BATCH]
            v = np.asarray(vectors[start : start + BATCH], dtype=np.float32)
            self.delete(k)
            rows = [k.tolist(), [collection_id] * len(k), v]
            ts = self._call("insert", lambda c, rows=rows: c.insert(rows, timeout=self.timeout)).timestamp
        return ts

    def delete(self, keys: np.ndarray) -> int:
        ts = 0
        for start in range(0, len(keys), BATCH):
            expr = f"key in {keys[start : start + BATCH].tolist()}"
            ts = self._call("delete", lambda c, expr=expr: c.delete(expr, timeout=self.timeout)).timestamp
        return ts

    def delete_collection(self, collection_id: str) -> int:
        """Delete every face of a faceledger collection."""
        expr = f"collection == {_quoted(collection_id)}"
        return self._call("delete", lambda c: c.delete(expr, timeout=self.timeout)).timestamp

    def compact(self) -> None:
        """Seal what is in memory, then rewrite every segment that holds deleted faces, and wait:
        after this, Milvus's segments hold no deleted face (the old files go at its next garbage
        collection: dataCoord.gc.dropTolerance)."""

        from pymilvus import utility

        def run(c):
            c.flush(timeout=self.timeout * 6)
            # Segments still being indexed are left out of a compaction: wait for them first.
            utility.wait_for_index_building_complete(c.name, using=self._alias, timeout=600)
            c.compact(timeout=self.timeout)
            c.wait_for_compaction_completed(timeout=max(600, self.timeout))
            # A segment Milvus was already compacting is left out of a manual compaction; its
            # result takes the delete as a new delta log: flush that and compact once more.
            c.flush(timeout=self.timeout * 6)
            c.compact(timeout=self.timeout)
            c.wait_for_compaction_completed(timeout=max(600, self.timeout))

        self._call("compaction", run)

    # -- search -----------------------------------------------------------------------------

    def search(
        self, collection_id: str, queries: np.ndarray, k: int, guarantee_ts: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keys and Euclidean distances (n, k), -1 and inf where there are fewer; every write up
        to `guarantee_ts` is seen (Milvus waits until it is)."""
        k = max(1, min(k, MAX_TOPK))
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, DIM)

        def run(c):
            return c.search(
                queries,
                "embedding",
                {"metric_type": "L2", "params": {"ef": max(EF_SEARCH, k)}},
                limit=k,
                expr=f"collection == {_quoted(collection_id)}",
                consistency_level="Customized",
                guarantee_timestamp=max(1, guarantee_ts),  # 0 would mean Strong: wait for now
                timeout=self.timeout,
            )

        results = self._call("search", run)
        keys = np.full((len(queries), k), -1, np.int64)
        dists = np.full((len(queries), k), np.inf, np.float32)
        for i, hits in enumerate(results):
            n = len(hits.ids)
            keys[i, :n] = hits.ids
            dists[i, :n] = np.sqrt(np.maximum(hits.distances, 0))  # Milvus's L2 is squared
        return keys, dists

    def count(self, collection_id: str, guarantee_ts: int = 0) -> int:
        """Faces Milvus holds for a collection (as of now, by default)."""
        expr = f"collection == {_quoted(collection_id)}"

        def run(c):
            kwargs = {"consistency_level": "Strong"}
            if guarantee_ts:
                kwargs = {"consistency_level": "Customized", "guarantee_timestamp": guarantee_ts}
            return c.query(expr, output_fields=["count(*)"], timeout=self.timeout, **kwargs)[0]["count(*)"]

        return int(self._call("count", run))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
