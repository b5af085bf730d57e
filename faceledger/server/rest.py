"""The native REST API: resource-shaped routes over the same operations as Rekognition's
protocol. Members keep Rekognition's names everywhere (path, query, JSON body, form fields), so
one vocabulary serves both; images come as multipart files or as JSON `{"Bytes": base64}`.
Request and response schemas in the OpenAPI document are made from botocore's service model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from ..errors import (
    FaceLedgerError,
    InvalidParameterException,
    ResourceNotFoundException,
    SerializationException,
    UnknownOperationException,
)
from . import model
from .auth import Principal
from .bodies import parse_json, read_form, read_json_object
from .dispatch import request_context, run
from .rekognition import lower_headers
from .responses import rest_error


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    operation: str
    summary: str
    files: dict[str, str] = field(default_factory=dict)  # form field -> Image member
    adapt: Callable[[dict], dict] | None = None  # path-shaped params -> the operation's
    extras: dict[str, str] = field(default_factory=dict)  # faceledger's members -> the engine's keyword
    native: tuple[str, ...] | None = None  # faceledger's own operation: its members (no botocore shape)


def _one_face(params: dict) -> dict:
    params["FaceIds"] = [params.pop("FaceId")]
    return params


C = "/collections/{CollectionId}"
S = "/streams/{Name}"
# faceledger's own member of every operation that looks for faces: which detector (vision/detect.py).
DETECTOR = {"Detector": "detector"}
ROUTES = [
    Route(
        "POST",
        "/detect-faces",
        "DetectFaces",
        "Detect faces in an image",
        {"Image": "Image"},
        extras=DETECTOR,
    ),
    Route(
        "POST",
        "/compare-faces",
        "CompareFaces",
        "Compare the largest face of one image with the faces of another",
        {"SourceImage": "SourceImage", "TargetImage": "TargetImage"},
        extras=DETECTOR,
    ),
    Route(
        "POST",
        "/detect-labels",
        "DetectLabels",
        "Detect objects, scenes and image properties in an image",
        {"Image": "Image"},
    ),
    Route(
        "POST",
        "/liveness",
        "DetectLiveness",
        "Passive liveness of each face of a still image (faceledger's own)",
        {"Image": "Image"},
        extras=DETECTOR,
        native=("Image", "LivenessThreshold"),
    ),
    Route("GET", "/collections", "ListCollections", "List collections"),
    Route(
        "POST",
        "/collections",
        "CreateCollection",
        "Create a collection, optionally with a policy",
        extras={"Policy": "policy"},
    ),
    Route("GET", C, "DescribeCollection", "Describe a collection"),
    Route("DELETE", C, "DeleteCollection", "Delete a collection and all its faces"),
    Route(
        "POST",
        f"{C}/faces",
        "IndexFaces",
        "Index the faces of an image",
        {"Image": "Image"},
        extras={"LivenessThreshold": "liveness_threshold", **DETECTOR},
    ),
    Route("GET", f"{C}/faces", "ListFaces", "List faces"),
    Route("POST", f"{C}/faces/delete", "DeleteFaces", "Delete faces"),
    Route("DELETE", f"{C}/faces/{{FaceId}}", "DeleteFaces", "Delete one face", adapt=_one_face),
    Route(
        "POST",
        f"{C}/search",
        "SearchFacesByImage",
        "Search with the largest face of an image",
        {"Image": "Image"},
        extras=DETECTOR,
    ),
    Route("GET", f"{C}/faces/{{FaceId}}/search", "SearchFaces", "Search with a stored face"),
    Route("GET", f"{C}/users", "ListUsers", "List users"),
    Route("POST", f"{C}/users", "CreateUser", "Create a user"),
    Route("DELETE", f"{C}/users/{{UserId}}", "DeleteUser", "Delete a user (its faces stay)"),
    Route("POST", f"{C}/users/{{UserId}}/faces", "AssociateFaces", "Associate faces with a user"),
    Route(
        "POST",
        f"{C}/users/{{UserId}}/faces/disassociate",
        "DisassociateFaces",
        "Disassociate faces from a user",
    ),
    Route("GET", f"{C}/users/{{UserId}}/search", "SearchUsers", "Search users with a user's faces"),
    Route("GET", f"{C}/faces/{{FaceId}}/search-users", "SearchUsers", "Search users with a stored face"),
    Route(
        "POST",
        f"{C}/users/search",
        "SearchUsersByImage",
        "Search users with the largest face of an image",
        {"Image": "Image"},
        extras=DETECTOR,
    ),
    Route(
        "POST",
        "/videos/face-detection",
        "StartFaceDetection",
        "Start finding the faces of a stored video",
        extras={"SampleRate": "sample_rate", **DETECTOR},
    ),
    Route(
        "GET", "/videos/face-detection/{JobId}", "GetFaceDetection", "A face detection job's status and faces"
    ),
    Route(
        "POST",
        "/videos/face-search",
        "StartFaceSearch",
        "Start searching a collection for the people of a stored video",
        extras={"SampleRate": "sample_rate", **DETECTOR},
    ),
    Route("GET", "/videos/face-search/{JobId}", "GetFaceSearch", "A face search job's status and persons"),
    Route(
        "POST",
        "/videos/label-detection",
        "StartLabelDetection",
        "Start labelling the objects and scenes of a stored video",
        extras={"SampleRate": "sample_rate"},
    ),
    Route(
        "GET",
        "/videos/label-detection/{JobId}",
        "GetLabelDetection",
        "A label detection job's status and labels, by timestamp or segment",
    ),
    Route(
        "POST",
        "/streams",
        "CreateStreamProcessor",
        "Create a stream processor: a camera's stream searched against a collection",
        extras={"SampleRate": "sample_rate"},
    ),
    Route("GET", "/streams", "ListStreamProcessors", "List stream processors"),
    Route("GET", f"{S}", "DescribeStreamProcessor", "A stream processor's settings, status and figures"),
    Route("POST", f"{S}/start", "StartStreamProcessor", "Start a stream processor"),
    Route("POST", f"{S}/stop", "StopStreamProcessor", "Stop a stream processor"),
    Route("PATCH", f"{S}", "UpdateStreamProcessor", "Change a stream processor's regions of interest"),
    Route("DELETE", f"{S}", "DeleteStreamProcessor", "Delete a stopped stream processor"),
    # faceledger's own
    Route("GET", "/stream-endpoints", "ListStreamEndpoints", "Stream sources and sinks by ARN", native=()),
    Route(
        "PUT",
        "/stream-endpoints",
        "PutStreamEndpoint",
        "Map a Kinesis ARN to a camera URL (source) or a webhook or file (sink)",
        native=("Arn", "Url"),
    ),
    Route(
        "POST",
        "/stream-endpoints/delete",
        "DeleteStreamEndpoint",
        "Forget a stream endpoint",
        native=("Arn",),
    ),
    Route("GET", f"{C}/policy", "GetCollectionPolicy", "A collection's policy", native=()),
    Route(
        "PUT",
        f"{C}/policy",
        "PutCollectionPolicy",
        "Change a collection's policy (members not given stay)",
        native=("Policy",),
    ),
    Route(
        "GET",
        "/ledger",
        "ListLedger",
        "Ledger entries, filtered",
        native=("CollectionId", "CaseId", "Actor", "Operation", "Since", "Until", "MaxResults", "NextToken"),
    ),
    Route(
        "GET",
        "/ledger/verify",
        "VerifyLedger",
        "Verify the ledger's hash chain",
        native=("HeadSeq", "HeadHash"),
    ),
    Route(
        "GET",
        "/review",
        "ListReviewCandidates",
        "Review candidates (Status PENDING, CONFIRMED, REJECTED or ALL)",
        native=("CollectionId", "Status", "MaxResults", "NextToken"),
    ),
    Route(
        "GET",
        f"{C}/review",
        "ListReviewCandidates",
        "A collection's review candidates",
        native=("Status", "MaxResults", "NextToken"),
    ),
    Route(
        "POST",
        "/review/{CandidateId}",
        "ReviewCandidate",
        "Confirm or reject a candidate",
        native=("Decision", "Note"),
    ),
    Route(
        "POST",
        f"{C}/review/{{CandidateId}}",
        "ReviewCandidate",
        "Confirm or reject a candidate of this collection",
        native=("Decision", "Note"),
    ),
    Route(
        "GET",
        "/identifications",
        "ListIdentifications",
        "Matches two reviewers confirmed",
        native=("CollectionId", "MaxResults", "NextToken"),
    ),
    Route(
        "GET",
        f"{C}/identifications",
        "ListIdentifications",
        "This collection's confirmed matches",
        native=("MaxResults", "NextToken"),
    ),
    Route(
        "POST",
        f"{C}/erase",
        "Erase",
        "Erase everything about an ExternalImageId or a UserId",
        native=("ExternalImageId", "UserId"),
    ),
    Route(
        "POST",
        "/retention/run",
        "RunRetention",
        "Delete the faces older than their collection's retention",
        native=(),
    ),
]

NATIVE_INTEGERS = {"MaxResults", "HeadSeq", "CandidateId"}
# Members of faceledger's own that are numbers, and faceledger's members of Rekognition's operations.
NATIVE_KINDS = {
    **{n: "integer" for n in NATIVE_INTEGERS},
    "LivenessThreshold": "float",
    "SampleRate": "float",
}
CONTEXT_MEMBERS = ("Purpose", "CaseId", "MaxFalseMatchRate")


async def principal(request: Request) -> Principal:
    service = request.app.state.faceledger
    who = await run_in_threadpool(service.auth.bearer, lower_headers(request))
    request.state.access_key = who.name
    return who


def _coerce(operation: str, name: str, values: list[str]):
    """A form or query value as the member's type in the service model."""
    try:
        member = model.input_shape(operation).members.get(name)
    except Exception:  # faceledger's own operation: no shape
        member = None
    kind = member.type_name if member is not None else NATIVE_KINDS.get(name, "string")
    try:
        if kind == "list":
            if len(values) == 1 and values[0].lstrip().startswith("["):
                return parse_json(values[0], name)
            return [_coerce_scalar(member.member.type_name, v, name) for v in values]
        return _coerce_scalar(kind, values[-1], name)
    except ValueError:
        raise SerializationException(f"{name}={values[-1][:100]!r} is not a valid {kind}.") from None


