"""Reading video files with PyAV (FFmpeg): metadata in Rekognition's terms, and frames sampled
at a fixed rate with their timestamps. A file FFmpeg cannot read is a VideoError with the
reason, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_FRAME_PIXELS = 8192 * 4320  # 8K
DEFAULT_SAMPLE_RATE = 5.0  # frames a second


class VideoError(Exception):
    """The video cannot be read; the message says why, for a job's StatusMessage."""


@dataclass(frozen=True)
class VideoMetadata:
    codec: str
    duration_millis: int
    format: str
    frame_rate: float
    frame_height: int
    frame_width: int
    color_range: str  # FULL or LIMITED

    def to_dict(self) -> dict:
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_millis,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.frame_height,
            "FrameWidth": self.frame_width,
            "ColorRange": self.color_range,
        }


def _reason(error: Exception) -> str:
    """FFmpeg's reason without the file's path (FFmpeg names the file in its messages): job
    results and API answers must not say where the service keeps its files."""
    text = getattr(error, "strerror", None) or type(error).__name__
    return str(text).rstrip(".")


def _open(path: Path):
    import av

    if not path.exists():
        raise VideoError(f"The video {path.name} does not exist.")
    if path.stat().st_size == 0:
        raise VideoError("The video file is empty.")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"The file is not a video faceledger can read: {_reason(e)}") from None
    if not container.streams.video:
        container.close()
        raise VideoError("The file has no video stream.")
    name = container.format.name or ""
    if name.endswith("_pipe") or name in ("image2", "gif", "webp"):
        container.close()
        raise VideoError(f"The file is a still image ({name}), not a video.")
    return container


def metadata(path: Path) -> VideoMetadata:
    container = _open(Path(path))
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        if ctx.width * ctx.height > MAX_FRAME_PIXELS:
            raise VideoError(f"Frames of {ctx.width}x{ctx.height} are over the limit of 8K.")
        if ctx.width == 0 or ctx.height == 0:
            raise VideoError("The video stream has no frame size: the file is damaged.")
        color = (
            "FULL"
            if str(getattr(ctx, "color_range", "")).lower() in ("2", "jpeg", "full", "colorrange.jpeg")
            else "LIMITED"
        )
        return VideoMetadata(
            codec=ctx.name,
            duration_millis=int(round(duration * 1000)),
            format=container.format.long_name or container.format.name,
            frame_rate=round(rate, 3),
            frame_height=ctx.height,
            frame_width=ctx.width,
            color_range=color,
        )
    finally:
        container.close()


def sampled_frames(path: Path, rate: float = DEFAULT_SAMPLE_RATE) -> Iterator[tuple[int, np.ndarray]]:
    """(timestamp in ms, RGB frame) at about `rate` frames a second: the first frame at or after
    each sampling instant. A stream damaged part-way ends with a VideoError."""
    import av

    if not 0 < rate <= 60:
        raise VideoError("The sample rate must be above 0 and at most 60 frames a second.")
    container = _open(Path(path))
    step = 1000.0 / rate
    next_ms = 0.0
    decoded = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            decoded += 1
            if frame.pts is None or frame.time_base is None:
                t = (decoded - 1) * 1000.0 / float(stream.average_rate or 25)
            else:
                t = float(frame.pts * frame.time_base) * 1000.0
            if t + 0.5 < next_ms:
                continue
            while next_ms <= t + 0.5:
                next_ms += step
            yield int(round(t)), frame.to_ndarray(format="rgb24")
    except av.FFmpegError as e:
        raise VideoError(f"The video is damaged after {decoded} frames: {_reason(e)}") from None
    finally:
        container.close()
    if decoded == 0:
        raise VideoError("The video has no frame that can be decoded.")


def frame_at(path: Path, millis: int) -> tuple[int, np.ndarray]:
    """The first frame at or after `millis` (the last frame if the video ends before), as
    (its timestamp in ms, RGB): what a sample at that time saw."""
    import av

    container = _open(Path(path))
    found = None
    try:
        stream = container.streams.video[0]
        if stream.time_base is not None and millis > 0:
            # Seek to the key frame before the time, then decode forward to it.
            container.seek(
                int(millis / 1000 / stream.time_base), stream=stream, backward=True, any_frame=False
            )
        for index, frame in enumerate(container.decode(stream)):
            if frame.pts is None or frame.time_base is None:
                t = index * 1000.0 / float(stream.average_rate or 25)
            else:
                t = float(frame.pts * frame.time_base) * 1000.0
            found = (int(round(t)), frame)
            if t + 0.5 >= millis:
                break
        if found is None:
            raise VideoError("The video has no frame that can be decoded.")
        return found[0], found[1].to_ndarray(format="rgb24")
    except av.FFmpegError as e:
        raise VideoError(f"The video cannot be decoded at {millis} ms: {_reason(e)}") from None
    finally:
        container.close()
