"""Checks a response against botocore's service model for rekognition (2016-06-27): the spec."""

from __future__ import annotations

import botocore.session

_MODEL = botocore.session.get_session().get_service_model("rekognition")


def output_shape(operation: str):
    return _MODEL.operation_model(operation).output_shape


def problems(shape, value, where: str = "$") -> list[str]:
    """Every way `value` departs from `shape`: unknown members, wrong types, bad enum values."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        out = []
        for key, member in value.items():
            if key not in shape.members:
                out.append(f"{where}.{key}: not a member of {shape.name}")
            else:
                out += problems(shape.members[key], member, f"{where}.{key}")
        out += [f"{where}.{k}: required member missing" for k in shape.required_members if k not in value]
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(value) for p in problems(shape.member, v, f"{where}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string"]
        enum = shape.metadata.get("enum")
        return [f"{where}: {value!r} not in {shape.name}"] if enum and value not in enum else []
    if kind in ("float", "double"):
        return (
            []
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else [f"{where}: expected a number"]
        )
    if kind in ("integer", "long"):
        return (
            []
            if isinstance(value, int) and not isinstance(value, bool)
            else [f"{where}: expected an integer"]
        )
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    return []


# faceledger's one addition to Rekognition's responses (botocore ignores members it does not know)
EXTENSION = "FaceLedger"


def assert_matches(operation: str, response: dict) -> None:
    response = {k: v for k, v in response.items() if k != EXTENSION}
    found = problems(output_shape(operation), response)
    assert not found, "\n".join(found)
