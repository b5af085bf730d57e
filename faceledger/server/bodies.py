"""Reading request bodies, for every surface: a size limit checked as bytes arrive, a time limit
for the whole body (a client that declares 1000 bytes and sends 2 is answered, not waited for),
and JSON parsed with a depth limit, every failure a typed error rather than a crash."""

from __future__ import annotations

import asyncio
import json
import os

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ..errors import ImageTooLargeException, RequestTimeoutException, SerializationException

# Two 5 MB images (CompareFaces) in base64, with room for the other members.
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 32  # Rekognition's deepest request nests 6 levels
# Multipart forms: a picture or two and a few members, never thousands of fields.
MAX_FORM_FIELDS = 64
MAX_FORM_FILES = 4
MAX_FORM_PART_BYTES = 1024 * 1024  # a form field that is not a file


def body_seconds() -> float:
    """FACELEDGER_BODY_SECONDS (default 30): how long a request's body may take to arrive."""
    return float(os.environ.get("FACELEDGER_BODY_SECONDS") or 30.0)


def check_declared_length(request: Request, limit: int = MAX_BODY_BYTES) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise ImageTooLargeException(
            f"The request body is {int(declared)} bytes; at most {limit} are accepted."
        )
    return int(declared)


async def within_time(work, what: str = "The request body"):
    """`await work` or RequestTimeoutException once body_seconds() have passed."""
    seconds = body_seconds()
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        raise RequestTimeoutException(f"{what} did not arrive within {seconds:g} seconds.") from None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused as soon as it passes `limit` or takes too long to arrive.
    A client that goes away raises starlette's ClientDisconnect."""
    check_declared_length(request, limit)

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ImageTooLargeException(f"The request body is over {limit} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    return await within_time(collect())


async def read_form(request: Request):
    """A multipart or urlencoded form under the same limits; its errors in Rekognition's terms."""
    if (
        check_declared_length(request) is None
    ):  # a chunked upload could not be held to the limit before it is spooled
        raise SerializationException("Uploads need a Content-Length header.")
    try:
        return await within_time(
            request.form(
                max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART_BYTES
            )
        )
    except HTTPException as e:  # the multipart parser's: no boundary, too many fields, a part too large
        raise SerializationException(f"The form cannot be read: {str(e.detail)[:200]}") from None


def parse_json(text: bytes | str, where: str = "The request body"):
    """JSON text as Python values; SerializationException for anything else, never a crash."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise SerializationException(f"{where} nests too deeply.") from None
    except json.JSONDecodeError as e:
        raise SerializationException(
            f"{where} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}."
        ) from None
    except UnicodeDecodeError:
        raise SerializationException(f"{where} is not UTF-8 text.") from None
    except ValueError:  # a number of thousands of digits, which Python refuses to convert
        raise SerializationException(f"{where} holds a number too long to read.") from None
    _check_depth(value, where)
    return value


def _check_depth(value, where: str) -> None:
    level = [value]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            v
            for item in level
            if isinstance(item, (list, dict))
            for v in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return
    if any(isinstance(item, (list, dict)) for item in level):
        raise SerializationException(f"{where} nests deeper than {MAX_JSON_DEPTH} levels.")


async def read_json_object(request: Request, where: str = "The request body") -> dict:
    """The body as a JSON object (an empty body is {})."""
    body = await read_body(request)
    if not body:
        return {}
    value = parse_json(body, where)
    if not isinstance(value, dict):
        raise SerializationException(f"{where} must be a JSON object.")
    return value
