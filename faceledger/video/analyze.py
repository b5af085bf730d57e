"""The work of a video job: faces in every sampled frame, and for a search, face tracks, each
searched once against the collection with its best face. Tracks end at shot cuts and split
where their face turns out to be someone else, so that no face inherits a match it would not get."""

from __future__ import annotations

import functools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..processes.lifeline import die_with_parent
from ..vision.analyze import analyze_faces, default_embedder
from ..vision.detectors import make_detector
from ..vision.embed import face_chips
from . import shots
from .decode import VideoMetadata, metadata, sampled_frames
from .follow import KEYFRAME_EVERY, FollowingDetector, fast_pass
from .track import Tracker, look, same_look

Progress = Callable[[float], None]
# A face as its caller reports it (the engine's FaceDetail record: has bounding_box, confidence
# and to_dict), from (FaceAnalysis, frame width, frame height); a module-level function, so that
# it travels to worker processes.
Describe = Callable[[object, int, int], object]


@functools.cache
def _detectors(name: str):
    """One full detector and its fast pass per worker process and name (models load once)."""
    full = make_detector(name)
    return full, fast_pass(full)


class FrameAnalyzer:
    """Faces of a run of consecutive samples as FaceDetails: picklable, so that worker processes
    can take runs in turn (dlib holds Python's lock, so processes are what use the cores). Within
    a run, faces are followed between full detections (follow.py). For tracking, also the faces'
    aligned chips and each frame's shot signature."""

    def __init__(
        self, describe: Describe, detector: str, all_attributes: bool = False, tracking: bool = False
    ):
        self.describe = describe
        self.detector = detector
        self.all_attributes = all_attributes
        self.tracking = tracking

    def __call__(self, run: list[tuple[int, np.ndarray]]) -> list[tuple]:
        follower = FollowingDetector(*_detectors(self.detector))
        return [self.frame(follower, ts, rgb) for ts, rgb in run]

    def frame(self, follower: FollowingDetector, ts: int, rgb: np.ndarray) -> tuple:
        h, w = rgb.shape[:2]
        signature = shots.signature(rgb)
        follower.next_sample(signature)
        found = analyze_faces(
            rgb,
            follower,
            all_attributes=self.all_attributes,
            appearance={"ALL"} if self.all_attributes else frozenset(),
        )
        chips = face_chips(rgb, [f.shape for f in found]) if self.tracking and found else [None] * len(found)
        return ts, [self.describe(f, w, h) for f in found], chips, signature if self.tracking else None


def runs_of(frames: Iterator, n: int) -> Iterator[list]:
    """Consecutive items in lists of n (the last may be shorter)."""
    run: list = []
    for item in frames:
        run.append(item)
        if len(run) == n:
            yield run
            run = []
    if run:
        yield run


def analyzed_frames(path: Path, rate: float, analyzer: FrameAnalyzer, workers: int) -> Iterator:
    """(timestamp, details, chips, shot signature) for each sampled frame, in order, a run of
    KEYFRAME_EVERY samples per worker at a time."""
    runs = runs_of(sampled_frames(path, rate), KEYFRAME_EVERY)
    if workers <= 1:
        for run in runs:
            yield from analyzer(run)
        return
    ctx = multiprocessing.get_context("spawn")  # safe inside a threaded server process
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent) as pool:
        pending: deque = deque()
        for run in runs:
            pending.append(pool.submit(analyzer, run))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _fraction(ts: int, meta: VideoMetadata) -> float:
    return min(1.0, ts / meta.duration_millis) if meta.duration_millis else 0.0


def detect_faces(
    path: Path,
    describe: Describe,
    *,
    rate: float,
    detector: str,
    all_attributes: bool = False,
    workers: int = 1,
    progress: Progress | None = None,
):
    """(metadata, [{"Timestamp", "Face": FaceDetail}]) for every face of every sampled frame."""
    meta = metadata(path)
    faces = []
    for ts, details, _, _ in analyzed_frames(
        path, rate, FrameAnalyzer(describe, detector, all_attributes), workers
    ):
        faces += [{"Timestamp": ts, "Face": d.to_dict()} for d in details]
        if progress:
            progress(_fraction(ts, meta))
    return meta, faces


