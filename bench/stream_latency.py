"""Live stream processors: latency from a frame's capture to its event, p50/p99, and how many
720p and 1080p camera streams at 5 samples a second this machine analyses without dropping
samples. Each camera is GStreamer's RTSP server on loopback (tests/rtsp_server.py) playing a
clip composed from the public-domain test photos (one face in view, 25 fps); the processors run
in runner processes as `faceledger serve` runs them (one process a core, slots shared), search
a collection holding the person, and POST their events to a webhook in this process.

Latency is the time an event reached the webhook minus the time the camera sent its frame
(ProducerTimestamp, the RTSP session's start, plus FrameOffsetInSeconds): decoding,
waiting for the analyser, detection, tracking, search, the ledger and the delivery.

    .venv/bin/python bench/stream_latency.py [--seconds 30] [--streams 1,2,3,4] [--sizes 720,1080]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import OBAMA_PORTRAIT  # noqa: E402
from http_server import Webhook  # noqa: E402
from rtsp_camera import RtspCamera, compose_clip, gstreamer_missing  # noqa: E402

from faceledger import FaceLedger  # noqa: E402

SIZES = {720: (1280, 720), 1080: (1920, 1080)}
BIN = Path(sys.executable).parent / "faceledger"


def run(home: Path, frames: Path, streams: int, seconds: float, rate: float, hook: Webhook) -> dict:
    fl = FaceLedger(home=home)
    cameras = [RtspCamera(frames, fps=25) for _ in range(streams)]
    names = [f"cam{i}" for i in range(streams)]
    for name, cam in zip(names, cameras):
        fl.create_stream_processor(
            Input={"KinesisVideoStream": {"Arn": cam.url}},
            Output={"KinesisDataStream": {"Arn": hook.url}},
            Name=name,
            Settings={"FaceSearch": {"CollectionId": "staff"}},
            RoleArn="arn:aws:iam::123456789012:role/bench",
            sample_rate=rate,
        )
        fl.start_stream_processor(Name=name)
    processes = min(streams, os.cpu_count() or 1)
    slots = -(-streams // processes)
    env = {**os.environ, "FACELEDGER_HOME": str(home), "FACELEDGER_STREAM_SLOTS": str(slots)}
    runners = [
        subprocess.Popen(
            [str(BIN), "streams", "run", "--slots", str(slots)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(fl.describe_stream_processor(Name=n)["Status"] == "RUNNING" for n in names):
            if time.monotonic() > deadline:
                raise RuntimeError("the processors did not all start within 120 s")
            time.sleep(0.5)
        time.sleep(5)  # models loaded, first frames through
        before = [fl.describe_stream_processor(Name=n)["FaceLedger"] for n in names]
        started = time.time()
        time.sleep(seconds)
        after = [fl.describe_stream_processor(Name=n)["FaceLedger"] for n in names]
        lat = [
            arrived
            - e["InputInformation"]["KinesisVideo"]["ProducerTimestamp"]
            - e["InputInformation"]["KinesisVideo"]["FrameOffsetInSeconds"]
            for arrived, e in list(hook.received)
            if started <= e["FaceLedger"]["EventTimestamp"] <= started + seconds
            and e["FaceLedger"]["StreamProcessor"] in names
        ]
        sampled = sum(a["FramesSampled"] - b["FramesSampled"] for a, b in zip(after, before))
        dropped = sum(a["FramesDropped"] - b["FramesDropped"] for a, b in zip(after, before))
        return {
            "streams": streams,
            "processes": processes,
            "samples_per_s": sampled / seconds / streams,
            "analysed_per_s": (sampled - dropped) / seconds / streams,
            "dropped_pct": 100.0 * dropped / sampled if sampled else 0.0,
            "p50_ms": float(np.percentile(lat, 50) * 1000) if lat else float("nan"),
            "p99_ms": float(np.percentile(lat, 99) * 1000) if lat else float("nan"),
            "events": len(lat),
        }
    finally:
        for name in names:
            try:
                fl.stop_stream_processor(Name=name)
            except Exception:
                pass
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            fl.describe_stream_processor(Name=n)["Status"] != "STOPPED" for n in names
        ):
            time.sleep(0.5)
        for r in runners:
            r.terminate()
            r.wait(30)
        for cam in cameras:
            cam.stop()
        for name in names:
            fl.delete_stream_processor(Name=name)
        fl.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--streams", default="1,2,3,4")
    ap.add_argument("--sizes", default="720,1080")
    ap.add_argument("--rate", type=float, default=5.0, help="samples a second")
    args = ap.parse_args()
    missing = gstreamer_missing()
    if missing:
        sys.exit(missing)
    work = Path(tempfile.mkdtemp(prefix="stream-latency-"))
    home = work / "home"
    fl = FaceLedger(home=home)
    fl.create_collection(CollectionId="staff")
    fl.index_faces(CollectionId="staff", Image=OBAMA_PORTRAIT, ExternalImageId="obama")
    fl.close()
    hook = Webhook()
    print(
        f"{os.cpu_count()} cores; {args.rate:g} samples a second; {args.seconds:g} s a run; one face in view"
    )
    print(
        f"{'size':>5} {'streams':>7} {'procs':>5} {'samples/s':>9} {'analysed/s':>10} {'dropped':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'events':>6}"
    )
    for size in [int(s) for s in args.sizes.split(",")]:
        frames = compose_clip(work / f"frames-{size}", [(OBAMA_PORTRAIT, 50)], size=SIZES[size])
        for n in [int(s) for s in args.streams.split(",")]:
            r = run(home, frames, n, args.seconds, args.rate, hook)
            print(
                f"{size:>4}p {r['streams']:>7} {r['processes']:>5} {r['samples_per_s']:>9.2f} "
                f"{r['analysed_per_s']:>10.2f} {r['dropped_pct']:>7.1f}% {r['p50_ms']:>7.0f} "
                f"{r['p99_ms']:>7.0f} {r['events']:>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
