"""The operations the HTTP surfaces serve, and the one place where a request meets the engine:
rights are checked, the engine method runs, the response becomes Rekognition's JSON."""

from __future__ import annotations

import re
import time

from starlette.concurrency import run_in_threadpool

from .auth import Principal

OPERATION_NAMES = (
    "DetectFaces", "CompareFaces",
    "CreateCollection", "DescribeCollection", "ListCollections", "DeleteCollection",
    "IndexFaces", "ListFaces", "DeleteFaces", "SearchFaces", "SearchFacesByImage",
    "CreateUser", "DeleteUser", "ListUsers", "AssociateFaces", "DisassociateFaces",
    "SearchUsers", "SearchUsersByImage",
)  # fmt: skip

# Rekognition's operation name -> the engine's method.
OPERATIONS = {op: re.sub(r"(?<!^)([A-Z])", r"_\1", op).lower() for op in OPERATION_NAMES}


async def run(service, principal: Principal, operation: str, params: dict) -> tuple[dict, str]:
    """`call` on a worker thread once one of the service's engine slots is free, and a
    Server-Timing value (ms queued, ms in the engine). The slots queue requests first come,
    first served: the models hold Python's global lock, so more threads computing at once would
    only spread latency and hold more decoded images in memory."""
    queued = time.perf_counter()
    async with service.engine_slots:
        started = time.perf_counter()
        result = await run_in_threadpool(call, service.engine, principal, operation, params)
    done = time.perf_counter()
    return result, f"queue;dur={(started - queued) * 1000:.1f}, engine;dur={(done - started) * 1000:.1f}"


def call(engine, principal: Principal, operation: str, params: dict) -> dict:
    """Run one operation for `principal`; `params` already checked against the service model."""
    collection = params.get("CollectionId")
    principal.authorize(operation, collection if isinstance(collection, str) else None)
    result = getattr(engine, OPERATIONS[operation])(**params).to_dict()
    if operation == "ListCollections" and principal.key is not None and principal.key.collections is not None:
        # A key limited to some collections sees only those.
        pairs = [
            (c, v) for c, v in zip(result["CollectionIds"], result["FaceModelVersions"]) if principal.may_use_collection(c)
        ]
        result["CollectionIds"] = [c for c, _ in pairs]
        result["FaceModelVersions"] = [v for _, v in pairs]
    return result
