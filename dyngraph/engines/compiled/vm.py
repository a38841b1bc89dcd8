"""The compiled interpreter: a program of row operations run for every time step.

A *program* is an int64 array, one row per operation; the operations are the handful a node
kind needs to state its forward rule and its local derivatives (copy, add, multiply, a
weight-matrix product and its transpose, a scaled add, a transfer and its derivative). The
interpreter knows nothing about layers, gates or memories: the kinds emit the operations
(``emit_forward`` / ``emit_backward``), :mod:`.program` lays out the buffers. Because the
interpreter does not depend on the network, numba compiles it once per machine and caches
it on disk; a new spec costs no compilation at all.

Operands address rows of buffers laid out like the engines' ``(rows, Q, width)`` arrays,
flattened: element (q, i) of the row for time t is ``buf[((t + off) * Q + q) * stride +
col + i]``. A parameter operand (a weight matrix W, a bias vector, μ) is addressed by
its own row i instead: ``W[i * stride + col + j]``.

Row layout of a program (``N_FIELDS`` columns): op, width, guard delay d (the operation is
skipped when t - d < tmin: truncated BPTT drops adjoints below tmin), inner size, code, then
four operands (buffer index, row offset, first column, stride).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import _rules

__all__ = ["run", "OPS", "N_FIELDS", "OPERAND0"]

#: Operation codes.
OPS = {"zero": 0, "copy": 1, "add": 2, "mul": 3, "vadd": 4, "vmul": 5, "matvec": 6,
       "matvec_t": 7, "diag": 8, "scale_add": 9, "transfer": 10, "deriv": 11}
OPERAND0 = 5
N_FIELDS = OPERAND0 + 4 * 4


@njit(cache=True)
def run(prog, bufs, Q, t_start, t_stop, step, tmin):
    """Run ``prog`` for t = t_start, t_start + step, ... (t_stop excluded).

    Parameters
    ----------
    prog : (K, N_FIELDS) int64
    bufs : numba typed List of 1-D float64 arrays
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
            w = prog[k, 1]
            inner = prog[k, 3]
            code = prog[k, 4]
            X = bufs[prog[k, 5]]
            xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
            Y = bufs[prog[k, 9]]
            yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
            Z = bufs[prog[k, 13]]
            zc, zs = prog[k, 15], prog[k, 16]
            if op == 0:                                   # zero: X = 0
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    for i in range(w):
                        X[xb + i] = 0.0
            elif op == 1:                                 # copy: X = Y
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        X[xb + i] = Y[yb + i]
            elif op == 2:                                 # add: X += Y
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        X[xb + i] += Y[yb + i]
            elif op == 3:                                 # mul: X *= Y
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        X[xb + i] *= Y[yb + i]
            elif op == 4:                                 # vadd: X += vector Z
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    for i in range(w):
                        X[xb + i] += Z[zc + i]
            elif op == 5:                                 # vmul: X *= vector Z
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    for i in range(w):
                        X[xb + i] *= Z[zc + i]
            elif op == 6:                 # matvec: X[q, i] += sum_j Z[i, j] Y[q, j]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        wb = i * zs + zc
                        s = 0.0
                        for j in range(inner):
                            s += Z[wb + j] * Y[yb + j]
                        X[xb + i] += s
            elif op == 7:                 # matvec_t: X[q, j] += sum_i Z[i, j] Y[q, i]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for j in range(w):
                        s = 0.0
                        for i in range(inner):
                            s += Z[i * zs + zc + j] * Y[yb + i]
                        X[xb + j] += s
            elif op == 8:                 # diag: X[q, i] += Z[i, col] Y[q, i]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        X[xb + i] += Z[i * zs + zc] * Y[yb + i]
            elif op == 9:                 # scale_add: X += c Y, c = Z[col] or 1 - Z[col]
                c = Z[zc]
                if code == 1:
                    c = 1.0 - c
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    for i in range(w):
                        X[xb + i] += c * Y[yb + i]
            elif op == 10:                # transfer: X = f_code(Y)
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    _rules.transfer(code, Y, yb, X, xb, w)
            else:                         # deriv: X = Y * f'_code(n = Z, a = V)
                V = bufs[prog[k, 17]]
                zo, vo, vc, vs = prog[k, 14], prog[k, 18], prog[k, 19], prog[k, 20]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    zb = ((t + zo) * Q + q) * zs + zc
                    vb = ((t + vo) * Q + q) * vs + vc
                    _rules.deriv(code, X, xb, Y, yb, Z, zb, V, vb, w)
        t += step


def empty_program():
    return np.zeros((0, N_FIELDS), dtype=np.int64)
