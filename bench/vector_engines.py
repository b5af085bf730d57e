"""faceledger's embedded vector index and Milvus as its vector engine, side by side on the same faces.

Both hold the same N synthetic dlib-like faces (default 1,000,000; bench/vector_index.py's generator,
fitted to real embeddings) keyed 1..N as the catalog keys them, and answer the same 1,000 queries.

1. Index level, each backend in a fresh process:
   - build: EmbeddedIndex.add in 50k chunks; Milvus: MilvusVectors.upsert in 50k chunks (as a
     sync writes them), then flush and wait until every row is indexed and the query node has
     the indexed segments (insert time and index-ready time apart, and the total);
   - memory: EmbeddedIndex, the process's RSS growth; Milvus, the milvus process's RSS after the
     index is ready minus before the first insert, and the client's RSS growth (a faceledger
     node holds no vectors);
   - disk: EmbeddedIndex's saved file; Milvus's storage folder (not its unpacked bin/ or logs/):
     segments, the rocksmq write-ahead log (right after the inserts and once the index is ready)
     and etcd;
   - single-query latency p50/p99 at k=1 and k=10 (one query per call, one thread), and queries/s
     from 16 threads sharing the index (k=10);
   - recall@1 and recall@10 against exact search (float64 brute force over the faces in chunks).
2. Through two `faceledger serve --workers 1` nodes on one PostgreSQL catalog holding the N faces
   in one collection (bulk-loaded with COPY; the collection's `vector_sync` row says Milvus is
   already in step, so nothing is re-synced): for the embedded index each node loads the index
   built in step 1 from its data directory, for Milvus both use `--vector-url`. 16 client threads,
   8 per node, call boto3 search_faces(FaceId=random face, MaxFaces=10) for --seconds after a
   warm-up: requests/s, p50/p99, errors, and each node's RSS afterwards (memory per node). Also
   the client's CPU per request and an idle request's cost (ListCollections), since the clients,
   both nodes, PostgreSQL and Milvus share the 2 cores; and what one search's count of the
   collection's faces costs in PostgreSQL (every search does it).

Only one Milvus standalone can run on the machine (its embedded etcd): the script waits until no
`milvus run standalone` is running before it starts its own. Milvus and PostgreSQL are throwaway
servers (tests/milvus_server.py, tests/postgres.py) under --work (default /tmp), removed at the end.

Run from the repository root (100k faces take ~10 minutes; 1M ~45-60 on the 2-core machine):

    .venv/bin/python bench/vector_engines.py --faces 100000
    nohup .venv/bin/python bench/vector_engines.py > bench/results/vector_engines.txt 2>&1 &

Figures go to stdout (the table, with those of earlier runs at other sizes from the JSON) and to
bench/results/vector_engines.json (by size); progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from vector_index import CHUNK, DIM, RESULTS, FaceModel, make_dataset, progress, real_embeddings, rss_bytes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

COLLECTION = "bench"
MILVUS_NAME = "bench_faces"  # the Milvus collection (the vector URL's path)
VERSION = 1  # the catalog collection's version the indexes are in step with
OUT_JSON = RESULTS / "vector_engines.json"


def say(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- measuring processes and folders ------------------------------------------------------


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, in bytes."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants (with their children that ended)."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def du(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass  # Milvus removes files while we walk
    return total


def milvus_disk(root: Path) -> dict:
    """Milvus's storage folder (root/data): the whole, its write-ahead log and etcd."""
    data = root / "data"
    total = du(data)
    rocksmq, etcd = du(data / "rocksmq"), du(data / "etcd.data")
    return {"total": total, "rocksmq": rocksmq, "etcd": etcd, "segments": total - rocksmq - etcd}


def wait_for_no_milvus() -> None:
    """Another Milvus standalone (the test suite's) would fight ours for etcd: wait it out."""
    waited = 0
    while subprocess.run(["pgrep", "-f", "milvus run standalone"], capture_output=True).returncode == 0:
        if waited % 60 == 0:
            say(f"another Milvus standalone is running: waiting ({waited} s so far)")
        time.sleep(10)
        waited += 10


# -- exact answers ------------------------------------------------------------------------------


