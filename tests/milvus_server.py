"""A throwaway Milvus standalone server for the tests, from the `milvus` package (the `milvus`
extra): unpacked into a temporary folder, started, stopped (and started again on the same ports).

Milvus 2.3's own servers listen on every interface whatever the configuration says (only its
embedded etcd keeps to loopback); faceledger and the tests talk to it on 127.0.0.1 only. The
settings below make it stop in seconds and collect the files of compacted segments at once, so
an erasure test need not wait hours."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import urllib.request
from pathlib import Path

SETTINGS = {
    "common.gracefulStopTimeout": 10,  # default 1,800 s: a stop could hang for half an hour
    "common.session.ttl": 10,  # s; a restarted server waits this long for the old one's sessions
    "proxy.timeTickInterval": 100,  # ms; a search that must see a write waits about this long
    "dataCoord.gc.interval": 5,
    "dataCoord.gc.dropTolerance": 5,  # files of compacted-away segments go 5 s later
    "rocksmq.retentionTimeInMinutes": 1,
    "rocksmq.rocksmqPageSize": 1048576,
    "rocksmq.compactionInterval": 30,
}


ETCD_PEER_PORT = 2380  # Milvus's embedded etcd always takes it: one server per machine


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as s:
            # As etcd binds: a port left in TIME_WAIT by the last run is free, a listener is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"port {port} stayed taken: another Milvus runs on this machine"
                    ) from None
        time.sleep(2)


class MilvusServer:
    def __init__(self):
        from milvus import MilvusServer as Server

        self.root = Path(tempfile.mkdtemp(prefix="faceledger-milvus-"))
        self.server = Server(wait_for_started=False)
        self.server.set_base_dir(str(self.root))
        for key, value in SETTINGS.items():
            self.server.config.set(key, value)
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        # The same ports on every start after the first (chosen then among free ones).
        for key, item in self.server.config.configurable_items.items():
            if key.endswith("_port"):
                self.server.config.configs[key] = item[1]
        self.port = self.server.listen_port
        self.url = f"milvus://127.0.0.1:{self.port}"
        self.data = self.root / "data"

    def start(self) -> None:
        _wait_for_port(ETCD_PEER_PORT, 900)  # another Milvus on this machine: wait for it to end
        cwd = os.getcwd()
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    self.server.start()
                    self._wait_ready()
                    return
                except RuntimeError as e:  # a port of the last run still in TIME_WAIT
                    if "bind failed" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        finally:
            os.chdir(cwd)

    def _wait_ready(self, seconds: float = 300) -> None:
        """Until /healthz says OK; an error at once if the server exits (the package's own wait
        would go on for minutes)."""
        proc, deadline = self.server.server_proc, time.monotonic() + seconds
        url = f"http://127.0.0.1:{self.server.webservice_port}/healthz"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (self.root / "logs" / "milvus-stdout.log").read_text(errors="replace")
                errors = [line for line in log.splitlines() if "[ERROR]" in line or "[FATAL]" in line]
                raise RuntimeError(
                    f"Milvus exited with {proc.returncode}: {errors[-1][:300] if errors else ''}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if b"OK" in resp.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Milvus did not start within {seconds:g} s")

    def stop(self) -> None:
        proc = self.server.server_proc
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        self.server.server_proc = None
        for fd in self.server.proc_fds.values():
            fd.close()
        self.server.proc_fds.clear()

    def close(self) -> None:
        """Kill it (its data goes with it, so nothing needs a graceful stop) and remove its folder."""
        proc = self.server.server_proc
        if proc is not None:
            proc.kill()
            proc.wait(timeout=30)
            self._forget()
        shutil.rmtree(self.root, ignore_errors=True)
