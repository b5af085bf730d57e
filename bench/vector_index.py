"""Vector index candidates side by side on synthetic face embeddings drawn like real ones.

What it measures, per collection size (default 100,000 and 1,000,000 faces), for exact numpy
search, a face_recognition-style linear scan (`np.linalg.norm(known - probe, axis=1)`, as
face_recognition.face_distance does), faiss-cpu (HNSW, IVF-Flat, IVF-PQ), hnswlib, usearch (f32
and f16) and faceledger's own EmbeddedIndex:

- build: faces/s, adding in chunks with 2 threads where the library can;
- memory per face: the process's RSS growth over the build, divided by the faces (each backend
  runs in a fresh subprocess, so one's garbage does not count against the next);
- disk per face: the saved file's size;
- latency p50/p99 of single-query search (one query per call, one thread) at k=1 and k=10
  (the two linear scans are timed on 100 of the queries above 200k faces);
- recall@1 and recall@10 against exact search (ties settled in float64), also split by query kind;
- the load average while it ran: other work on the 2 cores inflates the tail latencies;
- then, inside EmbeddedIndex, exact search vs. the graph at growing sizes: the crossover.

The embeddings: ~1,000 LFW photos of ../shared/faces (240 people with 3-4 photos, 200 with
one) are embedded with faceledger and cached in bench/results/vector_index_real_embeddings.npz.
From them the script estimates the mean face, the between-person covariance (where identity
centres lie) and the pooled within-person covariance, with a lognormal per-photo scale fitted so
that same-person distances spread like the real ones. It draws synthetic people with 1+ photos
each (geometric, mean 2.5), maps norms onto the real norm distribution (dlib's descriptors are not
unit-norm: ~1.41 +- 0.07) and mixes the real embeddings in. Queries: 20% held-out real photos of
people in the set, 70% new photos of enrolled synthetic people, 10% people not enrolled at all.
Gaussian identities are probably a hard case for graph indexes (high intrinsic dimension).

Run from the repository root (both sizes and the crossover took 25 minutes on the 2-core machine; run it
in the background):

    .venv/bin/python bench/vector_index.py [--faces 1000000] [--only hnswlib,usearch]
    nohup .venv/bin/python bench/vector_index.py > bench/results/vector_index.txt 2>&1 &
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

# The team's labelled photos sit beside the repository (../shared/faces); FACES overrides.
FACES = Path(os.environ.get("FACES") or Path(__file__).resolve().parents[2] / "shared" / "faces")
RESULTS = Path(__file__).resolve().parent / "results"
REAL_CACHE = RESULTS / "vector_index_real_embeddings.npz"
DIM = 128
BUILD_THREADS = 2
CHUNK = 50_000  # faces per add call: progress lines, and how EmbeddedIndex is fed by the catalog


# -- real embeddings -----------------------------------------------------------------------


def _embed(path: Path) -> dict:
    from faceledger.inputs.images import decode_image, read_image_file
    from faceledger.vision.analyze import analyze_faces
    from faceledger.vision.detect import HogDetector

    faces = analyze_faces(decode_image(read_image_file(path)).rgb, HogDetector(), embed=True, max_faces=1)
    return {"embedding": faces[0].embedding if faces else None}


def real_embeddings(workers: int = 2, people: int = 240, per_person: int = 4, singletons: int = 200) -> dict:
    """Embeddings of ~1,000 photos: `people` identities with 3+ clean photos, and singletons."""
    if REAL_CACHE.exists():
        z = np.load(REAL_CACHE)
        return {k: z[k] for k in z.files}
    from faceledger.processes.pool import run_over_files

    by_id: dict[str, list[str]] = defaultdict(list)
    lone: list[tuple[str, str]] = []
    with open(FACES / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["audit_flag"]:
                continue  # doubtful label or face: it would inflate the within-identity spread
            if row["path"].startswith("ids/"):
                by_id[row["identity"]].append(row["path"])
            elif row["path"].startswith("singletons/"):
                lone.append((row["identity"], row["path"]))
    rng = random.Random(7)
    chosen = rng.sample(sorted(i for i, ps in by_id.items() if len(ps) >= 3), people)
    todo = [(i, p) for i in chosen for p in sorted(by_id[i])[:per_person]] + rng.sample(lone, singletons)
    ids, paths, vecs = [], [], []
    start = time.perf_counter()
    results = run_over_files(_embed, [FACES / p for _, p in todo], workers)
    for n, ((ident, rel), (_, r)) in enumerate(zip(todo, results), 1):
        if "Error" not in r and r["embedding"] is not None:
            ids.append(ident)
            paths.append(rel)
            vecs.append(np.asarray(r["embedding"], np.float32))
        if n % 100 == 0 or n == len(todo):
            print(
                f"  real embeddings: {n}/{len(todo)} photos, {len(vecs)} faces, "
                f"{time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"identities": np.array(ids), "paths": np.array(paths), "embeddings": np.stack(vecs)}
    np.savez(REAL_CACHE, **out)
    return out


# -- synthetic embeddings drawn like the real ones -----------------------------------------


class FaceModel:
    """Gaussian identities fitted to real embeddings: centre ~ N(mean, Sb), photo ~ N(centre, Sw)."""

    def __init__(self, real: dict):
        e = real["embeddings"].astype(np.float64)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, ident in enumerate(real["identities"]):
            groups[str(ident)].append(i)
        multi = [g for g in groups.values() if len(g) >= 2]
        dev = np.concatenate([(e[g] - e[g].mean(0)) * np.sqrt(len(g) / (len(g) - 1)) for g in multi])
        self.sw = dev.T @ dev / len(dev)
        one = e[[g[0] for g in groups.values()]]  # one photo per person: total = between + within
        self.mean = one.mean(0)
        self.sb = np.cov(one.T) - self.sw
        self.lw = self._root(self.sw)
        self.lb = self._root(self.sb)
        self.real_norms = np.sort(np.linalg.norm(e, axis=1))
        self.norm_map: tuple[np.ndarray, np.ndarray] | None = None
        # Real photos of one person spread unevenly (pose, light): a Gaussian with one covariance
        # gives too few far pairs. Scale each photo's deviation by a lognormal factor whose width
        # reproduces the spread of real same-person distances.
        same = np.concatenate(
            [np.linalg.norm(e[g][:, None] - e[g][None], axis=2)[np.triu_indices(len(g), 1)] for g in multi]
        )
        rng = np.random.default_rng(0)
        centres = self.centres(rng, 20_000)
        spread = {}
        for sigma in np.arange(0.0, 0.5, 0.02):
            self.sigma = sigma
            d = np.linalg.norm(self.photos(rng, centres) - self.photos(rng, centres), axis=1)
            spread[sigma] = abs(d.std() - same.std())
        self.sigma = min(spread, key=spread.get)

    @staticmethod
    def _root(cov: np.ndarray) -> np.ndarray:
        # A few of Sb's smallest eigenvalues come out negative from ~450 people: clip them.
        w, v = np.linalg.eigh(cov)
        return (v * np.sqrt(np.clip(w, 1e-7, None))).astype(np.float32)

    def centres(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return (self.mean + rng.standard_normal((n, DIM), np.float32) @ self.lb.T).astype(np.float32)

    def photos(self, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
        out = np.empty_like(centres)
        for s in range(0, len(centres), 100_000):
            c = centres[s : s + 100_000]
            scale = np.exp(self.sigma * rng.standard_normal((len(c), 1)) - self.sigma**2).astype(
                np.float32
            )  # E[scale^2] = 1
            out[s : s + len(c)] = c + scale * (rng.standard_normal(c.shape, np.float32) @ self.lw.T)
        return out

    def match_norms(self, x: np.ndarray) -> np.ndarray:
        """Map norms monotonically onto the real norm distribution (fitted on the first call)."""
        norms = np.linalg.norm(x, axis=1)
        if self.norm_map is None:
            probs = np.linspace(0, 1, 1001)
            self.norm_map = (np.quantile(norms, probs), np.quantile(self.real_norms, probs))
        target = np.interp(norms, *self.norm_map)
        return (x * (target / norms)[:, None]).astype(np.float32)


def describe(e: np.ndarray, ident: np.ndarray, rng: np.random.Generator) -> str:
    """Norms, same-person and different-person distances of a labelled sample."""
    norms = np.linalg.norm(e, axis=1)
    groups: dict[object, list[int]] = defaultdict(list)
    for i, g in enumerate(ident):
        groups[g].append(i)
    same = [
        np.linalg.norm(e[g[a]] - e[g[b]])
        for g in groups.values()
        for a in range(len(g))
        for b in range(a + 1, len(g))
    ]
    i, j = rng.integers(0, len(e), (2, 20_000))
    keep = ident[i] != ident[j]
    diff = np.linalg.norm(e[i[keep]] - e[j[keep]], axis=1)
    same = np.array(same[:20_000])
    return (
        f"norm {norms.mean():.3f}±{norms.std():.3f}  same-person d {same.mean():.3f} (p95 "
        f"{np.percentile(same, 95):.3f},"
        f" <0.6: {np.mean(same < 0.6):.1%})  different d {diff.mean():.3f} (p1 {np.percentile(diff, 1):.3f}, "
        f"<0.6: {np.mean(diff < 0.6):.2%})"
    )


def make_dataset(n: int, real: dict, model: FaceModel, n_queries: int, seed: int = 1) -> dict:
    """n faces (real ones mixed in) in insertion order, queries, and exact top-10 answers."""
    rng = np.random.default_rng(seed)
    real_e, real_id = real["embeddings"], real["identities"]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ident in enumerate(real_id):
        groups[str(ident)].append(i)
    held = [g[-1] for g in groups.values() if len(g) >= 2]  # one photo of each real person with 2+: a query
    real_in = np.setdiff1d(np.arange(len(real_e)), held)
    n_syn = n - len(real_in)
    sizes = rng.geometric(0.4, n_syn)  # photos per person, mean 2.5
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_syn) + 1]
    sizes[-1] -= sizes.sum() - n_syn
    centres = model.centres(rng, len(sizes))
    person = np.repeat(np.arange(len(sizes)), sizes)
    syn = model.match_norms(model.photos(rng, centres[person]))
    vectors = np.concatenate([syn, real_e[real_in]])
    who = np.concatenate([person, len(sizes) + np.searchsorted(np.unique(real_id), real_id[real_in])])
    order = rng.permutation(n)  # a catalog adds people's photos interleaved over time
    vectors, who = vectors[order], who[order]

    n_real = min(len(held), n_queries // 5)
    n_unknown = n_queries // 10
    n_known = n_queries - n_real - n_unknown
    q = np.concatenate(
        [
            real_e[rng.choice(held, n_real, replace=False)],
            model.match_norms(
                model.photos(rng, centres[rng.choice(person, n_known)])
            ),  # enrolled person, new photo
            model.match_norms(model.photos(rng, model.centres(rng, n_unknown))),  # a person not enrolled
        ]
    ).astype(np.float32)
    kind = np.array(["real"] * n_real + ["enrolled"] * n_known + ["unknown"] * n_unknown)
    gt_keys, gt_dist = exact_top(vectors, q, 10)
    sample = rng.choice(n, min(n, 50_000), replace=False)
    return {
        "vectors": vectors,
        "queries": q,
        "kind": kind,
        "gt_keys": gt_keys,
        "gt_dist": gt_dist,
        "stats": describe(vectors[sample], who[sample], rng),
    }


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest: float32 dot products for 4k candidates, then float64 distances."""
    sq = np.einsum("ij,ij->i", x, x)
    cand = np.empty((len(q), 4 * k), np.int64)
    for s in range(0, len(q), 100):
        d2 = sq[None, :] - 2 * (q[s : s + 100] @ x.T)
        cand[s : s + 100] = np.argpartition(d2, 4 * k, axis=1)[:, : 4 * k]
    d = np.linalg.norm(x[cand].astype(np.float64) - q[:, None, :].astype(np.float64), axis=2)
    order = np.argsort(d, axis=1)[:, :k]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(d, order, 1)


