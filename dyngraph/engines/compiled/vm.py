"""The compiled interpreter: a program of row operations run for every time step.

A *program* is an int64 array, one row per operation; the operations are the handful a node
kind needs to state its forward rule and its local derivatives (copy, add, multiply, a
weight-matrix product and its transpose, a scaled add, a transfer and its derivative; for
online RTRL's explicit derivatives an outer product, a strided product and a dot product). The
interpreter knows nothing about layers, gates or memories: the kinds emit the operations
(``emit_forward`` / ``emit_backward``), :mod:`.program` lays out the buffers. Because the
interpreter does not depend on the network, numba compiles it once per machine and caches
it on disk; a new spec costs no compilation at all.

Operands address rows of buffers laid out like the engines' ``(rows, Q, width)`` arrays,
all copied side by side into one workspace (one flat array: no list of arrays to index per
operation): element (q, i) of the row for time t is ``ws[((t + off) * Q + q) * stride +
col + i]`` where ``col`` includes the buffer's start. A parameter operand (a weight matrix
W, a bias vector, μ) is addressed by its own row i instead: ``ws[i * stride + col + j]``
(the third operand of outer, dmul and dot is a row operand like the first two).

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
       "matvec_t": 7, "diag": 8, "scale_add": 9, "transfer": 10, "deriv": 11, "outer": 12,
       "dmul": 13, "dot": 14}
OPERAND0 = 5
# Multiply-adds of one product above which BLAS is called instead of the loops (measured:
# bench/README.md, "compiled backend").
_BLAS_MIN = 2048
# The same for strided operands, which are first gathered into contiguous blocks.
_BLAS_GATHER = 8192
N_FIELDS = OPERAND0 + 4 * 4


@njit(cache=True, fastmath={"reassoc", "contract"})
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
            w = prog[k, 1]
            inner = prog[k, 3]
            code = prog[k, 4]
            X = Y = Z = ws
            xo, xc, xs = prog[k, 6], prog[k, 7], prog[k, 8]
            yo, yc, ys = prog[k, 10], prog[k, 11], prog[k, 12]
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
                if Q * w * inner >= _BLAS_MIN and ys == inner and zs == inner and xs == w:
                    # Whole contiguous blocks: one BLAS product beats the loops when the
                    # batch is large (numba's np.dot calls BLAS).
                    x0 = (t + xo) * Q * xs + xc
                    y0 = (t + yo) * Q * ys + yc
                    Yq = Y[y0:y0 + Q * inner].reshape(Q, inner)
                    Wm = Z[zc:zc + w * inner].reshape(w, inner)
                    X[x0:x0 + Q * w] += np.dot(Yq, Wm.T).reshape(-1)
                    continue
                if Q * w * inner >= _BLAS_GATHER:
                    # Strided rows (a fused or wide buffer): gathering them into contiguous
                    # blocks for one BLAS product still beats the loops at this size.
                    Yq = np.empty((Q, inner))
                    for q in range(Q):
                        yb = ((t + yo) * Q + q) * ys + yc
                        Yq[q] = Y[yb:yb + inner]
                    Wm = np.empty((w, inner))
                    for i in range(w):
                        Wm[i] = Z[i * zs + zc:i * zs + zc + inner]
                    R = np.dot(Yq, Wm.T)
                    for q in range(Q):
                        xb = ((t + xo) * Q + q) * xs + xc
                        X[xb:xb + w] += R[q]
                    continue
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
                if Q * w * inner >= _BLAS_MIN and ys == inner and zs == w and xs == w:
                    x0 = (t + xo) * Q * xs + xc
                    y0 = (t + yo) * Q * ys + yc
                    Yq = Y[y0:y0 + Q * inner].reshape(Q, inner)
                    Wm = Z[zc:zc + inner * w].reshape(inner, w)
                    X[x0:x0 + Q * w] += np.dot(Yq, Wm).reshape(-1)
                    continue
                if Q * w * inner >= _BLAS_GATHER:
                    Yq = np.empty((Q, inner))
                    for q in range(Q):
                        yb = ((t + yo) * Q + q) * ys + yc
                        Yq[q] = Y[yb:yb + inner]
                    Wm = np.empty((inner, w))
                    for i in range(inner):
                        Wm[i] = Z[i * zs + zc:i * zs + zc + w]
                    R = np.dot(Yq, Wm)
                    for q in range(Q):
                        xb = ((t + xo) * Q + q) * xs + xc
                        X[xb:xb + w] += R[q]
                    continue
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
            elif op == 12:                # outer: X[q, i*ld + c] += Y[q, i] Z[q, c], ld = code
                zo = prog[k, 14]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    zb = ((t + zo) * Q + q) * zs + zc
                    for i in range(w):
                        a = Y[yb + i]
                        if a != 0.0:
                            for c in range(inner):
                                X[xb + i * code + c] += a * Z[zb + c]
            elif op == 13:                # dmul: X[q, i*ld] += Y[q, i] Z[q, i], ld = code
                zo = prog[k, 14]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    zb = ((t + zo) * Q + q) * zs + zc
                    for i in range(w):
                        X[xb + i * code] += Y[yb + i] * Z[zb + i]
            elif op == 14:                # dot: X[q, 0] += Σ_i Y[q, i] Z[q, i] (code 1: -=)
                zo = prog[k, 14]
                for q in range(Q):
                    xb = ((t + xo) * Q + q) * xs + xc
                    yb = ((t + yo) * Q + q) * ys + yc
                    zb = ((t + zo) * Q + q) * zs + zc
                    s = 0.0
                    for i in range(w):
                        s += Y[yb + i] * Z[zb + i]
                    if code == 1:
                        X[xb] -= s
                    else:
                        X[xb] += s
            else:                         # deriv: X = Y * f'_code(n = Z, a = V)
                V = ws
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
