"""An error as a response, for either protocol: Rekognition's JSON 1.1 errors (`__type`,
`message`, `x-amzn-ErrorType`) at `POST /`, `{"Code", "Message"}` in the native REST API. Every
failure a handler meets passes through `error_for`, so a bug, a client that went away and a
request that took too long are each logged as what they are."""

from __future__ import annotations

import json
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..errors import FaceLedgerError, InternalServerError

REKOGNITION_CONTENT_TYPE = "application/x-amz-json-1.1"
CLIENT_CLOSED = 499  # nginx's status for a request whose client went away first: logged, never sent

log = logging.getLogger("faceledger.server")


def error_for(request: Request, exc: BaseException) -> FaceLedgerError | None:
    """The error to answer `exc` with (None: the client is gone, answer nothing), noted for the
    request log; unexpected exceptions are logged with their traceback and hidden from the caller."""
    state = request.state
    if isinstance(exc, ClientDisconnect):
        state.error = "ClientDisconnect"
        return None
    if isinstance(exc, FaceLedgerError):
        state.error = exc.code
        if exc.status >= 500:
            log.error("request %s: %s: %s", getattr(state, "request_id", "?"), exc.code, exc.message)
        return exc
    state.error = "InternalServerError"
    if _catalog_unreachable(exc):  # PostgreSQL stopped or restarting: nothing to debug here
        log.error("request %s: the catalog is unreachable: %s", getattr(state, "request_id", "?"), exc.orig)
        return InternalServerError("The catalog could not be reached; retry shortly.")
    log.error("request %s failed", getattr(state, "request_id", "?"), exc_info=exc)
    return InternalServerError("The service failed to answer; see its log.")


def _catalog_unreachable(exc: BaseException) -> bool:
    """A lost or refused database connection (the next request reconnects: the pool checks
    each connection before use)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def rekognition_error(request: Request, exc: BaseException) -> Response:
    error = error_for(request, exc)
    if error is None:
        return Response(status_code=CLIENT_CLOSED)
    return Response(
        json.dumps(error.to_dict()),
        status_code=error.status,
        media_type=REKOGNITION_CONTENT_TYPE,
        headers={"x-amzn-RequestId": request.state.request_id, "x-amzn-ErrorType": error.code},
    )


def rest_error(request: Request, exc: BaseException) -> Response:
    error = error_for(request, exc)
    if error is None:
        return Response(status_code=CLIENT_CLOSED)
    return JSONResponse({"Code": error.code, "Message": error.message}, status_code=error.rest_status)
