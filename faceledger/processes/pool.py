"""Running one operation over many image files on every core, in input order, with progress."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..errors import FaceLedgerError
from .lifeline import die_with_parent


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_task: Callable[[Path], dict] | None = None


def _init(task: Callable[[Path], dict]) -> None:
    global _task
    die_with_parent()  # SIGKILL: a worker only computes, the parent stores
    _task = task


def _run_one(path: Path) -> dict:
    assert _task is not None
    return guarded(_task, path)


def guarded(task: Callable[[Path], dict], path: Path) -> dict:
    """The task's result, or the error it met as {"Error": {"Code", "Message"}}; never raises."""
    try:
        return task(path)
    except FaceLedgerError as e:
        return {"Error": {"Code": e.code, "Message": e.message}}
    except Exception as e:  # a bug must not end the whole run: report it with the file
        return {"Error": {"Code": "InternalServerError", "Message": f"{type(e).__name__}: {e}"}}


def run_over_files(
    task: Callable[[Path], dict], paths: list[Path], workers: int
) -> Iterator[tuple[Path, dict]]:
    """(path, result) pairs in input order. `task` must be picklable (a module-level callable)."""
    if workers <= 1 or len(paths) <= 1:
        for p in paths:
            yield p, guarded(task, p)
        return
    # Each platform's default before Python 3.14, whose forkserver would be the workers' parent
    # (lifeline needs us)
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(
        min(workers, len(paths)), mp_context=context, initializer=_init, initargs=(task,)
    ) as pool:
        yield from zip(paths, pool.map(_run_one, paths, chunksize=1))


def with_progress(items: Iterable[tuple[Path, dict]], total: int, label: str) -> Iterator[tuple[Path, dict]]:
    """Pass items through while drawing a progress bar on stderr (silent when stderr is no terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        bar = progress.add_task(label, total=total)
        for item in items:
            yield item
            progress.advance(bar)