def _coerce_scalar(kind: str, value: str, name: str):
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise ValueError(value)
        return value.lower() == "true"
    if kind in ("structure", "map"):
        return parse_json(value, name)
    return value


async def _body_params(request: Request, route: Route) -> dict:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await read_json_object(request)
    form = await read_form(request)
    params: dict = {}
    for name in form.keys():
        values = form.getlist(name)
        if name in route.files:
            upload = values[0]
            if isinstance(upload, str):
                raise SerializationException(f"Form field {name} must be a file.")
            params[route.files[name]] = {"Bytes": await upload.read()}
        else:
            params[name] = _coerce(route.operation, name, [str(v) for v in values])
    return params


def _endpoint(route: Route):
    async def endpoint(request: Request, who: Principal = Depends(principal)):
        request.state.operation = route.operation
        params = dict(await _body_params(request, route)) if route.method in ("POST", "PUT") else {}
        for name in request.query_params.keys():
            params[name] = _coerce(route.operation, name, request.query_params.getlist(name))
        params.update(request.path_params)
        if "CandidateId" in params:
            params["CandidateId"] = _coerce(route.operation, "CandidateId", [str(params["CandidateId"])])
        if route.adapt:
            params = route.adapt(params)
        # Purpose, CaseId, MaxFalseMatchRate go with Rekognition's operations; faceledger's own
        # take them (CaseId as a filter) as members.
        given = {k: params.pop(k, None) for k in CONTEXT_MEMBERS} if route.native is None else {}
        context = request_context(lower_headers(request), given)
        extras = {kw: params.pop(name) for name, kw in route.extras.items() if name in params}
        if route.native is not None:
            allowed = set(route.native) | set(_path_names(route.path))
            unknown = set(params) - allowed
            if unknown:
                raise InvalidParameterException(
                    f"Unknown member(s) {', '.join(sorted(unknown))}: {route.operation} takes "
                    f"{', '.join(sorted(allowed)) or 'none'}."
                )
            if params.get("Status") == "ALL":
                params["Status"] = None
            if "Image" in params:  # checked as Rekognition's Image: bytes or an S3Object, never a path
                params["Image"] = model.parse_member("Image", params["Image"], "Image")
            checked = params
        else:
            checked = model.parse_request(route.operation, params)
        result, timing = await run(
            request.app.state.faceledger, who, route.operation, {**checked, **extras}, context
        )
        return JSONResponse(result, headers={"Server-Timing": timing})

    endpoint.__name__ = f"{route.operation}_{route.method.lower()}"
    return endpoint