def exact_keys(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 50_000) -> np.ndarray:
    """Keys (row + 1) of the exact k nearest, float64 brute force over chunks of the faces."""
    q64 = q.astype(np.float64)
    qq = np.einsum("ij,ij->i", q64, q64)[:, None]
    best_d = np.full((len(q), 0), np.inf)
    best_i = np.empty((len(q), 0), np.int64)
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk].astype(np.float64)
        d2 = qq - 2 * (q64 @ xs.T) + np.einsum("ij,ij->i", xs, xs)[None, :]
        top = np.argpartition(d2, min(k, d2.shape[1] - 1), axis=1)[:, :k]
        best_d = np.concatenate([best_d, np.take_along_axis(d2, top, 1)], axis=1)
        best_i = np.concatenate([best_i, top + s], axis=1)
        keep = np.argsort(best_d, axis=1, kind="stable")[:, :k]
        best_d, best_i = np.take_along_axis(best_d, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i + 1


# -- step 1: one backend per child process ------------------------------------------------


def measure_search(search, q: np.ndarray, gt: np.ndarray, kind: np.ndarray, threads: int, seconds: float):
    """Latency of single queries at k=1 and k=10, recall, and queries/s from `threads` threads."""
    row: dict = {}
    for k in (1, 10):
        lat, found = [], np.full((len(q), k), -1, np.int64)
        for i in range(len(q)):
            t = time.perf_counter()
            keys, _ = search(q[i : i + 1], k)
            lat.append(time.perf_counter() - t)
            found[i] = keys[0][:k]
        row[f"p50_k{k}"], row[f"p99_k{k}"] = (float(v) for v in np.percentile(lat, [50, 99]) * 1e3)
        if k == 1:
            hit = found[:, 0] == gt[:, 0]
            row["recall1"] = float(hit.mean())
            row["recall1_by_kind"] = {kd: float(hit[kind == kd].mean()) for kd in np.unique(kind).tolist()}
        else:
            row["recall10"] = float(np.mean([len(set(found[i]) & set(gt[i])) / 10 for i in range(len(q))]))
    say(f"latency k=10 p50 {row['p50_k10']:.2f} ms, recall@1 {row['recall1']:.4f}; {threads} threads")
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(t: int) -> None:
        i = t
        while time.perf_counter() < stop:
            search(q[i % len(q) : i % len(q) + 1], 10)
            done[t] += 1
            i += threads

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    row["qps_threads"] = sum(done) / (time.perf_counter() - started)
    row["threads"] = threads
    row["load"] = os.getloadavg()[0]
    return row


def child_embedded(data: Path, work: Path, threads: int, seconds: float) -> dict:
    from faceledger.store.vectors import EmbeddedIndex

    z = np.load(data)
    x, q, gt, kind = z["vectors"], z["queries"], z["gt_keys"], z["kind"]
    keys = np.arange(1, len(x) + 1, dtype=np.int64)
    gc.collect()
    before = rss_bytes()
    index = EmbeddedIndex(DIM)
    start = time.perf_counter()
    for s in range(0, len(x), CHUNK):
        index.add(keys[s : s + CHUNK], x[s : s + CHUNK])
        progress("EmbeddedIndex", min(s + CHUNK, len(x)), len(x), start)
    build_s = time.perf_counter() - start
    gc.collect()
    row = {"build_s": build_s, "mem": rss_bytes() - before}
    path = work / "embedded.index"
    t = time.perf_counter()
    index.save(path)
    row["save_s"] = time.perf_counter() - t
    row["disk"] = path.stat().st_size
    return {**row, **measure_search(index.search, q, gt, kind, threads, seconds)}


def child_milvus(data: Path, url: str, pid: int, root: Path, threads: int, seconds: float) -> dict:
    from pymilvus import Collection, utility

    from faceledger.store.milvus import MilvusVectors

    z = np.load(data)
    x, q, gt, kind = z["vectors"], z["queries"], z["gt_keys"], z["kind"]
    keys = np.arange(1, len(x) + 1, dtype=np.int64)
    # A bulk load under a busy server: a longer deadline than a node's 5 s.
    engine = MilvusVectors(f"{url}/{MILVUS_NAME}", timeout=120)
    alias = engine._alias
    engine.count(COLLECTION)  # opens (creates the collection and its index, loads it)
    gc.collect()
    server_before, before = tree_rss(pid), rss_bytes()
    row: dict = {"server_rss_empty": server_before}
    start = time.perf_counter()
    ts = 0
    for s in range(0, len(x), CHUNK):
        ts = engine.upsert(COLLECTION, keys[s : s + CHUNK], x[s : s + CHUNK])
        progress("Milvus upsert", min(s + CHUNK, len(x)), len(x), start)
    row["insert_s"] = time.perf_counter() - start
    row["ts"] = ts
    # Milvus's id of its collection: the catalog's vector_sync row names the one it is in step with.
    row["engine_id"] = int(Collection(MILVUS_NAME, using=alias).describe()["collection_id"])
    row["disk_after_insert"] = milvus_disk(root)
    say(f"inserted; rocksmq {row['disk_after_insert']['rocksmq'] / 1e6:,.0f} MB; flushing")
    t = time.perf_counter()
    engine._call("flush", lambda c: c.flush(timeout=3600))
    row["flush_s"] = time.perf_counter() - t
    last, deadline = 0.0, time.perf_counter() + 3 * 3600
    while True:  # every row indexed...
        p = utility.index_building_progress(MILVUS_NAME, using=alias)
        # Not pending_index_rows: Milvus 2.3.5 keeps counting the rows of segments that
        # compaction merged away (520,000 of 1M stayed "pending" with the index Finished).
        if p["indexed_rows"] >= len(x):
            break
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            say(f"Milvus index: {p['indexed_rows']:,}/{p['total_rows']:,} rows, {last - start:.0f} s")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"Milvus indexed {p['indexed_rows']:,} of {len(x):,} rows in 3 hours")
        time.sleep(2)
    row["indexed_s"] = time.perf_counter() - start
    while True:  # ...and the query node serving indexed, sealed segments only (no growing ones)
        segs = utility.get_query_segment_info(MILVUS_NAME, using=alias)
        indexed = sum(s.num_rows for s in segs if s.index_name and s.state == 3)  # 3: Sealed
        if indexed >= len(x) and all(s.state == 3 for s in segs):
            break
        if time.perf_counter() - last > 30:
            last = time.perf_counter()
            say(f"Milvus load: {indexed:,} rows in indexed segments of {len(segs)}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"Milvus's query node had {indexed:,} of {len(x):,} rows indexed in 3 hours")
        time.sleep(2)
    row["ready_s"] = time.perf_counter() - start
    row["index_s"] = row["ready_s"] - row["insert_s"]
    row["segments"] = len(segs)
    say(f"Milvus ready in {row['ready_s']:.0f} s ({len(segs)} segments)")
    time.sleep(5)  # the growing segments' memory is released just after the hand-off
    row["server_rss_ready"] = tree_rss(pid)
    row["disk_ready"] = milvus_disk(root)
    settled = settle(pid, alias, len(x), limit_s=3600)
    row["settled_s"] = time.perf_counter() - start if settled else None
    row["segments_settled"], row["idle_cores"] = settled or (None, None)
    gc.collect()
    row["server_rss"] = tree_rss(pid)
    row["mem"] = row["server_rss"] - server_before
    row["client_mem"] = rss_bytes() - before
    row["disk_settled"] = milvus_disk(root)
    row["disk"] = row["disk_settled"]["total"]
    assert engine.count(COLLECTION) == len(x), "Milvus does not hold every face"

    def search(queries, k):
        return engine.search(COLLECTION, queries, k, ts)

    row.update(measure_search(search, q, gt, kind, threads, seconds))
    row["disk_end"] = milvus_disk(root)
    engine.close()
    return row


def settle(pid: int, alias: str, n: int, limit_s: float) -> tuple[int, float] | None:
    """Wait until Milvus is quiet: after a bulk load it merges the small segments it sealed
    (compaction, triggered a minute or so later) and indexes the merged ones, minutes of both
    cores that would otherwise fall on the measures. Quiet: for 2 minutes the same segments,
    all indexed, holding the n faces once, and the server under 0.2 cores. Returns (segments,
    the server's idle cores), or None after `limit_s`."""
    from pymilvus import utility

    start = time.perf_counter()
    quiet_since = last_ids = None
    last_said = 0.0
    while time.perf_counter() - start < limit_s:
        cpu = tree_cpu(pid)
        time.sleep(10)
        busy = (tree_cpu(pid) - cpu) / 10
        segs = utility.get_query_segment_info(MILVUS_NAME, using=alias)
        ids = sorted(s.segmentID for s in segs)
        quiet = (
            busy < 0.2
            and ids == last_ids
            and all(s.state == 3 and s.index_name for s in segs)
            and sum(s.num_rows for s in segs) == n
        )
        last_ids = ids
        if not quiet:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= 120:
            say(f"Milvus settled: {len(segs)} segments, {busy:.2f} cores idle")
            return len(segs), busy
        if time.perf_counter() - last_said > 60:
            last_said = time.perf_counter()
            rows = sum(s.num_rows for s in segs)
            say(f"Milvus settling: {busy:.2f} cores busy, {len(segs)} segments holding {rows:,} rows")
    say(f"Milvus did not settle in {limit_s:.0f} s: measuring anyway")
    return None


def run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child {args[:2]} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- step 2: two faceledger nodes on a PostgreSQL catalog -------------------------------------


def load_catalog(db_url: str, x: np.ndarray, milvus: dict) -> list[str]:
    """The N faces in one collection, keys 1..N as in the indexes, in step with what step 1 wrote
    to Milvus (`milvus`: its result); returns the face ids."""
    import psycopg
    from sqlalchemy import insert

    from faceledger.store.catalog import Catalog, vector_sync
    from faceledger.vision.models import FACE_MODEL_VERSION

    catalog = Catalog(db_url)  # its tables
    rng = random.Random(3)
    face_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(len(x))]
    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "INSERT INTO collections (collection_id, face_model_version, created_at, version) "
            "VALUES (%s, %s, %s, %s)",
            (COLLECTION, FACE_MODEL_VERSION, now, VERSION),
        )
        columns = (
            "key, face_id, collection_id, image_id, external_image_id, user_id, box_left, box_top, "
            "box_width, box_height, confidence, model_version, embedding, created_at"
        )
        with conn.cursor().copy(f"COPY faces ({columns}) FROM STDIN") as copy:
            for i in range(len(x)):
                copy.write_row(
                    (
                        i + 1,
                        face_ids[i],
                        COLLECTION,
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        f"photo-{i + 1}",
                        None,
                        0.3,
                        0.2,
                        0.4,
                        0.5,
                        99.9,
                        FACE_MODEL_VERSION,
                        x[i].tobytes(),
                        now,
                    )
                )
                if (i + 1) % 200_000 == 0:
                    progress("catalog COPY", i + 1, len(x), start)
        conn.execute("SELECT setval(pg_get_serial_sequence('faces', 'key'), %s)", (len(x),))
    # Milvus holds every face up to key N as of the collection's version, written by step 1's
    # last write, in the Milvus collection it made; no erasure to compact.
    in_step = {
        "collection_id": COLLECTION,
        "key": len(x),
        "version": VERSION,
        "ts": milvus["ts"],
        "faces": len(x),
        "compacted": VERSION,
        "engine_id": milvus["engine_id"],
    }
    with catalog.write() as conn:
        conn.execute(insert(vector_sync).values({k: v for k, v in in_step.items() if k in vector_sync.c}))
    catalog.close()
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE faces")  # so counting the collection is an index-only scan
    say(f"catalog loaded: {len(x):,} faces in {time.perf_counter() - start:.0f} s")
    return face_ids


