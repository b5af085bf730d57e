"""The rate limit's buckets in the catalog (store/rate_buckets.py): one bucket per key, whichever
process or node takes from it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from faceledger.errors import ProvisionedThroughputExceededException
from faceledger.server.auth import SharedRateLimiter
from faceledger.store import rate_buckets
from faceledger.store.catalog import Catalog, sqlite_url


@pytest.fixture
def url(database_url, tmp_path):
    return database_url or sqlite_url(tmp_path)


def test_a_bucket_empties_refills_and_never_runs_backwards(url):
    catalog = Catalog(url)
    take = lambda now: rate_buckets.take(catalog, "k", rate=2.0, burst=2.0, now=now)  # noqa: E731
    assert [take(100.0), take(100.0), take(100.0)] == [True, True, False]
    assert take(100.5) and not take(100.5)  # half a second: one token
    assert not take(50.0)  # a node whose clock is behind gets no refill
    assert not take(100.6)  # and time is counted from the latest reading, not from its
    assert take(101.0)
    assert rate_buckets.take(catalog, "other", rate=2.0, burst=2.0, now=50.0)  # each key its own


def test_two_nodes_share_one_bucket(url):
    a, b = Catalog(url), Catalog(url)  # two processes' catalogs on one database
    taken = [rate_buckets.take(c, "k", rate=1.0, burst=3.0, now=10.0) for c in (a, b, a, b)]
    assert taken == [True, True, True, False]


def test_concurrent_takers_get_exactly_the_burst(url):
    catalogs = [Catalog(url) for _ in range(4)]
    granted = []

    def client(catalog):
        for _ in range(10):
            granted.append(rate_buckets.take(catalog, "k", rate=1.0, burst=12.0, now=5.0))

    threads = [threading.Thread(target=client, args=(c,)) for c in catalogs for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 80 and sum(granted) == 12


def test_the_shared_limiter_answers_with_rekognitions_throttling_error(url):
    readings = iter([7.0, 7.0, 7.5])
    limiter = SharedRateLimiter(Catalog(url), 1.0, clock=lambda: next(readings))
    limiter.take("k")
    with pytest.raises(ProvisionedThroughputExceededException, match="1 requests a second"):
        limiter.take("k")
    with pytest.raises(ProvisionedThroughputExceededException):
        limiter.take("k")  # half a token
