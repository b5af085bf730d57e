"""Where a stream processor's events go, standing in for a Kinesis data stream: a webhook (each
event POSTed as JSON, signed like every webhook of the service), or a JSON-lines file. A sink
never blocks the analysis: a webhook is sent from a queue on its own thread, retried with
back-off, and when the queue is full the oldest event waiting is dropped and counted."""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from .live import redact
from .notify import signed_headers

log = logging.getLogger("faceledger.server")

SCHEMES = ("http", "https", "file")
QUEUE = 1000


def check(url: str) -> str:
    """`url` if faceledger can deliver to it; ValueError with the reason if not."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("a sink is an http(s):// webhook or a file:///path for JSON lines")
    if parts.scheme == "file" and not parts.path.startswith("/"):
        raise ValueError("a file sink needs an absolute path: file:///path/events.jsonl")
    return url


class Sink:
    def __init__(self, url: str):
        self.url = check(url)
        self.sent = 0
        self.dropped = 0
        self.failed = 0

    def send(self, event: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileSink(Sink):
    """One JSON object per line, appended and flushed as each event comes."""

    def __init__(self, url: str):
        super().__init__(url)
        path = Path(urlsplit(url).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def send(self, event: dict) -> None:
        with self._lock:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
            self._file.flush()
            self.sent += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()


class WebhookSink(Sink):
    def __init__(self, url: str, attempts: int = 4):
        super().__init__(url)
        self.attempts = attempts
        self._queue: queue.Queue = queue.Queue(QUEUE)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._deliver, daemon=True, name=f"sink {redact(url)}")
        self._thread.start()

    def send(self, event: dict) -> None:
        body = json.dumps(event).encode()
        while True:
            try:
                self._queue.put_nowait(body)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def close(self) -> None:
        """Stop at once: what still waits is dropped and counted, a retry's sleep ends."""
        self._closed.set()
        while True:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _deliver(self) -> None:
        while (body := self._queue.get()) is not None:
            for attempt in range(self.attempts):
                if self._closed.is_set():
                    self.dropped += 1
                    break
                try:
                    req = urllib.request.Request(
                        self.url, data=body, headers=signed_headers(body), method="POST"
                    )
                    with urllib.request.urlopen(req, timeout=5) as r:
                        if 200 <= r.status < 300:
                            self.sent += 1
                            break
                except Exception as e:  # refused, timed out, 5xx: once more, later
                    log.warning(json.dumps({"event": "sink-retry", "url": redact(self.url), "error": str(e)}))
                self._closed.wait(min(5.0, 0.2 * 2**attempt))
            else:
                self.failed += 1


def open_sink(url: str) -> Sink:
    return FileSink(url) if urlsplit(url).scheme == "file" else WebhookSink(url)
