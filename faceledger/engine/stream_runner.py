"""Running stream processors: each node's StreamRunner claims the processors that should run
(Start asked for them, and no live node holds them), up to its slots, runs each on a thread, and
beats a heartbeat with its figures. A processor whose node went quiet is claimed by another (or
by the same node when it starts again), so a processor left RUNNING resumes after a restart and
runs on exactly one node: a claim is one conditional UPDATE of its row.

A processor reads its stream (video/live.py), finds the faces of each sample, follows them in
tracks and searches a track's best face against the collection when it changes, under the
collection's policy and the creator's purpose and case: each search is a ledger entry (with its
review candidates) before any event that shows its matches is sent."""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid

from sqlalchemy import and_, or_, select, update

from ..accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from ..accountability.ledger import acting
from ..errors import FaceLedgerError
from ..store import catalog as tables
from ..store.catalog import now
from ..vision.similarity import distance_from_similarity
from . import records

log = logging.getLogger("faceledger.server")

STALE_AFTER = 15.0  # seconds without a heartbeat before another node takes a processor over
POLL = 1.0
GIVE_UP = 60.0  # seconds a camera may be unreachable before its processor FAILS
FRAME_EVERY = 1.0  # seconds between the live view's frames
PRUNE_TRACKS = 100  # tracks remembered before the ended ones are forgotten


def capacity() -> int:
    """Processors one node runs at once: one a core by default (each takes most of a core at
    5 samples a second of 720p), FACELEDGER_STREAM_SLOTS to say otherwise."""
    return int(os.environ.get("FACELEDGER_STREAM_SLOTS") or os.cpu_count() or 1)


