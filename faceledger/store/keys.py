"""Access keys that faceledger issues: an AccessKeyId and a secret, optionally limited to some
operations and some collections, revocable.

SigV4 is an HMAC over the request, so the service must hold each secret itself (a hash, as for
passwords, cannot verify a signature). Secrets are therefore stored encrypted (Fernet:
AES-128-CBC with HMAC-SHA256) in the catalog, under a master key that lives only in a file of
the data directory with mode 0600 (or the file FACELEDGER_MASTER_KEY_FILE names). A copy of the
catalog alone (a backup, a shared PostgreSQL) reveals no secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from ..errors import InternalServerError, ResourceNotFoundException
from .catalog import Catalog, access_keys, ended_sessions, now

KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    name: str
    operations: tuple[str, ...] | None  # None: every operation
    collections: tuple[str, ...] | None  # None: every collection
    created_at: str
    buckets: tuple[str, ...] | None = None  # S3Object buckets it may read; None: every configured one
    revoked_at: str | None = None

    def to_dict(self) -> dict:
        return {
            "AccessKeyId": self.access_key_id,
            "Name": self.name,
            "Operations": list(self.operations) if self.operations is not None else "*",
            "Collections": list(self.collections) if self.collections is not None else "*",
            "Buckets": list(self.buckets) if self.buckets is not None else "*",
            "Created": self.created_at,
            "Status": "Revoked" if self.revoked_at else "Active",
            **({"Revoked": self.revoked_at} if self.revoked_at else {}),
        }


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _row_to_key(row) -> AccessKey:
    ops = json.loads(row.operations) if row.operations else None
    cols = json.loads(row.collections) if row.collections else None
    buckets = json.loads(row.buckets) if row.buckets else None
    return AccessKey(
        access_key_id=row.access_key_id,
        name=row.name,
        operations=tuple(ops) if ops is not None else None,
        collections=tuple(cols) if cols is not None else None,
        buckets=tuple(buckets) if buckets is not None else None,
        created_at=_iso(row.created_at),
        revoked_at=_iso(row.revoked_at),
    )


class KeyStore:
    """Access keys in the catalog, their secrets encrypted under `master_key` (see master_key.py).
    It stores what it is given: which operations and collections may be named is the engine's
    business (engine/keys.py)."""

    def __init__(self, catalog: Catalog, master_key: bytes):
        from cryptography.fernet import Fernet

        self.catalog = catalog
        self._fernet = Fernet(master_key)

    def create(
        self,
        name: str,
        operations: list[str] | None = None,
        collections: list[str] | None = None,
        buckets: list[str] | None = None,
    ) -> tuple[AccessKey, str]:
        """A new key and its secret; the secret is shown this once and never again."""
        key_id = "FL" + "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(18))
        secret = base64.b64encode(secrets.token_bytes(30)).decode()  # 40 characters, as AWS's
        with self.catalog.write() as conn:
            conn.execute(
                insert(access_keys).values(
                    access_key_id=key_id,
                    name=name,
                    secret=self._fernet.encrypt(secret.encode()),
                    operations=json.dumps(operations) if operations is not None else None,
                    collections=json.dumps(collections) if collections is not None else None,
                    buckets=json.dumps(buckets) if buckets is not None else None,
                    created_at=now(),
                )
            )
        return self.get(key_id), secret

    def get(self, access_key_id: str) -> AccessKey:
        with self.catalog.read() as conn:
            row = conn.execute(
                select(access_keys).where(access_keys.c.access_key_id == access_key_id)
            ).first()
        if row is None:
            raise ResourceNotFoundException(f"No access key {access_key_id!r}.")
        return _row_to_key(row)

    def list(self) -> list[AccessKey]:
        with self.catalog.read() as conn:
            rows = conn.execute(select(access_keys).order_by(access_keys.c.created_at)).all()
        return [_row_to_key(r) for r in rows]

    def revoke(self, access_key_id: str) -> AccessKey:
        with self.catalog.write() as conn:
            done = conn.execute(
                update(access_keys)
                .where(access_keys.c.access_key_id == access_key_id, access_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            ).rowcount
        key = self.get(access_key_id)
        if not done and key.revoked_at is None:
            raise ResourceNotFoundException(f"No access key {access_key_id!r}.")
        return key

    def end_session(self, token: str, expires: int, clock: float) -> None:
        """Remember a signed-out session token until it would have expired anyway."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.catalog.write() as conn:
            conn.execute(delete(ended_sessions).where(ended_sessions.c.expires_at < int(clock)))
            if not conn.execute(
                select(ended_sessions.c.token_sha256).where(ended_sessions.c.token_sha256 == digest)
            ).first():
                conn.execute(insert(ended_sessions).values(token_sha256=digest, expires_at=int(expires)))

    def session_ended(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.catalog.read() as conn:
            return (
                conn.execute(
                    select(ended_sessions.c.token_sha256).where(ended_sessions.c.token_sha256 == digest)
                ).first()
                is not None
            )

    def active_secret(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        """The key and its secret, or None if there is no such key or it is revoked."""
        with self.catalog.read() as conn:
            row = conn.execute(
                select(access_keys).where(access_keys.c.access_key_id == access_key_id)
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            return _row_to_key(row), self._fernet.decrypt(bytes(row.secret)).decode()
        except InvalidToken:
            raise InternalServerError(
                "This service's master key cannot decrypt the stored keys: copy master.key from the data "
                "directory that made them (or point FACELEDGER_MASTER_KEY_FILE at it)."
            ) from None
