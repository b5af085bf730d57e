"""A throwaway Milvus standalone server for the tests, from the `milvus` package (the `milvus`
extra): unpacked into a temporary folder, started, stopped (and started again on the same ports).

Milvus 2.3's own servers listen on every interface whatever the configuration says (only its
embedded etcd keeps to loopback); faceledger and the tests talk to it on 127.0.0.1 only. The
settings below make it stop in seconds and collect the files of compacted segments at once, so
an erasure test need not wait hours."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "common.gracefulStopTimeout": 10,  # default 1,800 s: a stop could hang for half an hour
    "proxy.timeTickInterval": 100,  # ms; a search that must see a write waits about this long
    "dataCoord.gc.interval": 5,
    "dataCoord.gc.missingTolerance": 5,
    "dataCoord.gc.dropTolerance": 5,  # files of compacted-away segments go 5 s later
    "rocksmq.retentionTimeInMinutes": 1,
    "rocksmq.rocksmqPageSize": 1048576,
    "rocksmq.compactionInterval": 30,
}


class MilvusServer:
    def __init__(self):
        from milvus import MilvusServer as Server

        self.root = Path(tempfile.mkdtemp(prefix="faceledger-milvus-"))
        self.server = Server(wait_for_started=True)
        self.server.set_base_dir(str(self.root))
        for key, value in SETTINGS.items():
            self.server.config.set(key, value)
        self.start()
        # The same ports on every start after the first (chosen then among free ones).
        for key, item in self.server.config.configurable_items.items():
            if key.endswith("_port"):
                self.server.config.configs[key] = item[1]
        self.port = self.server.listen_port
        self.url = f"milvus://127.0.0.1:{self.port}"
        self.data = self.root / "data"

    def start(self) -> None:
        cwd = os.getcwd()
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    self.server.start()
                    return
                except RuntimeError as e:  # a port of the last run still in TIME_WAIT
                    if "bind failed" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        finally:
            os.chdir(cwd)

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
        self.server.server_proc = None
        for fd in self.server.proc_fds.values():
            fd.close()
        self.server.proc_fds.clear()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
