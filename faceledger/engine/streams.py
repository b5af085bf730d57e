"""Rekognition's stream processors on live camera streams: Create, Describe, List, Start, Stop,
Update and Delete, and the registry that maps Kinesis ARNs to what stands in for them here (a
source's rtsp:// or http(s):// URL, a sink's webhook or JSON-lines file).

A processor's row holds what it asked for and its status; a StreamRunner on some node (see
stream_runner.py) claims the processors that should run and reports on them. Its face search
obeys the collection's policy: a collection that requires a purpose needs one when the
processor is created, and every match is on the ledger with the processor's name."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from ..accountability.ledger import Actor, current_actor
from ..errors import (
    InvalidParameterException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from ..store import catalog as tables
from ..store.catalog import now
from . import records, validate
from .collections import _timestamp, collection_arn
from .video import VideoOperations, _check_notification, _rate

NAME = re.compile(r"[a-zA-Z0-9_.\-]{1,128}")
SOURCE_ARN = re.compile(r"^arn:([a-z\d-]+):kinesisvideo:([a-z\d-]+):\d{12}:.+$")
SINK_ARN = re.compile(r"^arn:([a-z\d-]+):kinesis:([a-z\d-]+):\d{12}:.+$")
SOURCE_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
SINK_SCHEMES = ("http://", "https://", "file:///")
RUNNING_STATES = ("STARTING", "RUNNING", "STOPPING", "UPDATING")
FEED_KEEP = 100  # events of each processor kept for the live view


def processor_arn(name: str) -> str:
    return collection_arn(name).replace(":collection/", ":streamprocessor/")


class StreamOperations(VideoOperations):
    # -- the registry of sources and sinks ------------------------------------------------

    def put_stream_endpoint(self, Arn: str, Url: str) -> records.Plain:
        """Map a Kinesis video stream ARN to a camera's URL, or a Kinesis data stream ARN to a sink."""
        kind = _endpoint_kind(Arn)
        self._check_url(Url, kind)
        with self.catalog.write() as conn:
            conn.execute(delete(tables.stream_endpoints).where(tables.stream_endpoints.c.arn == Arn))
            conn.execute(
                insert(tables.stream_endpoints).values(arn=Arn, kind=kind, url=Url, created_at=now())
            )
            self.ledger.append(conn, "PutStreamEndpoint", detail={"Arn": Arn, "Kind": kind})
        return records.Plain(Arn=Arn, Kind=kind)

    def list_stream_endpoints(self) -> records.Plain:
        from ..video.live import redact

        e = tables.stream_endpoints
        with self.catalog.read() as conn:
            rows = conn.execute(select(e).order_by(e.c.kind, e.c.arn)).all()
        return records.Plain(Endpoints=[{"Arn": r.arn, "Kind": r.kind, "Url": redact(r.url)} for r in rows])

    def delete_stream_endpoint(self, Arn: str) -> records.Plain:
        e = tables.stream_endpoints
        with self.catalog.write() as conn:
            if conn.execute(delete(e).where(e.c.arn == Arn)).rowcount == 0:
                raise ResourceNotFoundException(f"No stream endpoint {Arn!r} is registered.")
            self.ledger.append(conn, "DeleteStreamEndpoint", detail={"Arn": Arn})
        return records.Plain()

    def stream_url(self, arn_or_url: str, kind: str) -> str:
        """The URL a processor's Input or Output leads to (a URL given directly, or a registered ARN)."""
        if not (arn_or_url.startswith("arn:")):
            return arn_or_url
        e = tables.stream_endpoints
        with self.catalog.read() as conn:
            row = conn.execute(select(e).where(e.c.arn == arn_or_url, e.c.kind == kind)).first()
        if row is None:
            raise InvalidParameterException(
                f"No {kind} is registered for {arn_or_url}: faceledger streams {kind}s add ARN URL."
            )
        return row.url

    # -- the operations ---------------------------------------------------------------------

    def create_stream_processor(
        self,
        Input,
        Output,
        Name,
        Settings,
        RoleArn=None,
        Tags=None,
        NotificationChannel=None,
        KmsKeyId=None,
        RegionsOfInterest=None,
        DataSharingPreference=None,
        *,
        sample_rate: float | None = None,
    ) -> records.Plain:
        name = _name(Name)
        source = _member(Input, "Input", "KinesisVideoStream")
        sink = _output(Output)
        for arn, kind in ((source, "source"), (sink, "sink")):
            self._check_url(self.stream_url(arn, kind), kind)  # a registered ARN, or a URL faceledger can use
        face_search = _member(Settings, "Settings", "FaceSearch", whole=True)
        search = self._begin_search(
            face_search.get("CollectionId"),
            face_search.get("FaceMatchThreshold"),
            "FaceMatchThreshold",
            None,
            "MaxFaces",
            100,
        )
        request = {
            "Input": {"KinesisVideoStream": {"Arn": source}},
            "Output": {"KinesisDataStream": {"Arn": sink}},
            "Settings": {
                "FaceSearch": {"CollectionId": search.collection_id, "FaceMatchThreshold": search.threshold}
            },
            "RoleArn": RoleArn,
            "SampleRate": _rate(sample_rate),
        }
        channel = _check_notification(NotificationChannel)
        if channel:
            request["NotificationChannel"] = channel
        if RegionsOfInterest:
            request["RegionsOfInterest"] = _regions(RegionsOfInterest)
        if DataSharingPreference is not None:
            request["DataSharingPreference"] = DataSharingPreference
        if KmsKeyId is not None:
            request["KmsKeyId"] = KmsKeyId
        if Tags:
            request["Tags"] = Tags
        arn = processor_arn(name)
        actor = current_actor()
        p = tables.stream_processors
        with self.catalog.write() as conn:
            if conn.execute(select(p.c.name).where(p.c.name == name)).first() is not None:
                raise ResourceInUseException(f"A stream processor named {name} exists.")
            conn.execute(
                insert(p).values(
                    name=name,
                    arn=arn,
                    status="STOPPED",
                    desired="STOPPED",
                    request=json.dumps(request, sort_keys=True),
                    actor=json.dumps(dataclasses.asdict(actor)),
                    created_at=now(),
                    updated_at=now(),
                )
            )
            self.ledger.append(
                conn,
                "CreateStreamProcessor",
                collection_id=search.collection_id,
                threshold=search.threshold,
                detail={"Name": name},
            )
        return records.Plain(StreamProcessorArn=arn)

    def _processor(self, conn, name, lock: bool = False):
        """A processor's row; `lock`: for update (PostgreSQL), so that Start, Stop and a node's
        claim of it happen one after the other."""
        q = select(tables.stream_processors).where(tables.stream_processors.c.name == name)
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise ResourceNotFoundException(f"No stream processor named {name}.")
        return row

    def stream_processor(self, name) -> object:
        """A processor's catalog row (for runners and rights checks)."""
        with self.catalog.read() as conn:
            return self._processor(conn, _name(name))

    def stream_processor_collection(self, name) -> str | None:
        """The collection a processor searches; None if there is no such processor."""
        try:
            return _collection(self.stream_processor(name).request)
        except (ResourceNotFoundException, InvalidParameterException):
            return None

    def describe_stream_processor(self, Name) -> records.Plain:
        from ..video.live import redact

        row = self.stream_processor(Name)
        request = json.loads(row.request)
        out = records.Plain(
            Name=row.name,
            StreamProcessorArn=row.arn,
            Status=row.status,
            StatusMessage=row.status_message,
            CreationTimestamp=_timestamp(row.created_at),
            LastUpdateTimestamp=_timestamp(row.updated_at),
            Input={"KinesisVideoStream": {"Arn": redact(request["Input"]["KinesisVideoStream"]["Arn"])}},
            Output={"KinesisDataStream": {"Arn": redact(request["Output"]["KinesisDataStream"]["Arn"])}},
            RoleArn=request.get("RoleArn"),
            Settings=request["Settings"],
            KmsKeyId=request.get("KmsKeyId"),
            RegionsOfInterest=request.get("RegionsOfInterest"),
            DataSharingPreference=request.get("DataSharingPreference"),
        )
        if "NotificationChannel" in request:
            out["NotificationChannel"] = {"SNSTopicArn": request["NotificationChannel"]["SNSTopicArn"]}
        actor = json.loads(row.actor)
        out["FaceLedger"] = {
            "SampleRate": request["SampleRate"],
            "Purpose": actor.get("purpose"),
            "CaseId": actor.get("case_id"),
            "Node": row.claimed_by,
            **(json.loads(row.stats) if row.stats else {}),
        }
        return out

    def list_stream_processors(self, NextToken=None, MaxResults=None, *, only=None) -> records.Plain:
        """`only`: the collections whose processors the caller may see (None: all)."""
        limit = validate.integer(MaxResults, "MaxResults", 1, 1000, 1000)
        after = validate.read_token(NextToken, str)
        p = tables.stream_processors
        q = select(p.c.name, p.c.status, p.c.request).order_by(p.c.name)
        if after is not None:
            q = q.where(p.c.name > after)
        with self.catalog.read() as conn:
            if only is None:
                rows = conn.execute(q.limit(limit + 1)).all()
            else:
                allowed = set(only)
                rows = [r for r in conn.execute(q).all() if _collection(r.request) in allowed][: limit + 1]
        page = rows[:limit]
        return records.Plain(
            StreamProcessors=[{"Name": r.name, "Status": r.status} for r in page],
            NextToken=validate.make_token(page[-1].name) if len(rows) > limit else None,
        )

    def start_stream_processor(self, Name, StartSelector=None, StopSelector=None) -> records.Plain:
        if StartSelector is not None or StopSelector is not None:
            raise InvalidParameterException(
                "StartSelector and StopSelector are for Kinesis fragments: a live camera stream starts now."
            )
        name = _name(Name)
        session = str(uuid.uuid4())
        p = tables.stream_processors
        with self.catalog.write() as conn:
            row = self._processor(conn, name, lock=True)
            if row.status in RUNNING_STATES:
                raise ResourceInUseException(f"The stream processor {name} is {row.status}.")
            conn.execute(
                update(p)
                .where(p.c.name == name)
                .values(
                    status="STARTING",
                    status_message=None,
                    desired="RUNNING",
                    session_id=session,
                    claimed_by=None,
                    stats=None,
                    updated_at=now(),
                )
            )
            self.ledger.append(conn, "StartStreamProcessor", detail={"Name": name, "SessionId": session})
        return records.Plain(SessionId=session)

    def stop_stream_processor(self, Name) -> records.Plain:
        name = _name(Name)
        p = tables.stream_processors
        with self.catalog.write() as conn:
            row = self._processor(conn, name, lock=True)
            if row.status not in ("STARTING", "RUNNING"):
                raise ResourceInUseException(f"The stream processor {name} is {row.status}, not running.")
            # A processor no node holds stops at once; one that runs stops when its node sees this.
            status = "STOPPING" if row.claimed_by else "STOPPED"
            conn.execute(
                update(p).where(p.c.name == name).values(status=status, desired="STOPPED", updated_at=now())
            )
            self.ledger.append(conn, "StopStreamProcessor", detail={"Name": name})
        return records.Plain()

    def update_stream_processor(
        self,
        Name,
        SettingsForUpdate=None,
        RegionsOfInterestForUpdate=None,
        DataSharingPreferenceForUpdate=None,
        ParametersToDelete=None,
    ) -> records.Plain:
        name = _name(Name)
        if SettingsForUpdate:
            raise InvalidParameterException(
                "SettingsForUpdate holds connected-home (label) settings; a face search processor has none."
            )
        p = tables.stream_processors
        with self.catalog.write() as conn:
            row = self._processor(conn, name, lock=True)
            if row.status in ("STOPPING", "UPDATING"):
                raise ResourceInUseException(f"The stream processor {name} is {row.status}.")
            request = json.loads(row.request)
            if RegionsOfInterestForUpdate is not None:
                request["RegionsOfInterest"] = _regions(RegionsOfInterestForUpdate)
            if DataSharingPreferenceForUpdate is not None:
                request["DataSharingPreference"] = DataSharingPreferenceForUpdate
            for parameter in ParametersToDelete or ():
                if parameter == "RegionsOfInterest":
                    request.pop("RegionsOfInterest", None)
                elif parameter != "ConnectedHomeMinConfidence":
                    raise InvalidParameterException(f"{parameter} cannot be deleted.")
            # A running processor reads its regions again on its next heartbeat.
            conn.execute(
                update(p)
                .where(p.c.name == name)
                .values(request=json.dumps(request, sort_keys=True), updated_at=now())
            )
            self.ledger.append(conn, "UpdateStreamProcessor", detail={"Name": name})
        return records.Plain()

    def delete_stream_processor(self, Name) -> records.Plain:
        name = _name(Name)
        p = tables.stream_processors
        with self.catalog.write() as conn:
            row = self._processor(conn, name, lock=True)
            if row.status in RUNNING_STATES:
                raise ResourceInUseException(f"The stream processor {name} is {row.status}: stop it first.")
            conn.execute(delete(p).where(p.c.name == name))
            conn.execute(delete(tables.stream_events).where(tables.stream_events.c.name == name))
            conn.execute(delete(tables.stream_frames).where(tables.stream_frames.c.name == name))
            self.ledger.append(conn, "DeleteStreamProcessor", detail={"Name": name})
        return records.Plain()

    # -- the live view's feed ---------------------------------------------------------------

    def record_stream_event(self, name: str, event: dict, prune: bool = False) -> None:
        """Keep an event for the web UI's live view (`prune`: drop all but the last FEED_KEEP)."""
        e = tables.stream_events
        with self.catalog.write() as conn:
            conn.execute(insert(e).values(name=name, at=now(), body=json.dumps(event)))
            if prune:
                cutoff = conn.execute(
                    select(e.c.id).where(e.c.name == name).order_by(e.c.id.desc()).offset(FEED_KEEP).limit(1)
                ).scalar()
                if cutoff is not None:
                    conn.execute(delete(e).where(e.c.name == name, e.c.id <= cutoff))

    def record_stream_frame(self, name: str, at: float, jpeg: bytes, faces: list) -> None:
        f = tables.stream_frames
        with self.catalog.write() as conn:
            conn.execute(delete(f).where(f.c.name == name))
            conn.execute(insert(f).values(name=name, at=at, jpeg=jpeg, faces=json.dumps(faces)))

    def stream_events_after(self, name: str, after: int, limit: int = 100) -> list[tuple[int, dict]]:
        """The live view's events of a processor after id `after` (0: the last `limit`)."""
        e = tables.stream_events
        q = select(e.c.id, e.c.body).where(e.c.name == _name(name))
        with self.catalog.read() as conn:
            if after > 0:
                rows = conn.execute(q.where(e.c.id > after).order_by(e.c.id).limit(limit)).all()
            else:
                rows = conn.execute(q.order_by(e.c.id.desc()).limit(limit)).all()[::-1]
        return [(r.id, json.loads(r.body)) for r in rows]

    def stream_frame(self, name: str):
        """The latest frame of a processor (at, JPEG, faces), or None before the first."""
        f = tables.stream_frames
        with self.catalog.read() as conn:
            row = conn.execute(select(f).where(f.c.name == _name(name))).first()
        return None if row is None else (row.at, bytes(row.jpeg), json.loads(row.faces))

    def stream_files(self) -> Path:
        """Where file sinks may write: the data directory's streams/ folder, and nowhere else."""
        return (self.home / "streams").resolve()

    def _check_url(self, url, kind: str) -> None:
        _check_url(url, kind)
        if kind == "sink" and url.startswith("file://"):
            path = Path(urlsplit(url).path).resolve()
            if not path.is_relative_to(self.stream_files()):
                raise InvalidParameterException(
                    "A file sink must be a file in the streams folder of the service's data directory "
                    "(FACELEDGER_HOME/streams/NAME.jsonl); anywhere else, use a webhook."
                )

    def stream_actor(self, row) -> Actor:
        return Actor(**json.loads(row.actor))


