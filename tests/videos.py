"""Videos composed from the public-domain photos, with faces entering, moving, growing and
leaving at known times, and shot cuts, dissolves and camera moves, written as H.264 MP4 with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import BIDEN, OBAMA_BLUE_ROOM, OBAMA_SPEECH
from PIL import Image

BACKGROUND = (96, 104, 112)
# A flat colour, or the whole picture at t seconds (a camera on a photo, a scene after a cut).
Background = tuple[int, int, int] | Callable[[float], Image.Image]


@dataclass(frozen=True)
class Appearance:
    face: Image.Image
    start: float  # seconds
    end: float
    xy0: tuple[int, int]  # top-left at start
    xy1: tuple[int, int]  # top-left at end
    size0: int
    size1: int
    fade_in: float = 0.0  # seconds over which it dissolves in over what is under it

    def alpha(self, t: float) -> float:
        return min(1.0, (t - self.start) / self.fade_in) if self.fade_in else 1.0

    def at(self, t: float) -> tuple[Image.Image, tuple[int, int]] | None:
        if not self.start <= t < self.end:
            return None
        a = (t - self.start) / (self.end - self.start)
        size = int(self.size0 + a * (self.size1 - self.size0))
        x = int(self.xy0[0] + a * (self.xy1[0] - self.xy0[0]))
        y = int(self.xy0[1] + a * (self.xy1[1] - self.xy0[1]))
        return self.face.resize((size, size)), (x, y)


def obama_face() -> Image.Image:
    return Image.open(OBAMA_SPEECH).convert("RGB").crop((120, 220, 490, 590))  # a photo not in the collection


def biden_face() -> Image.Image:
    return Image.open(BIDEN).convert("RGB").crop((330, 130, 830, 630))


def two_people(duration: float = 4.0) -> list[Appearance]:
    """Obama 0-2 s moving right and growing, Biden 1-3 s still, Obama again 3-4 s."""
    obama, biden = obama_face(), biden_face()
    return [
        Appearance(obama, 0.0, 2.0, (20, 60), (180, 40), 150, 190),
        Appearance(biden, 1.0, 3.0, (420, 80), (420, 80), 170, 170),
        Appearance(obama, 3.0, duration, (300, 80), (300, 80), 170, 170),
    ]


def view(photo: Image.Image, size: tuple[int, int], cx: float, cy: float, zoom: float = 1.0) -> Image.Image:
    """A camera on a photo: centred at (cx, cy) as fractions of it; zoom 1 is the widest crop of
    the frame's shape."""
    cw = min(photo.width, photo.height * size[0] / size[1]) / zoom
    ch = cw * size[1] / size[0]
    x = min(max(cx * photo.width - cw / 2, 0), photo.width - cw)
    y = min(max(cy * photo.height - ch / 2, 0), photo.height - ch)
    return photo.resize(size, box=(x, y, x + cw, y + ch))


CUT_AT = 2.0  # seconds


def face_swap(size: tuple[int, int] = (320, 180), *, cut_background: bool = False, fade: float = 0.0):
    """(appearances, background): Obama until CUT_AT, then Biden at the same place and size. A hard
    cut, with a new background if `cut_background` (a cut as cameras make it) or an identical one
    (only the face changes); or, with `fade`, Biden dissolving in over Obama for `fade` seconds up to
    CUT_AT."""
    side, xy = size[1] // 2, (size[0] // 2 - size[1] // 4, size[1] // 5)
    appearances = [
        Appearance(obama_face(), 0.0, CUT_AT, xy, xy, side, side),
        Appearance(biden_face(), CUT_AT - fade, 4.0, xy, xy, side, side, fade_in=fade),
    ]
    if not cut_background:
        return appearances, BACKGROUND
    return appearances, lambda t: Image.new("RGB", size, BACKGROUND if t < CUT_AT else (150, 92, 64))


def stage_to_audience(size: tuple[int, int] = (320, 180)) -> Background:
    """A camera zooming slowly on Obama at the lectern, then a hard cut at CUT_AT to a wide shot of
    another room."""
    speech, room = Image.open(OBAMA_SPEECH).convert("RGB"), Image.open(OBAMA_BLUE_ROOM).convert("RGB")
    return lambda t: view(speech, size, 0.5, 0.33, 1 + 0.15 * t) if t < CUT_AT else view(room, size, 0.5, 0.3)


def camera_move(size: tuple[int, int] = (320, 180)) -> Background:
    """No cut: a zoom from wide to x2.5 in 2 s, then a pan of a tenth of the frame every 200 ms."""
    room = Image.open(OBAMA_BLUE_ROOM).convert("RGB")

    def frame(t: float) -> Image.Image:
        return (
            view(room, size, 0.35, 0.3, 1 + 0.75 * t)
            if t < 2
            else view(room, size, 0.35 + 0.2 * (t - 2), 0.3, 2.5)
        )

    return frame


def compose(
    path: Path,
    appearances: list[Appearance],
    *,
    duration: float = 4.0,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    background: Background = BACKGROUND,
) -> Path:
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    for i in range(int(duration * fps)):
        t = i / fps
        canvas = background(t).copy() if callable(background) else Image.new("RGB", size, background)
        for a in appearances:
            placed = a.at(t)
            if placed:
                face, xy = placed
                canvas.paste(
                    face, xy, Image.new("L", face.size, round(255 * a.alpha(t))) if a.alpha(t) < 1 else None
                )
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def expected_faces(appearances: list[Appearance], t_ms: int) -> int:
    return sum(1 for a in appearances if a.at(t_ms / 1000) is not None)
