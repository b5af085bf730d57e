"""Running video jobs in the service: a runner thread per worker process claims jobs from the
catalog, keeps a heartbeat while it works, and sends the completion message to the job's
webhook (the place of Rekognition's SNS topic), with retries."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
import uuid

log = logging.getLogger("faceledger.server")

STALE_AFTER = 60.0  # seconds without a heartbeat before a job is taken up again
POLL = 0.5


def notify(url: str, job_id: str, status: str, api: str, request: dict, *, attempts: int = 5) -> None:
    """POST Rekognition's completion message to `url` in a thread: retried with back-off, so a
    receiver that is down for a moment still gets it."""
    video = request["Video"].get("S3Object", {})
    message = {
        "JobId": job_id, "Status": status, "API": api, "JobTag": request.get("JobTag"),
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": video.get("Name"), "S3Bucket": video.get("Bucket")},
    }  # fmt: skip

    def send():
        body = json.dumps(message).encode()
        for attempt in range(attempts):
            try:
                req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(req, timeout=5) as r:
                    if 200 <= r.status < 300:
                        return
            except Exception as e:  # refused, timed out, 5xx: try again later
                log.warning(json.dumps({"event": "webhook-retry", "job": job_id, "attempt": attempt + 1, "error": str(e)}))
            time.sleep(min(30.0, 0.5 * 2**attempt))
        log.error(json.dumps({"event": "webhook-failed", "job": job_id, "url": url}))

    threading.Thread(target=send, daemon=True, name=f"notify-{job_id}").start()


class JobRunner:
    """One thread that runs video jobs one after another, each on `workers` processes."""

    def __init__(self, engine, *, workers: int | None = None, stale_after: float | None = None):
        self.engine = engine
        self.workers = workers or int(os.environ.get("FACELEDGER_VIDEO_WORKERS") or os.cpu_count() or 1)
        self.stale_after = stale_after or float(os.environ.get("FACELEDGER_JOB_STALE_SECONDS") or STALE_AFTER)
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="video-jobs")

    def start(self) -> "JobRunner":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self.engine.claim_video_job(self.name, self.stale_after)
            except Exception:
                log.exception("claiming a video job failed")
                job_id = None
            if job_id is None:
                self._stop.wait(POLL)
                continue
            self.run(job_id)

    def run(self, job_id: str, progress=None) -> str | None:
        """Run a job this runner has claimed, beating its heartbeat; SUCCEEDED, FAILED, or None
        when it broke unexpectedly (it stays IN_PROGRESS and is taken up again once stale).
        `progress(fraction)` hears of the progress too."""
        last = [0.0]
        beat_every = max(0.2, min(5.0, self.stale_after / 4))

        def report(fraction: float) -> None:
            if progress:
                progress(fraction)
            if time.monotonic() - last[0] >= beat_every:
                last[0] = time.monotonic()
                self.engine.beat(job_id, fraction)

        started = time.monotonic()
        try:
            status = self.engine.run_video_job(job_id, workers=self.workers, progress=report)
        except Exception:
            log.exception("video job %s failed unexpectedly", job_id)
            return None  # left IN_PROGRESS: its heartbeat goes stale and another attempt is made
        log.info(json.dumps({"event": "video-job", "job": job_id, "status": status, "s": round(time.monotonic() - started, 1)}))
        return status
