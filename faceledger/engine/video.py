"""Stored video: StartFaceDetection / GetFaceDetection and StartFaceSearch / GetFaceSearch.

A Start call checks the request and writes a job row (IN_PROGRESS); a job runner (see
video_jobs.py) claims it, works on it with a heartbeat, and stores the result, which the Get
calls read."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid

from sqlalchemy import insert, select

from ..accountability.ledger import current_actor
from ..errors import (
    IdempotentParameterMismatchException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from ..store import catalog as tables
from ..store.catalog import now
from . import records, validate
from .accountable import AccountableOperations

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
        raise InvalidParameterException(
            "Video must be {'S3Object': {'Bucket': ..., 'Name': ...}} (or a local path)."
        )
    if "S3Object" in video:
        from ..inputs.objects import check_s3_object

        check_s3_object(video["S3Object"])
    return video


def _check_notification(channel) -> dict | None:
    if channel is None:
        return None
    if not isinstance(channel, dict) or "SNSTopicArn" not in channel:
        raise InvalidParameterException(
            "NotificationChannel needs SNSTopicArn (and RoleArn, which faceledger ignores)."
        )
    m = SNS_TOPIC.match(str(channel["SNSTopicArn"]))
    if not m or m.group(1) not in webhooks():
        raise InvalidParameterException(
            f"No webhook is configured for {channel['SNSTopicArn']!r}: set "
            'FACELEDGER_WEBHOOKS="topic=https://..." '
            "and use arn:aws:sns:REGION:123456789012:topic."
        )
    return {"SNSTopicArn": channel["SNSTopicArn"], "Url": webhooks()[m.group(1)]}


class VideoOperations(AccountableOperations):
    _video_jobs = None

    # -- starting -----------------------------------------------------------------------------

    def _start_job(
        self, kind: str, request: dict, token: str | None, run_by: str | None = None
    ) -> records.Plain:
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
            conn.execute(
                insert(j).values(
                    job_id=job_id,
                    kind=kind,
                    status="IN_PROGRESS",
                    request=body,
                    request_token=token,
                    actor=json.dumps(dataclasses.asdict(actor)),
                    created_at=now(),
                    progress=0.0,
                    **claimed,
                )
            )
            self.ledger.append(
                conn,
                f"Start{kind}",
                collection_id=request.get("CollectionId"),
                threshold=request.get("FaceMatchThreshold"),
                detail={"JobId": job_id, "Video": request["Video"]},
            )
        return records.Plain(JobId=job_id)

    def _common(
        self, Video, ClientRequestToken, NotificationChannel, JobTag, detector
    ) -> tuple[dict, str | None]:
        request = {"Video": _check_video(Video)}
        if detector is not None:  # kept only when asked for: a request without it stays as it was
            request["Detector"] = self._detector(detector).name
        token = validate.request_token(ClientRequestToken)
        if JobTag is not None:
            request["JobTag"] = validate._match(
                JOB_TAG, JobTag, "JobTag", "1-1024 characters of a-z, A-Z, 0-9, _ . - : + = /"
            )
        channel = _check_notification(NotificationChannel)
        if channel:
            request["NotificationChannel"] = channel
        return request, token

    def start_face_detection(
        self,
        Video,
        ClientRequestToken=None,
        NotificationChannel=None,
        FaceAttributes=None,
        JobTag=None,
        *,
        sample_rate: float | None = None,
        run_by: str | None = None,
        detector: str | None = None,
    ) -> records.Plain:
        """`run_by`: a job runner's name, to take the job at once and run it in this process
        (the command line does); None leaves it to the service's runners. `detector`: the face
        detector the job uses (the engine's default if None)."""
        request, token = self._common(Video, ClientRequestToken, NotificationChannel, JobTag, detector)
        if FaceAttributes not in (None, "DEFAULT", "ALL"):
            raise InvalidParameterException("FaceAttributes must be DEFAULT or ALL.")
        request["FaceAttributes"] = FaceAttributes or "DEFAULT"
        request["SampleRate"] = _rate(sample_rate)
        return self._start_job("FaceDetection", request, token, run_by)

    def start_face_search(
        self,
        Video,
        CollectionId,
        ClientRequestToken=None,
        FaceMatchThreshold=None,
        NotificationChannel=None,
        JobTag=None,
        *,
        sample_rate: float | None = None,
        run_by: str | None = None,
        detector: str | None = None,
    ) -> records.Plain:
        request, token = self._common(Video, ClientRequestToken, NotificationChannel, JobTag, detector)
        search = self._begin_search(
            CollectionId, FaceMatchThreshold, "FaceMatchThreshold", None, "MaxFaces", 100
        )
        request.update(
            CollectionId=search.collection_id,
            FaceMatchThreshold=search.threshold,
            SampleRate=_rate(sample_rate),
        )
        return self._start_job("FaceSearch", request, token, run_by)

    # -- results ------------------------------------------------------------------------------

    @property
    def video_jobs(self):
        """The jobs, for the runners that run them (see video_jobs.py)."""
        if self._video_jobs is None:
            from .video_jobs import VideoJobs

            self._video_jobs = VideoJobs(self)
        return self._video_jobs

    def _job(self, job_id):
        return self.video_jobs.row(job_id)

    def _get(
        self, kind: str, JobId, MaxResults, NextToken, items_member: str, arrange=None, view=""
    ) -> records.Plain:
        """A job's status and a page of its items; `arrange(items, request, result)` gives them in
        the order and shape asked for, and `view` names that order and shape: a NextToken carries
        it, so that a page is never taken from another order."""
        row = self._job(JobId)
        if row.kind != kind:
            raise ResourceNotFoundException(f"The job {JobId} is a {row.kind} job, not a {kind} job.")
        # Rekognition's video Get operations give at most 1000 a page, whatever more is asked.
        limit = min(validate.integer(MaxResults, "MaxResults", 1, 2**31 - 1, 1000), 1000)
        start = _position(NextToken, view)
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
        items = result["Items"] if arrange is None else arrange(result["Items"], request, result)
        out["VideoMetadata"] = result["VideoMetadata"]
        out[items_member] = items[start : start + limit]
        if start + limit < len(items):
            out["NextToken"] = validate.make_token([start + limit, view] if view else start + limit)
        for member in ("FaceLedger", "LabelModelVersion"):
            if member in result:
                out[member] = result[member]
        return out

    def get_face_detection(self, JobId, MaxResults=None, NextToken=None) -> records.Plain:
        return self._get("FaceDetection", JobId, MaxResults, NextToken, "Faces")

    def get_face_search(self, JobId, MaxResults=None, NextToken=None, SortBy=None) -> records.Plain:
        if SortBy not in (None, "INDEX", "TIMESTAMP"):
            raise InvalidParameterException("SortBy must be INDEX or TIMESTAMP.")
        order = (
            (lambda p: (p["Person"]["Index"], p["Timestamp"]))
            if SortBy == "INDEX"
            else (lambda p: (p["Timestamp"], p["Person"]["Index"]))
        )
        return self._get(
            "FaceSearch", JobId, MaxResults, NextToken, "Persons", lambda items, *_: sorted(items, key=order)
        )


def _position(token, view: str) -> int:
    """Where a page starts: a NextToken's position, checked against the order it was given for."""
    if not view:
        return validate.read_token(token, int) or 0
    position = validate.read_token(token, list)
    if position is None:
        return 0
    if len(position) != 2 or not isinstance(position[0], int) or position[0] < 0:
        raise InvalidPaginationTokenException("NextToken is not one this service gave out.")
    if position[1] != view:
        raise InvalidParameterException(
            f"NextToken was given for {position[1]}, not {view}: ask for the same order and aggregation."
        )
    return position[0]


def _rate(value) -> float:
    from ..video.decode import DEFAULT_SAMPLE_RATE

    if value is None:
        return float(os.environ.get("FACELEDGER_VIDEO_SAMPLE_RATE") or DEFAULT_SAMPLE_RATE)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
        raise InvalidParameterException("The sample rate must be above 0 and at most 60 frames a second.")
    return float(value)
