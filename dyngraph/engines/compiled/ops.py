"""The interpreter's row operations, each a compiled function of its fields.

Every operation takes the workspace, Q, the time t and the fields of its program row (see
:mod:`.vm`): w (width), inner, code, then the four operands' row offsets and strides, then
their columns. Two callers: :mod:`.vm`'s interpreter passes the fields it reads from a
program row; a program's own step function (:mod:`.specialise`) passes every field but
the columns as literals, which LLVM folds into the loops (known widths and strides: the
same code as a loop written by hand for that net).
"""
from __future__ import annotations

from numba import njit, uintp

from . import _rules

__all__ = ["SIGNATURE", "FIELDS", "BY_NAME"]

#: the fields after (ws, Q, t), with their column in a program row
FIELDS = (("w", 1), ("inner", 3), ("code", 4), ("xo", 6), ("xs", 8), ("yo", 10), ("ys", 12),
          ("zo", 14), ("zs", 16), ("vo", 18), ("vs", 20), ("xc", 7), ("yc", 11), ("zc", 15),
          ("vc", 19))
SIGNATURE = "ws, Q, t, " + ", ".join(f for f, _ in FIELDS)

_FM = {"reassoc", "contract"}


@njit(cache=True, fastmath=_FM)
def zero(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] = 0.0


@njit(cache=True, fastmath=_FM)
def copy(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] = ws[yb + i]


@njit(cache=True, fastmath=_FM)
def add(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X += Y; code 1: X = V + Y (V a row operand)."""
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
def mul(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] *= ws[yb + i]


@njit(cache=True, fastmath=_FM)
def vadd(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X += vector Z."""
    zc = uintp(zc)
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] += ws[zc + i]


@njit(cache=True, fastmath=_FM)
def vmul(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X *= vector Z."""
    zc = uintp(zc)
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        for i in range(uintp(w)):
            ws[xb + i] *= ws[zc + i]


@njit(cache=True, fastmath=_FM)
def matvec(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i] += Σ_j Z[i, j] Y[q, j]; code 1: X[q, i] = V[q, i] + Σ_j ... (V a row operand:
    the layer's bias row or its hoisted part, see ``Emitter.matvec``)."""
    # Unsigned indices: with signed ones numba wraps negatives, and LLVM then does not
    # vectorise (an 8 x 8 product 51 -> 9 ns, measured).
    zc, zs = uintp(zc), uintp(zs)
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
def matvec_taps(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i] += Σ_{j<K} Σ_m Z[i, j n + m] Y_j[q, m]: a link's K taps in one operation,
    tap j being Y's rows ``j Δ`` further on (K = V's row offset, Δ = V's stride, n =
    inner). One operation instead of K: at these widths dispatch and operand loads cost as
    much as the products (bench/README.md, "fifth round"). Code 1: X starts from the
    parameter row at V's column, as in :func:`matvec`."""
    zc, zs, vc = uintp(zc), uintp(zs), uintp(vc)
    K, step = vo, vs
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
def matvec_t(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, j] += Σ_i Z[i, j] Y[q, i], as axpys over Z's contiguous rows."""
    zc, zs = uintp(zc), uintp(zs)
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(inner)):
            a = ws[yb + i]
            wb = i * zs + zc
            for j in range(uintp(w)):
                ws[xb + j] += ws[wb + j] * a


@njit(cache=True, fastmath=_FM)
def matvec_t_taps(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i] += Σ_{j<K} Σ_m Z[j n + m, i] Y_j[q, m]: :func:`matvec_taps` over the
    transpose of its weights (Z here is Wᵀ, n = inner), as axpys over Z's rows — the form
    for taps of a few columns, where a row's dot product would not vectorise; K may be 1.
    Code 1: X starts from the parameter row at V's column."""
    zc, zs, vc = uintp(zc), uintp(zs), uintp(vc)
    K, step = vo, vs
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
def diag(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i] += Z[i, col] Y[q, i]."""
    zc, zs = uintp(zc), uintp(zs)
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] += ws[i * zs + zc] * ws[yb + i]


@njit(cache=True, fastmath=_FM)
def scale_add(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X += c Y, c = Z[col] (code 0) or 1 - Z[col] (code 1)."""
    c = ws[zc]
    if code == 1:
        c = 1.0 - c
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        for i in range(uintp(w)):
            ws[xb + i] += c * ws[yb + i]


@njit(cache=True, fastmath=_FM)
def transfer(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X = f_code(Y)."""
    nq = Q
    if xs == w and ys == w:
        nq, w = 1, w * Q      # whole rows: the Q sequences' side by side
    for q in range(nq):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        _rules.transfer(code, ws, yb, ws, xb, w)


@njit(cache=True, fastmath=_FM)
def deriv(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X = Y * f'_code(n = Z, a = V)."""
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
def outer(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i*ld + c] += Y[q, i] Z[q, c], ld = code."""
    ld = uintp(code)
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
def dmul(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, i*ld] += Y[q, i] Z[q, i], ld = code."""
    ld = uintp(code)
    for q in range(Q):
        xb = uintp(((t + xo) * Q + q) * xs + xc)
        yb = uintp(((t + yo) * Q + q) * ys + yc)
        zb = uintp(((t + zo) * Q + q) * zs + zc)
        for i in range(uintp(w)):
            ws[xb + i * ld] += ws[yb + i] * ws[zb + i]


@njit(cache=True, fastmath=_FM)
def dot(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X[q, 0] += Σ_i Y[q, i] Z[q, i] (code 1: -=)."""
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
def mul3(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X = Y * Z (a product gate of two factors in one operation)."""
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
def addmul(ws, Q, t, w, inner, code, xo, xs, yo, ys, zo, zs, vo, vs, xc, yc, zc, vc):
    """X += Y * Z (a product gate's adjoint to one factor, in one operation); code 1:
    X = V + Y * Z (V a row operand)."""
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


#: operation name -> its compiled function
BY_NAME = {"zero": zero, "copy": copy, "add": add, "mul": mul, "vadd": vadd, "vmul": vmul, "matvec": matvec, "matvec_taps": matvec_taps, "matvec_t": matvec_t, "matvec_t_taps": matvec_t_taps, "diag": diag, "scale_add": scale_add, "transfer": transfer, "deriv": deriv, "outer": outer, "dmul": dmul, "dot": dot, "mul3": mul3, "addmul": addmul}