def count_cost(db_url: str) -> float:
    """ms for the count of the collection's faces that every search makes (catalog.count_faces)."""
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        times = []
        for _ in range(20):
            t = time.perf_counter()
            conn.execute("SELECT count(*) FROM faces WHERE collection_id = %s", (COLLECTION,)).fetchone()
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def access_key(env: dict, home: Path) -> tuple[str, str]:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "faceledger"),
            "--home",
            str(home),
            "keys",
            "create",
            "--name",
            "bench",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    made = json.loads(done.stdout)
    return made["AccessKeyId"], made["SecretAccessKey"]


def run_nodes(
    label: str, work: Path, env: dict, key, face_ids: list[str], args, servers: dict, extra: tuple = ()
) -> dict:
    """Two nodes, 16 clients split between them, for args.warmup + args.seconds; `servers`: the
    pids of PostgreSQL (and Milvus), whose CPU per search is counted too."""
    from http_server import client, start_serve

    homes = [work / f"{label}-a", work / f"{label}-b"]
    if label == "embedded":  # each node loads the index of step 1 as if it had saved it itself
        for h in homes:
            (h / "vectors").mkdir(parents=True)
            os.link(work / "embedded.index", h / "vectors" / f"{COLLECTION}.index")
            (h / "vectors" / f"{COLLECTION}.json").write_text(
                json.dumps({"version": VERSION, "faces": len(face_ids)})
            )
    else:
        for h in homes:
            h.mkdir()
    nodes = []
    try:
        for h in homes:
            nodes.append(start_serve(h, "--workers", "1", *extra, env=env))
        urls = [url for _, url, _ in nodes]
        row: dict = {"rss_started": [tree_rss(p.pid) for p, _, _ in nodes]}
        clients = [client(urls[t % 2], *key) for t in range(args.threads)]
        # The first search of each node opens its index (loads the file / connects to Milvus).
        row["first_search_s"] = []
        for c in clients[:2]:
            t = time.perf_counter()
            c.search_faces(CollectionId=COLLECTION, FaceId=face_ids[0], MaxFaces=10)
            row["first_search_s"].append(time.perf_counter() - t)
        say(f"{label} nodes: first searches {', '.join(f'{s:.1f}' for s in row['first_search_s'])} s")
        # An idle request's cost: the client's CPU and the round trip, one thread.
        cpu, t = time.process_time(), time.perf_counter()
        idle = []
        for i in range(200):
            s = time.perf_counter()
            clients[i % 2].list_collections()
            idle.append(time.perf_counter() - s)
        row["idle_p50_ms"] = float(np.median(idle) * 1e3)
        row["idle_client_cpu_ms"] = (time.process_time() - cpu) / 200 * 1e3
        lat: list[list[float]] = [[] for _ in clients]
        made = [0] * len(clients)  # every request, warm-up too: the CPU figures cover both
        errors: list[Counter] = [Counter() for _ in clients]
        begin = time.perf_counter()
        measured_from, stop = begin + args.warmup, begin + args.warmup + args.seconds

        def worker(t: int) -> None:
            rnd = random.Random(t)
            while True:
                s = time.perf_counter()
                if s >= stop:
                    return
                try:
                    clients[t].search_faces(CollectionId=COLLECTION, FaceId=rnd.choice(face_ids), MaxFaces=10)
                    failed = None
                except Exception as exc:  # counted, not fatal: the run goes on
                    failed = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
                e = time.perf_counter()
                made[t] += 1
                if s >= measured_from and e <= stop:
                    if failed:
                        errors[t][failed] += 1
                    else:
                        lat[t].append(e - s)

        say(
            f"{label} nodes: {args.threads} clients, {args.warmup:.0f} s warm-up, "
            f"{args.seconds:.0f} s measured"
        )
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
        pids = {"node A": nodes[0][0].pid, "node B": nodes[1][0].pid, **servers}
        cpu_before = {name: tree_cpu(pid) for name, pid in pids.items()}
        cpu = time.process_time()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        client_cpu = time.process_time() - cpu
        cpu_used = {name: tree_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu_used["client"] = client_cpu
        row["cpu_ms_per_request"] = {name: v / max(sum(made), 1) * 1e3 for name, v in cpu_used.items()}
        done = [v for per in lat for v in per]
        row["requests"] = len(done)
        row["rps"] = len(done) / args.seconds
        row["per_node_rps"] = [sum(len(lat[t]) for t in range(n, len(lat), 2)) / args.seconds for n in (0, 1)]
        row["p50_ms"], row["p99_ms"] = (float(v) for v in np.percentile(done, [50, 99]) * 1e3)
        row["errors"] = dict(sum(errors, Counter()))
        row["client_cores"] = client_cpu / (args.warmup + args.seconds)
        row["load"] = os.getloadavg()[0]
        row["rss"] = [tree_rss(p.pid) for p, _, _ in nodes]
        say(
            f"{label} nodes: {row['rps']:.1f} req/s, p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, "
            f"errors {row['errors']}, RSS {', '.join(f'{r / 1e6:,.0f}' for r in row['rss'])} MB"
        )
        return row
    finally:
        for proc, _, _ in nodes:
            proc.terminate()
        for proc, _, _ in nodes:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- the table ----------------------------------------------------------------------------------


def table(r: dict) -> str:
    n, e, m = r["faces"], r["embedded"], r["milvus"]
    ne, nm = r.get("nodes_embedded", {}), r.get("nodes_milvus", {})
    mb = 1e6

    def cpu(row: dict, name: str) -> float:
        return row["cpu_ms_per_request"].get(name, float("nan"))

    def both(label: str, a: str, b: str) -> str:
        return f"{label:<44} {a:>22} {b:>30}"

    lines = [
        f"{n:,} faces, {r['queries']} queries; load average {r['load_start']:.2f} at start, "
        f"{r['load_end']:.2f} at the end (2 cores)",
        both("", "EmbeddedIndex (usearch)", "Milvus 2.3.5 standalone"),
        "-" * 98,
        both(
            "build: insert / +index / searchable (s)",
            f"- / - / {e['build_s']:,.0f}",
            f"{m['insert_s']:,.0f} / {m['index_s']:,.0f} / {m['ready_s']:,.0f}",
        ),
        both("build: faces/s (to searchable)", f"{n / e['build_s']:,.0f}", f"{n / m['ready_s']:,.0f}"),
        both("  Milvus: inserts faces/s, segments", "", f"{n / m['insert_s']:,.0f}, {m['segments']}"),
        both(
            "  Milvus: settled (s; compaction, re-index)",
            "",
            f"{m['settled_s']:,.0f}, {m['segments_settled']} segments" if m.get("settled_s") else "no",
        ),
        both(
            "  Milvus: server CPU when idle (cores)",
            "",
            f"{m['idle_cores']:.2f}" if m.get("idle_cores") is not None else "-",
        ),
        both(
            "memory: index (MB, B/face)",
            f"{e['mem'] / mb:,.0f}, {e['mem'] / n:,.0f}",
            f"{m['mem'] / mb:,.0f}, {m['mem'] / n:,.0f} (server growth)",
        ),
        both(
            "  Milvus server RSS empty/searchable/settled",
            "",
            f"{m['server_rss_empty'] / mb:,.0f} / {m.get('server_rss_ready', 0) / mb:,.0f} / "
            f"{m['server_rss'] / mb:,.0f} MB",
        ),
        both("  client process RSS growth (MB)", f"{e['mem'] / mb:,.0f}", f"{m['client_mem'] / mb:,.0f}"),
        both(
            "disk (MB, B/face)",
            f"{e['disk'] / mb:,.0f}, {e['disk'] / n:,.0f}",
            f"{m['disk'] / mb:,.0f}, {m['disk'] / n:,.0f} (whole data dir)",
        ),
        both(
            "  Milvus segments / etcd (MB)",
            "",
            f"{m['disk_settled']['segments'] / mb:,.0f} / {m['disk_settled']['etcd'] / mb:,.0f}",
        ),
        both(
            "  Milvus rocksmq WAL: inserted/settled/end MB",
            "",
            f"{m['disk_after_insert']['rocksmq'] / mb:,.0f} / {m['disk_settled']['rocksmq'] / mb:,.0f} / "
            f"{m['disk_end']['rocksmq'] / mb:,.0f}",
        ),
    ]
    for k in (1, 10):
        lines.append(
            both(
                f"search k={k}: p50 / p99 (ms, 1 thread)",
                f"{e[f'p50_k{k}']:.2f} / {e[f'p99_k{k}']:.2f}",
                f"{m[f'p50_k{k}']:.2f} / {m[f'p99_k{k}']:.2f}",
            )
        )
    lines += [
        both(
            f"search k=10: queries/s, {e['threads']} threads",
            f"{e['qps_threads']:,.0f}",
            f"{m['qps_threads']:,.0f}",
        ),
        both(
            "recall@1 / recall@10",
            f"{e['recall1']:.4f} / {e['recall10']:.4f}",
            f"{m['recall1']:.4f} / {m['recall10']:.4f}",
        ),
        both(
            "recall@1 real / enrolled / unknown",
            "/".join(f"{e['recall1_by_kind'][k]:.3f}" for k in ("real", "enrolled", "unknown")),
            "/".join(f"{m['recall1_by_kind'][k]:.3f}" for k in ("real", "enrolled", "unknown")),
        ),
        both("load average after the index measures", f"{e['load']:.2f}", f"{m['load']:.2f}"),
    ]
    if ne and nm:
        lines += [
            "-" * 98,
            f"two `faceledger serve --workers 1` nodes, PostgreSQL catalog, {ne['clients']} boto3 clients "
            f"search_faces(MaxFaces=10), {ne['seconds']:.0f} s",
            both(
                "requests/s (node A + node B)",
                f"{ne['rps']:.1f} ({ne['per_node_rps'][0]:.1f} + {ne['per_node_rps'][1]:.1f})",
                f"{nm['rps']:.1f} ({nm['per_node_rps'][0]:.1f} + {nm['per_node_rps'][1]:.1f})",
            ),
            both(
                "latency p50 / p99 (ms)",
                f"{ne['p50_ms']:.0f} / {ne['p99_ms']:.0f}",
                f"{nm['p50_ms']:.0f} / {nm['p99_ms']:.0f}",
            ),
            both("errors", str(sum(ne["errors"].values()) or 0), str(sum(nm["errors"].values()) or 0)),
            both(
                "node RSS after the run: A / B (MB)",
                " / ".join(f"{v / mb:,.0f}" for v in ne["rss"]),
                " / ".join(f"{v / mb:,.0f}" for v in nm["rss"]),
            ),
            both(
                "node RSS at start, before a search (MB)",
                " / ".join(f"{v / mb:,.0f}" for v in ne["rss_started"]),
                " / ".join(f"{v / mb:,.0f}" for v in nm["rss_started"]),
            ),
            both("  Milvus server RSS during the run (MB)", "", f"{nm['milvus_rss'] / mb:,.0f}"),
            both(
                "first search per node (s: opens the index)",
                " / ".join(f"{v:.1f}" for v in ne["first_search_s"]),
                " / ".join(f"{v:.1f}" for v in nm["first_search_s"]),
            ),
            both(
                "CPU ms per search: nodes A+B / PostgreSQL",
                f"{cpu(ne, 'node A') + cpu(ne, 'node B'):.1f} / {cpu(ne, 'PostgreSQL'):.1f}",
                f"{cpu(nm, 'node A') + cpu(nm, 'node B'):.1f} / {cpu(nm, 'PostgreSQL'):.1f}",
            ),
            both(
                "CPU ms per search: Milvus / boto3 client",
                f"- / {cpu(ne, 'client'):.1f}",
                f"{cpu(nm, 'Milvus'):.1f} / {cpu(nm, 'client'):.1f}",
            ),
            both(
                "  client cores used (of 2)",
                f"{ne['client_cores']:.2f}",
                f"{nm['client_cores']:.2f}",
            ),
            both(
                "idle ListCollections: p50 ms, client CPU ms",
                f"{ne['idle_p50_ms']:.1f}, {ne['idle_client_cpu_ms']:.1f}",
                f"{nm['idle_p50_ms']:.1f}, {nm['idle_client_cpu_ms']:.1f}",
            ),
            both("load average after the run", f"{ne['load']:.2f}", f"{nm['load']:.2f}"),
            f"every search also counts the collection's faces in PostgreSQL: {r['count_ms']:.1f} ms at {n:,}",
        ]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=16, help="concurrent searches (index level and clients)")
    ap.add_argument("--index-seconds", type=float, default=15, help="duration of the threaded index run")
    ap.add_argument("--seconds", type=float, default=30, help="measured duration of the node runs")
    ap.add_argument("--warmup", type=float, default=10, help="unmeasured seconds before each node run")
    ap.add_argument("--skip-nodes", action="store_true", help="index level only")
    ap.add_argument("--work", default=tempfile.gettempdir(), help="where the servers' data go (removed)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "embedded":
        print(json.dumps(child_embedded(Path(args.data), Path(args.root), args.threads, args.index_seconds)))
        return
    if args.child == "milvus":
        row = child_milvus(
            Path(args.data), args.url, args.pid, Path(args.root), args.threads, args.index_seconds
        )
        print(json.dumps(row))
        return

    from milvus_server import MilvusServer
    from postgres import PostgresServer

    started = time.perf_counter()
    n = args.faces
    result: dict = {"faces": n, "queries": args.queries, "load_start": os.getloadavg()[0]}
    print(
        f"load average at start: {result['load_start']:.2f} "
        "(2 cores; other work on the machine slows every figure)"
    )
    work = Path(tempfile.mkdtemp(prefix="vector-engines-", dir=args.work))
    milvus = postgres = None
    try:
        real = real_embeddings()
        model = FaceModel(real)
        t = time.perf_counter()
        ds = make_dataset(n, real, model, args.queries)
        gt = exact_keys(ds["vectors"], ds["queries"], 10)
        print(f"synthetic {n:,}: {ds['stats']}  (made in {time.perf_counter() - t:.0f} s)", flush=True)
        data = work / "data.npz"
        np.savez(data, vectors=ds["vectors"], queries=ds["queries"], kind=ds["kind"], gt_keys=gt)
        x = ds["vectors"]
        del ds
        gc.collect()
        common = ["--data", str(data), "--root", str(work), "--threads", str(args.threads)]
        common += ["--index-seconds", str(args.index_seconds)]

        say(f"EmbeddedIndex: building {n:,} faces")
        result["embedded"] = run_child(["--child", "embedded", *common])

        wait_for_no_milvus()
        say("starting Milvus")
        milvus = MilvusServer()
        pid = milvus.server.server_proc.pid
        common[3] = str(milvus.root)  # --root: its storage, for the disk figures
        result["milvus"] = run_child(["--child", "milvus", *common, "--url", milvus.url, "--pid", str(pid)])

        if not args.skip_nodes:
            say("starting PostgreSQL")
            postgres = PostgresServer()
            db = postgres.new_database("vector_engines")
            face_ids = load_catalog(db, x, result["milvus"])
            del x
            gc.collect()
            result["count_ms"] = count_cost(db)
            env = {
                "FACELEDGER_DATABASE_URL": db,
                "FACELEDGER_MASTER_KEY_FILE": str(work / "master.key"),
                "FACELEDGER_WARM_UP": "0",
            }
            (work / "keyhome").mkdir()
            key = access_key(env, work / "keyhome")
            url = f"{milvus.url}/{MILVUS_NAME}"
            pg_pid = int((postgres.data / "postmaster.pid").read_text().split()[0])
            servers = {"PostgreSQL": pg_pid, "Milvus": pid}
            nm = run_nodes("milvus", work, env, key, face_ids, args, servers, ("--vector-url", url))
            nm["milvus_rss"] = tree_rss(pid)
            result["nodes_milvus"] = nm
            milvus.close()  # the embedded nodes run without Milvus beside them
            milvus = None
            servers = {"PostgreSQL": pg_pid}
            result["nodes_embedded"] = run_nodes("embedded", work, env, key, face_ids, args, servers)
            for row in (result["nodes_milvus"], result["nodes_embedded"]):
                row.update(clients=args.threads, seconds=args.seconds)
    finally:
        if milvus is not None:
            milvus.close()
        if postgres is not None:
            postgres.close()
        shutil.rmtree(work, ignore_errors=True)
    result["load_end"] = os.getloadavg()[0]
    result["minutes"] = (time.perf_counter() - started) / 60

    everything = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    everything[str(n)] = result
    OUT_JSON.write_text(json.dumps(everything, indent=1))
    print(f"\n{table(result)}\n")
    for other in sorted(everything, key=int):
        if int(other) != n and "nodes_milvus" in everything[other]:
            print(f"Earlier run, from {OUT_JSON.name}:\n{table(everything[other])}\n")
    print(f"whole run: {result['minutes']:.1f} min")


if __name__ == "__main__":
    main()
