"""The one place where an HTTP request meets the engine: the caller's rights are checked (the
operation, the collection, the buckets, a video job's collection), the engine method runs in one
of the service's engine slots, and the response becomes Rekognition's JSON."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool

from ..accountability.ledger import acting
from ..engine.operations import ACROSS_COLLECTIONS, OPERATIONS
from ..errors import AccessDeniedException, InvalidParameterException

if TYPE_CHECKING:
    from .auth import Principal

CONTEXT_HEADERS = {
    "x-faceledger-purpose": "Purpose",
    "x-faceledger-case-id": "CaseId",
    "x-faceledger-max-false-match-rate": "MaxFalseMatchRate",
}


def request_context(headers: dict[str, str], given: dict | None = None) -> dict:
    """Purpose, CaseId and MaxFalseMatchRate from the X-FaceLedger-* headers (percent-encoded
    UTF-8, since header values are ASCII) or from `given` members of a native request, checked."""
    out = {}
    for header, name in CONTEXT_HEADERS.items():
        if header in headers:
            out[name] = unquote(headers[header]).strip()
    out.update({k: v for k, v in (given or {}).items() if v is not None})
    for name, most in (("Purpose", 1000), ("CaseId", 255)):
        value = out.get(name)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= most):
            raise InvalidParameterException(f"{name} must be text of 1 to {most} characters.")
    fmr = out.get("MaxFalseMatchRate")
    if fmr is not None:
        try:
            fmr = float(fmr)
        except (TypeError, ValueError):
            fmr = -1.0
        if not 0.0 < fmr < 1.0:
            raise InvalidParameterException(
                "MaxFalseMatchRate must be a number between 0 and 1, such as 1e-5."
            )
        out["MaxFalseMatchRate"] = fmr
    return out


async def run(
    service, principal: Principal, operation: str, params: dict, context: dict | None = None
) -> tuple[dict, str]:
    """`call` on a worker thread once one of the service's engine slots is free, and a
    Server-Timing value (ms queued, ms in the engine). The slots queue requests first come,
    first served: the models hold Python's global lock, so more threads computing at once would
    only spread latency and hold more decoded images in memory."""
    queued = time.perf_counter()
    async with service.engine_slots:
        started = time.perf_counter()
        result = await run_in_threadpool(call, service.engine, principal, operation, params, context)
    done = time.perf_counter()
    return result, f"queue;dur={(started - queued) * 1000:.1f}, engine;dur={(done - started) * 1000:.1f}"


def authorize_video_job(engine, principal: Principal, operation: str, job_id) -> None:
    """A job's results go to keys that may call `operation` on the collection it searches; a
    detection job names none, so a key limited to some collections may not see it."""
    job_collection = engine.video_jobs.collection_of(job_id)
    principal.authorize(operation, job_collection)
    if job_collection is None and principal.key is not None and principal.key.collections is not None:
        raise AccessDeniedException(f"The access key {principal.name} is limited to some collections.")


STREAM_ENDPOINTS = ("PutStreamEndpoint", "ListStreamEndpoints", "DeleteStreamEndpoint")

# The members of Rekognition's operations that name an object in a bucket.
S3_MEMBERS = ("Image", "SourceImage", "TargetImage", "Video")


def s3_buckets(params: dict) -> list:
    return [
        params[m]["S3Object"].get("Bucket")
        for m in S3_MEMBERS
        if isinstance(params.get(m), dict) and isinstance(params[m].get("S3Object"), dict)
    ]


def authorize(engine, principal: Principal, operation: str, params: dict) -> None:
    """May `principal` call `operation` with `params`? AccessDeniedException if not: every route,
    the operations' and the web UI's own, asks here."""
    collection = params.get("CollectionId")
    limited = principal.key is not None and principal.key.collections is not None
    if operation.endswith("StreamProcessor"):  # the collection a processor searches
        settings = params.get("Settings")
        face_search = settings.get("FaceSearch") if isinstance(settings, dict) else None
        if isinstance(face_search, dict):
            collection = face_search.get("CollectionId")
        elif isinstance(params.get("Name"), str):
            collection = engine.stream_processor_collection(params["Name"])
            if collection is None and limited:  # no such processor, or it could not be read
                raise AccessDeniedException(
                    f"The access key {principal.name} is limited to some collections: no stream "
                    f"processor {params['Name']} of one of them can be found."
                )
    if operation in STREAM_ENDPOINTS and limited:  # cameras and sinks serve every collection
        raise AccessDeniedException(
            f"The access key {principal.name} is limited to some collections: {operation} is not for it."
        )
    principal.authorize(operation, collection if isinstance(collection, str) else None)
    if operation in ACROSS_COLLECTIONS and collection is None and limited:
        raise AccessDeniedException(
            f"The access key {principal.name} is limited to some collections: {operation} must name one "
            "(CollectionId)."
        )
    principal.authorize_buckets(s3_buckets(params))
    if "JobId" in params:
        authorize_video_job(engine, principal, operation, params["JobId"])


def call(engine, principal: Principal, operation: str, params: dict, context: dict | None = None) -> dict:
    """Run one operation for `principal`; `params` already checked against the service model.
    `context`: Purpose, CaseId and MaxFalseMatchRate given with the request, for the ledger
    and the collection's policy."""
    authorize(engine, principal, operation, params)
    context = context or {}
    with acting(
        principal.name,
        purpose=context.get("Purpose"),
        case_id=context.get("CaseId"),
        max_fmr=context.get("MaxFalseMatchRate"),
    ):
        if (
            operation == "ListCollections"
            and principal.key is not None
            and principal.key.collections is not None
        ):
            params = {**params, "only": principal.key.collections}  # filtered in the query, tokens too
        if (
            operation == "ListStreamProcessors"
            and principal.key is not None
            and principal.key.collections is not None
        ):
            params = {**params, "only": principal.key.collections}
        return getattr(engine, OPERATIONS[operation])(**params).to_dict()