# -- backends (each runs in a child process) -----------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def progress(label: str, done: int, total: int, start: float) -> None:
    rate = done / max(time.perf_counter() - start, 1e-9)
    print(f"    {label}: {done:,}/{total:,} faces, {rate:,.0f} faces/s", file=sys.stderr, flush=True)


class Exact:
    """float32 matrix, squared distances by |x|^2 - 2 x.q (+|q|^2), argpartition."""

    def __init__(self, x: np.ndarray, label: str):
        self.x = x.copy()
        self.sq = np.einsum("ij,ij->i", self.x, self.x)

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d2 = self.sq - 2 * (self.x @ q[0])
        top = np.argpartition(d2, k)[:k] if k < len(d2) else np.arange(len(d2))
        top = top[np.argsort(d2[top])]
        return top[None], np.sqrt(np.maximum(d2[top] + q[0] @ q[0], 0))[None]

    def save(self, path: Path) -> None:
        np.save(path, self.x)


class FaceRecognitionScan(Exact):
    """What face_recognition.face_distance does: np.linalg.norm(known - probe, axis=1)."""

    def __init__(self, x: np.ndarray, label: str):
        self.x = x.copy()

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d = np.linalg.norm(self.x - q[0], axis=1)
        top = np.argpartition(d, k)[:k]
        top = top[np.argsort(d[top])]
        return top[None], d[top][None]


