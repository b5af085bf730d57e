"""EmbeddedIndex: exact and graph paths, removal, replacement, persistence, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from faceledger.store.vectors import EmbeddedIndex, load_index

DIM = 128


def faces(n: int, seed: int = 0, people: int | None = None) -> np.ndarray:
    """Face-like vectors: people (random centres) with a few photos each, norm ~1.4 like dlib's."""
    rng = np.random.default_rng(seed)
    people = people or max(1, n // 3)
    centres = rng.normal(0, 0.09, (people, DIM)).astype(np.float32) + 0.11
    return (centres[rng.integers(0, people, n)] + rng.normal(0, 0.028, (n, DIM))).astype(np.float32)


def brute_force(x: np.ndarray, keys: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    x, q = x.astype(np.float64), q.astype(np.float64)
    d = np.sqrt(np.maximum((x * x).sum(1)[None, :] - 2 * q @ x.T + (q * q).sum(1)[:, None], 0))
    top = np.argsort(d, axis=1)[:, :k]
    return keys[top], np.take_along_axis(d, top, 1)


def both_paths(**kw):
    """An index that stays exact, and one that moved to the graph almost at once."""
    makers = [lambda: EmbeddedIndex(DIM, **kw), lambda: EmbeddedIndex(DIM, exact_below=100, **kw)]
    return pytest.mark.parametrize("index", makers, ids=["exact", "graph"])


def test_exact_equals_brute_force():
    x, keys = faces(3000), np.arange(1000, 4000)
    index = EmbeddedIndex(DIM)
    index.add(keys, x)
    assert index.is_exact and len(index) == 3000
    q = faces(50, seed=1)
    got_keys, got_d = index.search(q, 10)
    want_keys, want_d = brute_force(x, keys, q, 10)
    np.testing.assert_array_equal(got_keys, want_keys)
    np.testing.assert_allclose(got_d, want_d, atol=1e-5)
    assert got_keys.dtype == np.int64 and got_d.dtype == np.float32


def test_exact_distance_of_an_identical_vector_is_zero():
    x = faces(500)
    index = EmbeddedIndex(DIM)
    index.add(np.arange(500), x)
    keys, d = index.search(x[7], 1)
    assert keys[0, 0] == 7 and d[0, 0] < 1e-6


@pytest.mark.slow
def test_graph_recall_at_1():
    both = faces(20_300, people=8_000)
    x, q = both[:20_000], both[20_000:]  # queries: new photos of people in the index
    index = EmbeddedIndex(DIM, exact_below=1_000)
    index.add(np.arange(len(x)), x)
    assert not index.is_exact and len(index) == len(x)
    keys, d = index.search(q, 1)
    want_keys, want_d = brute_force(x, np.arange(len(x)), q, 1)
    hit = keys[:, 0] == want_keys[:, 0]
    assert hit.mean() >= 0.99
    np.testing.assert_allclose(d[hit, 0], want_d[hit, 0], atol=2e-3)  # f16 storage: close, not exact


@both_paths()
def test_removed_keys_never_come_back(index):
    index = index()
    x = faces(1000)
    index.add(np.arange(1000), x)
    gone = np.arange(0, 1000, 2)
    index.remove(np.concatenate([gone, [5_000, 7_000]]))  # unknown keys are ignored
    assert len(index) == 500
    keys, d = index.search(x, 50)
    assert not np.isin(keys, gone).any()
    # The survivors still find themselves (a graph may leave the odd node hard to reach: ~0.1%).
    assert np.mean(keys[1::2, 0] == np.arange(1, 1000, 2)) >= 0.99
    index.remove(np.arange(1000))
    assert len(index) == 0
    keys, d = index.search(x[:3], 5)
    assert (keys == -1).all() and np.isinf(d).all()


@both_paths()
def test_re_adding_a_key_replaces_it(index):
    index = index()
    x = faces(300)
    index.add(np.arange(300), x)
    moved = faces(1, seed=9)[0]
    index.add(np.array([42]), moved[None])
    assert len(index) == 300
    keys, d = index.search(moved, 3)
    assert 42 in keys[0] and d[0][list(keys[0]).index(42)] < 1e-2
    keys, d = index.search(x[42], 300)
    assert list(keys[0]).count(42) == 1
    assert d[0][list(keys[0]).index(42)] == pytest.approx(np.linalg.norm(x[42] - moved), abs=5e-3)
    # The same key twice in one call: the last vector wins.
    index.add(np.array([7, 7]), np.stack([x[1], moved]))
    assert len(index) == 300 and index.search(moved, 2)[0][0].tolist() in ([7, 42], [42, 7])


@both_paths()
def test_padding_when_k_exceeds_size(index):
    index = index()
    keys, d = index.search(faces(2), 3)
    assert keys.shape == (2, 3) and (keys == -1).all() and np.isinf(d).all()
    x = faces(150)
    index.add(np.arange(150), x)
    keys, d = index.search(x[:2], 160)
    assert keys.shape == d.shape == (2, 160)
    assert (keys[:, :150] >= 0).all() and (keys[:, 150:] == -1).all()
    assert np.isfinite(d[:, :150]).all() and np.isinf(d[:, 150:]).all()
    assert (np.diff(d[:, :150], axis=1) >= 0).all()  # nearest first


@both_paths()
def test_save_and_load_round_trip(index, tmp_path):
    index = index()
    x = faces(400)
    index.add(np.arange(10, 410), x)
    index.remove(np.array([409, 11]))  # last_key stays the largest key ever added
    path = tmp_path / "c.index"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.index"]  # no temporary file left behind
    loaded = load_index(path, DIM)
    assert loaded is not None
    assert loaded.last_key == 409 and len(loaded) == 398 and loaded.is_exact == index.is_exact
    q = faces(20, seed=3)
    for a, b in zip(index.search(q, 5), loaded.search(q, 5)):
        np.testing.assert_array_equal(a, b)
    loaded.add(np.array([500]), x[:1])  # a loaded index keeps working
    assert loaded.last_key == 500 and len(loaded) == 399
    index.save(path)  # and saving over an existing file replaces it
    assert len(load_index(path, DIM)) == 398


def test_empty_index_round_trip(tmp_path):
    index = EmbeddedIndex(DIM)
    assert index.last_key == -1
    index.save(tmp_path / "e.index")
    loaded = load_index(tmp_path / "e.index", DIM)
    assert loaded is not None and len(loaded) == 0 and loaded.last_key == -1


@pytest.mark.parametrize("exact_below", [10_000, 100])
def test_damaged_files_load_as_none(tmp_path, exact_below):
    index = EmbeddedIndex(DIM, exact_below=exact_below)
    index.add(np.arange(300), faces(300))
    path = tmp_path / "c.index"
    index.save(path)
    data = path.read_bytes()
    assert load_index(tmp_path / "missing.index", DIM) is None
    assert load_index(path, DIM + 1) is None  # another model's embeddings
    for damaged in (
        data[: len(data) // 2],  # truncated payload
        data[:10],  # truncated header
        b"",
        b"not an index at all",
        data[:-1] + bytes([data[-1] ^ 1]),  # one flipped bit at the end
        data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],  # in the metadata
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0x10]) + data[len(data) // 2 + 1 :],
    ):
        path.write_bytes(damaged)
        assert load_index(path, DIM) is None
    (tmp_path / "dir.index").mkdir()
    assert load_index(tmp_path / "dir.index", DIM) is None


def test_invalid_input_is_refused():
    index = EmbeddedIndex(DIM)
    with pytest.raises(ValueError):
        index.add(np.array([-1]), faces(1))
    with pytest.raises(ValueError):
        index.add(np.array([1, 2]), faces(1))
    with pytest.raises(ValueError):
        index.add(np.array([1]), np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(ValueError):
        index.search(np.zeros((1, DIM + 1), np.float32), 1)
    with pytest.raises(ValueError):
        index.search(faces(1), 0)


def test_changes_made_while_the_graph_is_built_are_kept():
    x = faces(1_200)
    index = EmbeddedIndex(DIM, exact_below=1_000)
    index.add(np.arange(900), x[:900])
    building, go = threading.Event(), threading.Event()
    new_graph = index._new_graph

    def slow_new_graph():
        building.set()
        assert go.wait(10)
        return new_graph()

    index._new_graph = slow_new_graph
    mover = threading.Thread(target=index.add, args=(np.arange(900, 1000), x[900:1000]))
    mover.start()
    assert building.wait(10)
    # The graph is being built from a snapshot: searches are still served, exactly ...
    keys, d = index.search(x[:5], 1)
    assert index.is_exact and (keys[:, 0] == np.arange(5)).all()
    # ... and changes go on: a removal, a replacement and new faces.
    index.remove(np.array([3, 4]))
    index.add(np.array([5]), x[1100:1101])
    index.add(np.arange(1000, 1100), x[1000:1100])
    go.set()
    mover.join(10)
    assert not index.is_exact and len(index) == 1098 and index.last_key == 1099
    keys, d = index.search(x[:1100], 2)
    assert not np.isin(keys, [3, 4]).any()
    assert 5 in index.search(x[1100], 3)[0][0]  # key 5 moved to its new vector
    k5, d5 = index.search(x[5], 1200)
    assert d5[0][list(k5[0]).index(5)] == pytest.approx(np.linalg.norm(x[5] - x[1100]), abs=5e-3)
    assert np.mean(keys[1000:1100, 0] == np.arange(1000, 1100)) >= 0.98


@pytest.mark.slow
def test_concurrent_adds_and_searches_lose_nothing():
    # Adds cross the exact -> graph switch while three threads search and one removes.
    total, batch = 6_000, 50
    x = faces(total)
    index = EmbeddedIndex(DIM, exact_below=2_000)
    errors: list[BaseException] = []
    done = threading.Event()

    def adder() -> None:
        try:
            for s in range(0, total, batch):
                index.add(np.arange(s, s + batch), x[s : s + batch])
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set():
                q = x[rng.integers(0, total, rng.integers(1, 4))]
                keys, d = index.search(q, 5)
                assert keys.shape == (len(q), 5)
                assert ((keys >= -1) & (keys < total)).all()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=adder)] + [
        threading.Thread(target=searcher, args=(i,)) for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(index) == total and index.last_key == total - 1 and not index.is_exact
    keys, d = index.search(x, 1)
    # Unique keys, so the count shows none was lost; and they are findable (graphs: ~0.1% are not).
    assert (keys[:, 0] == np.arange(total)).mean() >= 0.995
