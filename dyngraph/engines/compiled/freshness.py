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
import logging
import os
from pathlib import Path

__all__ = ["ensure_fresh", "cache_directory", "cache_off", "will_compile", "announce",
           "announce_any"]

_log = logging.getLogger("dyngraph")
#: dispatchers whose first call in this process was looked at by :func:`announce`
_SEEN = set()

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


def will_compile(dispatcher) -> bool:
    """Whether the first call of ``dispatcher`` in this process compiles it: its disk cache
    holds no entry for this machine's processor (or the cache is off). False when numba's
    cache cannot be read this way (it then says nothing rather than something wrong)."""
    if getattr(dispatcher, "overloads", True):
        return False            # compiled already, or not a numba dispatcher at all
    if cache_off():
        return True
    try:
        from numba.core.registry import cpu_target
        here = cpu_target.target_context.codegen().magic_tuple()
        index = dispatcher._cache._cache_file._load_index()
        return not any(key[1] == here for key in index)
    except Exception:       # numba's private cache layout changed: say nothing
        return False


def announce(dispatcher, what: str, seconds: str) -> None:
    """Say once, on the ``dyngraph`` logger at WARNING (shown on stderr unless logging is
    configured otherwise, as matplotlib does for its font cache), that a kernel is about to
    be compiled: a first call would otherwise stall silently for seconds."""
    if dispatcher in _SEEN:
        return
    _SEEN.add(dispatcher)
    if will_compile(dispatcher):
        where = ("every process compiles (DYNGRAPH_CACHE=off)" if cache_off() else
                 "once per machine; `dyngraph compile` does it ahead of time")
        _log.warning("dyngraph: compiling the compiled backend's %s (~%s s, %s)",
                     what, seconds, where)


def announce_any(dispatchers, what: str, seconds: str) -> None:
    """:func:`announce` once for a group: when any of ``dispatchers`` not looked at before
    will compile on its first call."""
    new = [d for d in dispatchers if d not in _SEEN]
    _SEEN.update(new)
    if any(will_compile(d) for d in new):
        _SEEN.discard(new[0])
        announce(new[0], what, seconds)