class Faiss:
    def __init__(self, x: np.ndarray, label: str, factory: str, ef_construction: int = 0, nprobe: int = 0):
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(BUILD_THREADS)
        self.index = faiss.index_factory(DIM, factory)
        if ef_construction:
            self.index.hnsw.efConstruction = ef_construction
        if not self.index.is_trained:
            t = time.perf_counter()
            sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 100_000), replace=False)]
            self.index.train(sample)
            print(f"    {label}: trained in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        start = time.perf_counter()
        for s in range(0, len(x), CHUNK):
            self.index.add(x[s : s + CHUNK])
            progress(label, min(s + CHUNK, len(x)), len(x), start)
        faiss.omp_set_num_threads(1)

    def set_search(self, value: int) -> None:
        if hasattr(self.index, "hnsw"):
            self.index.hnsw.efSearch = value
        else:
            self.faiss.extract_index_ivf(self.index).nprobe = value

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d2, keys = self.index.search(q, k)
        return keys, np.sqrt(np.maximum(d2, 0))

    def save(self, path: Path) -> None:
        self.faiss.write_index(self.index, str(path))


class Hnswlib:
    def __init__(self, x: np.ndarray, label: str, m: int, ef_construction: int):
        import hnswlib

        self.index = hnswlib.Index(space="l2", dim=DIM)
        self.index.init_index(
            max_elements=len(x), M=m, ef_construction=ef_construction, allow_replace_deleted=True
        )
        keys = np.arange(len(x))
        start = time.perf_counter()
        for s in range(0, len(x), CHUNK):
            self.index.add_items(x[s : s + CHUNK], keys[s : s + CHUNK], num_threads=BUILD_THREADS)
            progress(label, min(s + CHUNK, len(x)), len(x), start)

    def set_search(self, value: int) -> None:
        self.index.set_ef(value)

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        keys, d2 = self.index.knn_query(q, k=k, num_threads=1)
        return keys.astype(np.int64), np.sqrt(np.maximum(d2, 0))

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))


