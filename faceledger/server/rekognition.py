"""Rekognition's JSON 1.1 protocol: `POST /` with `X-Amz-Target: RekognitionService.<Operation>`,
SigV4-signed, bodies and errors as botocore's service model describes them, so boto3, the AWS
CLI and the other SDKs work with nothing changed but the endpoint URL."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..engine.operations import REKOGNITION
from ..errors import InvalidParameterException, SerializationException, UnknownOperationException
from . import model
from .bodies import parse_json, read_body
from .dispatch import request_context, run
from .responses import REKOGNITION_CONTENT_TYPE, rekognition_error

TARGET_PREFIX = "RekognitionService."


def lower_headers(request: Request) -> dict[str, str]:
    """Header names in lower case; repeated headers joined by commas, as SigV4 canonicalises them."""
    out: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def _operation(target: str | None) -> str:
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(f"X-Amz-Target must be {TARGET_PREFIX}<Operation>.")
    operation = target[len(TARGET_PREFIX) :]
    if operation not in REKOGNITION:
        raise UnknownOperationException(f"faceledger does not serve the operation {operation[:100]!r}.")
    return operation


def _json_body(body: bytes) -> dict:
    value = parse_json(body) if body else {}
    if not isinstance(value, dict):
        raise SerializationException("The request body must be a JSON object.")
    return value


# The operations that look for faces in a picture or a video, which take a detector.
FINDS_FACES = {
    "DetectFaces",
    "CompareFaces",
    "IndexFaces",
    "SearchFacesByImage",
    "SearchUsersByImage",
    "StartFaceDetection",
    "StartFaceSearch",
}


def header_members(operation: str, headers: dict[str, str]) -> dict:
    """faceledger's own members of Rekognition's operations, which its protocol cannot carry in
    the body (botocore would refuse them): X-FaceLedger-Liveness-Threshold for IndexFaces and
    X-FaceLedger-Detector for every operation that looks for faces."""
    out: dict = {}
    detector = headers.get("x-faceledger-detector")
    if detector is not None and operation in FINDS_FACES:
        out["detector"] = detector.strip()
    value = headers.get("x-faceledger-liveness-threshold")
    if value is not None and operation == "IndexFaces":
        try:
            out["liveness_threshold"] = float(value)
        except ValueError:
            raise InvalidParameterException(
                "X-FaceLedger-Liveness-Threshold must be a number from 0 to 100."
            ) from None
    return out


async def handle(request: Request) -> Response:
    app = request.app.state.faceledger
    try:
        headers = lower_headers(request)
        # Who is calling is settled before the body is read: an unsigned or unknown caller never
        # makes the service wait for (or hold) a large or slow body.
        claimed = await run_in_threadpool(app.auth.sigv4_claim, headers)
        body = await read_body(request)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        principal = await run_in_threadpool(
            app.auth.sigv4_verify,
            claimed,
            "POST",
            raw_path.decode("latin-1"),
            request.url.query,
            headers,
            body,
        )
        request.state.access_key = principal.name
        operation = _operation(headers.get("x-amz-target"))
        request.state.operation = operation
        params = {**model.parse_request(operation, _json_body(body)), **header_members(operation, headers)}
        result, timing = await run(app, principal, operation, params, request_context(headers))
    except Exception as e:
        return rekognition_error(request, e)
    headers = {"x-amzn-RequestId": request.state.request_id, "Server-Timing": timing}
    return Response(json.dumps(result), media_type=REKOGNITION_CONTENT_TYPE, headers=headers)
