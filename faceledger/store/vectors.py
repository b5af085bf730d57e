"""Nearest-neighbour search over a collection's face embeddings, persisted as derived data.

EmbeddedIndex searches exactly (numpy) while a collection is small, where a scan is as fast as a
graph and needs no build, and moves to a usearch HNSW graph once it outgrows that. Parameters are
the ones bench/vector_index.py measured on this project's target (1M faces, 2 cores): see the
constants below. Files are written atomically and carry a checksum: load_index returns None for
anything it cannot trust, and the caller rebuilds from the catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from usearch.index import Index

# Measured by bench/vector_index.py on 2 cores, synthetic dlib-like embeddings:
# Below ~40k faces a one-thread numpy scan beats the graph (25k: 0.56 vs 0.69 ms; 50k: 1.07 vs
# 0.94 ms). numpy's BLAS on both cores stays ahead to ~110k, but a threaded gemv stalls when the
# cores are busy (8 ms at 10k faces under load), so the one-thread crossover decides.
EXACT_BELOW = 40_000
# At 1M faces: recall@1 0.994, search p99 4.3 ms, 676 B/face in memory, 532 B/face on disk,
# 2.7k faces/s to build. Connectivity 16 reached only 0.954 at the same search width.
CONNECTIVITY = 32
EXPANSION_ADD = 128  # insertion width: 64 builds twice as fast but needs ~1.5x the search width
EXPANSION_SEARCH = 512  # 384: recall@1 0.994 too but recall@10 0.989; 768: 0.995 at p99 6.3 ms
DTYPE = "f16"  # half the memory of f32, faster; distance error ~1e-4 (embeddings have norm ~1.4)
ADD_CHUNK = 2_048  # faces per locked step, so searches interleave with a long add
# Fewer faces than this are inserted on one thread: usearch's parallel insertion leaves the odd
# face poorly linked (measured: 0-6 of 6,000 not finding themselves, none on one thread), which
# is a fair price in a bulk build but not for the face someone has just indexed.
PARALLEL_ADD_MIN = 256

_MAGIC = b"FLVECIX1"
_HEADER = struct.Struct("<8sI")  # magic, length of the JSON metadata that follows


class VectorIndex(Protocol):
    """Keys are the catalog's non-negative int64 face keys; distances are Euclidean."""

    dim: int

    @property
    def last_key(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, keys: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def __len__(self) -> int: ...

    def save(self, path: str | os.PathLike) -> None: ...


class _ReadWriteLock:
    """Shared for searches, exclusive for changes. Turns alternate, so neither side starves:
    a waiting writer holds back new readers, and readers that waited go before the next write."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._readers_waiting = 0
        self._readers_turn = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._readers_waiting += 1
            self._cond.wait_for(
                lambda: not self._writing and (not self._writers_waiting or self._readers_turn)
            )
            self._readers_waiting -= 1
            if not self._readers_waiting:
                self._readers_turn = False
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and not self._readers and not self._readers_turn)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._readers_turn = self._readers_waiting > 0
                self._cond.notify_all()


class EmbeddedIndex:
    """Exact search below `exact_below` faces, a usearch HNSW graph from there on (one way)."""

    def __init__(
        self,
        dim: int = 128,
        *,
        exact_below: int = EXACT_BELOW,
        connectivity: int = CONNECTIVITY,
        expansion_add: int = EXPANSION_ADD,
        expansion_search: int = EXPANSION_SEARCH,
        dtype: str = DTYPE,
        threads: int = 0,  # for adds and batched searches; 0: every core
    ):
        self.dim = dim
        self.exact_below = exact_below
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.dtype = dtype
        self.threads = threads
        self._expansion_search = expansion_search
        self._last_key = -1
        self._lock = _ReadWriteLock()
        # usearch gives each call's worker a scratch context by thread number, so two concurrent
        # calls would share context 0: graph searches take this lock too (scans run in parallel).
        self._graph_lock = threading.Lock()
        # The graph, once the collection outgrew exact search (usearch is imported only then: 0.2 s).
        self._graph: Index | None = None
        # Exact search: rows [0, n) of a matrix with spare capacity; key -> row.
        self._n = 0
        self._keys = np.empty(0, np.int64)
        self._vectors = np.empty((0, dim), np.float32)
        self._sq_norms = np.empty(0, np.float32)
        self._rows: dict[int, int] = {}
        # While the graph is being built: the changes to replay on it, (keys, vectors or None).
        self._changes: list[tuple[np.ndarray, np.ndarray | None]] | None = None

    # -- public API --------------------------------------------------------------------------

    @property
    def last_key(self) -> int:
        return self._last_key

    @property
    def ef_search(self) -> int:
        return self._expansion_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        with self._graph_lock:
            self._expansion_search = int(value)
            if self._graph is not None:
                self._graph.expansion_search = self._expansion_search

    @property
    def is_exact(self) -> bool:
        return self._graph is None

    def __len__(self) -> int:
        return self._n if self._graph is None else len(self._graph)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected vectors of shape ({len(keys)}, {self.dim}), got {vectors.shape}")
        if not len(keys):
            return
        if keys.min() < 0:
            raise ValueError("keys must be non-negative (-1 marks a missing result)")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors must be finite")
        if len(np.unique(keys)) != len(keys):  # a key given twice in one call: its last vector wins
            last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
            keys, vectors = keys[last], vectors[last]
        for s in range(0, len(keys), ADD_CHUNK):
            with self._lock.write():
                self._add(keys[s : s + ADD_CHUNK], vectors[s : s + ADD_CHUNK])
                self._last_key = max(self._last_key, int(keys[s : s + ADD_CHUNK].max()))
                outgrown = self._graph is None and self._changes is None and self._n >= self.exact_below
                if outgrown:
                    snapshot = self._keys[: self._n].copy(), self._vectors[: self._n].copy()
                    self._changes = []
            if outgrown:
                self._build_graph(*snapshot)

    def remove(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        keys = keys[keys >= 0]
        with self._lock.write():
            if self._graph is not None:
                self._graph.remove(keys.astype(np.uint64))
                return
            if self._changes is not None:
                self._changes.append((keys, None))
            for key in keys.tolist():
                row = self._rows.pop(key, None)
                if row is None:
                    continue
                last = self._n - 1
                if row != last:  # fill the hole with the last row
                    moved = int(self._keys[last])
                    self._keys[row], self._vectors[row], self._sq_norms[row] = (
                        moved,
                        self._vectors[last],
                        self._sq_norms[last],
                    )
                    self._rows[moved] = row
                self._n = last

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys (-1 when fewer than k faces) and Euclidean distances (inf), nearest first."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"expected queries of shape (q, {self.dim}), got {np.shape(queries)}")
        if k < 1:
            raise ValueError("k must be at least 1")
        keys = np.full((len(q), k), -1, np.int64)
        dist = np.full((len(q), k), np.inf, np.float32)
        with self._lock.read():
            if self._graph is None:
                self._search_exact(q, k, keys, dist)
                return keys, dist
            with self._graph_lock:
                found = self._graph.search(q, k, threads=1 if len(q) == 1 else self.threads)
        # One query comes back as Matches (trimmed to its count), several as BatchMatches.
        counts = np.asarray(getattr(found, "counts", [len(found.keys)])).reshape(-1)
        found_keys = np.asarray(found.keys).reshape(len(q), -1)
        found_d2 = np.asarray(found.distances).reshape(len(q), -1)
        valid = np.arange(found_keys.shape[1])[None, :] < counts[:, None]
        keys[:, : found_keys.shape[1]][valid] = found_keys[valid]
        dist[:, : found_keys.shape[1]][valid] = np.sqrt(np.maximum(found_d2[valid], 0))
        return keys, dist

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a temporary file in the same folder, fsync, then rename over `path`."""
        path = Path(path)
        with self._lock.read():  # a consistent snapshot: no change while serialising
            if self._graph is None:
                kind, count = "exact", self._n
                payload = self._keys[: self._n].tobytes() + self._vectors[: self._n].tobytes()
            else:
                kind, count = "usearch", len(self._graph)
                with self._graph_lock:  # a search may grow usearch's per-thread buffers
                    payload = self._graph.save()
            last_key = self._last_key
        meta = json.dumps(
            {
                "kind": kind,
                "dim": self.dim,
                "count": count,
                "last_key": last_key,
                "bytes": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        ).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HEADER.pack(_MAGIC, len(meta)))
                f.write(meta)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)

    # -- internals (_add and _reserve run with the write lock held) ------------------------

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if self._graph is not None:
            self._graph_add(self._graph, keys, vectors)
            return
        if self._changes is not None:
            self._changes.append((keys.copy(), vectors.copy()))
        rows = np.fromiter((self._rows.get(k, -1) for k in keys.tolist()), np.int64, len(keys))
        new = rows < 0
        rows[new] = np.arange(self._n, self._n + int(new.sum()))
        self._reserve(self._n + int(new.sum()))
        self._keys[rows] = keys
        self._vectors[rows] = vectors
        self._sq_norms[rows] = np.einsum("ij,ij->i", vectors, vectors)
        self._rows.update(zip(keys[new].tolist(), rows[new].tolist()))
        self._n += int(new.sum())

    def _reserve(self, n: int) -> None:
        if n <= len(self._keys):
            return
        cap = max(n, 2 * len(self._keys), 1024)
        for name in ("_keys", "_vectors", "_sq_norms"):
            old = getattr(self, name)
            grown = np.empty((cap, *old.shape[1:]), old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self, name, grown)

    def _graph_add(self, graph: Index, keys: np.ndarray, vectors: np.ndarray) -> None:
        ukeys = keys.astype(np.uint64)
        present = np.asarray(graph.contains(ukeys), bool).reshape(-1)
        if present.any():  # usearch refuses duplicate keys: replacing is remove, then add
            graph.remove(ukeys[present])
        graph.add(ukeys, vectors, threads=self.threads if len(keys) >= PARALLEL_ADD_MIN else 1)

    def _build_graph(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Move to the graph. Building it from a snapshot takes seconds (about 4 s at 40k faces),
        so it happens outside the lock: searches go on exactly, and changes made meanwhile are
        logged in self._changes and replayed before the graph takes over."""
        try:
            graph = self._new_graph()
            self._graph_add(graph, keys, vectors)
        except BaseException:
            with self._lock.write():
                self._changes = None  # the next add tries again
            raise
        with self._lock.write():
            for changed, new_vectors in self._changes or ():
                if new_vectors is None:
                    graph.remove(changed.astype(np.uint64))
                else:
                    self._graph_add(graph, changed, new_vectors)
            self._graph, self._changes = graph, None
            self._n, self._rows = 0, {}
            self._keys, self._vectors, self._sq_norms = (
                self._keys[:0].copy(),
                self._vectors[:0].copy(),
                self._sq_norms[:0].copy(),
            )

    def _new_graph(self) -> Index:
        from usearch.index import Index

        return Index(
            ndim=self.dim,
            metric="l2sq",
            dtype=self.dtype,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self._expansion_search,
        )

    def _search_exact(self, q: np.ndarray, k: int, keys: np.ndarray, dist: np.ndarray) -> None:
        n = self._n
        if not n:
            return
        x, kk = self._vectors[:n], min(k, n)
        step = max(1, min(256, (1 << 22) // (kk * self.dim)))  # bounds the temporaries below
        for s in range(0, len(q), step):
            qs = q[s : s + step]
            # |x|^2 - 2 x.q ranks like |x - q|^2: one matrix product does the work.
            d2 = self._sq_norms[:n][None, :] - 2 * (qs @ x.T)
            top = (
                np.argpartition(d2, kk - 1, axis=1)[:, :kk]
                if kk < n
                else np.broadcast_to(np.arange(n), (len(qs), n))
            )
            # Exact distances of the few winners: the expansion above loses precision near 0.
            d = np.linalg.norm(x[top] - qs[:, None, :], axis=2)
            order = np.argsort(d, axis=1, kind="stable")
            keys[s : s + len(qs), :kk] = self._keys[np.take_along_axis(top, order, 1)]
            dist[s : s + len(qs), :kk] = np.take_along_axis(d, order, 1)


def load_index(path: str | os.PathLike, dim: int) -> EmbeddedIndex | None:
    """The index saved at `path`, or None when it is missing, unreadable or fails its checks."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    try:
        magic, meta_len = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            return None
        meta = json.loads(data[_HEADER.size : _HEADER.size + meta_len])
        payload = memoryview(data)[_HEADER.size + meta_len :]
        if (
            meta["dim"] != dim
            or len(payload) != meta["bytes"]
            or hashlib.sha256(payload).hexdigest() != meta["sha256"]
        ):
            return None
        count = int(meta["count"])
        index = EmbeddedIndex(dim)
        if meta["kind"] == "exact":
            keys = np.frombuffer(payload, np.int64, count).copy()
            vectors = (
                np.frombuffer(payload, np.float32, count * dim, offset=8 * count).reshape(count, dim).copy()
            )
            index.add(keys, vectors)
        elif meta["kind"] == "usearch":
            from usearch.index import Index

            graph = Index.restore(payload)
            if graph is None or graph.ndim != dim:
                return None
            graph.expansion_search = index.ef_search
            index._graph = graph
            index.connectivity, index.expansion_add = graph.connectivity, graph.expansion_add
            index.dtype = str(graph.dtype).rsplit(".", 1)[-1].lower()  # ScalarKind.F16 -> "f16"
        else:
            return None
        if len(index) != count:
            return None
        index._last_key = int(meta["last_key"])
        return index
    except (ValueError, KeyError, TypeError, struct.error, RuntimeError, UnicodeDecodeError):
        return None