class Usearch:
    def __init__(self, x: np.ndarray, label: str, dtype: str, connectivity: int, expansion_add: int):
        from usearch.index import Index

        self.index = Index(
            ndim=DIM, metric="l2sq", dtype=dtype, connectivity=connectivity, expansion_add=expansion_add
        )
        keys = np.arange(len(x), dtype=np.uint64)
        start = time.perf_counter()
        for s in range(0, len(x), CHUNK):
            self.index.add(keys[s : s + CHUNK], x[s : s + CHUNK], threads=BUILD_THREADS)
            progress(label, min(s + CHUNK, len(x)), len(x), start)

    def set_search(self, value: int) -> None:
        self.index.expansion_search = value

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m = self.index.search(q, k, threads=1)
        keys = np.asarray(m.keys, np.int64).reshape(1, -1)
        d = np.sqrt(np.maximum(np.asarray(m.distances, np.float32).reshape(1, -1), 0))
        return keys, d

    def save(self, path: Path) -> None:
        self.index.save(str(path))


class Embedded:
    """faceledger's EmbeddedIndex, fed the way the catalog feeds it."""

    def __init__(self, x: np.ndarray, label: str, **params):
        from faceledger.store.vectors import EmbeddedIndex

        self.index = EmbeddedIndex(DIM, **params)
        keys = np.arange(len(x), dtype=np.int64)
        start = time.perf_counter()
        for s in range(0, len(x), CHUNK):
            self.index.add(keys[s : s + CHUNK], x[s : s + CHUNK])
            progress(label, min(s + CHUNK, len(x)), len(x), start)

    def set_search(self, value: int) -> None:
        self.index.ef_search = value

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(q, k)

    def save(self, path: Path) -> None:
        self.index.save(path)


