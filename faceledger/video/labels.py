"""The work of a label detection job: the labels of every sampled frame, and the labels' segments
(the runs of samples a label is seen in) for GetLabelDetection's AggregateBy SEGMENTS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .analyze import _fraction, analyzed_frames
from .decode import metadata

Progress = Callable[[float], None]

# A label unseen for this many samples in a row ends its segment (a one-sample miss does not).
SEGMENT_GAP_SAMPLES = 2


class FrameLabeller:
    """Labels of a run of sampled frames: picklable, so that worker processes take runs in turn."""

    def __init__(self, min_confidence: float, settings: dict | None):
        self.min_confidence = min_confidence
        self.settings = settings

    def __call__(self, run: list[tuple[int, np.ndarray]]) -> list[tuple[int, list[dict]]]:
        from ..vision.label_picture import label_picture

        return [
            (ts, label_picture(rgb, min_confidence=self.min_confidence, settings=self.settings)[1])
            for ts, rgb in run
        ]


def detect_labels(
    path: Path,
    *,
    rate: float,
    min_confidence: float,
    settings: dict | None = None,
    workers: int = 1,
    progress: Progress | None = None,
):
    """(metadata, [{"Timestamp", "Label"}]) for every label of every sampled frame."""
    meta = metadata(path)
    items = []
    for ts, labels in analyzed_frames(path, rate, FrameLabeller(min_confidence, settings), workers):
        items += [{"Timestamp": ts, "Label": label} for label in labels]
        if progress:
            progress(_fraction(ts, meta))
    return meta, items


def segments(items: list[dict], rate: float, duration_millis: int | None = None) -> list[dict]:
    """Items by timestamp as Rekognition's segments: one per label and run of samples it is seen in
    (a gap of more than SEGMENT_GAP_SAMPLES samples ends a run), with the run's highest confidence
    and no instances. A segment ends where its last sample's interval ends."""
    step = 1000.0 / rate
    runs: dict[str, list[dict]] = {}
    out = []
    for item in sorted(items, key=lambda i: (i["Label"]["Name"], i["Timestamp"])):
        label, ts = item["Label"], item["Timestamp"]
        run = runs.get(label["Name"])
        # Samples fall on frames, so their spacing wavers around the step (208, 417, 625 ms at 24
        # frames a second): half a step of slack.
        if run and ts - run[-1]["Timestamp"] <= step * (SEGMENT_GAP_SAMPLES + 0.5):
            run.append(item)
            continue
        if run:
            out.append(_segment(run, step, duration_millis))
        runs[label["Name"]] = [item]
    out += [_segment(run, step, duration_millis) for run in runs.values()]
    return out


def _segment(run: list[dict], step: float, duration_millis: int | None) -> dict:
    start = run[0]["Timestamp"]
    end = run[-1]["Timestamp"] + int(round(step))
    if duration_millis:
        end = max(start, min(end, duration_millis))
    best = max(run, key=lambda i: i["Label"]["Confidence"])["Label"]
    label = {k: v for k, v in best.items() if k != "Instances"}
    label["Instances"] = []
    return {
        "Timestamp": start,
        "Label": label,
        "StartTimestampMillis": start,
        "EndTimestampMillis": end,
        "DurationMillis": end - start,
    }