class EmbeddedTracks:
    """Faces of consecutive frames in tracks, embedding only some of them (see track_faces)."""

    def __init__(self, same_person: float):
        self.same_person = same_person
        self.tracker = Tracker()
        self.embedder = default_embedder()
        self.previous = None

    def frame(self, details: list, chips: list, signature) -> list[tuple]:
        """(detail, track, whether the track's embedding changed) for each face of a frame."""
        if shots.is_cut(self.previous, signature):
            self.tracker.cut()
        self.previous = signature
        boxes = [
            (d.bounding_box.left, d.bounding_box.top, d.bounding_box.width, d.bounding_box.height)
            for d in details
        ]
        out = []
        for detail, chip, track in zip(details, chips, self.tracker.update(boxes)):
            score = detail.bounding_box.width * detail.bounding_box.height * detail.confidence
            face_look = look(chip)
            changed = False
            if (
                track.embedding is None
                or score > 1.25 * track.best_score
                or not same_look(track.look, face_look)
            ):
                vector = self.embedder.embed_chips([chip])[0]
                if (
                    track.embedding is not None
                    and np.linalg.norm(vector - track.embedding) > self.same_person
                ):
                    track = self.tracker.split(track)  # someone else: a new track, searched with this face
                if track.embedding is None or score > 1.25 * track.best_score:
                    track.embedding, track.best_score = vector, score
                    changed = True
                track.look = face_look
            out.append((detail, track, changed))
        return out


def track_faces(
    path: Path,
    describe: Describe,
    *,
    same_person: float,
    rate: float,
    detector: str,
    workers: int = 1,
    progress: Progress | None = None,
):
    """(metadata, detections [(timestamp, track index, FaceDetail)], tracks): each track keeps the
    embedding of its best face (largest and surest), the one it is searched with. Workers hand
    back aligned chips; only some faces go through the network: a track's first, one 25% better
    than its best so far, and one whose chip no longer looks like the last embedded (the same
    picture of the same face, see track.SAME_LOOK). Each such face is compared with the track's
    embedding and starts a new track if it is not the same person; a shot cut ends all tracks.
    So every face of a track was embedded and verified, or looks like one that was. `same_person`:
    the embedding distance past which a face is someone else (the engine gives the default search
    threshold's, so that what is carried along a track meets the bar of a search)."""
    meta = metadata(path)
    tracks = EmbeddedTracks(same_person)
    detections = []
    for ts, details, chips, signature in analyzed_frames(
        path, rate, FrameAnalyzer(describe, detector, tracking=True), workers
    ):
        for detail, track, _ in tracks.frame(details, chips, signature):
            detections.append((ts, track.index, detail))
        if progress:
            progress(_fraction(ts, meta))
    return meta, detections, tracks.tracker.tracks


def search_faces(
    path: Path,
    describe: Describe,
    matches_of: Callable[[np.ndarray], list[dict]],
    *,
    same_person: float,
    rate: float,
    detector: str,
    workers: int = 1,
    progress: Progress | None = None,
):
    """(metadata, persons as GetFaceSearch lists them, matches by track index). `matches_of(embedding)`
    searches the collection with a track's best face: its FaceMatches."""
    meta, detections, tracks = track_faces(
        path,
        describe,
        same_person=same_person,
        rate=rate,
        detector=detector,
        workers=workers,
        progress=progress,
    )
    matches = {t.index: matches_of(t.embedding) if t.embedding is not None else [] for t in tracks}
    persons = [
        {
            "Timestamp": ts,
            "Person": {"Index": idx, "BoundingBox": detail.bounding_box.to_dict(), "Face": detail.to_dict()},
            "FaceMatches": matches[idx],
        }
        for ts, idx, detail in detections
    ]
    return meta, persons, matches
