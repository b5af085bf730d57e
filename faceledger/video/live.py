"""Live streams (a camera's rtsp:// or an http(s):// stream) read with PyAV on a thread of their
own. Frames are sampled at a fixed rate by their presentation time and wait for the analyser in
a short queue (a second of samples: it absorbs a slow frame, such as a full detection, without
losing the samples after it); when the queue is full its oldest sample is dropped and counted,
so the analysis never falls more than that behind the camera. A dropped connection is opened
again with back-off, and after `give_up` seconds without frames the stream fails with the reason."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import numpy as np

log = logging.getLogger("faceledger.server")

SCHEMES = ("rtsp", "rtsps", "http", "https")
OPEN_TIMEOUT = 5.0  # seconds to connect, and without a packet before the connection counts as lost
BACK_OFF = (0.5, 1.0, 2.0, 4.0, 8.0)
QUEUE_SECONDS = 1.0  # samples waiting for the analyser, in seconds of stream


def redact(url: str) -> str:
    """The URL without its password or query values (cameras and webhooks take credentials there:
    ?user=...&pwd=..., ?token=...): what may be shown or logged."""
    parts = urlsplit(url)
    query = "&".join(f"{item.partition('=')[0]}=***" for item in parts.query.split("&") if item)
    if parts.password is None and parts.username is None:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, query, ""))


@dataclass
class Sample:
    connection: int  # which connection of this stream, from 0: a Kinesis fragment's place
    started: float  # epoch seconds the camera started sending on this connection
    offset_ms: int  # presentation time since then
    received_time: float  # epoch seconds the reader decoded it
    rgb: np.ndarray

    @property
    def producer_time(self) -> float:
        """Epoch seconds the camera sent the frame, as far as the reader can tell."""
        return self.started + self.offset_ms / 1000.0


@dataclass
class StreamStats:
    frames: int = 0  # decoded
    samples: int = 0  # handed to the analyser
    dropped: int = 0  # sampled, but pushed out of the full queue before the analyser took it
    reconnects: int = 0
    connected: bool = False
    width: int = 0
    height: int = 0
    last_error: str | None = None
    extra: dict = field(default_factory=dict)


class StreamFailed(Exception):
    """The stream could not be read for longer than the processor waits; the message says why."""


class LiveStream:
    def __init__(self, url: str, rate: float, *, give_up: float = 60.0, clock=time.time):
        if urlsplit(url).scheme not in SCHEMES:
            raise ValueError(f"not a stream URL: {redact(url)}")
        self.url, self.rate, self.give_up, self.clock = url, rate, give_up, clock
        self.stats = StreamStats()
        self._waiting: deque[Sample] = deque()
        self._room = max(1, round(rate * QUEUE_SECONDS))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._failure: str | None = None
        self._thread = threading.Thread(target=self._read, daemon=True, name=f"stream {redact(url)}")

    def start(self) -> LiveStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def next(self, timeout: float = 1.0) -> Sample | None:
        """The oldest sample waiting (None after `timeout`); StreamFailed once it gave up."""
        with self._cond:
            if not self._waiting and self._failure is None:
                self._cond.wait(timeout)
            if self._failure is not None and not self._waiting:
                raise StreamFailed(self._failure)
            return self._waiting.popleft() if self._waiting else None

    # -- the reader thread ------------------------------------------------------------------

    def _read(self) -> None:
        lost_since = time.monotonic()
        attempt = 0
        while not self._stop.is_set():
            frames = self.stats.frames
            try:
                self._connection()
            except Exception as e:  # refused, timed out, ended, damaged: the camera dropped
                self.stats.last_error = _reason(e)
            self.stats.connected = False
            if self.stats.frames > frames:  # it was up: the wait starts now
                attempt, lost_since = 0, time.monotonic()
            if self._stop.is_set():
                return
            if time.monotonic() - lost_since > self.give_up:
                with self._cond:
                    self._failure = (
                        f"The stream {redact(self.url)} could not be read for {self.give_up:g} s: "
                        f"{self.stats.last_error or 'it ended'}."
                    )
                    self._cond.notify_all()
                return
            self.stats.reconnects += 1
            self._stop.wait(BACK_OFF[min(attempt, len(BACK_OFF) - 1)])
            attempt += 1

    def _connection(self) -> None:
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith("rtsp") else {}
        opened = self.clock()  # the camera starts sending at PLAY, inside av.open
        container = av.open(self.url, options=options, timeout=(OPEN_TIMEOUT, OPEN_TIMEOUT))
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.stats.connected = True
            step, next_ms, first_pts = 1000.0 / self.rate, 0.0, None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return
                self.stats.frames += 1
                if frame.pts is None or frame.time_base is None:
                    t = (self.stats.frames - 1) * 1000.0 / float(stream.average_rate or 25)
                else:
                    t = float(frame.pts * frame.time_base) * 1000.0
                    first_pts = t if first_pts is None else first_pts
                    t -= first_pts
                if t + 0.5 < next_ms:
                    continue
                while next_ms <= t + 0.5:
                    next_ms += step
                rgb = frame.to_ndarray(format="rgb24")
                self.stats.height, self.stats.width = rgb.shape[:2]
                sample = Sample(self.stats.reconnects, opened, int(round(t)), self.clock(), rgb)
                with self._cond:
                    if len(self._waiting) >= self._room:
                        self._waiting.popleft()
                        self.stats.dropped += 1
                    self._waiting.append(sample)
                    self.stats.samples += 1
                    self._cond.notify_all()
            raise EOFError("the stream ended")
        finally:
            container.close()


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).rstrip(".")
