"""The /v1 routes the web UI needs beside the operations: sign-in sessions and the caller's
rights, face thumbnails, video frames, stream processors' latest frames and live events, and the
calibration and fairness reports with their plots. Every route but sign-in takes the same
credentials as the rest of the REST API."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..accountability import reports
from ..accountability.calibration import DEFAULT_SIMILARITY_THRESHOLD
from ..errors import (
    InvalidParameterException,
    InvalidSignatureException,
    ResourceNotFoundException,
    UnrecognizedClientException,
)
from .auth import Principal
from .bodies import read_json_object
from .dispatch import authorize
from .rekognition import lower_headers
from .rest import principal
from .sessions import PREFIX as SESSION_PREFIX

router = APIRouter(prefix="/v1", tags=["web UI"])

# Pictures of faces are biometric data: no cache may keep them.
PRIVATE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
JPEG = {200: {"content": {"image/jpeg": {}}, "description": "a JPEG picture"}}
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG plot"}}
CALIBRATION_PLOTS = ("histogram", "det")
FAIRNESS_PLOTS = ("det_by_group", "fmr_by_group")


def _rights(who: Principal) -> dict:
    key = who.key
    return {
        "AccessKeyId": who.name,
        "Name": key.name if key else "anonymous",
        "Operations": list(key.operations) if key and key.operations is not None else "*",
        "Collections": list(key.collections) if key and key.collections is not None else "*",
        "Buckets": list(key.buckets) if key and key.buckets is not None else "*",
    }


async def _computed(request: Request, fn, *args):
    """Run picture work in one of the service's engine slots, as the operations do."""
    async with request.app.state.faceledger.engine_slots:
        return await run_in_threadpool(fn, *args)


