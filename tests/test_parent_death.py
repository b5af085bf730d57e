"""Worker processes die with their parent: after `kill -9` of `faceledger serve`'s supervisor or of
`faceledger index-faces`, no orphan keeps the port or the catalog, and a restart works at once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import BIDEN, COLLINS, OBAMA_BLUE_ROOM, OBAMA_PORTRAIT, OBAMA_SPEECH
from http_server import start_serve

pytestmark = pytest.mark.slow  # real processes killed with kill -9

BIN = Path(sys.executable).parent


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (index 0 = state, 1 = ppid, 19 = start time)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _read(path: Path) -> str:
    """A /proc file's text, or '' when its thread or process ended since it was listed."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> dict[int, str]:
    """{child pid: its start time}, from /proc (task/*/children needs CONFIG_PROC_CHILDREN: scan if
    absent)."""
    lists = list(Path(f"/proc/{pid}/task").glob("*/children"))
    if lists:
        pids = {int(p) for f in lists for p in _read(f).split()}
    else:
        pids = {int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()}
        pids = {p for p in pids if (_stat(p) or ["", ""])[1] == str(pid)}
    found = {p: _stat(p) for p in pids}
    return {p: s[19] for p, s in found.items() if s}


def _alive(pid: int, started: str) -> bool:
    s = _stat(pid)
    return s is not None and s[19] == started and s[0] != "Z"  # a zombie has let go of everything


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _assert_gone(workers: dict[int, str], timeout: float = 5.0) -> float:
    """Seconds until every worker has exited; fails after `timeout`."""
    t0 = time.monotonic()
    try:
        _wait_for(lambda: not any(_alive(p, s) for p, s in workers.items()), timeout, "the workers to exit")
    except AssertionError:
        left = [p for p, s in workers.items() if _alive(p, s)]
        raise AssertionError(
            f"orphaned workers {left} still alive {timeout} s after their parent was killed"
        ) from None
    return time.monotonic() - t0


def _kill_all(procs: list[subprocess.Popen], workers: dict[int, str]) -> None:
    """SIGKILL to each process group and to known workers, then wait until all of them are gone."""
    left = dict(workers)
    for proc in procs:
        left.update(_children(proc.pid))
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # each was started in a session (process group) of its own
        except ProcessLookupError:
            pass
        proc.wait(30)
    for pid, started in left.items():  # an orphan that left the group would still be here
        if _alive(pid, started):
            os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not any(_alive(p, s) for p, s in left.items()), 30, "the test's processes to end")


def test_serve_workers_die_with_the_supervisor_and_a_restart_works_at_once(tmp_path):
    procs, workers = [], {}
    try:
        proc, url, log = start_serve(tmp_path, "--workers", "2", new_session=True)
        procs.append(proc)
        _wait_for(lambda: log.read_text().count('"event": "ready"') == 2, 120, "both workers to be ready")
        workers = _wait_for(
            lambda: (c := _children(proc.pid)) and len(c) >= 2 and c, 10, "two worker processes"
        )

        proc.kill()
        proc.wait(10)
        print(f"workers exited {_assert_gone(workers):.2f} s after kill -9 of the supervisor")

        port = url.rsplit(":", 1)[1]
        again = subprocess.Popen(
            [str(BIN / "faceledger"), "--home", str(tmp_path), "serve", "--port", port, "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "again.log").open("w"),
            env={**os.environ, "FACELEDGER_HOME": str(tmp_path)},
            start_new_session=True,
        )
        procs.append(again)

        def healthy() -> bool:
            assert again.poll() is None, f"the restart exited: {(tmp_path / 'again.log').read_text()}"
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, 120, "the restarted service to answer /health")
    finally:
        _kill_all(procs, workers)


def test_index_faces_pool_workers_die_with_the_cli(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "photos"
    folder.mkdir()
    for i in range(8):  # 40 full-size photos: minutes of work for two workers
        for photo in (OBAMA_BLUE_ROOM, OBAMA_SPEECH, OBAMA_PORTRAIT, BIDEN, COLLINS):
            shutil.copy(photo, folder / f"{i}-{photo.name}")
    env = {**os.environ, "FACELEDGER_HOME": str(home)}
    created = subprocess.run(
        [str(BIN / "faceledger"), "--home", str(home), "collections", "create", "people"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr

    procs, workers = [], {}
    try:
        proc = subprocess.Popen(
            [
                str(BIN / "faceledger"),
                "--home",
                str(home),
                "index-faces",
                "people",
                str(folder),
                "--workers",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "index.log").open("w"),
            env=env,
            start_new_session=True,
        )
        procs.append(proc)
        workers = _wait_for(
            lambda: (c := _children(proc.pid)) and len(c) >= 2 and c, 60, "the two pool workers"
        )
        time.sleep(0.5)  # let them start on an image
        assert proc.poll() is None, (tmp_path / "index.log").read_text()

        proc.kill()
        proc.wait(10)
        print(f"pool workers exited {_assert_gone(workers):.2f} s after kill -9 of index-faces")
    finally:
        _kill_all(procs, workers)


def test_without_pdeathsig_the_watcher_ends_a_child_that_ignores_the_signal(tmp_path):
    """Off Linux (or where prctl fails) the watcher thread alone notices the parent's death; a
    child that survives the signal is made to exit once the grace period is over."""
    script = """
import os, signal, sys, time
from faceledger.processes import lifeline
lifeline._set_pdeathsig = lambda sig: False
parent = os.getpid()
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    lifeline.die_with_parent(parent, signal.SIGTERM, grace=1.0)
    print(os.getpid(), flush=True)
    time.sleep(120)
    os._exit(0)
time.sleep(120)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    workers = {}
    try:
        pid = int(proc.stdout.readline())
        workers = {pid: _stat(pid)[19]}
        proc.kill()
        proc.wait(10)
        took = _assert_gone(workers)
        assert took > 0.9  # it ignored SIGTERM, and was ended after the grace period
    finally:
        _kill_all([proc], workers)