# -- OpenAPI, from the service model ---------------------------------------------------------


def shape_schema(shape, depth: int = 0) -> dict:
    kind = shape.type_name
    doc = (
        {"description": shape.documentation[:300]}
        if getattr(shape, "documentation", "") and depth == 0
        else {}
    )
    if depth > 12:
        return {}
    if kind == "structure":
        return {
            "type": "object",
            "properties": {n: shape_schema(m, depth + 1) for n, m in shape.members.items()},
            **({"required": list(shape.required_members)} if shape.required_members else {}),
        }
    if kind == "list":
        return {"type": "array", "items": shape_schema(shape.member, depth + 1)}
    if kind == "map":
        return {"type": "object", "additionalProperties": shape_schema(shape.value, depth + 1)}
    if kind == "string":
        out = {"type": "string"}
        if shape.metadata.get("enum"):
            out["enum"] = list(shape.metadata["enum"])
        return out
    if kind in ("integer", "long"):
        return {"type": "integer"}
    if kind in ("float", "double"):
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "blob":
        return {"type": "string", "format": "byte", **doc}
    return {}


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _native_schema(n: str) -> dict:
    """The schema of a member of faceledger's own (it has no botocore shape)."""
    if n in ("Policy", "Image"):
        return {"type": "object"}
    return {"type": {"integer": "integer", "float": "number"}.get(NATIVE_KINDS.get(n, ""), "string")}


