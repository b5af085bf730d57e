"""The HTTP service under load: requests per second and p50/p99 latency of DetectFaces and
SearchFacesByImage through Rekognition's protocol (unmodified boto3 clients, SigV4) at
concurrency 1, 8 and 32, and where the time of one request goes (model, rest of the engine,
HTTP service).

What runs: `faceledger serve --workers W` (default: one per core) on 127.0.0.1 in a fresh data
directory, a collection of G faces indexed first (photos of ../shared/faces/ids when present,
else the public-domain test photos), and C client threads in this process, each with its own
boto3 client, sending R requests in all per (operation, C). The probe is a 640x480 JPEG of one
face (a webcam frame), the same for every request.

The breakdown at concurrency 1 compares the HTTP latency with the same work done in-process
(before the server starts, so nothing competes): "model" is detection, landmarks and the
embedding on the decoded pixels; "engine" adds decoding and, for search, the index and catalog;
the rest is the service (HTTP, JSON and base64, SigV4, keys, logging) and the client.

    .venv/bin/python bench/http_service.py [--workers 2] [--requests 160] [--gallery 500]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import httpx
from botocore.config import Config
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FACES = Path(os.environ.get("FACES") or ROOT.parent / "shared" / "faces")
BIN = Path(sys.executable).parent


def webcam_frame() -> bytes:
    """The portrait's face and shoulders in a 640x480 JPEG."""
    im = Image.open(ROOT / "tests/data/obama_official_portrait.jpg").convert("RGB")
    im = im.crop((0, 100, 910, 782)).resize((640, 480))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def gallery_folder(n: int, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    photos = sorted((FACES / "ids").glob("*/*.jpg")) if (FACES / "ids").is_dir() else []
    if photos:
        random.Random(0).shuffle(photos)
        for i, p in enumerate(photos[:n]):
            os.symlink(p, into / f"{p.parent.name}-{i}.jpg")
    else:
        for p in (ROOT / "tests/data").iterdir():
            shutil.copy(p, into / p.name)
    return into


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def in_process_ms(home: Path, frame: bytes, repeats: int) -> dict[str, float]:
    """Median ms of the models each operation runs (DetectFaces: detection and landmarks; a
    search adds the embedding of the probe face), on decoded pixels, with no HTTP."""
    from faceledger import FaceLedger
    from faceledger.inputs.images import decode_image
    from faceledger.vision.analyze import analyze_faces, embed_faces

    engine = FaceLedger(home=home)
    rgb = decode_image(frame).rgb

    def detect():
        return analyze_faces(rgb, engine._detector())

    def detect_and_embed():
        embed_faces(rgb, detect()[:1])

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    out = {"DetectFaces": median_ms(detect), "SearchFacesByImage": median_ms(detect_and_embed)}
    engine.close()
    return out


def start_server(home: Path, workers: int) -> tuple[subprocess.Popen, str, str, str]:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = home / "serve.log"
    proc = subprocess.Popen(
        [
            str(BIN / "faceledger"),
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    time.sleep(2 * workers)  # every worker warmed up, not only the first to answer
    text = log.read_text()
    return (
        proc,
        url,
        re.search(r"AWS_ACCESS_KEY_ID=(\S+)", text)[1],
        re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", text)[1],
    )


def load(url: str, key: str, secret: str, operation: str, frame: bytes, concurrency: int, total: int) -> dict:
    local = threading.local()

    def one(_):
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = boto3.session.Session().client(
                "rekognition",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                config=Config(retries={"max_attempts": 1}, read_timeout=300, max_pool_connections=64),
            )
        t = time.perf_counter()
        if operation == "DetectFaces":
            r = c.detect_faces(Image={"Bytes": frame})
            assert len(r["FaceDetails"]) == 1
        else:
            r = c.search_faces_by_image(CollectionId="bench", Image={"Bytes": frame}, MaxFaces=10)
            assert "FaceMatches" in r
        timing = r["ResponseMetadata"]["HTTPHeaders"]["server-timing"]
        return (time.perf_counter() - t) * 1000, float(timing.rpartition("engine;dur=")[2])

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))  # connections and clients made
        started = time.perf_counter()
        timed = list(pool.map(one, range(total)))
        wall = time.perf_counter() - started
    latencies = [t for t, _ in timed]
    return {
        "rps": total / wall,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "engine": statistics.median(e for _, e in timed),  # as the server measured it
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--requests", type=int, default=160, help="requests per operation and concurrency")
    ap.add_argument("--gallery", type=int, default=500, help="faces indexed before the search runs")
    ap.add_argument("--repeats", type=int, default=30, help="in-process timings for the breakdown")
    args = ap.parse_args()

    frame = webcam_frame()
    home = Path(tempfile.mkdtemp(prefix="faceledger-bench-"))
    try:
        subprocess.run(
            [str(BIN / "faceledger"), "--home", str(home), "collections", "create", "bench"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        folder = gallery_folder(args.gallery, home / "gallery")
        subprocess.run(
            [
                str(BIN / "faceledger"),
                "--home",
                str(home),
                "index-faces",
                "bench",
                str(folder),
                "--max-faces",
                "1",
                "--quality-filter",
                "NONE",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"frame: 640x480 JPEG, {len(frame):,} bytes; gallery: {folder} indexed", flush=True)
        solo = in_process_ms(home, frame, args.repeats)
        proc, url, key, secret = start_server(home, args.workers)
        try:
            c = boto3.client(
                "rekognition",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
            )
            faces = c.describe_collection(CollectionId="bench")["FaceCount"]
            print(
                f"server: {args.workers} worker process(es) on {os.cpu_count()} cores; collection 'bench' "
                f"holds {faces} faces\n"
            )
            rows = []
            for operation in ("DetectFaces", "SearchFacesByImage"):
                for concurrency in (1, 8, 32):
                    r = load(url, key, secret, operation, frame, concurrency, args.requests)
                    rows.append((operation, concurrency, r))
                    print(
                        f"  {operation:<19} c={concurrency:<3} {r['rps']:6.2f} req/s  p50 {r['p50']:7.1f} ms "
                        f" p99 {r['p99']:7.1f} ms",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait(60)

        print("\n| operation | concurrency | requests/s | p50 | p99 |\n|---|---:|---:|---:|---:|")
        for operation, concurrency, r in rows:
            print(f"| {operation} | {concurrency} | {r['rps']:.2f} | {r['p50']:.0f} ms | {r['p99']:.0f} ms |")
        print(
            "\nWhere one request's time goes (concurrency 1, medians). The engine's time is the server's "
            "own\n"
            "Server-Timing figure; the models' time was measured in-process on the same frame, separately:\n"
        )
        print(
            "| operation | HTTP latency | engine (server) | of which models (in-process) | HTTP service + "
            "client |"
        )
        print("|---|---:|---:|---:|---:|")
        for operation, concurrency, r in rows:
            if concurrency != 1:
                continue
            total, model, engine = r["p50"], solo[operation], r["engine"]
            print(
                f"| {operation} | {total:.0f} ms | {engine:.0f} ms ({engine / total:.0%}) | {model:.0f} ms "
                f"| {total - engine:.0f} ms ({(total - engine) / total:.0%}) |"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
