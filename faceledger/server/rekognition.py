"""Rekognition's JSON 1.1 protocol: `POST /` with `X-Amz-Target: RekognitionService.<Operation>`,
SigV4-signed, bodies and errors as botocore's service model describes them, so boto3, the AWS
CLI and the other SDKs work with nothing changed but the endpoint URL."""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import (
    FaceLedgerError,
    ImageTooLargeException,
    InternalServerError,
    InvalidParameterException,
    SerializationException,
    UnknownOperationException,
)
from . import model
from .operations import OPERATION_NAMES, request_context, run

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "RekognitionService."
# Two 5 MB images (CompareFaces) in base64, with room for the other members.
MAX_BODY_BYTES = 16 * 1024 * 1024

log = logging.getLogger("faceledger.server")


def lower_headers(request: Request) -> dict[str, str]:
    """Header names in lower case; repeated headers joined by commas, as SigV4 canonicalises them."""
    out: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused as soon as it passes `limit` (a declared length is trusted first)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ImageTooLargeException(f"The request body is {int(declared)} bytes; at most {limit} are accepted.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageTooLargeException(f"The request body is over {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(error: FaceLedgerError, request_id: str) -> Response:
    return Response(
        json.dumps(error.to_dict()),
        status_code=error.http_status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )


def _operation(target: str | None) -> str:
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(f"X-Amz-Target must be {TARGET_PREFIX}<Operation>.")
    operation = target[len(TARGET_PREFIX) :]
    if operation not in OPERATION_NAMES:
        raise UnknownOperationException(f"faceledger does not serve the operation {operation!r}.")
    return operation


def _json_body(body: bytes):
    if not body:
        return {}
    try:
        return json.loads(body)
    except RecursionError:
        raise SerializationException("The request body nests too deeply.") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise SerializationException(f"The request body is not valid JSON: {e}.") from None


def header_members(operation: str, headers: dict[str, str]) -> dict:
    """faceledger's own members of Rekognition's operations, which its protocol cannot carry in
    the body (botocore would refuse them): X-FaceLedger-Liveness-Threshold for IndexFaces."""
    value = headers.get("x-faceledger-liveness-threshold")
    if value is None or operation != "IndexFaces":
        return {}
    try:
        return {"liveness_threshold": float(value)}
    except ValueError:
        raise InvalidParameterException(f"X-FaceLedger-Liveness-Threshold must be a number from 0 to 100; got {value!r}.") from None


async def handle(request: Request) -> Response:
    app = request.app.state.faceledger
    request_id = request.state.request_id
    try:
        body = await read_body(request)
        headers = lower_headers(request)
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        principal = await run_in_threadpool(
            app.auth.sigv4, "POST", raw_path.decode("latin-1"), request.url.query, headers, body
        )
        request.state.access_key = principal.name
        operation = _operation(headers.get("x-amz-target"))
        request.state.operation = operation
        params = {**model.parse_request(operation, _json_body(body)), **header_members(operation, headers)}
        result, timing = await run(app, principal, operation, params, request_context(headers))
    except FaceLedgerError as e:
        request.state.error = e.code
        if e.http_status >= 500:
            log.error("request %s: %s: %s", request_id, e.code, e.message)
        return error_response(e, request_id)
    except Exception:
        log.exception("request %s failed", request_id)
        request.state.error = "InternalServerError"
        return error_response(InternalServerError("The service failed to answer; see its log."), request_id)
    headers = {"x-amzn-RequestId": request_id, "Server-Timing": timing}
    return Response(json.dumps(result), media_type=CONTENT_TYPE, headers=headers)
