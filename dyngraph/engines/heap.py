"""glibc's heap thresholds, so that the large arrays of one call are reused by the next.

Every simulate, gradient and Jacobian call allocates and frees arrays of T·Q·n elements
(records, hoisted inputs, workspaces). Whether glibc hands the next call the same memory or
fresh pages depends on its *dynamic* thresholds, which follow the process's history: glibc
maps a chunk above ``M_MMAP_THRESHOLD`` on its own, and gives the heap's free top back to
the system above ``M_TRIM_THRESHOLD``; both start at 128 KB / 256 KB and rise only when a
mapped chunk is freed. Fresh pages cost a page fault each on first touch. The same NARX
gradient (Q = 32, T = 1000, H = 10) measured 3.3 ms in one process and 8.3 ms in another:
3,555 page faults a call, from the allocation history before it.

:func:`keep_large_arrays` fixes the thresholds at the values glibc's own rule reaches once a
32 MB array has been freed (mapped above 32 MB, trimmed above 64 MB): arrays up to 32 MB then
come from the heap and are reused, and at most 64 MB of freed memory stays with the process.
It is called when the engines are imported; ``DYNGRAPH_HEAP=off`` leaves glibc alone.
Elsewhere (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_large_arrays", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2 ** 20
TRIM_THRESHOLD = 64 * 2 ** 20
_DONE = []


def keep_large_arrays() -> bool:
    """Set glibc's mmap and trim thresholds (once a process); True when they are set.

    Examples
    --------
    >>> from dyngraph.engines.heap import keep_large_arrays
    >>> keep_large_arrays() in (True, False)
    True
    """
    if _DONE:
        return _DONE[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get(
            "DYNGRAPH_HEAP", "").strip().lower() not in ("off", "0", "no", "false"):
        try:
            libc = ctypes.CDLL(None)
            if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt"):
                ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except OSError:
            ok = False
    _DONE.append(ok)
    return ok
