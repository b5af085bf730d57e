"""The ledger: an append-only record of every operation that compares faces or changes a
collection, each entry carrying the SHA-256 of the one before, so that an edited, deleted or
reordered entry breaks the chain at that point.

A chain alone cannot stop someone who rewrites every entry after the one they changed; the
head (`faceledger ledger head`: sequence number and hash) written down or published elsewhere
catches that, and `verify --head SEQ:HASH` checks against it.

Who is acting, and for what purpose and case, is set by the surface for the duration of a
call (`acting(...)`); the engine reads it when it writes an entry.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import insert, select, text

from ..store.catalog import Catalog
from ..store.catalog import ledger as ledger_table

GENESIS = "0" * 64
FIELDS = (
    "seq",
    "at",
    "actor",
    "operation",
    "collection_id",
    "threshold",
    "fmr",
    "purpose",
    "case_id",
    "probe_sha256",
    "detail",
)


@dataclass(frozen=True)
class Actor:
    """Who is calling and why: an access key or a local user, with the purpose and case given."""

    name: str
    purpose: str | None = None
    case_id: str | None = None
    max_fmr: float | None = None  # a threshold asked for as a false match rate


def _local_user() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "local:unknown"


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("faceledger_actor", default=None)


def current_actor() -> Actor:
    return _actor.get() or Actor(_local_user())


@contextmanager
def acting(
    name: str | None = None,
    *,
    purpose: str | None = None,
    case_id: str | None = None,
    max_fmr: float | None = None,
):
    """Calls inside the block are recorded as `name`'s, with this purpose and case."""
    token = _actor.set(Actor(name or _local_user(), purpose or None, case_id or None, max_fmr))
    try:
        yield
    finally:
        _actor.reset(token)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: dict, prev_hash: str) -> str:
    body = {k: entry.get(k) for k in FIELDS}
    return hashlib.sha256((prev_hash + canonical(body)).encode()).hexdigest()


@dataclass
class Entry:
    seq: int
    at: str
    actor: str
    operation: str
    collection_id: str | None
    threshold: float | None
    fmr: float | None
    purpose: str | None
    case_id: str | None
    probe_sha256: str | None
    detail: dict = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    @classmethod
    def from_row(cls, row) -> Entry:
        m = dict(row._mapping)
        m["detail"] = json.loads(m["detail"])
        return cls(**m)

    def to_dict(self) -> dict:
        return {
            "Seq": self.seq,
            "At": self.at,
            "Actor": self.actor,
            "Operation": self.operation,
            "CollectionId": self.collection_id,
            "Threshold": self.threshold,
            "FalseMatchRate": self.fmr,
            "Purpose": self.purpose,
            "CaseId": self.case_id,
            "ProbeSha256": self.probe_sha256,
            "Detail": self.detail,
            "PrevHash": self.prev_hash,
            "Hash": self.hash,
        }


@dataclass
class Verification:
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str | None
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        out = {
            "Intact": self.ok,
            "Entries": self.entries,
            "HeadSeq": self.head_seq,
            "HeadHash": self.head_hash,
        }
        if not self.ok:
            out.update(FirstBadSeq=self.first_bad_seq, Reason=self.reason)
        return out


def _last(conn):
    """The newest entry's seq and hash, or None for an empty ledger."""
    return conn.execute(
        select(ledger_table.c.seq, ledger_table.c.hash).order_by(ledger_table.c.seq.desc()).limit(1)
    ).first()


