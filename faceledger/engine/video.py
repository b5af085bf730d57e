"""Stored video: StartFaceDetection / GetFaceDetection and StartFaceSearch / GetFaceSearch.

A Start call checks the request and writes a job row (IN_PROGRESS); a job runner in the
service (video/jobs.py) claims it, works on it with a heartbeat, and stores the result. A job
whose runner died (its heartbeat went stale) is taken up again, at most MAX_ATTEMPTS times, then
FAILED with the reason: never silently lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

from sqlalchemy import insert, or_, select, update

from .. import records
from ..errors import (
    FaceLedgerError,
    IdempotentParameterMismatchException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from ..ledger import Actor, acting, current_actor
from ..store import catalog as tables
from ..store.catalog import now
from . import validate
from .accountability import AccountableOperations

MAX_ATTEMPTS = 3
MAX_VIDEO_BYTES = 10 * 1024**3  # Rekognition's limit for stored video
JOB_TAG = re.compile(r"[a-zA-Z0-9_.\-:+=/]{1,1024}")
SNS_TOPIC = re.compile(r"^arn:aws:sns:[^:]*:\w{12}:(.+)$")


def webhooks() -> dict[str, str]:
    """FACELEDGER_WEBHOOKS="topic=https://host/hook,other=...": where a NotificationChannel's
    SNS topic (arn:aws:sns:REGION:ACCOUNT:topic) is delivered, since there is no SNS here."""
    out = {}
    for item in (os.environ.get("FACELEDGER_WEBHOOKS") or "").split(","):
        name, sep, url = item.partition("=")
        if sep and name.strip():
            out[name.strip()] = url.strip()
    return out


def _check_video(video) -> dict:
    if isinstance(video, (str, os.PathLike)):
        return {"Path": str(video)}
    if not isinstance(video, dict) or len(video) != 1 or not ({"S3Object", "Path"} & set(video)):
        raise InvalidParameterException("Video must be {'S3Object': {'Bucket': ..., 'Name': ...}} (or a local path).")
    if "S3Object" in video:
        from ..objects import check_s3_object

        check_s3_object(video["S3Object"])
    return video


def _check_notification(channel) -> dict | None:
    if channel is None:
        return None
    if not isinstance(channel, dict) or "SNSTopicArn" not in channel:
        raise InvalidParameterException("NotificationChannel needs SNSTopicArn (and RoleArn, which faceledger ignores).")
    m = SNS_TOPIC.match(str(channel["SNSTopicArn"]))
    if not m or m.group(1) not in webhooks():
        raise InvalidParameterException(
            f"No webhook is configured for {channel['SNSTopicArn']!r}: set FACELEDGER_WEBHOOKS=\"topic=https://...\" "
            "and use arn:aws:sns:REGION:123456789012:topic."
        )
    return {"SNSTopicArn": channel["SNSTopicArn"], "Url": webhooks()[m.group(1)]}


class VideoOperations(AccountableOperations):
    # -- starting -----------------------------------------------------------------------------

    def _start_job(self, kind: str, request: dict, token: str | None, run_by: str | None = None) -> records.Plain:
        actor = current_actor()
        body = json.dumps(request, sort_keys=True)
        j = tables.video_jobs
        with self.catalog.write() as conn:
            if token is not None:
                existing = conn.execute(select(j).where(j.c.request_token == token, j.c.kind == kind)).first()
                if existing is not None:
                    if existing.request == body:
                        return records.Plain(JobId=existing.job_id)  # the same request again
                    raise IdempotentParameterMismatchException(
                        f"ClientRequestToken {token!r} was used for a different {kind} request."
                    )
            job_id = uuid.uuid4().hex
            claimed = {"claimed_by": run_by, "heartbeat": now(), "attempts": 1} if run_by else {"attempts": 0}
            conn.execute(insert(j).values(
                job_id=job_id, kind=kind, status="IN_PROGRESS", request=body, request_token=token,
                actor=json.dumps(dataclasses.asdict(actor)), created_at=now(), progress=0.0, **claimed,
            ))  # fmt: skip
            self.ledger.append(conn, f"Start{kind}", collection_id=request.get("CollectionId"),
                               threshold=request.get("FaceMatchThreshold"), detail={"JobId": job_id, "Video": request["Video"]})  # fmt: skip
        return records.Plain(JobId=job_id)

    def _common(self, Video, ClientRequestToken, NotificationChannel, JobTag) -> tuple[dict, str | None]:
        request = {"Video": _check_video(Video)}
        token = validate.request_token(ClientRequestToken)
        if JobTag is not None:
            request["JobTag"] = validate._match(JOB_TAG, JobTag, "JobTag", "1-1024 characters of a-z, A-Z, 0-9, _ . - : + = /")
        channel = _check_notification(NotificationChannel)
        if channel:
            request["NotificationChannel"] = channel
        return request, token

    def start_face_detection(self, Video, ClientRequestToken=None, NotificationChannel=None, FaceAttributes=None,
                             JobTag=None, *, sample_rate: float | None = None, run_by: str | None = None) -> records.Plain:  # fmt: skip
        """`run_by`: a job runner's name, to take the job at once and run it in this process
        (the command line does); None leaves it to the service's runners."""
        request, token = self._common(Video, ClientRequestToken, NotificationChannel, JobTag)
        if FaceAttributes not in (None, "DEFAULT", "ALL"):
            raise InvalidParameterException("FaceAttributes must be DEFAULT or ALL.")
        request["FaceAttributes"] = FaceAttributes or "DEFAULT"
        request["SampleRate"] = _rate(sample_rate)
        return self._start_job("FaceDetection", request, token, run_by)

    def start_face_search(self, Video, CollectionId, ClientRequestToken=None, FaceMatchThreshold=None,
                          NotificationChannel=None, JobTag=None, *, sample_rate: float | None = None,
                          run_by: str | None = None) -> records.Plain:  # fmt: skip
        request, token = self._common(Video, ClientRequestToken, NotificationChannel, JobTag)
        cid = validate.collection_id(CollectionId)
        given = validate.percentage(FaceMatchThreshold, "FaceMatchThreshold", None)
        _, threshold, _ = self.search_policy(cid, given, "FaceMatchThreshold")  # refused now, not later
        request.update(CollectionId=cid, FaceMatchThreshold=threshold, SampleRate=_rate(sample_rate))
        return self._start_job("FaceSearch", request, token, run_by)

    # -- results ------------------------------------------------------------------------------

    def _job(self, job_id) -> object:
        if not isinstance(job_id, str) or not re.fullmatch(r"[a-zA-Z0-9\-_]{1,64}", job_id):
            raise InvalidParameterException("JobId is not valid.")
        j = tables.video_jobs
        with self.catalog.read() as conn:
            row = conn.execute(select(j).where(j.c.job_id == job_id)).first()
        if row is None:
            raise ResourceNotFoundException(f"No video job {job_id}.")
        return row

    def _get(self, kind: str, JobId, MaxResults, NextToken, items_member: str, order=None) -> records.Plain:
        row = self._job(JobId)
        if row.kind != kind:
            raise ResourceNotFoundException(f"The job {JobId} is a {row.kind} job, not a {kind} job.")
        limit = validate.integer(MaxResults, "MaxResults", 1, 1000, 1000)
        start = validate.read_token(NextToken, int) or 0
        request = json.loads(row.request)
        out = records.Plain(JobStatus=row.status, JobId=row.job_id)
        video = request["Video"]
        if "S3Object" in video:
            out["Video"] = video
        if request.get("JobTag"):
            out["JobTag"] = request["JobTag"]
        if row.status_message:
            out["StatusMessage"] = row.status_message
        if row.status == "IN_PROGRESS":
            out["FaceLedger"] = {"Progress": round(row.progress, 3)}
        if row.status != "SUCCEEDED":
            return out
        result = json.loads(row.result)
        items = result["Items"] if order is None else sorted(result["Items"], key=order)
        out["VideoMetadata"] = result["VideoMetadata"]
        out[items_member] = items[start : start + limit]
        if start + limit < len(items):
            out["NextToken"] = validate.make_token(start + limit)
        if "FaceLedger" in result:
            out["FaceLedger"] = result["FaceLedger"]
        return out

    def video_job_collection(self, job_id) -> str | None:
        """The collection a job searches (None for detection), for rights checks."""
        try:
            row = self._job(job_id)
        except FaceLedgerError:
            return None
        return json.loads(row.request).get("CollectionId")

    def get_face_detection(self, JobId, MaxResults=None, NextToken=None) -> records.Plain:
        return self._get("FaceDetection", JobId, MaxResults, NextToken, "Faces")

    def get_face_search(self, JobId, MaxResults=None, NextToken=None, SortBy=None) -> records.Plain:
        if SortBy not in (None, "INDEX", "TIMESTAMP"):
            raise InvalidParameterException("SortBy must be INDEX or TIMESTAMP.")
        order = (lambda p: (p["Person"]["Index"], p["Timestamp"])) if SortBy == "INDEX" else (lambda p: (p["Timestamp"], p["Person"]["Index"]))
        return self._get("FaceSearch", JobId, MaxResults, NextToken, "Persons", order)

    # -- running (the job runner calls these) -------------------------------------------------

    def claim_video_job(self, worker: str, stale_after: float, job_id: str | None = None) -> str | None:
        """Take the oldest job nobody is running (or whose runner went quiet), or with `job_id`
        that job only; None if there is none to take."""
        j = tables.video_jobs
        stale = now() - dt.timedelta(seconds=stale_after)
        q = select(j.c.job_id, j.c.attempts).where(j.c.status == "IN_PROGRESS", or_(j.c.claimed_by.is_(None), j.c.heartbeat < stale))
        if job_id is not None:
            q = q.where(j.c.job_id == job_id)
        with self.catalog.write() as conn:
            row = conn.execute(q.order_by(j.c.created_at).limit(1)).first()
            if row is None:
                return None
            if row.attempts >= MAX_ATTEMPTS:
                conn.execute(update(j).where(j.c.job_id == row.job_id).values(
                    status="FAILED", status_message=f"The job was interrupted {row.attempts} times (the service stopped while running it)."))  # fmt: skip
                return None
            conn.execute(update(j).where(j.c.job_id == row.job_id).values(
                claimed_by=worker, heartbeat=now(), attempts=row.attempts + 1, progress=0.0))  # fmt: skip
        return row.job_id

    def beat(self, job_id: str, progress: float) -> None:
        j = tables.video_jobs
        with self.catalog.write() as conn:
            conn.execute(update(j).where(j.c.job_id == job_id).values(heartbeat=now(), progress=float(progress)))

    def run_video_job(self, job_id: str, *, workers: int = 1, progress=None) -> str:
        """Do the job and store its outcome; returns SUCCEEDED or FAILED."""
        from ..video import analyze
        from ..video.decode import VideoError

        row = self._job(job_id)
        request = json.loads(row.request)
        actor = Actor(**json.loads(row.actor))
        temp = None
        try:
            video = request["Video"]
            if "S3Object" in video:
                path, is_temp = self.objects.local_file(video["S3Object"], self.home / "scratch", MAX_VIDEO_BYTES)
                temp = path if is_temp else None
            else:
                path = Path(video["Path"])
            rate = request["SampleRate"]
            with acting(actor.name, purpose=actor.purpose, case_id=actor.case_id, max_fmr=actor.max_fmr):
                if row.kind == "FaceDetection":
                    meta, items = analyze.detect_faces(path, rate=rate, all_attributes=request["FaceAttributes"] == "ALL",
                                                       workers=workers, progress=progress)  # fmt: skip
                    result = {"VideoMetadata": meta.to_dict(), "Items": items}
                else:
                    result = self._search_video(path, request, workers, progress)
            status, message = "SUCCEEDED", None
        except VideoError as e:
            status, message, result = "FAILED", str(e), None
        except FaceLedgerError as e:
            status, message, result = "FAILED", f"{e.code}: {e.message}", None
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
        j = tables.video_jobs
        with self.catalog.write() as conn:
            conn.execute(update(j).where(j.c.job_id == job_id).values(
                status=status, status_message=message, progress=1.0 if status == "SUCCEEDED" else row.progress,
                result=json.dumps(result) if result is not None else None, heartbeat=now()))  # fmt: skip
        if request.get("NotificationChannel"):
            from ..video.jobs import notify

            notify(request["NotificationChannel"]["Url"], job_id, status, f"Start{row.kind}", request)
        return status

    def _search_video(self, path: Path, request: dict, workers: int, progress) -> dict:
        from ..video import analyze

        cid, threshold = request["CollectionId"], request["FaceMatchThreshold"]
        with self.catalog.read() as conn:
            self._require(conn, cid)
            policy = self.policy(conn, cid)
            size = self.catalog.count_faces(conn, cid)
        meta, persons, matches = analyze.search_faces(self, path, cid, threshold, rate=request["SampleRate"],
                                                      workers=workers, progress=progress)  # fmt: skip
        ledgered = [
            {"TrackIndex": idx, "FaceId": m["Face"]["FaceId"], "ExternalImageId": m["Face"].get("ExternalImageId"),
             "Similarity": round(m["Similarity"], 4)}
            for idx, ms in matches.items() for m in ms
        ]  # fmt: skip
        extension = self.record_search("StartFaceSearch", cid, policy, threshold, size, ledgered,
                                       searched={"Tracks": len(matches)})  # fmt: skip
        extension["Tracks"] = len(matches)
        return {"VideoMetadata": meta.to_dict(), "Items": persons, "FaceLedger": extension}


def _rate(value) -> float:
    from ..video.decode import DEFAULT_SAMPLE_RATE

    if value is None:
        return float(os.environ.get("FACELEDGER_VIDEO_SAMPLE_RATE") or DEFAULT_SAMPLE_RATE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
        raise InvalidParameterException("The sample rate must be above 0 and at most 60 frames a second.")
    return float(value)