# -- checks ----------------------------------------------------------------------------------


def _collection(request: str) -> str:
    return json.loads(request)["Settings"]["FaceSearch"]["CollectionId"]


def _name(value) -> str:
    return validate._match(NAME, value, "Name", "1-128 characters of a-z, A-Z, 0-9, _ . -")


def _member(value, name: str, member: str, whole: bool = False):
    if not isinstance(value, dict) or not isinstance(value.get(member), dict):
        raise InvalidParameterException(f"{name} needs {member}.")
    if whole:
        return value[member]
    arn = value[member].get("Arn")
    if not isinstance(arn, str) or not arn:
        raise InvalidParameterException(f"{name}.{member} needs Arn.")
    return arn


def _output(value) -> str:
    if isinstance(value, dict) and "S3Destination" in value and "KinesisDataStream" not in value:
        raise InvalidParameterException(
            "S3Destination is for connected-home (label) processors; a face search processor "
            "writes to Output.KinesisDataStream (a webhook or a JSON-lines file here)."
        )
    return _member(value, "Output", "KinesisDataStream")


def _endpoint_kind(arn) -> str:
    if isinstance(arn, str) and SOURCE_ARN.match(arn):
        return "source"
    if isinstance(arn, str) and SINK_ARN.match(arn):
        return "sink"
    raise InvalidParameterException(
        "The ARN must be a Kinesis video stream's (arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/1) "
        "or a Kinesis data stream's (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)."
    )


def _check_url(url, kind: str) -> None:
    schemes = SOURCE_SCHEMES if kind == "source" else SINK_SCHEMES
    if not isinstance(url, str) or not url.startswith(schemes):
        raise InvalidParameterException(
            f"A stream {kind} is a Kinesis ARN registered with faceledger streams {kind}s add, or a URL "
            f"starting with {', '.join(schemes)}."
        )


def _regions(regions) -> list:
    if not isinstance(regions, list) or len(regions) > 10:
        raise InvalidParameterException("RegionsOfInterest is a list of at most 10 regions.")
    for r in regions:
        if not isinstance(r, dict) or not ({"BoundingBox", "Polygon"} & set(r)):
            raise InvalidParameterException("Each region of interest has a BoundingBox or a Polygon.")
    return regions
