"""A live RTSP camera on loopback for the stream processor tests (tests/rtsp_server.py under the
system Python), showing a clip composed from the test photos. Skips with the reason when
GStreamer's RTSP server is not installed (.ci/run installs it)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from http_server import free_port
from PIL import Image

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).parent / "rtsp_server.py"


def gstreamer_missing() -> str | None:
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert all(Gst.ElementFactory.find(e) for e in ('multifilesrc', 'jpegparse', 'rtpjpegpay'))"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"no system Python with PyGObject: {e}"
    if done.returncode != 0:
        return (
            "GStreamer's RTSP server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)"
        )
    return None


def compose_clip(folder: Path, scenes: list[tuple[Path | None, int]], size=(640, 360)) -> Path:
    """JPEG frames: for each (photo, frames), the photo's face centred on a grey background (None:
    an empty scene)."""
    folder.mkdir(parents=True, exist_ok=True)
    index = 0
    for photo, count in scenes:
        frame = Image.new("RGB", size, (90, 95, 100))
        if photo is not None:
            im = Image.open(photo).convert("RGB")
            im.thumbnail((size[0] * 2 // 3, size[1] - 20))
            frame.paste(im, ((size[0] - im.width) // 2, (size[1] - im.height) // 2))
        for _ in range(count):
            frame.save(folder / f"{index:05d}.jpg", quality=90)
            index += 1
    return folder


class RtspCamera:
    def __init__(self, frames: Path, fps: int = 10):
        self.frames, self.fps = frames, fps
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/camera"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.port), str(self.frames), str(self.fps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the RTSP server exited: {self.proc.stdout.read().decode()[-500:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError("the RTSP server did not listen within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="session")
def rtsp_available():
    reason = gstreamer_missing()
    if reason:
        pytest.skip(reason)
