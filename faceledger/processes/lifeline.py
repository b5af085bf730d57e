"""Worker processes that die with their parent, however the parent ends (kill -9, the OOM killer, a
crash), so that no orphan keeps serving on a port or holding the catalog open.

A child calls `die_with_parent` first thing. Two mechanisms, because each covers the other's gap:

- Linux's prctl(PR_SET_PDEATHSIG): the kernel signals the child the moment its parent exits, even
  while the child is deep in C code holding Python's GIL (dlib does, for seconds per image), which
  no Python thread could interrupt. It fires when the parent *thread* that started the child exits,
  so a child may use it only if it was started by a thread that outlives it: uvicorn's supervisor
  starts its workers from its main thread, and our pools start theirs from the thread that owns the
  pool (the CLI's main thread, the video-jobs thread) for the whole life of the pool. The parent
  may also have died before prctl ran, hence the getppid() check right after it.
- A daemon thread polling os.getppid() every POLL seconds: the only mechanism off Linux, a second
  chance where prctl is unavailable, and a backstop for a catchable signal (SIGTERM) whose handler
  did not end the process: `grace` seconds after the parent is gone, it exits the process outright.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL = 0.5


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL, grace: float = 10.0) -> None:
    """Have this process get `sig` when its parent exits: `parent` is the pid it must have, passed
    down by the parent, by default the one multiprocessing passed down (os.getppid() here would
    already be the reaper's if the parent died before this call). Usable as a pool's initializer.
    SIGKILL for workers that only compute; SIGTERM to let a server stop gracefully, within `grace`."""
    if parent is None:
        started_by = multiprocessing.parent_process()
        parent = started_by.pid if started_by else os.getppid()
    if sys.platform.startswith("linux"):
        _set_pdeathsig(sig)
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), sig)
    threading.Thread(target=_watch, args=(parent, sig, grace), daemon=True, name="lifeline").start()


def _set_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        args = (
            ctypes.c_ulong(sig),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )  # the kernel reads longs
        return libc.prctl(PR_SET_PDEATHSIG, *args) == 0
    except (OSError, AttributeError):  # no libc prctl: the watcher alone
        return False


def _watch(parent: int, sig: int, grace: float) -> None:
    while os.getppid() == parent:
        time.sleep(POLL)
    os.kill(os.getpid(), sig)
    time.sleep(grace)
    os._exit(1)  # the signal was caught and the process is still here: stop waiting for it