def native_openapi(route: Route) -> dict:
    path = _path_names(route.path)
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in path]
    members = [n for n in route.native if n not in path] + list(route.extras)
    schema = _native_schema

    extra: dict = {"parameters": params}
    if route.method == "GET":
        params += [{"name": n, "in": "query", "required": False, "schema": schema(n)} for n in members]
    elif members:
        content = {
            "application/json": {"schema": {"type": "object", "properties": {n: schema(n) for n in members}}}
        }
        if route.files:
            form = {
                n: ({"type": "string", "format": "binary"} if n in route.files else schema(n))
                for n in members
            }
            content["multipart/form-data"] = {"schema": {"type": "object", "properties": form}}
        extra["requestBody"] = {"content": content}
    return extra


def _tag(route: Route) -> str:
    if route.files:  # a picture goes in: DetectFaces, IndexFaces, DetectLiveness, ...
        return "collections" if route.path.startswith("/collections") else "images"
    if route.native is not None:
        return "accountability"
    return (
        "collections"
        if route.path.startswith("/collections")
        else "video"
        if route.path.startswith("/videos")
        else "images"
    )


def openapi_extra(route: Route) -> dict:
    if route.native is not None:
        return native_openapi(route)
    op = model.service_model().operation_model(route.operation)
    in_path = set(_path_names(route.path))
    if route.adapt is _one_face:
        in_path.add("FaceIds")
    members = {n: m for n, m in op.input_shape.members.items() if n not in in_path}
    extra: dict = {
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in _path_names(route.path)
        ],
        "responses": {
            "200": {
                "description": f"{route.operation}'s response, as Rekognition's",
                "content": {"application/json": {"schema": shape_schema(op.output_shape)}},
            },
            "default": {
                "description": "An error: Code is the Rekognition error type",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}},
                        }
                    }
                },
            },
        },
    }
    if route.method == "GET":
        extra["parameters"] += [
            {
                "name": n,
                "in": "query",
                "required": n in op.input_shape.required_members,
                "schema": shape_schema(m, 1),
            }
            for n, m in members.items()
        ]
    elif members:
        required = [n for n in op.input_shape.required_members if n in members]
        properties = {n: shape_schema(m, 1) for n, m in members.items()}
        properties.update({n: _native_schema(n) for n in route.extras})  # faceledger's own members
        json_schema = {"type": "object", "properties": properties}
        if required:
            json_schema["required"] = required
        content = {"application/json": {"schema": json_schema}}
        if route.files:
            form = {
                n: ({"type": "string", "format": "binary"} if n in route.files else {"type": "string"})
                for n in [*members, *route.extras]
            }
            content["multipart/form-data"] = {"schema": {"type": "object", "properties": form}}
        extra["requestBody"] = {"required": bool(required), "content": content}
    return extra


router = APIRouter(prefix="/v1")
for _route in ROUTES:
    router.add_api_route(
        _route.path,
        _endpoint(_route),
        methods=[_route.method],
        summary=_route.summary,
        description=(
            f"faceledger's `{_route.operation}`."
            if _route.native is not None
            else f"Rekognition's `{_route.operation}`: the same members and the same response."
        ),
        tags=[_tag(_route)],
        openapi_extra=openapi_extra(_route),
        response_class=JSONResponse,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the REST API in one shape, {"Code", "Message"}: the operations', the
    framework's (no such route, wrong method, a body FastAPI could not read) and bugs alike."""

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            error = ResourceNotFoundException(f"No such path: {request.url.path[:200]}.")
        elif exc.status_code == 405:
            error = UnknownOperationException(f"{request.method} is not served at {request.url.path[:200]}.")
        else:
            error = SerializationException(str(exc.detail)[:200])
        response = rest_error(request, error)
        response.status_code = exc.status_code
        return response

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return rest_error(
            request, InvalidParameterException("The request does not have the members this route takes.")
        )

    # Handled where they are raised (a handler for Exception itself answers, then re-raises).
    for expected in (FaceLedgerError, ClientDisconnect):
        app.add_exception_handler(expected, rest_error)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        return rest_error(request, exc)
