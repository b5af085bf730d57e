"""Running stored-video jobs: taking a job from the catalog (the oldest nobody runs, or one whose
runner went quiet), a heartbeat while it runs, its result stored and its webhook told. The service
runs a JobRunner thread per worker process; the command line runs the job it started itself.

A job whose runner died (its heartbeat went stale) is taken up again, at most MAX_ATTEMPTS times,
then FAILED with the reason: never silently lost."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
import uuid

from sqlalchemy import or_, select, update

from ..accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from ..accountability.ledger import Actor, acting
from ..errors import FaceLedgerError, InvalidParameterException, ResourceNotFoundException
from ..store import catalog as tables
from ..store.catalog import now
from ..vision.similarity import distance_from_similarity
from . import records
from .base import models_needed

log = logging.getLogger("faceledger.server")

MAX_ATTEMPTS = 3
STALE_AFTER = 60.0  # seconds without a heartbeat before a job is taken up again
POLL = 0.5
JOB_ID = re.compile(r"[a-zA-Z0-9\-_]{1,64}")


class VideoJobs:
    """The engine's video jobs, for runners: claim, beat, run, and what a job is for rights checks."""

    def __init__(self, engine):
        self._engine = engine

    def row(self, job_id):
        """A job's catalog row; InvalidParameterException for an ill-formed id,
        ResourceNotFoundException for none."""
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise InvalidParameterException("JobId is not valid.")
        j = tables.video_jobs
        with self._engine.catalog.read() as conn:
            row = conn.execute(select(j).where(j.c.job_id == job_id)).first()
        if row is None:
            raise ResourceNotFoundException(f"No video job {job_id}.")
        return row

    def collection_of(self, job_id) -> str | None:
        """The collection a job searches (None for detection, or no such job), for rights checks."""
        try:
            return json.loads(self.row(job_id).request).get("CollectionId")
        except FaceLedgerError:
            return None

    def kind_of(self, job_id) -> str:
        """FaceDetection or FaceSearch: whose Get operation's rights a job's results need."""
        return self.row(job_id).kind

    def claim(self, worker: str, stale_after: float, job_id: str | None = None) -> str | None:
        """Take the oldest job nobody is running (or whose runner went quiet), or with `job_id`
        that job only; None if there is none to take."""
        j = tables.video_jobs
        stale = now() - dt.timedelta(seconds=stale_after)
        q = select(j.c.job_id, j.c.attempts).where(
            j.c.status == "IN_PROGRESS", or_(j.c.claimed_by.is_(None), j.c.heartbeat < stale)
        )
        if job_id is not None:
            q = q.where(j.c.job_id == job_id)
        with self._engine.catalog.write() as conn:
            row = conn.execute(q.order_by(j.c.created_at).limit(1)).first()
            if row is None:
                return None
            if row.attempts >= MAX_ATTEMPTS:
                message = (
                    f"The job was interrupted {row.attempts} times (the service stopped while running it)."
                )
                conn.execute(
                    update(j).where(j.c.job_id == row.job_id).values(status="FAILED", status_message=message)
                )
                return None
            conn.execute(
                update(j)
                .where(j.c.job_id == row.job_id)
                .values(claimed_by=worker, heartbeat=now(), attempts=row.attempts + 1, progress=0.0)
            )
        return row.job_id

    def beat(self, job_id: str, progress: float) -> None:
        j = tables.video_jobs
        with self._engine.catalog.write() as conn:
            conn.execute(
                update(j).where(j.c.job_id == job_id).values(heartbeat=now(), progress=float(progress))
            )

    def run(self, job_id: str, *, workers: int = 1, progress=None) -> str:
        """Do the job and store its outcome; returns SUCCEEDED or FAILED."""
        from ..video import analyze
        from ..video.decode import VideoError
        from ..video.notify import notify

        row = self.row(job_id)
        request = json.loads(row.request)
        actor = Actor(**json.loads(row.actor))
        try:
            with (
                self._engine._video_file(request["Video"]) as path,
                acting(actor.name, purpose=actor.purpose, case_id=actor.case_id, max_fmr=actor.max_fmr),
            ):
                if row.kind == "FaceDetection":
                    meta, items = analyze.detect_faces(
                        path,
                        records.face_detail,
                        detector=request.get("Detector") or self._engine.default_detector,
                        rate=request["SampleRate"],
                        all_attributes=request["FaceAttributes"] == "ALL",
                        workers=workers,
                        progress=progress,
                    )
                    result = {"VideoMetadata": meta.to_dict(), "Items": items}
                elif row.kind == "LabelDetection":
                    result = self._labels(path, request, workers, progress)
                else:
                    result = self._search(path, request, workers, progress)
            status, message = "SUCCEEDED", None
        except VideoError as e:
            status, message, result = "FAILED", str(e), None
        except FaceLedgerError as e:
            status, message, result = "FAILED", f"{e.code}: {e.message}", None
        j = tables.video_jobs
        with self._engine.catalog.write() as conn:
            conn.execute(
                update(j)
                .where(j.c.job_id == job_id)
                .values(
                    status=status,
                    status_message=message,
                    heartbeat=now(),
                    progress=1.0 if status == "SUCCEEDED" else row.progress,
                    result=json.dumps(result) if result is not None else None,
                )
            )
        if request.get("NotificationChannel"):
            notify(request["NotificationChannel"]["Url"], job_id, status, f"Start{row.kind}", request)
        return status

    def _labels(self, path, request: dict, workers: int, progress) -> dict:
        from ..video import labels
        from ..vision.labels import LABEL_MODEL_VERSION

        with models_needed("Labels cannot be detected"):
            meta, items = labels.detect_labels(
                path,
                rate=request["SampleRate"],
                min_confidence=request["MinConfidence"],
                settings=(request.get("Settings") or {}).get("GeneralLabels"),
                workers=workers,
                progress=progress,
            )
        return {"VideoMetadata": meta.to_dict(), "Items": items, "LabelModelVersion": LABEL_MODEL_VERSION}

    def _search(self, path, request: dict, workers: int, progress) -> dict:
        """Tracks searched against the collection, each with its best face, and one ledger entry."""
        from ..video import analyze

        engine = self._engine
        search = engine._begin_search(
            request["CollectionId"], request["FaceMatchThreshold"], "FaceMatchThreshold", 100, "MaxFaces", 100
        )

        def matches_of(embedding) -> list[dict]:
            hits = engine._find_similar(search.collection_id, embedding, search.threshold, search.most)
            return [{"Similarity": s, "Face": records.Face.from_row(r).to_dict()} for s, r in hits]

        # A face stays in its track only if it would match the track's face at the default threshold.
        same_person = distance_from_similarity(DEFAULT_SIMILARITY_THRESHOLD)
        meta, persons, matches = analyze.search_faces(
            path,
            records.face_detail,
            matches_of,
            detector=request.get("Detector") or engine.default_detector,
            same_person=same_person,
            rate=request["SampleRate"],
            workers=workers,
            progress=progress,
        )
        ledgered = [
            {
                "TrackIndex": idx,
                "FaceId": m["Face"]["FaceId"],
                "ExternalImageId": m["Face"].get("ExternalImageId"),
                "Similarity": round(m["Similarity"], 4),
            }
            for idx, ms in matches.items()
            for m in ms
        ]
        extension = engine._record_search(
            "StartFaceSearch", search, ledgered, searched={"Tracks": len(matches)}
        )
        extension["Tracks"] = len(matches)
        return {"VideoMetadata": meta.to_dict(), "Items": persons, "FaceLedger": extension}


class JobRunner:
    """One thread that runs video jobs one after another, each on `workers` processes."""

    def __init__(self, jobs: VideoJobs, *, workers: int | None = None, stale_after: float | None = None):
        self.jobs = jobs
        self.workers = workers or int(os.environ.get("FACELEDGER_VIDEO_WORKERS") or os.cpu_count() or 1)
        self.stale_after = stale_after or float(os.environ.get("FACELEDGER_JOB_STALE_SECONDS") or STALE_AFTER)
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="video-jobs")

    def start(self) -> JobRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self.jobs.claim(self.name, self.stale_after)
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
                self.jobs.beat(job_id, fraction)

        started = time.monotonic()
        try:
            status = self.jobs.run(job_id, workers=self.workers, progress=report)
        except Exception:
            log.exception("video job %s failed unexpectedly", job_id)
            return None  # left IN_PROGRESS: its heartbeat goes stale and another attempt is made
        took = round(time.monotonic() - started, 1)
        log.info(json.dumps({"event": "video-job", "job": job_id, "status": status, "s": took}))
        return status
