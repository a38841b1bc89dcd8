"""The RTRL sensitivity recursion, stepped in compiled code.

RTRL (:mod:`dyngraph.engines.rtrl`) splits each step into a static part, computed for a
chunk of steps at once with numpy — the explicit derivatives E_u(t) (B, Q, n_u, P) and the
closing coefficients C_{u,x,d}(t) (B, Q, n_u, n_x) — and the recursion that must step:

    S_u(t) = E_u(t) + Σ_{(x, d)} C_{u,x,d}(t) · S_x(t − d)

This module runs the second part for a whole chunk in one call. Every array is handed over
flat, with integer tables of offsets, so one compiled kernel serves every spec (nothing is
compiled per spec, as for the forward interpreter in :mod:`.vm`). The numpy loop in
:meth:`~dyngraph.engines.rtrl._Sweep.run` is the reference; they agree to rounding
(tests/test_backends.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit, uintp

from . import background
from .freshness import will_compile

__all__ = ["step_chunk", "Recursion"]


@njit(cache=True, nogil=True)
def step_chunk(B, Q, P, now0, head_R, head_state, head_E, head_out, head_c0, head_c1,
               coef_off, coef_src, coef_delay, coef_nx, state_off, state_depth, state_n,
               Eflat, Cflat, Hflat, Oflat):
    """Advance the recursion over B steps.

    Parameters
    ----------
    B, Q, P : steps in the chunk, sequences, parameters
    now0 : the clock of the chunk's first step (ring-buffer slot = clock mod depth)
    head_R, head_state, head_E, head_out, head_c0, head_c1 : per head u, in plan order —
        n_u; its state index (−1 if not a state); offset of its E (B, Q, n_u, P) in Eflat;
        offset of its output block (B, Q, n_u, P) in Oflat (−1 if not an output); its
        coefficients are k = head_c0[u] .. head_c1[u] − 1
    coef_off, coef_src, coef_delay, coef_nx : per coefficient k — offset of C_k
        (B, Q, n_u, n_x) in Cflat; the state x it closes with; the delay d; n_x
    state_off, state_depth, state_n : per state x — offset of its ring buffer
        (depth, Q, n_x, P) in Hflat; depth; n_x
    Eflat, Cflat, Hflat, Oflat : float64 (…,) buffers; Hflat carries S across calls
    """
    # Unsigned indices throughout: with signed ones numba wraps negatives and LLVM does not
    # vectorise the row updates (see vm._matvec).
    Pu = uintp(P)
    for b in range(B):
        now = now0 + b
        for u in range(head_R.shape[0]):
            R = head_R[u]
            s = head_state[u]
            block = Q * R * P
            if s >= 0:
                dst = uintp(state_off[s] + (now % state_depth[s]) * block)
                buf = Hflat
            else:
                dst = uintp(head_out[u] + b * block)
                buf = Oflat
            src = uintp(head_E[u] + b * block)
            for i in range(uintp(block)):
                buf[dst + i] = Eflat[src + i]
            for k in range(head_c0[u], head_c1[u]):
                d = coef_delay[k]
                if now - d < 0:
                    continue
                x = coef_src[k]
                nx = coef_nx[k]
                prev = state_off[x] + ((now - d) % state_depth[x]) * Q * nx * P
                c = coef_off[k] + b * Q * R * nx
                for q in range(Q):
                    for r in range(R):
                        row = dst + uintp((q * R + r) * P)
                        for j in range(nx):
                            a = Cflat[c + (q * R + r) * nx + j]
                            if a != 0.0:
                                pr = uintp(prev + (q * nx + j) * P)
                                for p in range(Pu):
                                    buf[row + p] += a * Hflat[pr + p]
            if s >= 0 and head_out[u] >= 0:
                out = uintp(head_out[u] + b * block)
                for i in range(uintp(block)):
                    Oflat[out + i] = Hflat[dst + i]


def _type():
    """Compile (or load) :func:`step_chunk` for the types of every real call, by a call over
    no steps (B = 0): nothing runs."""
    ints, floats = [np.zeros(1, dtype=np.int64)] * 13, [np.zeros(1)] * 4
    step_chunk(0, 1, 1, 0, *ints, *floats)


#: What a process compiling the kernel in the background runs (see :mod:`.background`).
_CHILD = "from dyngraph.engines.compiled.recursion import _type; _type()"


class Recursion:
    """What RTRL asks of the compiled backend: ``takes(Q)``, the state tables once per
    sweep, and ``step`` per chunk (packing the coefficient arrays flat).

    ``lazy`` (the automatic choice): while :func:`step_chunk` is not compiled on this
    machine, ``takes`` declines (numpy steps the recursion) and another process compiles it
    (:mod:`.background`; the first Jacobian on a fresh machine otherwise waited ~1 s for it);
    without a way to compile there, it compiles here at its first call."""

    def __init__(self, max_q=None, lazy=False):
        self.max_q = max_q
        self.lazy = lazy
        self._ready = not lazy

    def takes(self, Q: int) -> bool:
        if not (self.max_q is None or Q <= self.max_q):
            return False
        if not self._ready:
            if not will_compile(step_chunk):
                self._ready = True
            else:
                state = background.state("recursion")
                if state == "none" and background.start("recursion", _CHILD):
                    return False
                if state == "running":
                    return False
                self._ready = True      # done (on disk now), or compile here
        return True

    @staticmethod
    def state_tables(offsets, depths, sizes):
        """(state_off, state_depth, state_n) as int64 arrays."""
        return tuple(np.asarray(v, dtype=np.int64).reshape(-1) for v in (offsets, depths, sizes))

    @staticmethod
    def step(B, Q, P, now0, sizes, head_state, e_off, o_off, c_range, coefs, c_src, c_delay,
             c_nx, tables, Eflat, Hflat, Oflat):
        """One chunk: see :func:`step_chunk` for the layout."""
        lengths = [c.size for c in coefs]
        c_off = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if coefs else np.zeros(0)
        Cflat = (np.concatenate([np.ascontiguousarray(c).reshape(-1) for c in coefs])
                 if coefs else np.zeros(0))
        i64 = lambda v: np.asarray(v, dtype=np.int64).reshape(-1)
        c_range = np.asarray(c_range, dtype=np.int64).reshape(-1, 2)
        step_chunk(B, Q, P, now0, i64(sizes), i64(head_state), i64(e_off), i64(o_off),
                   c_range[:, 0].copy(), c_range[:, 1].copy(), i64(c_off), i64(c_src),
                   i64(c_delay), i64(c_nx), *tables, Eflat, Cflat, Hflat, Oflat)
