"""The catalog, the source of truth: collections, faces (with their embeddings) and users.

SQLAlchemy Core over a SQLite file by default (WAL, fsync on every commit), or PostgreSQL by URL.
Every face has an integer `key`, strictly increasing and never reused: the vector index is keyed
by it and catches up by reading the keys it has not seen. Each collection carries a `version`,
bumped in the same transaction as any change to its faces, so a process can tell cheaply
whether its copy of the index is behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()
CHUNK = 900  # values per IN (...): SQLite allows 999 bound parameters a statement

collections = Table(
    "collections",
    metadata,
    Column("collection_id", String(255), primary_key=True),
    Column("face_model_version", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False, default=0),
)

faces = Table(
    "faces",
    metadata,
    Column("key", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("face_id", String(36), nullable=False, unique=True),
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("image_id", String(36), nullable=False),
    Column("external_image_id", String(255)),
    Column("user_id", String(128)),
    Column("box_left", Float, nullable=False),
    Column("box_top", Float, nullable=False),
    Column("box_width", Float, nullable=False),
    Column("box_height", Float, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("faces_by_collection", "collection_id", "key"),
    Index("faces_by_user", "collection_id", "user_id"),
    sqlite_autoincrement=True,  # keys are never reused, even after the newest face is deleted
)

# Deleted faces' keys, so that another process's index can drop them when it catches up.
face_deletions = Table(
    "face_deletions",
    metadata,
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("face_deletions_by_version", "collection_id", "version"),
)

users = Table(
    "users",
    metadata,
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(128), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("request_token", String(64)),
)

# The ledger: append-only, each entry carrying the hash of the one before (see ledger.py).
ledger = Table(
    "ledger",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),  # ISO 8601 UTC text: hashed exactly as stored
    Column("actor", String(128), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("collection_id", String(255)),
    Column("threshold", Float),
    Column("fmr", Float),
    Column("purpose", String(1000)),
    Column("case_id", String(255)),
    Column("probe_sha256", String(64)),
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ledger_by_collection", "collection_id", "seq"),
    sqlite_autoincrement=True,
)

# The collection version at which faces were last erased: any process whose index is older
# rebuilds it from the catalog instead of removing lazily (a graph index only marks a removed
# vector, and would write its bytes back to disk).
erasures = Table(
    "erasures",
    metadata,
    Column("collection_id", String(255), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# Per-collection rules, enforced by the engine for every surface.
collection_policies = Table(
    "collection_policies",
    metadata,
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("min_threshold", Float),
    Column("max_fmr", Float),
    Column("require_purpose", Boolean, nullable=False, default=False),
    Column("require_case", Boolean, nullable=False, default=False),
    Column("require_review", Boolean, nullable=False, default=False),
    Column("retention_days", Integer),
    Column("keep_images", Boolean, nullable=False, default=False),
    Column("min_liveness", Float),
    Column("independent_review", Boolean),  # NULL in catalogs made before it: false
)

# Search results waiting for two people, and their decisions.
review_candidates = Table(
    "review_candidates",
    metadata,
    Column(
        "candidate_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("ledger_seq", BigInteger, nullable=False),
    Column("collection_id", String(255), nullable=False),
    Column("face_id", String(36), nullable=False),
    Column("external_image_id", String(255)),
    Column("user_id", String(128)),
    Column("similarity", Float, nullable=False),
    Column("searched_by", String(128), nullable=False),
    Column("case_id", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # PENDING, CONFIRMED, REJECTED
    Index("review_by_status", "status", "candidate_id"),
    sqlite_autoincrement=True,
)

review_decisions = Table(
    "review_decisions",
    metadata,
    Column("candidate_id", BigInteger, nullable=False, primary_key=True),
    Column("reviewer", String(128), nullable=False, primary_key=True),  # one decision per reviewer
    Column("decision", String(16), nullable=False),  # CONFIRM or REJECT
    Column("note", String(1000)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

# Source images, for collections whose policy keeps them.
face_images = Table(
    "face_images",
    metadata,
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("image_id", String(36), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Stored-video jobs: the request, who made it, progress and a heartbeat while a worker runs
# it (a stale heartbeat means the worker died: the job is taken up again), and the result.
video_jobs = Table(
    "video_jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),  # FaceDetection or FaceSearch
    Column("status", String(16), nullable=False),  # IN_PROGRESS, SUCCEEDED, FAILED
    Column("status_message", String(1000)),
    Column("request", Text, nullable=False),  # JSON: the Start request's members
    Column("request_token", String(64)),
    Column("actor", Text, nullable=False),  # JSON: name, purpose, case, max_fmr
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64)),
    Column("heartbeat", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("progress", Float, nullable=False, default=0.0),
    Column("result", Text),  # JSON: VideoMetadata and the items
    Index("video_jobs_by_status", "status", "created_at"),
)

# Rekognition's stream processors: what a processor reads, searches and writes to (`request`,
# the Create call's members), its status, and which node runs it (`claimed_by`, `heartbeat`: a
# node that went quiet hands it on). `desired`: RUNNING or STOPPED, what Start and Stop asked.
stream_processors = Table(
    "stream_processors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("arn", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_message", String(1000)),
    Column("desired", String(16), nullable=False),
    Column("request", Text, nullable=False),
    Column("actor", Text, nullable=False),  # JSON: who created it, purpose, case
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("session_id", String(64)),
    Column("claimed_by", String(64)),
    Column("heartbeat", DateTime(timezone=True)),
    Column("stats", Text),  # JSON: frames, samples, dropped, lag, matches, events
)

# What the web UI's live view shows of a running processor: its latest events (the last 100 are
# kept) and its latest frame (a JPEG at most 640 pixels wide, with the faces found on it). Both go
# when the processor is deleted.
stream_events = Table(
    "stream_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    Index("stream_events_by_name", "name", "id"),
)

stream_frames = Table(
    "stream_frames",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("at", Float, nullable=False),  # epoch seconds the frame was decoded
    Column("jpeg", LargeBinary, nullable=False),
    Column("faces", Text, nullable=False),  # JSON: FaceSearchResponse of that frame
)

# Where stream ARNs lead: a Kinesis video stream ARN to a camera's rtsp:// or http(s):// URL, a
# Kinesis data stream ARN to a sink (a webhook, a JSON-lines file, or the service's event feed).
stream_endpoints = Table(
    "stream_endpoints",
    metadata,
    Column("arn", String(1024), primary_key=True),
    Column("kind", String(8), nullable=False),  # source or sink
    Column("url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Access keys for the HTTP service. The secret is encrypted (see server/keys.py): SigV4 is an
# HMAC, so the service needs the secret itself and cannot keep only a hash.
access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("operations", Text),  # JSON list, or NULL for every operation
    Column("collections", Text),  # JSON list, or NULL for every collection
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("buckets", Text),  # JSON list of S3Object buckets, or NULL for every configured one
)

# Web UI sessions ended by signing out before they expired (by the token's SHA-256), kept until then.
ended_sessions = Table(
    "ended_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("expires_at", Integer, nullable=False),  # epoch seconds, as in the token
)

# The rate limit's token buckets, one per access key, shared by every node of a service whose
# catalog is PostgreSQL (store/rate_buckets.py). Derived data: losing it refills the buckets.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("who", String(128), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated", Float, nullable=False),  # seconds on the limiter's clock (wall time)
)

# What a shared vector engine (Milvus, store/shared_index.py) holds of each collection: every face
# with a key up to `key`, and every deletion up to catalog `version`, written by Milvus time `ts`.
# Derived data: a missing row makes the next sync start the collection over.
vector_sync = Table(
    "vector_sync",
    metadata,
    Column("collection_id", String(255), primary_key=True),
    Column("key", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),  # Milvus's hybrid timestamp of the last write
    Column("faces", BigInteger, nullable=False),
    Column("compacted", BigInteger, nullable=False),  # erasures up to this version are compacted
    Column("engine_id", BigInteger, nullable=False),  # Milvus's id of the collection written to
)


@dataclass(frozen=True)
class FaceRow:
    key: int
    face_id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    user_id: str | None
    box_left: float
    box_top: float
    box_width: float
    box_height: float
    confidence: float
    model_version: str
    embedding: np.ndarray

    @classmethod
    def from_row(cls, row) -> FaceRow:
        m = row._mapping
        return cls(
            **{k: m[k] for k in cls.__dataclass_fields__ if k != "embedding"},
            embedding=np.frombuffer(m["embedding"], dtype=np.float32),
        )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'catalog.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below decide
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            # Deleted rows are overwritten, not left in free pages: an erased embedding is gone.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Writers take the lock up front: no deadlock between two processes upgrading reads.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def add_new_columns(engine) -> None:
    """Columns added to a table after a catalog was made (all nullable) are added to it on open.

    Several processes may open an old catalog at once: the check and the ALTER happen inside one
    write transaction (SQLite's BEGIN IMMEDIATE, a transaction-scoped advisory lock on
    PostgreSQL), so only the first adds a column and the others find it there."""
    from sqlalchemy import inspect

    def missing(conn) -> list[tuple[str, object]]:
        have = inspect(conn)
        out = []
        for table in metadata.sorted_tables:
            existing = {c["name"] for c in have.get_columns(table.name)}
            out += [(table.name, c) for c in table.columns if c.name not in existing and c.nullable]
        return out

    with engine.connect() as conn:
        if not missing(conn):  # the usual case: nothing to do, no write lock taken
            return
    with engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7270126)")  # faceledger's schema lock
            for table, column in missing(conn):
                kind = column.type.compile(dialect=engine.dialect)
                conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {kind}')


class Catalog:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        add_new_columns(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()

    def purge_deleted(self) -> None:
        """Make deleted rows unrecoverable from the files: SQLite's WAL is checkpointed and
        truncated (secure_delete already zeroes the pages); PostgreSQL vacuums the tables that
        hold faces and images, so dead row versions are reclaimed."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                import time

                for _ in range(100):  # a reader holding an old snapshot blocks it: wait for it
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
                    if not busy:
                        return
                    time.sleep(0.1)
                raise RuntimeError("the catalog's log could not be truncated: readers kept it busy")
            elif self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("VACUUM faces")
                conn.exec_driver_sql("VACUUM face_images")

    # -- collections ------------------------------------------------------------------------

    def collection(self, conn: Connection, collection_id: str):
        return conn.execute(select(collections).where(collections.c.collection_id == collection_id)).first()

    def collection_version(self, collection_id: str) -> int | None:
        with self.read() as conn:
            return conn.execute(
                select(collections.c.version).where(collections.c.collection_id == collection_id)
            ).scalar()

    @staticmethod
    def bump(conn: Connection, collection_id: str) -> int:
        """Mark the collection's faces as changed; returns the new version."""
        conn.execute(
            update(collections)
            .where(collections.c.collection_id == collection_id)
            .values(version=collections.c.version + 1)
        )
        return int(
            conn.execute(
                select(collections.c.version).where(collections.c.collection_id == collection_id)
            ).scalar()
        )

    # -- faces ------------------------------------------------------------------------------

    @staticmethod
    def insert_faces(conn: Connection, rows: list[dict]) -> list[int]:
        """Insert faces, one statement each so that every key is known; returns the keys."""
        return [conn.execute(insert(faces).values(**row)).inserted_primary_key[0] for row in rows]

    @staticmethod
    def _faces_where_in(conn: Connection, collection_id: str, column, values: list) -> Iterator[FaceRow]:
        """The collection's faces whose `column` is one of `values`, queried in chunks that stay
        under SQLite's bound-parameter limit."""
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            for r in conn.execute(
                select(faces).where(faces.c.collection_id == collection_id, column.in_(chunk))
            ):
                yield FaceRow.from_row(r)

    def faces_by_keys(self, conn: Connection, collection_id: str, keys: Iterable[int]) -> dict[int, FaceRow]:
        return {
            r.key: r for r in self._faces_where_in(conn, collection_id, faces.c.key, [int(k) for k in keys])
        }

    def faces_by_ids(
        self, conn: Connection, collection_id: str, face_ids: Iterable[str]
    ) -> dict[str, FaceRow]:
        return {
            r.face_id: r for r in self._faces_where_in(conn, collection_id, faces.c.face_id, list(face_ids))
        }

    @staticmethod
    def count_faces(conn: Connection, collection_id: str, user_id: str | None = None) -> int:
        q = select(func.count()).select_from(faces).where(faces.c.collection_id == collection_id)
        if user_id is not None:
            q = q.where(faces.c.user_id == user_id)
        return int(conn.execute(q).scalar() or 0)

    def embeddings_after(
        self, collection_id: str, after_key: int, batch: int = 50_000, conn: Connection | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(keys, vectors) of the collection's faces with key > after_key, in key order, in batches
        (each in its own read, or all on `conn`)."""
        while True:
            if conn is not None:
                rows = self._embedding_batch(conn, collection_id, after_key, batch)
            else:
                with self.read() as c:
                    rows = self._embedding_batch(c, collection_id, after_key, batch)
            if not rows:
                return
            keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield keys, vectors
            after_key = int(keys[-1])

    @staticmethod
    def _embedding_batch(conn: Connection, collection_id: str, after_key: int, batch: int) -> list:
        return conn.execute(
            select(faces.c.key, faces.c.embedding)
            .where(faces.c.collection_id == collection_id, faces.c.key > after_key)
            .order_by(faces.c.key)
            .limit(batch)
        ).all()

    def all_keys(self, collection_id: str) -> np.ndarray:
        with self.read() as conn:
            rows = conn.execute(select(faces.c.key).where(faces.c.collection_id == collection_id)).all()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def delete_faces(self, conn: Connection, collection_id: str, keys: list[int]) -> None:
        version = self.bump(conn, collection_id)
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            conn.execute(delete(faces).where(faces.c.collection_id == collection_id, faces.c.key.in_(chunk)))
        if keys:
            conn.execute(
                insert(face_deletions),
                [{"collection_id": collection_id, "key": k, "version": version} for k in keys],
            )

    def mark_erased(self, conn: Connection, collection_id: str) -> None:
        version = self.bump(conn, collection_id)
        conn.execute(delete(erasures).where(erasures.c.collection_id == collection_id))
        conn.execute(insert(erasures).values(collection_id=collection_id, version=version))

    def erased_since(self, collection_id: str, version: int, conn: Connection | None = None) -> bool:
        if conn is None:
            with self.read() as c:
                return self.erased_since(collection_id, version, c)
        at = conn.execute(
            select(erasures.c.version).where(erasures.c.collection_id == collection_id)
        ).scalar()
        return at is not None and at > version

    def deleted_since(self, collection_id: str, version: int, conn: Connection | None = None) -> np.ndarray:
        if conn is None:
            with self.read() as c:
                return self.deleted_since(collection_id, version, c)
        rows = conn.execute(
            select(face_deletions.c.key).where(
                face_deletions.c.collection_id == collection_id, face_deletions.c.version > version
            )
        ).all()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
