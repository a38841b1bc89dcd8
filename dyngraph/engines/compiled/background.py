"""Compiles that run in another process while this one goes on on numpy.

Under the automatic backend choice a kernel that is not compiled on this machine yet
(nothing on numba's disk cache) is compiled only once the work has shown it is worth it
(``run.WARM_STEPS``), and then not in the foreground: a process of its own compiles it into
the disk cache while the calls go on on the numpy engines, and this process loads it from
there (milliseconds) once that process is done. On a fresh machine a compile takes 1-6 s;
in the foreground it was a stall in the middle of a training run.

A process, not a thread: numba's compile is mostly Python, and a thread took the GIL from
the calls it should leave alone (an LSTM's 1,200 gradients on a fresh machine: 12.4 s
against 7.5 s with the compile in the foreground). The other process uses another core,
writes the disk cache atomically (numba writes a temporary file and renames it) and
outlives this one if it must: the next run finds the kernel compiled.

Where no such process can help — the disk cache is off (``DYNGRAPH_CACHE=off``), or Python
cannot be started again (a frozen application) — :func:`start` says so and the caller
compiles in the foreground, as with ``background=False``.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

from .freshness import cache_off

__all__ = ["start", "state", "failed", "wait"]

#: The compiling process yields the processor to this one's threads (BLAS's among them: on
#: two cores, a child at the same priority made an LM run's products 2.5x slower). It stays
#: in this one's session: Linux weighs sessions (autogroups) against each other before
#: niceness, so a child in a session of its own took its core whatever its nice value.
_NICE = "import os\nif hasattr(os, 'nice'):\n    os.nice(19)\n"

#: What waits for a process (key -> the Python statements that compile it), the batch that
#: one process compiles now (its process, its keys), and the keys done or failed there
_QUEUE = {}
_QUEUED = [0.0]         # when the newest job came
_BATCH = None
#: Seconds a job waits for others to join its process (a forward program and its backward
#: one come due within milliseconds of each other, in one call)
GRACE = 0.05
_FAILED = set()
_DONE = set()
_LOCK = threading.Lock()


def start(key, code: str) -> bool:
    """Have another process run ``code`` (Python statements) to compile what ``key`` names,
    once per key and process; False when no process can do it (see the module doc) or one
    failed before: the caller then compiles in the foreground.

    One process at a time, each taking every job queued when it starts: the kernels of one
    component's forward and backward programs share most of their operations, and two
    processes compiled those twice, each on half the spare core (an LSTM's two programs:
    both done after 8.3 s, against 4.3 s for the first one alone)."""
    if cache_off() or key in _FAILED:
        return False
    with _LOCK:
        if key not in _DONE and key not in _QUEUE and not _in_batch(key):
            _QUEUE[key] = code
            _QUEUED[0] = time.monotonic()
    return True


def _in_batch(key) -> bool:
    return _BATCH is not None and key in _BATCH[1]


def _pump() -> None:
    """Collect a finished process; start the next one on what is queued."""
    global _BATCH
    with _LOCK:
        if _BATCH is not None:
            proc, keys = _BATCH
            if proc.poll() is None:
                return
            (_DONE if proc.returncode == 0 else _FAILED).update(keys)
            _BATCH = None
        if not _QUEUE or time.monotonic() - _QUEUED[0] < GRACE:
            return
        keys, code = tuple(_QUEUE), "\n".join(_QUEUE.values())
        _QUEUE.clear()
        try:
            proc = subprocess.Popen([sys.executable, "-c", _NICE + code],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        except OSError:
            _FAILED.update(keys)
            return
        _BATCH = (proc, keys)


def state(key) -> str:
    """"running" (queued, or compiling in another process), "done" (that process exited
    cleanly: the disk cache has it), "failed" or "none" (never started here)."""
    _pump()
    if key in _QUEUE or _in_batch(key):
        return "running"
    if key in _DONE:
        return "done"
    return "failed" if key in _FAILED else "none"


def failed(key) -> None:
    """Mark ``key`` failed: what its process left cannot be used here (the caller then
    compiles in the foreground)."""
    with _LOCK:
        _DONE.discard(key)
        _FAILED.add(key)


def wait(timeout=None) -> bool:
    """Run what is queued and wait for it; True when nothing is left running."""
    _QUEUED[0] = 0.0
    _pump()
    while _BATCH is not None:
        try:
            _BATCH[0].wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        _pump()
    return True
