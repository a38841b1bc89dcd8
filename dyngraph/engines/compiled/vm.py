"""The compiled interpreter: a program of row operations run for every time step.

A *program* is an int64 array, one row per operation; the operations are the handful a node
kind needs to state its forward rule and its local derivatives (copy, add, multiply, a
weight-matrix product (also over a link's evenly spaced taps at once) and its transpose, a
scaled add, a transfer and its derivative; for online RTRL's explicit derivatives an outer
product, a strided product and a dot product). The interpreter knows nothing about layers,
gates or memories: the kinds emit the operations (``emit_forward`` / ``emit_backward``),
:mod:`.program` lays out the buffers. Because the interpreter does not depend on the
network, numba compiles it once per machine and caches it on disk; a new spec costs no
compilation at all.

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

Each operation is its own small compiled function and :func:`run` only dispatches: with the
bodies inline, past nine of them LLVM compiled the whole loop worse — every operation, a
copy of 8 elements included, cost ~40 ns instead of ~10 (measured, numba 0.68; the LSTM
from gates runs ~56 operations a step). Indices are unsigned (numba wraps negative signed
ones, and the wrapping kept LLVM from vectorising). Products are plain loops, not BLAS:
vectorised, they match numba's ``np.dot`` up to Q = 32, H = 32 (where the automatic choice
uses the numpy engines anyway), and ``np.dot`` cost ~8 s of the first compilation.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uintp

from . import _rules

__all__ = ["run", "run_forward", "runner", "OPS", "FORWARD_OPS", "N_FIELDS", "OPERAND0"]

#: Operation codes.
OPS = {"zero": 0, "copy": 1, "add": 2, "mul": 3, "vadd": 4, "vmul": 5, "matvec": 6,
       "matvec_t": 7, "diag": 8, "scale_add": 9, "transfer": 10, "deriv": 11, "outer": 12,
       "dmul": 13, "dot": 14, "mul3": 15, "addmul": 16, "matvec_taps": 17,
       "matvec_t_taps": 18}
OPERAND0 = 5
N_FIELDS = OPERAND0 + 4 * 4


_FM = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FM)
def _zero(prog, k, ws, Q, t):
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] = 0.0


@njit(cache=True, fastmath=_FM)
def _copy(prog, k, ws, Q, t):
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] = ws[yb + i]


@njit(cache=True, fastmath=_FM)
def _add(prog, k, ws, Q, t):
    """X += Y; code 1: X = V + Y (V a row operand)."""
    w, code, xo, xc, xs = prog[k, 1], prog[k, 4], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    vo, vc, vs = prog[k, 18], prog[k, 19], prog[k, 20]
    nq = Q
    if xs == w and ys == w and (code == 0 or vs == w):
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        if code == 1:
            vb = uintp(((t + vo) * Q + q) * vs + vc)
            for i in range(uintp(w)):
                ws[xb + i] = ws[vb + i] + ws[yb + i]
        else:
            for i in range(uintp(w)):
                ws[xb + i] += ws[yb + i]


@njit(cache=True, fastmath=_FM)
def _mul(prog, k, ws, Q, t):
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] *= ws[yb + i]


@njit(cache=True, fastmath=_FM)
def _vadd(prog, k, ws, Q, t):
    """X += vector Z."""
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    zc = uintp(prog[k, 15])
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] += ws[zc + i]


@njit(cache=True, fastmath=_FM)
def _vmul(prog, k, ws, Q, t):
    """X *= vector Z."""
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    zc = uintp(prog[k, 15])
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] *= ws[zc + i]


@njit(cache=True, fastmath=_FM)
def _matvec(prog, k, ws, Q, t):
    """X[q, i] += Σ_j Z[i, j] Y[q, j]; code 1: X[q, i] = V[q, i] + Σ_j ... (V a row operand:
    the layer's bias row or its hoisted part, see ``Emitter.matvec``)."""
    w, inner, code = prog[k, 1], prog[k, 3], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    vo, vc, vs = prog[k, 18], prog[k, 19], prog[k, 20]
    # Unsigned indices: with signed ones numba wraps negatives, and LLVM then does not
    # vectorise (an 8 x 8 product 51 -> 9 ns, measured).
    zc, zs = uintp(prog[k, 15]), uintp(prog[k, 16])
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        if code == 1:
            vb = uintp(((t + vo) * Q + q) * vs + vc)
            for i in range(uintp(w)):
                ws[xb + i] = ws[vb + i]
        for i in range(uintp(w)):
            wb = i * zs + zc
            s = 0.0
            for j in range(uintp(inner)):
                s += ws[wb + j] * ws[yb + j]
            ws[xb + i] += s


@njit(cache=True, fastmath=_FM)
def _matvec_taps(prog, k, ws, Q, t):
    """X[q, i] += Σ_{j<K} Σ_m Z[i, j n + m] Y_j[q, m]: a link's K taps in one operation,
    tap j being Y's rows ``j Δ`` further on (K = V's row offset, Δ = V's stride, n =
    inner). One operation instead of K: at these widths dispatch and operand loads cost as
    much as the products (bench/README.md, "fifth round"). Code 1: X starts from the
    parameter row at V's column, as in :func:`_matvec`."""
    w, inner, code = prog[k, 1], prog[k, 3], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zc, zs, vc = uintp(prog[k, 15]), uintp(prog[k, 16]), uintp(prog[k, 19])
    K, step = prog[k, 18], prog[k, 20]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        if code == 1:
            for i in range(uintp(w)):
                ws[xb + i] = ws[vc + i]
        for j in range(K):
            yb = uintp(((t + yo + j * step) * Q + q) * ys + yc)
            wj = zc + uintp(j * inner)
            for i in range(uintp(w)):
                wb = i * zs + wj
                s = 0.0
                for m in range(uintp(inner)):
                    s += ws[wb + m] * ws[yb + m]
                ws[xb + i] += s


@njit(cache=True, fastmath=_FM)
def _matvec_t(prog, k, ws, Q, t):
    """X[q, j] += Σ_i Z[i, j] Y[q, i], as axpys over Z's contiguous rows."""
    w, inner = prog[k, 1], prog[k, 3]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zc, zs = uintp(prog[k, 15]), uintp(prog[k, 16])
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(inner)):
            a = ws[yb + i]
            wb = i * zs + zc
            for j in range(uintp(w)):
                ws[xb + j] += ws[wb + j] * a


