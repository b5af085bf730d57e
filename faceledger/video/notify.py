"""A video job's completion message, POSTed to the webhook that stands in for its SNS topic."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request

log = logging.getLogger("faceledger.server")


def notify(url: str, job_id: str, status: str, api: str, request: dict, *, attempts: int = 5) -> None:
    """POST Rekognition's completion message to `url` in a thread: retried with back-off, so a
    receiver that is down for a moment still gets it."""
    video = request["Video"].get("S3Object", {})
    message = {
        "JobId": job_id,
        "Status": status,
        "API": api,
        "JobTag": request.get("JobTag"),
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": video.get("Name"), "S3Bucket": video.get("Bucket")},
    }

    def send():
        body = json.dumps(message).encode()
        for attempt in range(attempts):
            try:
                req = urllib.request.Request(
                    url, data=body, headers={"Content-Type": "application/json"}, method="POST"
                )
                with urllib.request.urlopen(req, timeout=5) as r:
                    if 200 <= r.status < 300:
                        return
            except Exception as e:  # refused, timed out, 5xx: try again later
                log.warning(
                    json.dumps(
                        {"event": "webhook-retry", "job": job_id, "attempt": attempt + 1, "error": str(e)}
                    )
                )
            time.sleep(min(30.0, 0.5 * 2**attempt))
        log.error(json.dumps({"event": "webhook-failed", "job": job_id, "url": url}))

    threading.Thread(target=send, daemon=True, name=f"notify-{job_id}").start()
