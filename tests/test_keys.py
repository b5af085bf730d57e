"""Access keys on both catalog backends: secrets encrypted at rest, revocation, rights."""

from __future__ import annotations

import pytest

from faceledger.engine.keys import AccessKeys as KeyStore
from faceledger.errors import InternalServerError, InvalidParameterException, ResourceNotFoundException
from faceledger.store.catalog import Catalog, access_keys, sqlite_url


def test_keys_round_trip(tmp_path, database_url):
    catalog = Catalog(database_url or sqlite_url(tmp_path))
    store = KeyStore(catalog, tmp_path)
    key, secret = store.create("camera", ["SearchFacesByImage"], ["staff"])
    assert store.active_secret(key.access_key_id) == (key, secret)
    with catalog.read() as conn:
        stored = conn.execute(access_keys.select()).first().secret
    assert secret.encode() not in bytes(stored)
    # another store over the same catalog and master key reads it; a different master key cannot
    assert KeyStore(catalog, tmp_path).active_secret(key.access_key_id)[1] == secret
    other = tmp_path / "elsewhere"
    with pytest.raises(InternalServerError, match="master key"):
        KeyStore(catalog, other).active_secret(key.access_key_id)
    assert store.revoke(key.access_key_id).revoked_at is not None
    assert store.active_secret(key.access_key_id) is None
    assert store.revoke(key.access_key_id).revoked_at is not None  # revoking twice is harmless
    with pytest.raises(ResourceNotFoundException):
        store.revoke("FLNOSUCHKEY")
    with pytest.raises(InvalidParameterException):
        store.create("x", collections=["not a collection id"])
    catalog.close()


def test_a_new_data_directory_is_private(tmp_path):
    from faceledger import FaceLedger

    engine = FaceLedger(home=tmp_path / "new-home")
    assert engine.catalog is not None  # opening it makes the data directory
    assert (tmp_path / "new-home").stat().st_mode & 0o777 == 0o700
    engine.close()
