"""GET /metrics: the service's figures in Prometheus's text format, for a scraper holding an
access key with the ListStreamProcessors right (Authorization: Bearer KEY:SECRET). Today: each
stream processor's state, lag, samples, drops, reconnects, searches and matches, as its node
last reported them (every second), and the node's processor slots."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from ..store import catalog as tables
from .auth import Principal
from .dispatch import authorize
from .rest import principal

router = APIRouter(tags=["service"])

# metric, the stats member it comes from, its type, help
STREAM_FIGURES = (
    ("faceledger_stream_lag_milliseconds", "LagMillisP50", "gauge", "decoding to event, p50 of the last 200"),
    ("faceledger_stream_frames_decoded_total", "FramesDecoded", "counter", "frames decoded this session"),
    ("faceledger_stream_frames_sampled_total", "FramesSampled", "counter", "frames sampled this session"),
    ("faceledger_stream_frames_dropped_total", "FramesDropped", "counter", "samples dropped, not analysed"),
    ("faceledger_stream_reconnects_total", "Reconnects", "counter", "connections to the camera made again"),
    (
        "faceledger_stream_searches_total",
        "Searches",
        "counter",
        "searches of the collection (ledger entries)",
    ),
    ("faceledger_stream_matches_total", "Matches", "counter", "matched faces reported in events"),
    ("faceledger_stream_events_total", "Events", "counter", "events sent"),
    ("faceledger_stream_events_undelivered_total", "EventsUndelivered", "counter", "events the sink lost"),
)
STATES = ("STOPPED", "STARTING", "RUNNING", "STOPPING", "FAILED", "UPDATING")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(engine, slots: int, only=None) -> str:
    """`only`: the collections whose processors the caller may see (None: all)."""
    p = tables.stream_processors
    with engine.catalog.read() as conn:
        rows = conn.execute(select(p.c.name, p.c.status, p.c.stats, p.c.request).order_by(p.c.name)).all()
    if only is not None:
        rows = [r for r in rows if json.loads(r.request)["Settings"]["FaceSearch"]["CollectionId"] in only]
    lines = [
        "# HELP faceledger_stream_slots Stream processors this node runs at once.",
        "# TYPE faceledger_stream_slots gauge",
        f"faceledger_stream_slots {slots}",
        "# HELP faceledger_stream_status 1 for the status each stream processor is in.",
        "# TYPE faceledger_stream_status gauge",
    ]
    for r in rows:
        for state in STATES:
            labels = f'processor="{_label(r.name)}",status="{state}"'
            lines.append(f"faceledger_stream_status{{{labels}}} {int(r.status == state)}")
    stats = {r.name: json.loads(r.stats) if r.stats else {} for r in rows}
    for metric, member, kind, text in STREAM_FIGURES:
        lines += [f"# HELP {metric} {text}.", f"# TYPE {metric} {kind}"]
        for name, figures in stats.items():
            if figures.get(member) is not None:
                lines.append(f'{metric}{{processor="{_label(name)}"}} {figures[member]}')
    return "\n".join(lines) + "\n"


@router.get("/metrics", summary="The service's figures in Prometheus's text format")
async def metrics(request: Request, who: Principal = Depends(principal)):
    from ..engine.stream_runner import capacity

    request.state.operation = "ListStreamProcessors"
    engine = request.app.state.faceledger.engine
    await run_in_threadpool(authorize, engine, who, "ListStreamProcessors", {})
    only = who.key.collections if who.key is not None else None
    text = await run_in_threadpool(exposition, engine, capacity(), only)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