BACKENDS = {
    "exact": Exact,
    "fr_scan": FaceRecognitionScan,
    "faiss": Faiss,
    "hnswlib": Hnswlib,
    "usearch": Usearch,
    "embedded": Embedded,
}


def candidates(n: int) -> list[dict]:
    """Every configuration: backend, constructor params, and the search-time settings to sweep.

    Pilot runs at 1M (not repeated here, to keep the run short) also tried faiss HNSW16 efC100,
    hnswlib M16 efC100 and usearch f16 c32 ea64: at equal search effort each had lower recall@1
    than its M32 / ea128 counterpart (at 256: 0.897, 0.927, 0.977).
    """

    def cfg(label: str, backend: str, sweep: list | None = None, knob: str = "", **params) -> dict:
        return {"label": label, "backend": backend, "params": params, "sweep": sweep or [None], "knob": knob}

    ef = [128, 256, 512]
    out = [
        cfg("numpy exact (f32 dot)", "exact"),
        cfg("face_recognition scan", "fr_scan"),
        cfg("faiss HNSW32 efC40", "faiss", ef, "efS", factory="HNSW32,Flat", ef_construction=40),
        cfg("faiss IVF1024,Flat", "faiss", [16, 64], "nprobe", factory="IVF1024,Flat"),
        cfg("hnswlib M32 efC100", "hnswlib", ef, "ef", m=32, ef_construction=100),
        cfg("usearch f32 c16 ea64", "usearch", ef, "es", dtype="f32", connectivity=16, expansion_add=64),
        cfg("usearch f16 c16 ea64", "usearch", ef, "es", dtype="f16", connectivity=16, expansion_add=64),
        cfg("EmbeddedIndex", "embedded", [None, 384, 768], "es"),
    ]
    if n <= 200_000:  # PQ loses too much recall for 1:N face search, and trains slowly: small sizes only
        out.insert(4, cfg("faiss IVF1024,PQ32", "faiss", [64], "nprobe", factory="IVF1024,PQ32"))
    return out