@njit(cache=True, fastmath=_FM)
def _matvec_t_taps(prog, k, ws, Q, t):
    """X[q, i] += Σ_{j<K} Σ_m Z[j n + m, i] Y_j[q, m]: :func:`_matvec_taps` over the
    transpose of its weights (Z here is Wᵀ, n = inner), as axpys over Z's rows — the form
    for taps of a few columns, where a row's dot product would not vectorise; K may be 1.
    Code 1: X starts from the parameter row at V's column."""
    w, inner, code = prog[k, 1], prog[k, 3], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zc, zs, vc = uintp(prog[k, 15]), uintp(prog[k, 16]), uintp(prog[k, 19])
    K, step = prog[k, 18], prog[k, 20]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        if code == 1:
            for i in range(uintp(w)):
                ws[xb + i] = ws[vc + i]
        for j in range(K):
            yb = uintp(((t + yo + j * step) * Q + q) * ys + yc)
            for m in range(uintp(inner)):
                a = ws[yb + m]
                wb = (uintp(j) * uintp(inner) + m) * zs + zc
                for i in range(uintp(w)):
                    ws[xb + i] += ws[wb + i] * a


@njit(cache=True, fastmath=_FM)
def _diag(prog, k, ws, Q, t):
    """X[q, i] += Z[i, col] Y[q, i]."""
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zc, zs = uintp(prog[k, 15]), uintp(prog[k, 16])
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] += ws[i * zs + zc] * ws[yb + i]


@njit(cache=True, fastmath=_FM)
def _scale_add(prog, k, ws, Q, t):
    """X += c Y, c = Z[col] (code 0) or 1 - Z[col] (code 1)."""
    w, code = prog[k, 1], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    c = ws[prog[k, 15]]
    if code == 1:
        c = 1.0 - c
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] += c * ws[yb + i]


@njit(cache=True, fastmath=_FM)
def _transfer(prog, k, ws, Q, t):
    """X = f_code(Y)."""
    w, code = prog[k, 1], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        _rules.transfer(code, ws, yb, ws, xb, w)


@njit(cache=True, fastmath=_FM)
def _deriv(prog, k, ws, Q, t):
    """X = Y * f'_code(n = Z, a = V)."""
    w, code = prog[k, 1], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    vo, vc, vs = prog[k, 18], prog[k, 19], prog[k, 20]
    nq = Q
    if xs == w and ys == w and zs == w and vs == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        vb = uintp(((t + vo) * Q + q) * vs + vc)
        _rules.deriv(code, ws, xb, ws, yb, ws, zb, ws, vb, w)


@njit(cache=True, fastmath=_FM)
def _outer(prog, k, ws, Q, t):
    """X[q, i*ld + c] += Y[q, i] Z[q, c], ld = code."""
    w, inner, ld = prog[k, 1], prog[k, 3], uintp(prog[k, 4])
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        for i in range(uintp(w)):
            a = ws[yb + i]
            if a != 0.0:
                for c in range(uintp(inner)):
                    ws[xb + i * ld + c] += a * ws[zb + c]


@njit(cache=True, fastmath=_FM)
def _dmul(prog, k, ws, Q, t):
    """X[q, i*ld] += Y[q, i] Z[q, i], ld = code."""
    w, ld = prog[k, 1], uintp(prog[k, 4])
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        for i in range(uintp(w)):
            ws[xb + i * ld] += ws[yb + i] * ws[zb + i]


