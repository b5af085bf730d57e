"""A camera for the tests: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0) serving
a folder of JPEG frames (00000.jpg, 00001.jpg, ...) in a loop at a fixed rate, as RTP/JPEG, at
rtsp://127.0.0.1:PORT/camera. Run by the system Python, which has PyGObject:

    /usr/bin/python3 tests/rtsp_server.py PORT FRAMES_DIR FPS

Every client sees the same live feed (a shared media), as from a real camera."""

import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, folder, fps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    frames = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=camera is-live=true format=time "
        f'caps="image/jpeg,framerate={fps}/1" ! jpegparse ! rtpjpegpay name=pay0 pt=26 )'
    )
    factory.set_shared(True)
    duration = Gst.SECOND // fps

    def configure(_factory, media):
        source = media.get_element().get_child_by_name("camera")
        count = [0]

        def need_data(src, _length):
            i = count[0]
            buffer = Gst.Buffer.new_wrapped(frames[i % len(frames)])
            buffer.pts, buffer.duration = i * duration, duration
            count[0] += 1
            src.emit("push-buffer", buffer)

        source.connect("need-data", need_data)

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory("/camera", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