class StreamRunner:
    def __init__(
        self,
        engine,
        *,
        slots: int | None = None,
        stale_after: float | None = None,
        give_up: float | None = None,
    ):
        self.engine = engine
        self.slots = slots or capacity()
        self.stale_after = stale_after or float(
            os.environ.get("FACELEDGER_STREAM_STALE_SECONDS") or STALE_AFTER
        )
        self.give_up = give_up or float(os.environ.get("FACELEDGER_STREAM_GIVE_UP_SECONDS") or GIVE_UP)
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.running: dict[str, Processor] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stream-processors")

    def start(self) -> StreamRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop this node's processors and hand them back, still RUNNING, for the next node to take."""
        self._stop.set()
        self._thread.join(timeout=10)
        for proc in list(self.running.values()):
            proc.stop()
        for name, proc in list(self.running.items()):
            proc.join(5)
            self._release(name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tend()
            except Exception:
                log.exception("tending the stream processors failed")
            self._stop.wait(POLL)

    def _tend(self) -> None:
        p = tables.stream_processors
        for name, proc in list(self.running.items()):
            if not proc.is_alive():
                self._finish(name, proc)
                continue
            with self.engine.catalog.write() as conn:
                row = conn.execute(select(p).where(p.c.name == name)).first()
                if row is None or row.claimed_by != self.name:
                    proc.stop()  # deleted, or another node took it over
                    continue
                values = {"heartbeat": now(), "stats": json.dumps(proc.figures())}
                if row.desired != "RUNNING":  # still ours until its thread ends: beat meanwhile
                    proc.stop()
                    conn.execute(update(p).where(p.c.name == name).values(**values))
                    continue
                if proc.connected and row.status == "STARTING":
                    values["status"] = "RUNNING"
                    proc.notify("RUNNING")
                conn.execute(update(p).where(p.c.name == name).values(**values))
                proc.regions = json.loads(row.request).get("RegionsOfInterest")
        # A processor asked to stop whose node died before it could: stopped now.
        stale = now() - dt.timedelta(seconds=self.stale_after)
        abandoned = (p.c.desired == "STOPPED", p.c.status == "STOPPING", p.c.heartbeat < stale)
        with self.engine.catalog.read() as conn:  # a read first: an idle node takes no write lock
            found = conn.execute(select(p.c.name).where(*abandoned).limit(1)).first()
        if found is not None:
            with self.engine.catalog.write() as conn:
                conn.execute(
                    update(p).where(*abandoned).values(status="STOPPED", claimed_by=None, updated_at=now())
                )
        free = self.slots - len(self.running)
        if free > 0:
            for name in self._claim(free):
                proc = Processor(self.engine, name, give_up=self.give_up)
                self.running[name] = proc
                proc.start()

    def _claim(self, most: int) -> list[str]:
        p = tables.stream_processors
        stale = now() - dt.timedelta(seconds=self.stale_after)
        free = or_(p.c.claimed_by.is_(None), p.c.heartbeat < stale)
        claimed = []
        with self.engine.catalog.read() as conn:
            names = (
                conn.execute(
                    select(p.c.name)
                    .where(p.c.desired == "RUNNING", free)
                    .order_by(p.c.updated_at)
                    .limit(most)
                )
                .scalars()
                .all()
            )
        for name in names:
            with self.engine.catalog.write() as conn:
                took = conn.execute(
                    update(p)
                    .where(and_(p.c.name == name, p.c.desired == "RUNNING", free))
                    .values(claimed_by=self.name, heartbeat=now(), status="STARTING")
                ).rowcount
            if took == 1:
                claimed.append(name)
        return claimed

    def _finish(self, name: str, proc: Processor) -> None:
        """A processor's thread ended: stopped as asked, or failed (it leaves `running` once
        that is written: a failed write is tried again on the next round)."""
        p = tables.stream_processors
        with self.engine.catalog.write() as conn:
            row = conn.execute(select(p).where(p.c.name == name)).first()
            if row is None or row.claimed_by != self.name:
                self.running.pop(name, None)
                return
            if proc.failure:
                values = {"status": "FAILED", "status_message": proc.failure[:1000], "desired": "STOPPED"}
            elif row.desired == "STOPPED":
                values = {"status": "STOPPED"}
            else:
                values = {}  # ended for no reason it knows: claimed again on the next round
            conn.execute(
                update(p)
                .where(p.c.name == name)
                .values(claimed_by=None, stats=json.dumps(proc.figures()), updated_at=now(), **values)
            )
        self.running.pop(name, None)
        if values.get("status"):
            proc.notify(values["status"], values.get("status_message"))

    def _release(self, name: str) -> None:
        """Hand a processor back at shutdown: still RUNNING, for the next node (or this one again)."""
        p = tables.stream_processors
        with self.engine.catalog.write() as conn:
            row = conn.execute(select(p).where(p.c.name == name)).first()
            if row is not None and row.claimed_by == self.name:
                values = {"status": "STOPPED"} if row.desired == "STOPPED" else {}
                conn.execute(update(p).where(p.c.name == name).values(claimed_by=None, **values))
        self.running.pop(name, None)


class Processor(threading.Thread):
    """One processor at work on this node."""

    def __init__(self, engine, name: str, *, give_up: float):
        super().__init__(daemon=True, name=f"stream-processor {name}")
        self.engine, self.processor, self.give_up = engine, name, give_up
        self.row = engine.stream_processor(name)
        self.request = json.loads(self.row.request)
        self.creator = json.loads(self.row.actor)  # who created it: purpose and case
        self.regions = self.request.get("RegionsOfInterest")
        self.failure: str | None = None
        self.stream = None
        self.sink = None
        self.events = 0
        self.matches = 0
        self.searches = 0
        self.lags: list[float] = []
        self.match_times: collections.deque = collections.deque(maxlen=10_000)
        self.frame_written = 0.0
        self._stop_event = threading.Event()

    @property
    def connected(self) -> bool:
        return bool(self.stream and self.stream.stats.connected)

    def stop(self) -> None:
        self._stop_event.set()
        if self.stream:
            self.stream.stop()

    def figures(self) -> dict:
        s = self.stream.stats if self.stream else None
        lags = sorted(self.lags[-200:])
        return {
            "Connected": self.connected,
            "FramesDecoded": s.frames if s else 0,
            "FramesSampled": s.samples if s else 0,
            "FramesDropped": s.dropped if s else 0,
            "Reconnects": s.reconnects if s else 0,
            "LagMillisP50": round(lags[len(lags) // 2] * 1000) if lags else None,
            "LagMillisMax": round(lags[-1] * 1000) if lags else None,
            "Searches": self.searches,
            "Matches": self.matches,
            "MatchesLastMinute": sum(1 for t in list(self.match_times) if t > time.time() - 60),
            "Events": self.events,
            "EventsUndelivered": (self.sink.dropped + self.sink.failed) if self.sink else 0,
            "LastError": s.last_error if s else None,
        }

    def notify(self, status: str, message: str | None = None) -> None:
        channel = self.request.get("NotificationChannel")
        if not channel:
            return
        from ..video.notify import post

        post(
            channel["Url"],
            {
                "StreamProcessorArn": self.row.arn,
                "Name": self.processor,
                "Status": status,
                "StatusMessage": message,
                "Timestamp": int(time.time() * 1000),
            },
            self.processor,
        )

    def run(self) -> None:
        from ..video.live import LiveStream, StreamFailed
        from ..video.sinks import open_sink

        engine = self.engine
        try:
            actor = engine.stream_actor(self.row)
            source = engine.stream_url(self.request["Input"]["KinesisVideoStream"]["Arn"], "source")
            self.sink = open_sink(
                engine.stream_url(self.request["Output"]["KinesisDataStream"]["Arn"], "sink")
            )
            with acting(actor.name, purpose=actor.purpose, case_id=actor.case_id, max_fmr=actor.max_fmr):
                self.stream = LiveStream(source, self.request["SampleRate"], give_up=self.give_up).start()
                self._analyse(actor)
        except StreamFailed as e:
            self.failure = str(e)
        except FaceLedgerError as e:  # the policy refuses now, the collection is gone, ...
            self.failure = f"{e.code}: {e.message}"
        except Exception as e:
            log.exception("stream processor %s failed", self.processor)
            self.failure = f"InternalServerError: {e}"
        finally:
            if self.stream:
                self.stream.stop()
            if self.sink:
                self.sink.close()

    def _analyse(self, actor) -> None:
        """Samples as stored video analyses them: a full detection every few samples and after a
        cut, faces followed by their mesh between (video/follow.py), then tracks and searches."""
        from ..video.analyze import EmbeddedTracks, FrameAnalyzer
        from ..video.follow import FollowingDetector, fast_pass
        from ..vision.detectors import make_detector

        engine = self.engine
        settings = self.request["Settings"]["FaceSearch"]
        search = engine._begin_search(
            settings["CollectionId"],
            settings["FaceMatchThreshold"],
            "FaceMatchThreshold",
            None,
            "MaxFaces",
            100,
        )
        analyzer = FrameAnalyzer(records.compared_face, engine.default_detector, tracking=True)
        full = make_detector(engine.default_detector)  # its own: processors on threads share nothing
        follower = FollowingDetector(full, fast_pass(full))
        tracks = EmbeddedTracks(distance_from_similarity(DEFAULT_SIMILARITY_THRESHOLD))
        found_by_track: dict[int, tuple[list, int]] = {}
        while not self._stop_event.is_set():
            sample = self.stream.next(timeout=0.5)
            if sample is None:
                continue
            _, details, chips, signature = analyzer.frame(follower, sample.offset_ms, sample.rgb)
            kept = [(d, c) for d, c in zip(details, chips) if _inside(self.regions, d.bounding_box)]
            results = []
            for detail, track, changed in tracks.frame([d for d, _ in kept], [c for _, c in kept], signature):
                if changed or track.index not in found_by_track:
                    found_by_track[track.index] = self._search(search, track)
                matched, seq = found_by_track[track.index]
                results.append((detail, matched, seq))
            if len(found_by_track) > PRUNE_TRACKS:  # ended tracks go: a stream has no end
                tracks.tracker.forget_ended()
                live = {t.index for t in tracks.tracker.tracks}
                found_by_track = {i: v for i, v in found_by_track.items() if i in live}
            event = self._send(sample, results) if results else None
            if time.time() - self.frame_written >= FRAME_EVERY:
                self._frame(sample, event)
            self.lags.append(time.time() - sample.received_time)
            del self.lags[:-1000]

    def _search(self, search, track) -> tuple[list, int]:
        """The collection searched with a track's best face, on the ledger: (MatchedFaces, LedgerSeq)."""
        engine = self.engine
        hits = engine._find_similar(search.collection_id, track.embedding, search.threshold, search.most)
        matched = [{"Similarity": s, "Face": records.Face.from_row(r).to_dict()} for s, r in hits]
        ledgered = [
            {
                "FaceId": m["Face"]["FaceId"],
                "ExternalImageId": m["Face"].get("ExternalImageId"),
                "Similarity": round(m["Similarity"], 4),
            }
            for m in matched
        ]
        extension = engine._record_search(
            "StreamProcessorSearch",
            search,
            ledgered,
            searched={
                "StreamProcessor": self.processor,
                "SessionId": self.row.session_id,
                "Track": track.index,
            },
        )
        self.searches += 1
        return matched, extension["LedgerSeq"]

    def _frame(self, sample, event: dict | None) -> None:
        """The live view's latest frame, at most 640 pixels wide, with its faces."""
        import io

        from PIL import Image

        self.frame_written = time.time()
        im = Image.fromarray(sample.rgb)
        im.thumbnail((640, 640))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=80)
        faces = event["FaceSearchResponse"] if event else []
        self.engine.record_stream_frame(self.processor, sample.received_time, out.getvalue(), faces)

    def _send(self, sample, results: list) -> dict:
        matched = sum(1 for _, m, _ in results if m)
        self.matches += matched
        self.match_times.extend([time.time()] * matched)
        self.events += 1
        event = {
            "InputInformation": {
                "KinesisVideo": {
                    "StreamArn": self.request["Input"]["KinesisVideoStream"]["Arn"]
                    if self.request["Input"]["KinesisVideoStream"]["Arn"].startswith("arn:")
                    else None,
                    # A connection to the camera stands for a Kinesis fragment: the frame was
                    # sent at ProducerTimestamp + FrameOffsetInSeconds.
                    "FragmentNumber": str(sample.connection),
                    "ServerTimestamp": round(sample.received_time, 3),
                    "ProducerTimestamp": round(sample.started, 3),
                    "FrameOffsetInSeconds": round(sample.offset_ms / 1000.0, 3),
                }
            },
            "StreamProcessorInformation": {"Status": "RUNNING"},
            "FaceSearchResponse": [
                {"DetectedFace": detail.to_dict(), "MatchedFaces": m} for detail, m, _ in results
            ],
            "FaceLedger": {
                "StreamProcessor": self.processor,
                "SessionId": self.row.session_id,
                "Purpose": self.creator.get("purpose"),
                "CaseId": self.creator.get("case_id"),
                "LedgerSeqs": sorted({seq for _, _, seq in results}),
                "EventTimestamp": round(time.time(), 3),
            },
        }
        self.sink.send(event)
        self.engine.record_stream_event(self.processor, event, prune=self.events % 20 == 0)
        return event


def _inside(regions, box) -> bool:
    """Is the centre of a face's box inside one of the regions of interest (all faces when none)?"""
    if not regions:
        return True
    x, y = box.left + box.width / 2, box.top + box.height / 2
    for r in regions:
        b = r.get("BoundingBox")
        if b and b["Left"] <= x <= b["Left"] + b["Width"] and b["Top"] <= y <= b["Top"] + b["Height"]:
            return True
        poly = r.get("Polygon")
        if poly and _in_polygon(x, y, [(p["X"], p["Y"]) for p in poly]):
            return True
    return False


def _in_polygon(x: float, y: float, points: list[tuple[float, float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