class Ledger:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def append(
        self,
        conn,
        operation: str,
        *,
        collection_id: str | None = None,
        threshold: float | None = None,
        fmr: float | None = None,
        probe_sha256: str | None = None,
        detail: dict | None = None,
        actor: Actor | None = None,
    ) -> Entry:
        """Append inside the caller's write transaction, so that a change and its entry commit
        together. Writers are serialised: SQLite's write lock, PostgreSQL's table lock."""
        actor = actor or current_actor()
        if conn.engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE ledger IN EXCLUSIVE MODE"))
        last = _last(conn)
        prev_hash = last.hash if last else GENESIS
        seq = (last.seq + 1) if last else 1
        entry = {
            "seq": seq,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor.name,
            "operation": operation,
            "collection_id": collection_id,
            "threshold": None if threshold is None else float(threshold),
            "fmr": None if fmr is None else float(fmr),
            "purpose": actor.purpose,
            "case_id": actor.case_id,
            "probe_sha256": probe_sha256,
            "detail": json.loads(canonical(detail or {})),
        }
        digest = entry_hash(entry, prev_hash)
        conn.execute(
            insert(ledger_table).values(
                **{**entry, "detail": canonical(entry["detail"])}, prev_hash=prev_hash, hash=digest
            )
        )
        return Entry(**entry, prev_hash=prev_hash, hash=digest)

    def record(self, operation: str, **kw) -> Entry:
        """Append in a transaction of its own (for operations that change nothing else)."""
        with self.catalog.write() as conn:
            return self.append(conn, operation, **kw)

    def entries(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        actor: str | None = None,
        collection_id: str | None = None,
        case_id: str | None = None,
        operation: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> Iterator[Entry]:
        t = ledger_table
        q = select(t).where(t.c.seq > after_seq)
        for column, value in (
            (t.c.actor, actor),
            (t.c.collection_id, collection_id),
            (t.c.case_id, case_id),
            (t.c.operation, operation),
        ):
            if value is not None:
                q = q.where(column == value)
        if since:
            q = q.where(t.c.at >= since)
        if until:
            q = q.where(t.c.at < until)
        q = q.order_by(t.c.seq)
        if limit:
            q = q.limit(limit)
        with self.catalog.read() as conn:
            rows = conn.execute(q).all()
        for row in rows:
            yield Entry.from_row(row)

    def head(self) -> tuple[int, str] | None:
        with self.catalog.read() as conn:
            last = _last(conn)
        return (int(last.seq), last.hash) if last else None

    def verify(self, expected_head: tuple[int, str] | None = None, batch: int = 10_000) -> Verification:
        """Walk the chain from the start: each entry's hash is recomputed from its content and
        the previous entry's hash, and sequence numbers must run 1, 2, 3, ... with no gap."""
        t = ledger_table
        prev_hash, expected_seq, count, last_seq = GENESIS, 1, 0, None
        seen_anchor = expected_head is None
        after = 0
        while True:
            with self.catalog.read() as conn:
                rows = conn.execute(select(t).where(t.c.seq > after).order_by(t.c.seq).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                m = dict(row._mapping)
                seq = int(m["seq"])
                bad = None
                if seq != expected_seq:
                    bad = (
                        f"entries {expected_seq} to {seq - 1} are missing"
                        if seq > expected_seq
                        else "sequence out of order"
                    )
                elif m["prev_hash"] != prev_hash:
                    bad = (
                        "its previous-hash does not match the entry before it "
                        "(an entry was removed, added or moved)"
                    )
                else:
                    try:
                        entry = {**m, "detail": json.loads(m["detail"])}
                    except ValueError:
                        entry = None
                    if entry is None or entry_hash(entry, prev_hash) != m["hash"]:
                        bad = "its content does not match its hash (the entry was edited)"
                if bad:
                    head = self.head()
                    return Verification(
                        False,
                        count,
                        head[0] if head else None,
                        head[1] if head else None,
                        min(seq, expected_seq),
                        bad,
                    )
                if expected_head and seq == expected_head[0]:
                    if m["hash"] != expected_head[1]:
                        return Verification(
                            False,
                            count,
                            seq,
                            m["hash"],
                            seq,
                            "it differs from the recorded head (the chain was rewritten)",
                        )
                    seen_anchor = True
                prev_hash, expected_seq, count, last_seq = m["hash"], seq + 1, count + 1, seq
            after = last_seq
        if not seen_anchor:
            return Verification(
                False,
                count,
                last_seq,
                prev_hash if count else None,
                (last_seq or 0) + 1,
                f"the chain ends before the recorded head {expected_head[0]} (entries were removed from the "
                "end)",
            )
        return Verification(True, count, last_seq, prev_hash if count else None)
