"""Requests checked against botocore's service model for rekognition (2016-06-27), the spec of
the wire protocol: required members, types, lengths, patterns, enums and ranges, with the
messages AWS's own validation gives. Blobs arrive base64-encoded and leave this module as bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache

from ..errors import InvalidParameterException, SerializationException


@cache
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("rekognition")


def input_shape(operation: str):
    return service_model().operation_model(operation).input_shape


# Kinesis ARNs that faceledger also takes as the URL of what stands in for the stream.
URL_OR_ARN = {
    "KinesisVideoArn": ("rtsp://", "rtsps://", "http://", "https://"),
    "KinesisDataArn": ("http://", "https://", "file:///"),
}


@cache
def _pattern(text: str) -> re.Pattern | None:
    try:
        return re.compile(text)
    except re.error:  # a Java-only construct: leave that check to the engine
        return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _fail(where: str, value, constraint: str):
    shown = value if isinstance(value, (str, int, float)) else type(value).__name__
    if isinstance(shown, str) and len(shown) > 100:  # a hostile value is not echoed whole
        shown = shown[:100] + "..."
    raise InvalidParameterException(
        f"1 validation error detected: Value '{shown}' at '{where}' failed to satisfy constraint: "
        f"{constraint}"
    )


def _check(shape, value, where: str):
    """`value` converted for the engine (blobs decoded); raises on the first problem."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise SerializationException(f"Expected an object at '{where or 'request'}'.")
        unknown = [k for k in value if k not in shape.members]
        if unknown:
            raise InvalidParameterException(
                f"Unknown member '{unknown[0]}' at '{where or shape.name}': {shape.name} has "
                f"{', '.join(shape.members) or 'no members'}."
            )
        out = {}
        for name in shape.required_members:
            if value.get(name) is None:
                _fail(f"{where}.{_lower_first(name)}".lstrip("."), None, "Member must not be null")
        for name, member in value.items():
            if member is None:
                continue
            out[name] = _check(shape.members[name], member, f"{where}.{_lower_first(name)}".lstrip("."))
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise SerializationException(f"Expected a list at '{where}'.")
        _length(meta, len(value), value, where)
        return [_check(shape.member, v, f"{where}.{i + 1}.member") for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise SerializationException(f"Expected an object at '{where}'.")
        _length(meta, len(value), value, where)
        return {_check(shape.key, k, where): _check(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            raise SerializationException(f"Expected a string at '{where}'.")
        _length(meta, len(value), value, where)
        enum = meta.get("enum")
        if enum and value not in enum:
            _fail(where, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        if shape.name in URL_OR_ARN and value.startswith(URL_OR_ARN[shape.name]):
            pattern = None  # a stream processor's camera or sink given by URL (engine/streams.py checks it)
        if pattern and (p := _pattern(pattern)) is not None and not p.fullmatch(value):
            _fail(where, value, f"Member must satisfy regular expression pattern: {pattern}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SerializationException(f"Expected a whole number at '{where}'.")
        _range(meta, value, where)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializationException(f"Expected a number at '{where}'.")
        _range(meta, value, where)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SerializationException(f"Expected true or false at '{where}'.")
        return value
    if kind == "blob":
        if isinstance(value, (bytes, bytearray)):  # from a native surface: already raw
            return bytes(value)
        if not isinstance(value, str):
            raise SerializationException(f"Expected base64 text at '{where}'.")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"'{where}' is not valid base64.") from None
        # The size limit is the engine's, so that an oversized image is ImageTooLargeException.
        if not data and meta.get("min", 0) >= 1:
            _fail(where, "", "Member must have length greater than or equal to 1")
        return data
    return value


def _length(meta: dict, n: int, value, where: str) -> None:
    if "min" in meta and n < meta["min"]:
        _fail(where, value, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        _fail(where, value, f"Member must have length less than or equal to {meta['max']}")


def _range(meta: dict, value, where: str) -> None:
    if "min" in meta and value < meta["min"]:
        _fail(where, value, f"Member must have value greater than or equal to {meta['min']}")
    if "max" in meta and value > meta["max"]:
        _fail(where, value, f"Member must have value less than or equal to {meta['max']}")


def parse_member(shape_name: str, value, where: str):
    """One value checked against a named shape of the service model (for faceledger's own operations)."""
    return _check(service_model().shape_for(shape_name), value, where)


def parse_request(operation: str, body) -> dict:
    """The operation's parameters, checked against its input shape."""
    return _check(input_shape(operation), body, "")