@njit(cache=True, fastmath=_FM)
def _dot(prog, k, ws, Q, t):
    """X[q, 0] += Σ_i Y[q, i] Z[q, i] (code 1: -=)."""
    w, code = prog[k, 1], prog[k, 4]
    xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        s = 0.0
        for i in range(uintp(w)):
            s += ws[yb + i] * ws[zb + i]
        if code == 1:
            ws[xb] -= s
        else:
            ws[xb] += s


@njit(cache=True, fastmath=_FM)
def _mul3(prog, k, ws, Q, t):
    """X = Y * Z (a product gate of two factors in one operation)."""
    w, xo, xc, xs = prog[k, 1], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    nq = Q
    if xs == w and ys == w and zs == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        for i in range(uintp(w)):
            ws[xb + i] = ws[yb + i] * ws[zb + i]


@njit(cache=True, fastmath=_FM)
def _addmul(prog, k, ws, Q, t):
    """X += Y * Z (a product gate's adjoint to one factor, in one operation); code 1:
    X = V + Y * Z (V a row operand)."""
    w, code, xo, xc, xs = prog[k, 1], prog[k, 4], prog[k, 6], prog[k, 7], prog[k, 8]
    yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
    zo, zc, zs = prog[k, 14], prog[k, 15], prog[k, 16]
    vo, vc, vs = prog[k, 18], prog[k, 19], prog[k, 20]
    nq = Q
    if xs == w and ys == w and zs == w and (code == 0 or vs == w):
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        if code == 1:
            vb = uintp(((t + vo) * Q + q) * vs + vc)
            for i in range(uintp(w)):
                ws[xb + i] = ws[vb + i] + ws[yb + i] * ws[zb + i]
        else:
            for i in range(uintp(w)):
                ws[xb + i] += ws[yb + i] * ws[zb + i]


#: every compiled function of the interpreter besides run (their caches are flushed with it)
OPERATIONS = (_zero, _copy, _add, _mul, _vadd, _vmul, _matvec, _matvec_t, _diag, _scale_add,
              _transfer, _deriv, _outer, _dmul, _dot, _mul3, _addmul, _matvec_taps,
              _matvec_t_taps)


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
                _copy(prog, k, ws, Q, t)
            elif op == 2:
                _add(prog, k, ws, Q, t)
            elif op == 3:
                _mul(prog, k, ws, Q, t)
            elif op == 16:
                _addmul(prog, k, ws, Q, t)
            elif op == 15:
                _mul3(prog, k, ws, Q, t)
            elif op == 6:
                _matvec(prog, k, ws, Q, t)
            elif op == 17:
                _matvec_taps(prog, k, ws, Q, t)
            elif op == 7:
                _matvec_t(prog, k, ws, Q, t)
            elif op == 18:
                _matvec_t_taps(prog, k, ws, Q, t)
            elif op == 10:
                _transfer(prog, k, ws, Q, t)
            elif op == 11:
                _deriv(prog, k, ws, Q, t)
            elif op == 0:
                _zero(prog, k, ws, Q, t)
            elif op == 4:
                _vadd(prog, k, ws, Q, t)
            elif op == 5:
                _vmul(prog, k, ws, Q, t)
            elif op == 8:
                _diag(prog, k, ws, Q, t)
            elif op == 9:
                _scale_add(prog, k, ws, Q, t)
            elif op == 12:
                _outer(prog, k, ws, Q, t)
            elif op == 13:
                _dmul(prog, k, ws, Q, t)
            else:
                _dot(prog, k, ws, Q, t)
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
                _copy(prog, k, ws, Q, t)
            elif op == 2:
                _add(prog, k, ws, Q, t)
            elif op == 3:
                _mul(prog, k, ws, Q, t)
            elif op == 16:
                _addmul(prog, k, ws, Q, t)
            elif op == 15:
                _mul3(prog, k, ws, Q, t)
            elif op == 6:
                _matvec(prog, k, ws, Q, t)
            elif op == 17:
                _matvec_taps(prog, k, ws, Q, t)
            elif op == 18:
                _matvec_t_taps(prog, k, ws, Q, t)
            elif op == 10:
                _transfer(prog, k, ws, Q, t)
            elif op == 0:
                _zero(prog, k, ws, Q, t)
            elif op == 4:
                _vadd(prog, k, ws, Q, t)
            elif op == 5:
                _vmul(prog, k, ws, Q, t)
            elif op == 8:
                _diag(prog, k, ws, Q, t)
            else:
                _scale_add(prog, k, ws, Q, t)
        t += step


def runner(prog):
    """The interpreter for ``prog``: :func:`run_forward` when it holds forward operations
    only, else :func:`run` (same results; they differ only in what they compile)."""
    if set(np.unique(prog[:, 0]).tolist()) <= FORWARD_OPS:
        return run_forward
    return run


def empty_program():
    return np.zeros((0, N_FIELDS), dtype=np.int64)
