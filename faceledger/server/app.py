"""The HTTP service: one ASGI app with Rekognition's protocol at `POST /`, the native REST API
under `/v1`, its OpenAPI document and docs page, and `/health`. Settings come from the
environment so that every uvicorn worker process builds the same app."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .. import __version__

log = logging.getLogger("faceledger.server")
access_log = logging.getLogger("faceledger.access")


@dataclass(frozen=True)
class Settings:
    home: str | None = None
    database_url: str | None = None
    region: str | None = None  # None: a signature may name any region
    allow_anonymous: bool = False
    rate_limit: float | None = None  # requests a second per key, for the whole service
    workers: int = 1
    engine_slots: int = 2  # operations computing at once in one worker process
    warm_up: bool = True
    retention_interval: float = 3600.0  # seconds between retention sweeps; 0: none
    video_jobs: bool = True  # run stored-video jobs in this process
    streams: bool = True  # run stream processors in this process

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        rate = env.get("FACELEDGER_RATE_LIMIT")
        return cls(
            home=env.get("FACELEDGER_HOME") or None,
            database_url=env.get("FACELEDGER_DATABASE_URL") or None,
            region=env.get("FACELEDGER_REGION") or None,
            allow_anonymous=env.get("FACELEDGER_ALLOW_ANONYMOUS") == "1",
            rate_limit=float(rate) if rate else None,
            workers=int(env.get("FACELEDGER_WORKERS") or 1),
            engine_slots=int(env.get("FACELEDGER_ENGINE_SLOTS") or 2),
            retention_interval=float(env.get("FACELEDGER_RETENTION_INTERVAL") or 3600),
            video_jobs=env.get("FACELEDGER_VIDEO_JOBS", "1") != "0",
            streams=env.get("FACELEDGER_STREAMS", "1") != "0",
            warm_up=env.get("FACELEDGER_WARM_UP", "1") != "0",
        )


class Service:
    """What every request handler needs: the engine and the authenticator."""

    def __init__(self, settings: Settings):
        from ..engine import FaceLedger
        from .auth import Authenticator
        from .sessions import SessionTokens

        self.settings = settings
        self.engine_slots = asyncio.Semaphore(max(1, settings.engine_slots))
        self.engine = FaceLedger(home=settings.home, database_url=settings.database_url)
        self.auth = Authenticator(
            self.engine.keys,
            region=settings.region,
            allow_anonymous=settings.allow_anonymous,
            sessions=SessionTokens.for_home(self.engine.home),
            limiter=self._limiter(settings),
        )

    def _limiter(self, settings: Settings):
        """On PostgreSQL the buckets are in the catalog, counted across every worker and node; on
        SQLite (one machine) each worker process keeps its own, its share of the service's rate,
        which spares every request a durable write."""
        from .auth import RateLimiter, SharedRateLimiter

        if not settings.rate_limit:
            return RateLimiter(None)
        if self.engine.catalog.engine.dialect.name == "postgresql":
            return SharedRateLimiter(self.engine.catalog, settings.rate_limit)
        return RateLimiter(settings.rate_limit / max(1, settings.workers))

    def warm_up(self) -> None:
        """Load the default detector's models (by running it once on a blank picture), the face
        mesh, the alignment and the embedding network now, not on the first request."""
        import numpy as np

        from ..vision import dlib_runtime, facemesh, models
        from ..vision.detectors import make_detector

        make_detector(self.engine.default_detector).detect(np.zeros((120, 160, 3), np.uint8))
        facemesh.warm_up()
        models.shape_predictor_5()
        dlib_runtime.warm_up()


class RequestLog:
    """Pure ASGI middleware: a request id for every request and one JSON log line after it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        state["request_id"] = str(uuid.uuid4())
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            entry = {
                "request_id": state["request_id"],
                "method": scope["method"],
                "path": scope["path"],
                "status": status["code"],
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "client": scope["client"][0] if scope.get("client") else None,
            }
            for name in ("operation", "access_key", "error"):
                if name in state:
                    entry[name] = state[name]
            access_log.info(json.dumps(entry))


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("faceledger.access", "faceledger.server"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def create_app(settings: Settings | None = None):
    from fastapi import FastAPI
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    from . import docs, metrics, rekognition, rest, ui, ui_api

    settings = settings or Settings.from_env()
    setup_logging()

    @asynccontextmanager
    async def lifespan(app):
        service = Service(settings)
        app.state.faceledger = service
        if settings.warm_up:
            await run_in_threadpool(service.warm_up)
        log.info(json.dumps({"event": "ready", "pid": os.getpid(), "home": str(service.engine.home)}))
        sweeper = asyncio.create_task(retention_loop(service)) if settings.retention_interval > 0 else None
        from ..engine.stream_runner import StreamRunner, capacity
        from ..engine.video_jobs import JobRunner

        runner = JobRunner(service.engine.video_jobs).start() if settings.video_jobs else None
        # The node's stream processor slots, shared among its worker processes.
        slots = max(1, capacity() // settings.workers)
        streams = StreamRunner(service.engine, slots=slots).start() if settings.streams else None
        try:
            yield
        finally:
            if sweeper:
                sweeper.cancel()
            if runner:
                runner.stop()
            if streams:
                await run_in_threadpool(streams.stop)
            await run_in_threadpool(service.engine.close)
            log.info(json.dumps({"event": "stopped", "pid": os.getpid()}))

    app = FastAPI(
        title="faceledger",
        version=__version__,
        description=(
            "Self-hosted face analysis. The native REST API is below; Rekognition's own JSON 1.1 "
            "protocol (boto3, the AWS CLI) is served at `POST /`. Authenticate with "
            "`Authorization: Bearer ACCESS_KEY_ID:SECRET_ACCESS_KEY`."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RequestLog)
    app.add_route("/", rekognition.handle, methods=["POST"], include_in_schema=False)

    @app.get("/health", tags=["service"], summary="Liveness and readiness")
    async def health():
        service = app.state.faceledger
        try:
            await run_in_threadpool(_catalog_ping, service)
        except Exception as e:  # the catalog is unreachable: not ready (details go to the log only)
            log.error(json.dumps({"event": "health", "error": f"{type(e).__name__}: {e}"}))
            return JSONResponse(
                {"Status": "unavailable", "Reason": "the catalog does not answer"}, status_code=503
            )
        return {"Status": "ok", "Version": __version__}

    app.include_router(rest.router)
    app.include_router(ui_api.router)
    app.include_router(metrics.router)
    rest.install_error_handlers(app)
    docs.mount(app)
    ui.mount(app)
    return app


async def retention_loop(service: Service) -> None:
    """Delete faces past their collection's retention, now and then every interval. Each worker
    runs one; the sweeps are transactions, so running twice deletes nothing twice."""
    from starlette.concurrency import run_in_threadpool

    from ..accountability.ledger import acting

    def sweep():
        with acting("service:retention"):
            return service.engine.run_retention()

    while True:
        try:
            done = await run_in_threadpool(sweep)
            if done["FacesDeleted"]:
                log.info(
                    json.dumps(
                        {
                            "event": "retention",
                            "deleted": done["FacesDeleted"],
                            "collections": done["Collections"],
                        }
                    )
                )
        except Exception:  # a failed sweep is logged and tried again later, never fatal
            log.exception("retention sweep failed")
        await asyncio.sleep(service.settings.retention_interval)


def _catalog_ping(service: Service) -> None:
    from sqlalchemy import text

    with service.engine.catalog.read() as conn:
        conn.execute(text("SELECT 1"))


def app_from_env():
    """The factory uvicorn's worker processes call."""
    from .serve import GRACEFUL_SHUTDOWN, SUPERVISOR_PID

    supervisor = os.environ.pop(SUPERVISOR_PID, None)  # popped: this worker's own children have other parents
    if (
        supervisor
    ):  # SIGTERM: stop accepting at once (freeing the port), answer the requests in flight, then exit
        import signal

        from ..processes.lifeline import die_with_parent

        die_with_parent(int(supervisor), signal.SIGTERM, grace=GRACEFUL_SHUTDOWN + 10)
    return create_app(Settings.from_env())
