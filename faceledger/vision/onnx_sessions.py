"""ONNX Runtime sessions for every network faceledger runs (dlib's converted networks, the
detectors, the attribute models): one session per model file and process, safe to share between
threads, all under one thread budget."""

from __future__ import annotations

import os
from functools import cache


def threads() -> int:
    """Threads per network call: FACELEDGER_ONNX_THREADS, default 1. The service already runs one
    worker process per core, so one thread each avoids oversubscribing them; a single process (the
    command line, a benchmark) may give more."""
    value = os.environ.get("FACELEDGER_ONNX_THREADS", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def session(path: str, threads_: int | None = None):
    """The session of the ONNX file at `path`, made once per process (and thread count)."""
    return _session(path, threads_ or threads())


@cache
def _session(model: str | bytes, intra: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def session_of(model: str | bytes, threads_: int | None = None):
    """The session of a model given as a path or as its bytes (a conversion kept in memory)."""
    return _session(model, threads_ or threads())
