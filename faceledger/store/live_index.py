"""Per-collection vector indexes kept in step with the catalog.

The catalog is the truth and an index is derived from it. On first use an index is loaded from
its file in the data directory (or built from the catalog's embeddings), and before any search
it catches up with whatever the catalog gained or lost since, whichever process wrote it:
faces with keys above the index's last key are added, keys deleted since the version it saw are
removed, and if the counts still disagree (an insert committed out of key order by a concurrent
PostgreSQL writer) it is rebuilt. So a crash can cost at most a rebuild, never a face.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .catalog import Catalog
from .vectors import EmbeddedIndex, VectorIndex, load_index

DIM = 128
SAVE_EVERY = 50_000  # changes before an index is written back to disk


@dataclass
class _Entry:
    index: VectorIndex
    version: int  # the collection version the index reflects (at least)
    unsaved: int = 0


class LiveIndexes:
    def __init__(self, catalog: Catalog, directory: Path | None):
        self.catalog = catalog
        self.directory = directory
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._collection_locks: dict[str, threading.Lock] = {}

    def _paths(self, collection_id: str) -> tuple[Path, Path] | None:
        if self.directory is None:
            return None
        # Ids of up to 255 characters do not all fit in a file name: long ones go by their hash.
        stem = (
            collection_id if len(collection_id) <= 128 else hashlib.sha256(collection_id.encode()).hexdigest()
        )
        return self.directory / f"{stem}.index", self.directory / f"{stem}.json"

    def _collection_lock(self, collection_id: str) -> threading.Lock:
        with self._lock:
            return self._collection_locks.setdefault(collection_id, threading.Lock())

    def current(self, collection_id: str) -> VectorIndex:
        """The collection's index, caught up with the catalog."""
        with self._collection_lock(collection_id):
            version = self.catalog.collection_version(collection_id)
            if version is None:
                self._entries.pop(collection_id, None)
                raise KeyError(collection_id)
            entry = self._entries.get(collection_id) or self._open(collection_id)
            if entry.version != version:
                self._catch_up(collection_id, entry)
                entry.version = version
            self._entries[collection_id] = entry
            if entry.unsaved >= SAVE_EVERY:
                self._save(collection_id, entry)
            return entry.index

    def _open(self, collection_id: str) -> _Entry:
        paths = self._paths(collection_id)
        if paths and paths[0].exists():
            index = load_index(paths[0], DIM)
            try:
                version = int(json.loads(paths[1].read_text())["version"])
            except (OSError, ValueError, KeyError, TypeError):
                version = -1
            if index is not None:
                return _Entry(index=index, version=version)
        return _Entry(index=EmbeddedIndex(DIM), version=-1)

    def _catch_up(self, collection_id: str, entry: _Entry) -> None:
        index = entry.index
        if self.catalog.erased_since(collection_id, entry.version):
            entry.index = self._rebuild(collection_id)
            entry.unsaved = SAVE_EVERY  # the old file still holds the erased vectors: replace it soon
            return
        gone = self.catalog.deleted_since(collection_id, entry.version)
        if len(gone):
            index.remove(gone)
        for keys, vectors in self.catalog.embeddings_after(collection_id, index.last_key):
            index.add(keys, vectors)
            entry.unsaved += len(keys)
        entry.unsaved += len(gone)
        with self.catalog.read() as conn:
            expected = self.catalog.count_faces(conn, collection_id)
        if len(index) != expected:
            entry.index = self._rebuild(collection_id)
            entry.unsaved = SAVE_EVERY  # write the rebuilt index soon

    def _rebuild(self, collection_id: str) -> VectorIndex:
        index = EmbeddedIndex(DIM)
        for keys, vectors in self.catalog.embeddings_after(collection_id, -1):
            index.add(keys, vectors)
        return index

    def forget(self, collection_id: str) -> None:
        """Drop a deleted collection's index, in memory and on disk."""
        with self._collection_lock(collection_id):
            self._entries.pop(collection_id, None)
            for p in self._paths(collection_id) or ():
                p.unlink(missing_ok=True)

    def changed(self, collection_id: str) -> None:
        """Faces were added or deleted: each process catches up on its next search."""

    def erased(self, collection_id: str) -> None:
        """Faces were erased: the index's file still holds them, so it goes."""
        self.forget(collection_id)

    def reconcile(self) -> list[str]:
        """Nothing is pending outside this process's memory and files."""
        return []

    def close(self) -> None:
        pass

    def _save(self, collection_id: str, entry: _Entry) -> None:
        paths = self._paths(collection_id)
        if paths is None:
            return
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        entry.index.save(paths[0])
        # The version is written after the index, so it never claims more than the index holds.
        tmp = paths[1].with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"version": entry.version, "faces": len(entry.index)}))
        os.replace(tmp, paths[1])
        entry.unsaved = 0

    def save_all(self) -> None:
        for collection_id, entry in list(self._entries.items()):
            if entry.unsaved:
                with self._collection_lock(collection_id):
                    self._save(collection_id, entry)
