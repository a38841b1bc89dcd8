"""Which engine steps recurrent components: ``"numpy"`` (the reference) or ``"compiled"``.

``resolve(name)`` turns a user's choice into the object the engines take: an explicit name,
else the ``DYNGRAPH_BACKEND`` environment variable, else automatic (:class:`Automatic`,
where numba is installed): numpy until the process has stepped :data:`LOAD_STEPS`
node-steps of recurrent components, then the compiled backend — for batches of up to
``AUTO_MAX_Q`` sequences (gradients) and ``AUTO_MAX_Q_SIMULATE`` (simulations), where it is
measured faster. There a component whose program is not compiled on this machine yet runs
on numpy until it has run ``WARM_STEPS`` sequence-steps, then compiles in a process of its
own while it goes on on numpy, and runs compiled once the compile is done. A backend named
explicitly is used for every batch, from the first call, and compiles at once.

>>> resolve("numpy") is None
True
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

__all__ = ["resolve", "BACKENDS", "available", "Automatic", "LOAD_STEPS", "loaded",
           "AUTO_MAX_Q", "AUTO_MAX_Q_SIMULATE"]

BACKENDS = ("numpy", "compiled")

#: Batch sizes above which the automatic choice leaves a component to the numpy engines:
#: their per-step cost is call overhead that a large batch amortises, while the compiled
#: loops grow with it. Gradients (BPTT, RTRL, the Jacobian, online RTRL): compiled / numpy
#: 0.24-0.96 at Q = 16 over Elman H = 32 and 128, NARX, LSTM H = 32 and 64, GRU H = 32 (the
#: RTRL Jacobian 0.42-1.00, an online RTRL step 0.22), but up to 1.28 at Q = 32
#: (bench/README.md, "ninth round"). Simulations: 0.36-0.86 at Q = 128
#: (Elman H = 32 and 64, NARX, LSTM H = 32 and 64, GRU H = 32 and 64), the one loss an Elman
#: layer of 128 units (1.02 at Q = 32, 1.36 at Q = 128).
AUTO_MAX_Q = 16
AUTO_MAX_Q_SIMULATE = 128

#: Node-steps (T·Q times the nodes of each recurrent component stepped, summed over calls)
#: that the automatic choice leaves to numpy before it loads the compiled backend. Loading
#: costs a process ~0.3 s even when every kernel is on the disk cache (numba's import
#: ~0.1 s, the backend's ~0.05 s, numba's first cached call ~0.15 s: bench/README.md,
#: "eleventh round"), which a short run (a simulation of a few thousand steps, a CLI call,
#: a test) never earns back. The numpy engines spend 2-4 us a node-step (simulation,
#: gradient: the LSTM from gates, NARX, Elman), so a long run has spent ~0.04-0.08 s on
#: numpy when it loads: a fraction of the load, which a short run saves whole.
LOAD_STEPS = 20_000


@lru_cache(maxsize=None)
def available(name: str) -> bool:
    """Whether a backend can run here (the compiled one needs numba). Looks numba up
    without importing it (that costs ~0.1 s; see :data:`LOAD_STEPS`)."""
    if name == "numpy":
        return True
    return importlib.util.find_spec("numba") is not None


@lru_cache(maxsize=None)
def _compiled(auto: bool):
    if auto:
        return Automatic()
    try:
        from .compiled import CompiledBackend
    except Exception as err:        # numba is there but does not import (a broken install)
        raise ValueError(f"backend 'compiled' needs a numba that imports; importing it "
                         f"failed: {type(err).__name__}: {err}") from None
    return CompiledBackend()


class Automatic:
    """The automatic choice: the numpy engines (every method declines) until the process
    has stepped :data:`LOAD_STEPS` node-steps of recurrent components, then the
    compiled backend, lazy and compiling in the background (:meth:`load`). One per process:
    the count is the process's."""

    name = "automatic"

    def __init__(self):
        self.steps = 0
        self.compiled = None        # the CompiledBackend, once loaded
        self.failed = False         # numba was found but would not import

    def load(self):
        """The compiled backend (imported and made at the first call), or None when numba
        cannot be imported after all."""
        if self.compiled is None and not self.failed:
            try:
                from .compiled import CompiledBackend
            except BaseException as err:
                # A broken numba install, or a Ctrl-C in the middle of its import (which
                # can leave numba half imported for good): numpy from now on in this
                # process; the interrupt goes on to the caller (a training run stops and
                # keeps its best weights).
                self.failed = True
                if not isinstance(err, Exception):
                    raise
                return None
            self.compiled = CompiledBackend(max_q=AUTO_MAX_Q,
                                            max_q_simulate=AUTO_MAX_Q_SIMULATE,
                                            lazy=True, background=True)
        return self.compiled

    def forward_component(self, plan, P, A, caches, comp, T) -> bool:
        """As :meth:`.compiled.CompiledBackend.forward_component` once loaded; before, counts
        the component's node-steps and declines (numpy steps it)."""
        compiled = self.compiled
        if compiled is None:
            Q = next(iter(A.values())).shape[1]
            if Q > (AUTO_MAX_Q if caches is not None else AUTO_MAX_Q_SIMULATE):
                return False        # numpy's, loaded or not: nothing to count
            self.steps += T * Q * len(comp.nodes)
            if self.steps <= LOAD_STEPS or self.load() is None:
                return False
            compiled = self.compiled
        return compiled.forward_component(plan, P, A, caches, comp, T)

    def backward_component(self, *args) -> bool:
        # (A backward pass whose forward ran on numpy just before the load may run
        # compiled: sound, the caches are the kinds' own either way.)
        compiled = self.compiled
        return compiled is not None and compiled.backward_component(*args)

    @property
    def rtrl_recursion(self):
        compiled = self.compiled
        return None if compiled is None else compiled.rtrl_recursion


def loaded(backend):
    """``backend`` (as :func:`resolve` gave it) for a caller that runs long from its first
    step — a training run, an online learner's stream: the automatic choice's compiled
    backend at once. A training run's numbers then never depend on what its process ran
    before (the compiled and numpy engines agree to rounding, not bit for bit): restarts
    on fresh Dask workers equal sequential runs in a long-lived process."""
    if isinstance(backend, Automatic):
        return backend.load()
    return backend


def resolve(name=None):
    """The backend object for ``name`` (None for numpy).

    Raises
    ------
    ValueError
        For an unknown name, or "compiled" asked for explicitly where numba is missing or
        does not import.
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
