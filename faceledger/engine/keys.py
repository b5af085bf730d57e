"""Access keys as the engine issues them: a key names only operations that exist, collections by
Rekognition's pattern and buckets by name; the store keeps what it is given (store/keys.py)."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InvalidParameterException
from ..store.catalog import Catalog
from ..store.keys import AccessKey, KeyStore
from ..store.master_key import load_master_key, master_key_path
from . import validate
from .operations import OPERATIONS

BUCKET = re.compile(r"[^\s,]{3,255}")


class AccessKeys(KeyStore):
    def __init__(self, catalog: Catalog, home: Path):
        super().__init__(catalog, load_master_key(master_key_path(home)))

    def create(
        self,
        name: str,
        operations: list[str] | None = None,
        collections: list[str] | None = None,
        buckets: list[str] | None = None,
    ) -> tuple[AccessKey, str]:
        """A new key and its secret (shown this once), limited to `operations`, `collections` and
        `buckets` (None: all of them)."""
        if not name or len(name) > 128:
            raise InvalidParameterException("A key needs a name of 1 to 128 characters.")
        if operations is not None:
            unknown = [op for op in operations if op not in OPERATIONS]
            if unknown:
                raise InvalidParameterException(
                    f"Unknown operation(s) {', '.join(unknown)}: use {', '.join(sorted(OPERATIONS))}."
                )
        if collections is not None:
            collections = [validate.collection_id(c) for c in collections]
        if buckets is not None:
            bad = [b for b in buckets if not BUCKET.fullmatch(b)]
            if bad:
                raise InvalidParameterException(
                    f"Not a bucket name: {bad[0][:64]!r} (3 to 255 characters, no spaces or commas)."
                )
        return super().create(name, operations, collections, buckets)
