"""The rate limit's token buckets in the catalog, so that every node of a service on one
PostgreSQL counts against the same bucket per key (server/auth.py's SharedRateLimiter).

One statement takes a token or refuses, atomically whichever node asks: an upsert that refills
the bucket for the time since it was last touched and takes one token only where the refilled
bucket holds one (PostgreSQL's row lock orders concurrent takers). Nodes' clocks differ a little:
the bucket keeps the latest time any node saw, so a node whose clock is behind gets no refill
until its clock passes that, and none is ever counted twice. The write is not made durable
(synchronous_commit off): a bucket lost in a crash is a full bucket, which is harmless."""

from __future__ import annotations

import functools

from sqlalchemy import text

from .catalog import Catalog


@functools.cache  # built once per dialect, not on every request
def _statement(postgresql: bool):
    least, greatest = ("LEAST", "GREATEST") if postgresql else ("MIN", "MAX")
    refilled = f"{least}(:burst, rate_buckets.tokens + {greatest}(0, :now - rate_buckets.updated) * :rate)"
    return text(
        "INSERT INTO rate_buckets (who, tokens, updated) VALUES (:who, :burst - 1, :now) "
        f"ON CONFLICT (who) DO UPDATE SET tokens = {refilled} - 1, "
        f"updated = {greatest}(rate_buckets.updated, :now) "
        f"WHERE {refilled} >= 1 RETURNING tokens"
    )


def take(catalog: Catalog, who: str, rate: float, burst: float, now: float) -> bool:
    """Take one token from `who`'s bucket (`rate` tokens a second, at most `burst`) at time `now`
    (seconds); False when it has none."""
    postgresql = catalog.engine.dialect.name == "postgresql"
    with catalog.write() as conn:
        if postgresql:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        row = conn.execute(
            _statement(postgresql), {"who": who, "rate": rate, "burst": burst, "now": now}
        ).first()
    return row is not None
