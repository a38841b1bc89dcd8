"""The compiled interpreter: a program of row operations run for every time step.

A *program* is an int64 array, one row per operation; the operations are the handful a node
kind needs to state its forward rule and its local derivatives (copy, add, multiply, a
weight-matrix product (also over a link's evenly spaced taps at once) and its transpose, a
scaled add, a transfer and its derivative; for online RTRL's explicit derivatives an outer
product, a strided product and a dot product). The interpreter knows nothing about layers,
gates or memories: the kinds emit the operations (``emit_forward`` / ``emit_backward``),
:mod:`.program` lays out the buffers. Because the interpreter does not depend on the
network, numba compiles it once per machine and caches it on disk; a new spec costs no
compilation at all. A program that runs long enough gets its own step function instead,
the same operations with their fields as literals (:mod:`.specialise`): 1.2-1.8x faster
at Q = 1, ~0.3 s to compile once per machine.

Operands address rows of buffers laid out like the engines' ``(rows, Q, width)`` arrays,
all copied side by side into one workspace (one flat array: no list of arrays to index per
operation): element (q, i) of the row for time t is ``ws[((t + off) * Q + q) * stride +
col + i]`` where ``col`` includes the buffer's start. A parameter operand (a weight matrix
W, a bias vector, μ) is addressed by its own row i instead: ``ws[i * stride + col + j]``
(the third operand of outer, dmul and dot is a row operand like the first two).

Row layout of a program (``N_FIELDS`` columns): op, width, guard delay d (the operation is
skipped when t - d < tmin: truncated BPTT drops adjoints below tmin), inner size, code, then
four operands (buffer index, row offset, first column, stride). The code is the transfer of
transfer and deriv, which of c or 1 - c scale_add takes, and for matvec, matvec_taps, add
and addmul 1 = X starts from the fourth operand V instead of adding into X (the emitter
folds a preceding ``copy(X, V)`` in). Operations whose operands are all whole rows
(width = stride) run the Q sequences' rows as one segment. A product comes in two forms,
dot products over Z's rows (``matvec``, ``matvec_taps``) and axpys over them (``matvec_t``,
``matvec_t_taps``); the emitter gives each product the form whose inner loop is the longer
one, over a transposed copy of the weights when needed (``Emitter.matvec``). The forward
rules' products over Wᵀ all take ``matvec_t_taps`` (K = 1 for one tap), so that a
simulation compiles one function more, not two.

Each operation is its own small compiled function (:mod:`.ops`, a function of its
fields) and :func:`run` only dispatches, reading the fields from the row: with the bodies
inline, past nine of them LLVM compiled the whole loop worse — every operation, a copy of
8 elements included, cost ~40 ns instead of ~10 (measured, numba 0.68; the LSTM from gates
runs ~56 operations a step). Indices are unsigned (numba wraps negative signed
ones, and the wrapping kept LLVM from vectorising). Products are plain loops, not BLAS:
vectorised, they match numba's ``np.dot`` up to Q = 32, H = 32 (where the automatic choice
uses the numpy engines anyway), and ``np.dot`` cost ~8 s of the first compilation.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import ops

__all__ = ["run", "run_forward", "runner", "OPS", "FORWARD_OPS", "N_FIELDS", "OPERAND0"]

#: Operation codes.
OPS = {"zero": 0, "copy": 1, "add": 2, "mul": 3, "vadd": 4, "vmul": 5, "matvec": 6,
       "matvec_t": 7, "diag": 8, "scale_add": 9, "transfer": 10, "deriv": 11, "outer": 12,
       "dmul": 13, "dot": 14, "mul3": 15, "addmul": 16, "matvec_taps": 17,
       "matvec_t_taps": 18}
OPERAND0 = 5
N_FIELDS = OPERAND0 + 4 * 4


@njit(cache=True)
def run(prog, ws, Q, t_start, t_stop, step, tmin):
    """Run ``prog`` for t = t_start, t_start + step, ... (t_stop excluded).

    Parameters
    ----------
    prog : (K, N_FIELDS) int64
    ws : 1-D float64, the workspace every operand addresses (column fields include the
         operand buffer's start in it)
    Q : number of sequences
    t_start, t_stop, step : the time loop (step = 1 forward, -1 backward)
    tmin : operations whose guarded time t - d falls below it are skipped
    """
    K = prog.shape[0]
    t = t_start
    while t != t_stop:
        for k in range(K):
            if t - prog[k, 2] < tmin:
                continue
            op = prog[k, 0]
            if op == 1:
                ops.copy(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 2:
                ops.add(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                  prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                  prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 3:
                ops.mul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                  prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                  prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 16:
                ops.addmul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                     prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                     prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                     prog[k, 15], prog[k, 19])
            elif op == 15:
                ops.mul3(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 6:
                ops.matvec(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                     prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                     prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                     prog[k, 15], prog[k, 19])
            elif op == 17:
                ops.matvec_taps(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6],
                                          prog[k, 8], prog[k, 10], prog[k, 12], prog[k, 14],
                                          prog[k, 16], prog[k, 18], prog[k, 20], prog[k, 7],
                                          prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 7:
                ops.matvec_t(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                       prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                       prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                       prog[k, 15], prog[k, 19])
            elif op == 18:
                ops.matvec_t_taps(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6],
                                            prog[k, 8], prog[k, 10], prog[k, 12], prog[k, 14],
                                            prog[k, 16], prog[k, 18], prog[k, 20], prog[k, 7],
                                            prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 10:
                ops.transfer(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                       prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                       prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                       prog[k, 15], prog[k, 19])
            elif op == 11:
                ops.deriv(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                    prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                    prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15],
                                    prog[k, 19])
            elif op == 0:
                ops.zero(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 4:
                ops.vadd(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 5:
                ops.vmul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 8:
                ops.diag(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 9:
                ops.scale_add(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                        prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                        prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                        prog[k, 15], prog[k, 19])
            elif op == 12:
                ops.outer(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                    prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                    prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15],
                                    prog[k, 19])
            elif op == 13:
                ops.dmul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            else:
                ops.dot(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                  prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                  prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
        t += step


#: the operations the kinds' forward rules use: :func:`run_forward` dispatches only these, so
#: that a simulation's first use compiles only their functions (the derivative rules are the
#: most costly to compile, ~1.7 s of the ~6 s of all).
FORWARD_OPS = frozenset(OPS[k] for k in ("zero", "copy", "add", "mul", "vadd", "vmul",
                                         "matvec", "diag", "scale_add", "transfer", "mul3",
                                         "addmul", "matvec_taps", "matvec_t_taps"))


@njit(cache=True)
def run_forward(prog, ws, Q, t_start, t_stop, step, tmin):
    """:func:`run` for a program of :data:`FORWARD_OPS` only (see :func:`runner`)."""
    K = prog.shape[0]
    t = t_start
    while t != t_stop:
        for k in range(K):
            if t - prog[k, 2] < tmin:
                continue
            op = prog[k, 0]
            if op == 1:
                ops.copy(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 2:
                ops.add(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                  prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                  prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 3:
                ops.mul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                  prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                  prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 16:
                ops.addmul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                     prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                     prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                     prog[k, 15], prog[k, 19])
            elif op == 15:
                ops.mul3(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 6:
                ops.matvec(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                     prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                     prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                     prog[k, 15], prog[k, 19])
            elif op == 17:
                ops.matvec_taps(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6],
                                          prog[k, 8], prog[k, 10], prog[k, 12], prog[k, 14],
                                          prog[k, 16], prog[k, 18], prog[k, 20], prog[k, 7],
                                          prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 18:
                ops.matvec_t_taps(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6],
                                            prog[k, 8], prog[k, 10], prog[k, 12], prog[k, 14],
                                            prog[k, 16], prog[k, 18], prog[k, 20], prog[k, 7],
                                            prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 10:
                ops.transfer(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                       prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                       prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                       prog[k, 15], prog[k, 19])
            elif op == 0:
                ops.zero(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 4:
                ops.vadd(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 5:
                ops.vmul(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            elif op == 8:
                ops.diag(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                   prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16], prog[k, 18],
                                   prog[k, 20], prog[k, 7], prog[k, 11], prog[k, 15], prog[k, 19])
            else:
                ops.scale_add(ws, Q, t, prog[k, 1], prog[k, 3], prog[k, 4], prog[k, 6], prog[k, 8],
                                        prog[k, 10], prog[k, 12], prog[k, 14], prog[k, 16],
                                        prog[k, 18], prog[k, 20], prog[k, 7], prog[k, 11],
                                        prog[k, 15], prog[k, 19])
        t += step


def runner(prog):
    """The interpreter for ``prog``: :func:`run_forward` when it holds forward operations
    only, else :func:`run` (same results; they differ only in what they compile)."""
    if set(np.unique(prog[:, 0]).tolist()) <= FORWARD_OPS:
        return run_forward
    return run


def empty_program():
    return np.zeros((0, N_FIELDS), dtype=np.int64)
