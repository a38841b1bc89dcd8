"""Keep numba's on-disk cache of the compiled kernels fresh when any kernel file changes.

numba keys a cached function by the time stamp of its own source file only, and links the
functions it calls into its own cached code: after an edit of the transfer rules the cached
interpreter (which calls them) would keep the old ones, and online RTRL (which calls the
interpreter and the recursion) the old interpreter. A digest of every kernel source, kept
beside the cache, flushes all the kernels' caches when any of them changed; the next call
compiles once and caches again.

``DYNGRAPH_CACHE=off`` (or 0, no, false) turns the disk cache off: every process then
compiles the kernels itself (~6 s) and writes nothing.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["ensure_fresh", "cache_directory", "cache_off"]

_STAMP = "dyngraph-kernels.sha256"


def _digest(modules) -> str:
    h = hashlib.sha256()
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()


def cache_off() -> bool:
    """Whether ``DYNGRAPH_CACHE`` turns the disk cache off."""
    return os.environ.get("DYNGRAPH_CACHE", "").strip().lower() in ("off", "0", "no", "false")


def cache_directory(dispatchers):
    """Where the dispatchers' disk cache lives (None when it is off)."""
    if cache_off():
        return None
    paths = sorted({str(d._cache.cache_path) for d in dispatchers})
    return paths[0] if len(paths) == 1 else ", ".join(paths)


def ensure_fresh(modules, dispatchers) -> bool:
    """Flush the cache of every dispatcher when the sources of ``modules`` changed since the
    last check; True when it flushed. A cache directory that cannot be written is left as
    numba handles it."""
    if cache_off():
        for d in dispatchers:
            d._cache.disable()
        return False
    digest = _digest(modules)
    stamps = {Path(d._cache.cache_path) / _STAMP for d in dispatchers}
    if all(p.is_file() and p.read_text() == digest for p in stamps):
        return False
    for d in dispatchers:
        d._cache.flush()
    for p in stamps:
        try:
            p.write_text(digest)
        except OSError:
            pass
    return True
