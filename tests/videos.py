"""Videos composed from the public-domain photos, with faces entering, moving, growing and
leaving at known times, written as H.264 MP4 with PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import BIDEN, OBAMA_SPEECH
from PIL import Image


@dataclass(frozen=True)
class Appearance:
    face: Image.Image
    start: float  # seconds
    end: float
    xy0: tuple[int, int]  # top-left at start
    xy1: tuple[int, int]  # top-left at end
    size0: int
    size1: int

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


def compose(path: Path, appearances: list[Appearance], *, duration: float = 4.0, fps: int = 10,
            size: tuple[int, int] = (640, 360)) -> Path:  # fmt: skip
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    for i in range(int(duration * fps)):
        t = i / fps
        canvas = Image.new("RGB", size, (96, 104, 112))
        for a in appearances:
            placed = a.at(t)
            if placed:
                canvas.paste(*placed)
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def expected_faces(appearances: list[Appearance], t_ms: int) -> int:
    return sum(1 for a in appearances if a.at(t_ms / 1000) is not None)
