"""The operations the HTTP surfaces serve, and the one place where a request meets the engine:
rights are checked, the engine method runs, the response becomes Rekognition's JSON."""

from __future__ import annotations

import re

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
