"""Which engine steps recurrent components: ``"numpy"`` (the reference) or ``"compiled"``.

``resolve(name)`` turns a user's choice into the object the engines take: an explicit name,
else the ``DYNGRAPH_BACKEND`` environment variable, else automatic: ``"compiled"`` when numba
is installed — for batches of up to ``AUTO_MAX_Q`` sequences (gradients) and
``AUTO_MAX_Q_SIMULATE`` (simulations), where it is measured faster — and ``"numpy"``
otherwise; there, a component whose program is not compiled on this machine yet runs on
numpy until it has run ``WARM_STEPS`` sequence-steps, then compiles on a thread of its own
while it goes on on numpy, and runs compiled once the compile is done. A backend named
explicitly is used for every batch and compiles at once.

>>> resolve("numpy") is None
True
"""
from __future__ import annotations

import os
from functools import lru_cache

__all__ = ["resolve", "BACKENDS", "available"]

BACKENDS = ("numpy", "compiled")


@lru_cache(maxsize=None)
def available(name: str) -> bool:
    """Whether a backend can run here (the compiled one needs numba)."""
    if name == "numpy":
        return True
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=None)
def _compiled(auto: bool):
    from .compiled import CompiledBackend
    from .compiled.run import AUTO_MAX_Q, AUTO_MAX_Q_SIMULATE
    if auto:
        return CompiledBackend(max_q=AUTO_MAX_Q, max_q_simulate=AUTO_MAX_Q_SIMULATE,
                               lazy=True, background=True)
    return CompiledBackend()


def resolve(name=None):
    """The backend object for ``name`` (None for numpy).

    Raises
    ------
    ValueError
        For an unknown name, or "compiled" asked for explicitly where numba is missing.
    """
    chosen = name if name is not None else os.environ.get("DYNGRAPH_BACKEND") or None
    if chosen is None:
        return _compiled(True) if available("compiled") else None
    if not isinstance(chosen, str):
        return chosen                  # already a backend object
    if chosen not in BACKENDS:
        raise ValueError(f"unknown backend {chosen!r}; choose one of {', '.join(BACKENDS)}")
    if chosen == "numpy":
        return None
    if not available("compiled"):
        raise ValueError("backend 'compiled' needs numba: pip install numba")
    return _compiled(False)