def _whole_number(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterException(f"{name} must be a whole number, not {value!r}.") from None


@router.post(
    "/sessions",
    summary="Sign in with an access key: a short-lived session token for the web UI",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["AccessKeyId", "SecretAccessKey"],
                        "properties": {
                            "AccessKeyId": {"type": "string"},
                            "SecretAccessKey": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def create_session(request: Request):
    """The token goes in `Authorization: Bearer <SessionToken>` until it expires
    (FACELEDGER_SESSION_SECONDS, default 8 hours), with the key's rights; the secret is not
    needed again. A revoked key's sessions end at once."""
    body = await read_json_object(request)
    key_id, secret = body.get("AccessKeyId"), body.get("SecretAccessKey")
    if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
        raise InvalidParameterException("Sign in with AccessKeyId and SecretAccessKey.")
    auth = request.app.state.faceledger.auth
    try:
        who = await run_in_threadpool(auth.key_secret, key_id, secret)
    except (UnrecognizedClientException, InvalidSignatureException):
        # One answer for an unknown key and a wrong secret: sign-in must not tell which key ids exist.
        raise UnrecognizedClientException(
            "The access key ID or the secret is wrong (or the key is revoked)."
        ) from None
    request.state.access_key = who.name
    token, expires = auth.sessions.issue(who.name)
    return JSONResponse(
        {"SessionToken": token, "Expiration": expires, **_rights(who)}, headers={"Cache-Control": "no-store"}
    )


@router.get("/sessions/current", summary="The caller's access key and its rights")
async def current_session(who: Principal = Depends(principal)):
    return _rights(who)


@router.delete(
    "/sessions/current", summary="Sign out: the caller's session token stops working now, not at its expiry"
)
async def end_session(request: Request, who: Principal = Depends(principal)):
    auth = request.app.state.faceledger.auth
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    if not token.startswith(SESSION_PREFIX):
        raise InvalidParameterException(
            "Only a web UI session token can be signed out; revoke an access key instead."
        )
    await run_in_threadpool(auth.keys.end_session, token, auth.sessions.expiry(token), auth.sessions.clock())
    return JSONResponse({"SignedOut": True})


@router.get(
    "/collections/{CollectionId}/faces/{FaceId}/image",
    summary="A stored face as a JPEG thumbnail",
    description="Cut from the source image a collection with KeepImages holds; needs the ListFaces right. "
    "Query: Size (32-1024 pixels, default 160).",
    responses=JPEG,
)
async def face_image(request: Request, CollectionId: str, FaceId: str, who: Principal = Depends(principal)):
    request.state.operation = "ListFaces"
    engine = request.app.state.faceledger.engine
    await run_in_threadpool(authorize, engine, who, "ListFaces", {"CollectionId": CollectionId})
    data = await _computed(request, engine.face_image, CollectionId, FaceId, _whole_number(request, "Size"))
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.get(
    "/videos/{JobId}/frame",
    summary="The frame of a video job's video at a time, as a JPEG",
    description="Query: Timestamp (ms). Needs the right to get the job's results (GetFaceDetection, "
    "GetFaceSearch or GetLabelDetection). The frame's own timestamp is in X-FaceLedger-Frame-Timestamp.",
    responses=JPEG,
)
async def video_frame(request: Request, JobId: str, who: Principal = Depends(principal)):
    engine = request.app.state.faceledger.engine
    operation = "Get" + await run_in_threadpool(engine.video_jobs.kind_of, JobId)
    request.state.operation = operation
    await run_in_threadpool(authorize, engine, who, operation, {"JobId": JobId})
    at, data = await _computed(request, engine.video_frame, JobId, _whole_number(request, "Timestamp"))
    return Response(
        data, media_type="image/jpeg", headers={**PRIVATE, "X-FaceLedger-Frame-Timestamp": str(at)}
    )


# -- stream processors' live view -----------------------------------------------------------


def _compact(faces: list) -> list:
    """A frame's faces as the live view draws them: the box and the best match, if any."""
    out = []
    for f in faces:
        best = (f.get("MatchedFaces") or [None])[0]
        match = None
        if best:
            face = best["Face"]
            match = {
                "FaceId": face["FaceId"],
                "ExternalImageId": face.get("ExternalImageId"),
                "Similarity": round(best["Similarity"], 1),
            }
        out.append({"BoundingBox": f["DetectedFace"]["BoundingBox"], "Match": match})
    return out


@router.get(
    "/streams/{Name}/frame",
    summary="A stream processor's latest frame, as a JPEG",
    description="Needs DescribeStreamProcessor. The frame's time (epoch seconds) is in "
    "X-FaceLedger-Frame-Timestamp, its faces and their best matches (JSON) in X-FaceLedger-Faces.",
    responses=JPEG,
)
async def stream_frame(request: Request, Name: str, who: Principal = Depends(principal)):
    request.state.operation = "DescribeStreamProcessor"
    engine = request.app.state.faceledger.engine
    await run_in_threadpool(authorize, engine, who, "DescribeStreamProcessor", {"Name": Name})
    frame = await run_in_threadpool(engine.stream_frame, Name)
    if frame is None:
        raise ResourceNotFoundException(f"The stream processor {Name} has no frame yet.")
    at, jpeg, faces = frame
    headers = {
        **PRIVATE,
        "X-FaceLedger-Frame-Timestamp": f"{at:.3f}",
        "X-FaceLedger-Faces": json.dumps(_compact(faces), separators=(",", ":")),
    }
    return Response(jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/streams/{Name}/events",
    summary="A stream processor's events as they happen (server-sent events)",
    description="Needs DescribeStreamProcessor. text/event-stream: each event's `data` is the record "
    "the processor sent to its sink, its `id` a number to resume from (Last-Event-ID, or the After "
    "query parameter); the last 10 come first.",
)
async def stream_events(request: Request, Name: str, who: Principal = Depends(principal)):
    import asyncio

    from starlette.responses import StreamingResponse

    request.state.operation = "DescribeStreamProcessor"
    service = request.app.state.faceledger
    engine = service.engine
    await run_in_threadpool(authorize, engine, who, "DescribeStreamProcessor", {"Name": Name})
    await run_in_threadpool(engine.stream_processor, Name)  # ResourceNotFoundException if none
    after = request.headers.get("last-event-id") or request.query_params.get("After") or "0"
    last = int(after) if after.isdigit() else 0

    async def feed():
        nonlocal last
        quiet, checked = 0.0, 0.0
        rows = await run_in_threadpool(engine.stream_events_after, Name, last, 10 if last == 0 else 100)
        while True:
            for event_id, body in rows:
                last = event_id
                yield f"id: {event_id}\nevent: face-search\ndata: {json.dumps(body)}\n\n"
            quiet = 0.0 if rows else quiet + 0.5
            if quiet >= 15:  # a comment now and then keeps proxies from closing a quiet stream
                quiet = 0.0
                yield ": quiet\n\n"
            if await request.is_disconnected():
                return
            checked += 0.5
            if checked >= 15:  # the key may have been revoked, the processor deleted: ask again
                checked = 0.0
                try:
                    now_who = await run_in_threadpool(service.auth.bearer, lower_headers(request))
                    await run_in_threadpool(
                        authorize, engine, now_who, "DescribeStreamProcessor", {"Name": Name}
                    )
                    await run_in_threadpool(engine.stream_processor, Name)
                except Exception:
                    return
            await asyncio.sleep(0.5)
            rows = await run_in_threadpool(engine.stream_events_after, Name, last, 100)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(feed(), media_type="text/event-stream", headers=headers)


# -- reports ---------------------------------------------------------------------------------

_plots: dict[tuple, dict[str, bytes]] = {}
_plots_lock = threading.Lock()


def _calibration_plots(cal) -> dict[str, bytes]:
    """Drawn once per calibration per process (matplotlib takes about a second)."""
    key = (cal.name, cal.created, cal.impostor_pairs, cal.genuine_pairs)
    with _plots_lock:
        if key not in _plots:
            with tempfile.TemporaryDirectory() as tmp:
                files = reports.calibration_plots(cal, Path(tmp))
                _plots[key] = {name: (Path(tmp) / file).read_bytes() for name, file in files.items()}
        return _plots[key]


@router.get("/calibration", summary="The calibration in use: what each threshold means")
async def calibration_summary(request: Request, who: Principal = Depends(principal)):
    cal = request.app.state.faceledger.engine.calibration
    return {
        "Name": cal.name,
        "Description": cal.description,
        "Created": cal.created,
        "Faces": cal.faces,
        "People": cal.people,
        "GenuinePairs": cal.genuine_pairs,
        "ImpostorPairs": cal.impostor_pairs,
        "SmallestResolvableFalseMatchRate": cal.smallest_resolvable_fmr(),
        "DefaultThreshold": DEFAULT_SIMILARITY_THRESHOLD,
        "Table": reports.calibration_table(cal),
        "Plots": list(CALIBRATION_PLOTS),
    }


@router.get("/calibration/plots/{Plot}", summary="A plot of the calibration: histogram or det", responses=PNG)
async def calibration_plot(request: Request, Plot: str, who: Principal = Depends(principal)):
    if Plot not in CALIBRATION_PLOTS:
        raise ResourceNotFoundException(f"No plot {Plot!r}: use {' or '.join(CALIBRATION_PLOTS)}.")
    plots = await _computed(request, _calibration_plots, request.app.state.faceledger.engine.calibration)
    return Response(plots[Plot], media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


def fairness_folder(home: Path) -> Path:
    """FACELEDGER_FAIRNESS_REPORT, else `fairness/` in the data directory: where
    `faceledger evaluate ... -o` wrote its report."""
    return Path(os.environ.get("FACELEDGER_FAIRNESS_REPORT") or home / "fairness")


def _fairness_file(request: Request, name: str) -> Path:
    path = fairness_folder(request.app.state.faceledger.engine.home) / name
    if not path.is_file():
        # The folder is not named: where the service keeps its files is not the caller's business.
        raise ResourceNotFoundException(
            "No fairness report in this service's data directory: its operator makes one with `faceledger "
            "evaluate "
            "DATASET --groups groups.csv -o <data directory>/fairness` (or sets FACELEDGER_FAIRNESS_REPORT)."
        )
    return path


@router.get("/fairness", summary="The fairness report of this data directory: error rates by group")
async def fairness_summary(request: Request, who: Principal = Depends(principal)):
    report = json.loads(_fairness_file(request, "report.json").read_text())
    return {**report, "Plots": list(FAIRNESS_PLOTS)}


@router.get(
    "/fairness/plots/{Plot}",
    summary="A plot of the fairness report: det_by_group or fmr_by_group",
    responses=PNG,
)
async def fairness_plot(request: Request, Plot: str, who: Principal = Depends(principal)):
    if Plot not in FAIRNESS_PLOTS:
        raise ResourceNotFoundException(f"No plot {Plot!r}: use {' or '.join(FAIRNESS_PLOTS)}.")
    return Response(
        _fairness_file(request, f"{Plot}.png").read_bytes(),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )
