"""Pictures of a video's results: the video again with boxes and names, and a timeline of who
appears when."""

from __future__ import annotations

import bisect
from collections import defaultdict
from pathlib import Path

from .draw import BLUE, GREEN, RED, draw_box


def _label(person: dict) -> tuple[str, tuple]:
    matches = person.get("FaceMatches") or []
    if matches:
        face = matches[0]["Face"]
        return f"{face.get('ExternalImageId') or face['FaceId'][:8]} {matches[0]['Similarity']:.0f}", GREEN
    return f"#{person['Person']['Index']}", RED


def boxes_by_time(
    items: list[dict], search: bool
) -> tuple[list[int], dict[int, list[tuple[dict, str, tuple]]]]:
    by_ts: dict[int, list] = defaultdict(list)
    for item in items:
        if search:
            label, colour = _label(item)
            by_ts[item["Timestamp"]].append((item["Person"]["BoundingBox"], label, colour))
        else:
            by_ts[item["Timestamp"]].append((item["Face"]["BoundingBox"], None, BLUE))
    return sorted(by_ts), by_ts


def draw_video(source: Path, items: list[dict], out: Path, *, search: bool, sample_ms: float) -> Path:
    """Every frame of `source` with the boxes of the latest sample (for one sampling interval)."""
    import av

    times, by_ts = boxes_by_time(items, search)
    src = av.open(str(source))
    stream = src.streams.video[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    dst = av.open(str(out), "w")
    enc = dst.add_stream("libx264", rate=stream.average_rate or 25)
    enc.width, enc.height, enc.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
    enc.width -= enc.width % 2
    enc.height -= enc.height % 2
    try:
        for frame in src.decode(stream):
            t = float(frame.pts * frame.time_base) * 1000 if frame.pts is not None else 0.0
            rgb = frame.to_ndarray(format="rgb24")[: enc.height, : enc.width].copy()
            i = bisect.bisect_right(times, t + 0.5) - 1
            if i >= 0 and t - times[i] < sample_ms * 1.5:
                for box, label, colour in by_ts[times[i]]:
                    draw_box(rgb, box, colour, label)
            for packet in enc.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                dst.mux(packet)
        for packet in enc.encode():
            dst.mux(packet)
    finally:
        dst.close()
        src.close()
    return out


def timeline(persons: list[dict], duration_ms: int, out: Path) -> Path:
    """One row per face track: when it is on screen, named by its best match."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: dict[int, list[int]] = defaultdict(list)
    names: dict[int, str] = {}
    for p in persons:
        idx = p["Person"]["Index"]
        rows[idx].append(p["Timestamp"])
        names[idx] = _label(p)[0]
    fig, ax = plt.subplots(figsize=(9, 0.5 * max(2, len(rows)) + 1.2))
    for y, idx in enumerate(sorted(rows)):
        ts = [t / 1000 for t in rows[idx]]
        ax.scatter(
            ts, [y] * len(ts), s=14, color="tab:green" if not names[idx].startswith("#") else "tab:red"
        )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([names[i] for i in sorted(rows)])
    ax.set_xlim(0, max(duration_ms / 1000, 0.1))
    ax.set_xlabel("seconds")
    ax.set_title("Who appears when")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
