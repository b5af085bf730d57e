"""A video job's completion message, POSTed to the webhook that stands in for its SNS topic.
Every webhook body the service sends is signed when FACELEDGER_WEBHOOK_SECRET is set: the header
X-FaceLedger-Signature is "sha256=" and the hex HMAC-SHA256 of the body under that secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
import urllib.request

log = logging.getLogger("faceledger.server")


def signed_headers(body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    secret = os.environ.get("FACELEDGER_WEBHOOK_SECRET")
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-FaceLedger-Signature"] = f"sha256={digest}"
    return headers


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

    post(url, message, job_id, attempts=attempts)


def post(url: str, message: dict, about: str, *, attempts: int = 5) -> None:
    """POST `message` to `url` from a thread, retried with back-off, so a receiver that is down
    for a moment still gets it. `about`: what the message is about, for the log."""

    def send():
        body = json.dumps(message).encode()
        for attempt in range(attempts):
            try:
                req = urllib.request.Request(url, data=body, headers=signed_headers(body), method="POST")
                with urllib.request.urlopen(req, timeout=5) as r:
                    if 200 <= r.status < 300:
                        return
            except Exception as e:  # refused, timed out, 5xx: try again later
                log.warning(
                    json.dumps(
                        {"event": "webhook-retry", "about": about, "attempt": attempt + 1, "error": str(e)}
                    )
                )
            time.sleep(min(30.0, 0.5 * 2**attempt))
        log.error(json.dumps({"event": "webhook-failed", "about": about}))

    threading.Thread(target=send, daemon=True, name=f"notify-{about}").start()
