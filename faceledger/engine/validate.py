"""Parameter checks with Rekognition's patterns and ranges, and opaque pagination tokens."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence

from ..errors import InvalidPaginationTokenException, InvalidParameterException

COLLECTION_ID = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,128}")
EXTERNAL_IMAGE_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,255}")
FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REQUEST_TOKEN = re.compile(r"[a-zA-Z0-9\-_]{1,64}")


def _match(pattern: re.Pattern, value, name: str, hint: str):
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameterException(f"{name} {value!r} is not valid: {hint}.")
    return value


def collection_id(value) -> str:
    return _match(COLLECTION_ID, value, "CollectionId", "1-255 characters of a-z, A-Z, 0-9, _ . -")


def user_id(value) -> str:
    return _match(USER_ID, value, "UserId", "1-128 characters of a-z, A-Z, 0-9, _ . - :")


def external_image_id(value) -> str | None:
    if value is None:
        return None
    return _match(EXTERNAL_IMAGE_ID, value, "ExternalImageId", "1-255 characters of a-z, A-Z, 0-9, _ . - :")


def face_id(value) -> str:
    return _match(FACE_ID, value, "FaceId", "a lower-case UUID")


def face_ids(values, *, most: int | None = None) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidParameterException("FaceIds must be a non-empty list of FaceIds.")
    if most is not None and len(values) > most:
        raise InvalidParameterException(f"FaceIds holds {len(values)} ids; at most {most} are allowed.")
    return [face_id(v) for v in values]


def request_token(value) -> str | None:
    if value is None:
        return None
    return _match(REQUEST_TOKEN, value, "ClientRequestToken", "1-64 characters of a-z, A-Z, 0-9, - _")


def integer(value, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterException(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
    return value


def percentage(value, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 100.0:
        raise InvalidParameterException(f"{name} must be a number from 0 to 100; got {value!r}.")
    return float(value)


def make_token(position) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def read_token(token, kind: type):
    """The position a NextToken stands for, or None for the first page."""
    if token is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(position, kind) and not (isinstance(position, int) and not 0 <= position < 2**63):
            return position
    except (ValueError, AttributeError, TypeError):
        pass
    raise InvalidPaginationTokenException("NextToken is not one this service gave out.")