def run_child(spec: dict, data_path: Path, scan_queries: int) -> list[dict]:
    z = np.load(data_path)
    x, q, gt = z["vectors"], z["queries"], z["gt_keys"]
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    index = BACKENDS[spec["backend"]](x, spec["label"], **spec["params"])
    build_s = time.perf_counter() - start
    gc.collect()
    mem = rss_bytes() - before
    tmp = RESULTS / f"tmp-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    index.save(tmp / "index")
    save_s = time.perf_counter() - t
    disk = sum(p.stat().st_size for p in tmp.iterdir())
    shutil.rmtree(tmp)
    rows = []
    n_q = len(q)
    if spec["backend"] in ("exact", "fr_scan") and scan_queries < len(q):  # slow: time every m-th query
        pick = np.linspace(0, len(q) - 1, scan_queries).astype(int)
        q, gt, n_q = q[pick], gt[pick], scan_queries
        kind = z["kind"][pick]
    else:
        kind = z["kind"]
    for value in spec["sweep"]:
        if value is not None:
            index.set_search(value)
        suffix = (
            f" {spec['knob']}={value}"
            if value is not None
            else (" (defaults)" if spec["backend"] == "embedded" else "")
        )
        row = {
            "label": spec["label"] + suffix,
            "n": len(x),
            "build_fps": len(x) / build_s,
            "mem_b": mem / len(x),
            "disk_b": disk / len(x),
            "save_s": save_s,
            "queries": n_q,
        }
        for k in (1, 10):
            lat, found = [], np.full((n_q, k), -1, np.int64)
            for i in range(n_q):
                t = time.perf_counter()
                keys, _ = index.search(q[i : i + 1], k)
                lat.append(time.perf_counter() - t)
                found[i] = keys[0]
            row[f"p50_k{k}"], row[f"p99_k{k}"] = np.percentile(lat, [50, 99]) * 1e3
            if k == 1:
                hit = found[:, 0] == gt[:, 0]
                row["recall1"] = float(hit.mean())
                row["recall1_by_kind"] = {
                    kd: float(hit[kind == kd].mean()) for kd in ("real", "enrolled", "unknown")
                }
            else:
                row["recall10"] = float(np.mean([len(set(found[i]) & set(gt[i])) / 10 for i in range(n_q)]))
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(
            f"    {row['label']}: p99 k=1 {row['p99_k1']:.2f} ms, recall@1 {row['recall1']:.4f}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def run_crossover(data_path: Path, sizes: list[int], exact_only: bool) -> list[dict]:
    """EmbeddedIndex held exact vs. moved to the graph, at growing sizes: where does the graph win?"""
    from faceledger.store.vectors import EmbeddedIndex

    z = np.load(data_path)
    x, q = z["vectors"], z["queries"]
    rows = []
    for n in sizes:
        keys = np.arange(n, dtype=np.int64)
        row: dict = {"n": n}
        modes = [("exact", EmbeddedIndex(DIM, exact_below=n + 1))]
        if not exact_only:
            modes.append(("graph", EmbeddedIndex(DIM, exact_below=0)))
        for mode, index in modes:
            t = time.perf_counter()
            index.add(keys, x[:n])
            row[f"{mode}_build_s"] = time.perf_counter() - t
            for k in (1, 10):
                lat, top = [], []
                for i in range(len(q)):
                    t = time.perf_counter()
                    found, _ = index.search(q[i : i + 1], k)
                    lat.append(time.perf_counter() - t)
                    top.append(found[0, 0])
                row[f"{mode}_p50_k{k}"], row[f"{mode}_p99_k{k}"] = np.percentile(lat, [50, 99]) * 1e3
                row[f"{mode}_top"] = np.array(top)
        exact_top = row.pop("exact_top")
        if not exact_only:
            row["recall1"] = float(np.mean(row.pop("graph_top") == exact_top))
        print(
            f"    crossover {n:,}: exact p50 {row['exact_p50_k10']:.3f} ms (k=10)",
            file=sys.stderr,
            flush=True,
        )
        rows.append(row)
    return rows


def crossover_table(rows: list[dict]) -> str:
    """exact: numpy's BLAS on both cores (its default); exact 1T: BLAS on one thread, like the graph."""
    head = (
        f"{'faces':>9} | {'exact k=1 p50':>13} {'p99':>7} {'k=10 p50':>8} {'p99':>7} | "
        f"{'exact 1T k=10 p50':>17} {'p99':>7}"
        f" | {'graph k=1 p50':>13} {'p99':>7} {'k=10 p50':>8} {'p99':>7} {'build s':>8} {'R@1':>6} | faster "
        "(2T / 1T)"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        faster = ["graph" if r["graph_p50_k10"] < r[f"{m}_p50_k10"] else "exact" for m in ("exact", "exact1")]
        lines.append(
            f"{r['n']:>9,} | {r['exact_p50_k1']:>13.3f} {r['exact_p99_k1']:>7.3f} {r['exact_p50_k10']:>8.3f} "
            f"{r['exact_p99_k10']:>7.3f}"
            f" | {r['exact1_p50_k10']:>17.3f} {r['exact1_p99_k10']:>7.3f}"
            f" | {r['graph_p50_k1']:>13.3f} {r['graph_p99_k1']:>7.3f} {r['graph_p50_k10']:>8.3f} "
            f"{r['graph_p99_k10']:>7.3f}"
            f" {r['graph_build_s']:>8.1f} {r['recall1']:>6.3f} | {faster[0]} / {faster[1]}"
        )
    return "\n".join(lines)


# -- the table ------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    head = (
        f"{'index':<34} {'faces':>9} {'build/s':>9} {'mem B/face':>10} {'disk B/face':>11} {'k=1 p50':>8} "
        f"{'p99':>7} {'k=10 p50':>8} {'p99':>7} {'R@1':>7} {'R@10':>7} {'load':>5}  R@1 real/enrolled/unknown"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        by = r["recall1_by_kind"]
        note = f" ({r['queries']} q)" if r["queries"] < 1000 else ""
        lines.append(
            f"{r['label']:<34} {r['n']:>9,} {r['build_fps']:>9,.0f} {r['mem_b']:>10,.0f} "
            f"{r['disk_b']:>11,.0f}"
            f" {r['p50_k1']:>8.3f} {r['p99_k1']:>7.3f} {r['p50_k10']:>8.3f} {r['p99_k10']:>7.3f}"
            f" {r['recall1']:>7.4f} {r['recall10']:>7.4f} {r['load']:>5.1f}  "
            f"{by['real']:.3f}/{by['enrolled']:.3f}/{by['unknown']:.3f}{note}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument(
        "--scan-queries", type=int, default=100, help="queries timed for the linear scans above 200k faces"
    )
    ap.add_argument("--only", default="", help="comma-separated label prefixes to run (default: all)")
    ap.add_argument(
        "--crossover",
        type=int,
        nargs="*",
        default=[10_000, 25_000, 40_000, 50_000, 75_000, 100_000, 150_000],
        help="sizes at which to time EmbeddedIndex exact vs. graph (taken from the largest --faces set)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child in ("crossover", "crossover-exact"):
        print(
            json.dumps(
                run_crossover(Path(args.data), args.crossover, exact_only=args.child == "crossover-exact")
            )
        )
        return
    if args.child:
        print(json.dumps(run_child(json.loads(args.child), Path(args.data), args.scan_queries)))
        return

    started = time.perf_counter()
    print(
        f"load average at start: {os.getloadavg()[0]:.2f} (2 cores; other work on the machine slows every "
        "figure)"
    )
    real = real_embeddings()
    model = FaceModel(real)
    rng = np.random.default_rng(0)
    print(f"fitted within-person spread: lognormal sigma {model.sigma:.2f}")
    print(
        f"real faces ({len(real['embeddings'])} photos): "
        f"{describe(real['embeddings'], real['identities'], rng)}",
        flush=True,
    )
    all_rows: list[dict] = []
    for n in args.faces:
        t = time.perf_counter()
        ds = make_dataset(n, real, model, args.queries)
        print(f"synthetic {n:,}: {ds['stats']}  (made in {time.perf_counter() - t:.0f} s)", flush=True)
        data_path = RESULTS / f"vector_index_data_{n}.npz"
        np.savez(data_path, **{k: v for k, v in ds.items() if k != "stats"})
        del ds
        gc.collect()
        wanted = [
            c
            for c in candidates(n)
            if not args.only or any(c["label"].startswith(p) for p in args.only.split(","))
        ]
        for spec in wanted:
            print(f"  {spec['label']} at {n:,} faces", file=sys.stderr, flush=True)
            scan_q = args.queries if n <= 200_000 else args.scan_queries
            cmd = [
                sys.executable,
                __file__,
                "--child",
                json.dumps(spec),
                "--data",
                str(data_path),
                "--scan-queries",
                str(scan_q),
            ]
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                print(f"  {spec['label']} failed (exit {done.returncode})", file=sys.stderr, flush=True)
                continue
            all_rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\n{table([r for r in all_rows if r['n'] == n])}\n", flush=True)
        sizes = [c for c in args.crossover if c <= n]
        if n == max(args.faces) and sizes:
            print(f"  crossover at {sizes}", file=sys.stderr, flush=True)
            runs = []
            for child, threads in (
                ("crossover", {}),
                ("crossover-exact", {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}),
            ):
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    child,
                    "--data",
                    str(data_path),
                    "--crossover",
                    *map(str, sizes),
                ]
                done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **threads})
                runs.append(
                    json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
                )
            if all(runs):
                for row, one in zip(*runs):
                    row.update(
                        {k.replace("exact_", "exact1_"): v for k, v in one.items() if k.startswith("exact_p")}
                    )
                print(
                    "Exact vs. graph inside EmbeddedIndex (single queries, ms)\n"
                    + crossover_table(runs[0])
                    + "\n",
                    flush=True,
                )
        data_path.unlink()
    print("\nAll sizes\n" + table(all_rows))
    print(f"\nwhole run: {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
