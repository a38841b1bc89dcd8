"""The compiled backend: the same generic engines, with the loops over time of recurrent
components run in compiled code (numba).

The kinds state their rules once more as a few row operations (``emit_forward`` /
``emit_backward``); one interpreter, compiled once per machine and cached on disk, runs them
for every spec. Importing this package imports numba.
"""
from . import _rules, elementary, online, ops, recursion, vm
from .freshness import cache_directory as _cache_directory, ensure_fresh
from .run import CompiledBackend

__all__ = ["CompiledBackend", "KERNEL_MODULES", "DISPATCHERS", "cache_directory"]

#: every module with compiled kernels: one digest of their sources keys the disk cache
KERNEL_MODULES = (_rules, elementary, ops, vm, recursion, online)

#: every compiled function of the backend that the disk cache holds (elementary.tanh is
#: compiled into its callers)
DISPATCHERS = (_rules.transfer, _rules.deriv, vm.run, vm.run_forward,
               recursion.step_chunk, online.run_stream, *ops.BY_NAME.values())

ensure_fresh(KERNEL_MODULES, DISPATCHERS)


def cache_directory():
    """The directory of the kernels' disk cache, or None when it is turned off
    (``DYNGRAPH_CACHE=off``)."""
    return _cache_directory(DISPATCHERS)
