"""Hand-written numpy reference implementations for the benchmarks.

These are what a competent engineer would write by hand for each network, and the
benchmarks time the generic ``dyngraph`` engine against them.  Only numpy is used.

Conventions (all networks)
--------------------------
* Everything is float64.
* Sequences are **time-major**: an input ``u`` (or ``x``) has shape ``(T, Q, R)``, a
  target / output ``(T, Q, K)``; ``T`` steps, ``Q`` sequences in the batch, ``R`` inputs,
  ``K`` outputs, ``H`` hidden units.
* A weight ``W`` has shape ``(out, in)`` and acts as ``W @ v`` on a column vector, i.e.
  ``X @ W.T`` on the row-batch ``X``.  When a weight multiplies a stacked vector such as
  ``[u(t); u(t-1)]`` its column blocks follow the stacking order.
* Parameters are a ``dict`` of plain arrays (see each ``*_simulate`` docstring for the
  names); gradients come back as a ``dict`` with the same keys and shapes.
* Loss (mse): ``L = sum_{t,q,k} (target - y)^2 / (T*Q*K)``.
* Initial conditions are zero (hidden state, cell, delayed inputs/outputs before t=0).

Implementation style: input projections are hoisted out of the time loop (one matmul over
``T*Q`` rows); a recurrent step is one matmul per step; BPTT stores the per-step deltas and
forms all weight gradients after the sweep with one matmul over every step; RTRL carries the
batched sensitivity tensor and writes the explicit (``d a / d theta``) part of each weight
block with a strided diagonal assignment, never a Kronecker product.

API
---
``make_params(net, sizes, seed)``, ``make_data(net, sizes, T, Q, seed)``, ``mse``,
``ftdnn_simulate / ftdnn_grad``,
``elman_simulate / elman_grad / elman_rtrl_grad``,
``lstm_simulate / lstm_grad``,
``narx_simulate / narx_grad / narx_rtrl_grad``,
``gru_simulate / gru_grad``, ``gamma_simulate / gamma_grad``,
``elman_rtrl_layout / narx_rtrl_layout`` (order of the RTRL parameter vector),
``flatten / unflatten`` (dict <-> flat vector in a given layout),
``SIMULATE / GRAD / RTRL`` (dicts: net name -> function), ``NETS``.

``python bench/refs.py`` times every reference at the benchmark sizes (pin BLAS to one
thread, e.g. ``OMP_NUM_THREADS=1``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

__all__ = [
    "NETS", "SIMULATE", "GRAD", "RTRL",
    "make_params", "make_data", "mse", "flatten", "unflatten",
    "ftdnn_simulate", "ftdnn_grad",
    "elman_simulate", "elman_grad", "elman_rtrl_grad", "elman_rtrl_layout",
    "lstm_simulate", "lstm_grad",
    "narx_simulate", "narx_grad", "narx_rtrl_grad", "narx_rtrl_layout",
    "gru_simulate", "gru_grad", "gamma_simulate", "gamma_grad",
]

NETS = ("ftdnn", "elman", "lstm", "narx", "gru", "gamma")


# ----------------------------------------------------------------------------- helpers

def mse(Y, target):
    """``sum((target - Y)**2) / Y.size`` for arrays of equal shape."""
    e = (np.asarray(target, dtype=np.float64) - Y).ravel()
    return float(e @ e) / e.size


def _mse_and_seed(Y, target):
    """Loss and its gradient w.r.t. ``Y``: ``dL/dY = 2 (Y - target) / N``."""
    E = Y - target
    N = E.size
    e = E.ravel()
    return float(e @ e) / N, E * (2.0 / N)


def _rows(A):
    """View a (T, Q, n) array as (T*Q, n)."""
    return A.reshape(-1, A.shape[-1])


def flatten(params, layout):
    """Concatenate ``params[name].ravel()`` (row-major) in the order of ``layout``
    (a list of ``(name, shape)``)."""
    return np.concatenate([np.asarray(params[n], dtype=np.float64).ravel() for n, _ in layout])


def unflatten(theta, layout):
    """Inverse of :func:`flatten`: a dict of arrays (copies) from a flat vector."""
    out, k = {}, 0
    for name, shape in layout:
        n = int(np.prod(shape))
        out[name] = theta[k:k + n].reshape(shape).copy()
        k += n
    if k != theta.size:
        raise ValueError(f"flat vector has {theta.size} entries, layout needs {k}")
    return out


def _diag_block(S, offset, width):
    """Writable strided view ``V`` of shape (Q, n, width) into ``S`` (logical shape
    (Q, n, P)) with ``V[q, i, j] = S[q, i, offset + i*width + j]``.

    This is where the explicit derivative of unit ``i``'s net input w.r.t. a row-major
    weight block ``W`` (n, width) lives: ``d a_i / d W[i, j] = v_j`` and zero off the
    block diagonal.  Works for any memory layout of ``S``.
    """
    Q, n, _ = S.shape
    sq, si, sp = S.strides
    return as_strided(S[:, :, offset:], shape=(Q, n, width), strides=(sq, si + width * sp, sp))


def _diag_vec(S, offset):
    """Writable strided view ``V`` (Q, n) with ``V[q, i] = S[q, i, offset + i]`` (bias)."""
    Q, n, _ = S.shape
    sq, si, sp = S.strides
    return as_strided(S[:, :, offset:], shape=(Q, n), strides=(sq, si + sp))


# ----------------------------------------------------------------------------- FTDNN

def _ftdnn_taps(u, D):
    """Tapped delay line plus a constant column: Z (T, Q, D*R + 1) whose column block
    ``d`` (columns ``d*R:(d+1)*R``) is ``u(t-d)`` (zero before t=0) and whose last column
    is 1, so that ``Z @ [W1, b1].T`` is the net input.  Built with one gather copy."""
    T, Q, R = u.shape
    up = np.zeros((T + D - 1, Q, R))
    up[D - 1:] = u
    win = sliding_window_view(up, D, axis=0)          # (T, Q, R, D): win[..., j] = up[t + j]
    Z = np.empty((T, Q, D * R + 1))
    Z[:, :, :D * R].reshape(T, Q, D, R)[...] = win[..., ::-1].transpose(0, 1, 3, 2)
    Z[:, :, D * R] = 1.0
    return Z


def _ftdnn_forward(p, u):
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    T, Q, R = u.shape
    D = W1.shape[1] // R
    Z = _ftdnn_taps(u, D)
    Hh = _rows(Z) @ np.hstack([W1, b1[:, None]]).T  # one matmul, bias included
    np.tanh(Hh, out=Hh)
    Y = Hh @ W2.T
    Y += b2
    return Z, Hh.reshape(T, Q, -1), Y.reshape(T, Q, -1)


def ftdnn_simulate(p, u):
    """Focused time-delay network.

    ``h(t) = tanh(W1 [u(t); u(t-1); ...; u(t-D+1)] + b1)``, ``y(t) = W2 h(t) + b2``,
    with ``u(t) = 0`` for ``t < 0``.

    Parameters ``p``: ``W1`` (H, D*R) — column block ``d`` (columns ``d*R:(d+1)*R``)
    multiplies ``u(t-d)``; ``b1`` (H,); ``W2`` (K, H); ``b2`` (K,).  ``D`` is inferred
    as ``W1.shape[1] // R``.

    ``u``: (T, Q, R).  Returns ``Y`` (T, Q, K).
    """
    return _ftdnn_forward(p, u)[2]


def ftdnn_grad(p, u, target):
    """Loss and gradient of the mse of :func:`ftdnn_simulate` against ``target`` (T, Q, K).

    No recurrence, so backprop through time is a single vectorised backward pass; the
    ``[W1, b1]`` gradient is one matmul against the tap matrix (with its ones column).
    Returns ``(loss, grads)`` with ``grads`` keyed ``W1, b1, W2, b2`` like ``p``.
    """
    Z, Hh, Y = _ftdnn_forward(p, u)
    loss, E = _mse_and_seed(Y, target)
    E2, H2 = _rows(E), _rows(Hh)
    gW2, gb2 = E2.T @ H2, E2.sum(0)
    G = E2 @ p["W2"]                   # dL/dh
    np.multiply(H2, H2, out=H2)        # H2 is no longer needed: tanh' = 1 - h^2 in place
    np.subtract(1.0, H2, out=H2)
    G *= H2                            # dL/d(net input)
    gW1b = G.T @ _rows(Z)
    return loss, {"W1": gW1b[:, :-1].copy(), "b1": gW1b[:, -1].copy(), "W2": gW2, "b2": gb2}


# ----------------------------------------------------------------------------- Elman

def _elman_forward(p, x):
    """Hidden states (T, Q, H) and outputs (T, Q, K)."""
    Wx, Wh, bh, Wy, by = p["Wx"], p["Wh"], p["bh"], p["Wy"], p["by"]
    T, Q, R = x.shape
    H = Wh.shape[0]
    Hs = (_rows(x) @ Wx.T).reshape(T, Q, H)   # hoisted input projection, becomes h in place
    Hs += bh
    WhT = np.ascontiguousarray(Wh.T)
    hs = list(Hs)                             # per-step views, made once
    np.tanh(hs[0], out=hs[0])                 # h(-1) = 0
    for t in range(1, T):
        a = hs[t]
        a += np.dot(hs[t - 1], WhT)
        np.tanh(a, out=a)
    Y = _rows(Hs) @ Wy.T
    Y += by
    return Hs, Y.reshape(T, Q, -1)


def elman_simulate(p, x):
    """Elman network.

    ``h(t) = tanh(Wx x(t) + Wh h(t-1) + bh)`` with ``h(-1) = 0``, ``y(t) = Wy h(t) + by``.

    Parameters ``p``: ``Wx`` (H, R), ``Wh`` (H, H), ``bh`` (H,), ``Wy`` (K, H), ``by`` (K,).

    ``x``: (T, Q, R).  Returns ``Y`` (T, Q, K).
    """
    return _elman_forward(p, x)[1]


def elman_grad(p, x, target):
    """BPTT loss and gradient of the mse of :func:`elman_simulate` against ``target``
    (T, Q, K).  Returns ``(loss, grads)``, ``grads`` keyed ``Wx, Wh, bh, Wy, by``.

    The backward sweep stores ``delta(t) = dL/da(t)`` (T, Q, H) for
    ``a(t) = Wx x(t) + Wh h(t-1) + bh``; weight gradients are formed afterwards with one
    matmul over all ``T*Q`` rows.
    """
    Wh, Wy = p["Wh"], p["Wy"]
    Hs, Y = _elman_forward(p, x)
    T, Q, H = Hs.shape
    loss, E = _mse_and_seed(Y, target)
    E2, H2 = _rows(E), _rows(Hs)
    Dl = (E2 @ Wy).reshape(T, Q, H)           # direct dL/dh(t), becomes delta(t) in place
    Dp = 1.0 - Hs * Hs                        # tanh'
    ds, dps = list(Dl), list(Dp)
    ds[T - 1] *= dps[T - 1]
    for t in range(T - 2, -1, -1):
        d = ds[t]
        d += np.dot(ds[t + 1], Wh)
        d *= dps[t]
    D2 = _rows(Dl)
    return loss, {
        "Wx": D2.T @ _rows(x),
        "Wh": _rows(Dl[1:]).T @ _rows(Hs[:-1]),
        "bh": D2.sum(0),
        "Wy": E2.T @ H2,
        "by": E2.sum(0),
    }


def elman_rtrl_layout(R, H, K):
    """Order of the Elman RTRL parameter vector ``theta`` (each block row-major):
    ``[Wx (H,R), Wh (H,H), bh (H,)]`` — the parameters inside the recurrence; ``P = H*R +
    H*H + H``.  (``Wy, by`` act on ``h`` only, their gradients are direct.)"""
    return [("Wx", (H, R)), ("Wh", (H, H)), ("bh", (H,))]


def elman_rtrl_grad(p, x, target):
    """RTRL loss and gradient of the same mse as :func:`elman_grad` (equal to it to
    rounding).  Returns ``(loss, grads)`` keyed ``Wx, Wh, bh, Wy, by``.

    Carries the batched sensitivity ``S(t) = dh(t)/dtheta`` of logical shape (Q, H, P),
    ``theta`` in the order of :func:`elman_rtrl_layout`, through time:

        S(t) = diag(1 - h(t)^2) [ Wh S(t-1) + dA(t) ],    S(-1) = 0,

    where the explicit part ``dA(t) = da(t)/dtheta`` is block diagonal: ``x(t)`` in the
    ``Wx`` block, ``h(t-1)`` in the ``Wh`` block and 1 in the ``bh`` block, each added
    through a strided view of ``S``.  ``dL/dtheta += sum_{q,i} dL/dh_i(t) S(t)[q, i, :]``.

    ``S`` is kept in memory as (H, Q, P) (its (Q, H, P) logical view is a transpose) so
    that ``Wh S(t-1)`` is a single (H, H) x (H, Q*P) matmul per step.
    """
    Wx, Wh, Wy = p["Wx"], p["Wh"], p["Wy"]
    T, Q, R = x.shape
    H = Wh.shape[0]
    layout = elman_rtrl_layout(R, H, Wy.shape[0])
    P = H * R + H * H + H
    oWh, obh = H * R, H * R + H * H

    Hs, Y = _elman_forward(p, x)
    loss, E = _mse_and_seed(Y, target)
    E2 = _rows(E)
    # direct dL/dh(t) and tanh'(a(t)) for all steps, transposed to the (H, Q) memory order
    G = np.ascontiguousarray((E2 @ Wy).reshape(T, Q, H).transpose(0, 2, 1)).reshape(T, H * Q)
    Dp = np.ascontiguousarray((1.0 - Hs * Hs).transpose(0, 2, 1))[:, :, :, None]  # (T,H,Q,1)

    bufs = [np.zeros((H, Q, P)), np.zeros((H, Q, P))]   # S(t) alternates between the two
    views = []
    for b in bufs:
        L = b.transpose(1, 0, 2)                        # logical (Q, H, P) view
        views.append((_diag_block(L, 0, R), _diag_block(L, oWh, H), _diag_vec(L, obh)))
    g = np.zeros(P)
    for t in range(T):
        new, old = bufs[t % 2], bufs[(t + 1) % 2]
        vx, vh, vb = views[t % 2]
        if t == 0:
            new.fill(0.0)                               # S(-1) = 0
        else:
            np.dot(Wh, old.reshape(H, Q * P), out=new.reshape(H, Q * P))
            vh += Hs[t - 1][:, None, :]
        vx += x[t][:, None, :]
        vb += 1.0
        new *= Dp[t]
        g += G[t] @ new.reshape(H * Q, P)
    grads = unflatten(g, layout)
    grads["Wy"] = E2.T @ _rows(Hs)
    grads["by"] = E2.sum(0)
    return loss, grads


# ----------------------------------------------------------------------------- LSTM

def _lstm_forward(p, x):
    """Gate activations (T, Q, 4, H) in order [i, f, g, o], cells c, tanh(c), h (T, Q, H)
    and outputs (T, Q, K)."""
    Wx, Wh, b, Wy, by = p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"]
    T, Q, R = x.shape
    H = Wh.shape[1]
    H4 = 4 * H
    # sigmoid(z) = 0.5 * tanh(z / 2) + 0.5: pre-scaling the sigmoid gates' rows by 1/2
    # (exact in floating point) lets one tanh call per step serve all four gates; then
    # gate = s * tanh(.) + (1 - s) with s = 1/2 for i, f, o and s = 1 for g.
    s = np.full(H4, 0.5)
    s[2 * H:3 * H] = 1.0
    off = 1.0 - s
    Z = (_rows(x) @ (Wx.T * s)).reshape(T, Q, H4)     # hoisted input projection
    Z += b * s
    WhTs = Wh.T * s                                    # fused (H, 4H) recurrent weight
    C = np.empty((T, Q, H))
    TC = np.empty((T, Q, H))
    Hs = np.empty((T, Q, H))
    zs, cs, tcs, hs = list(Z), list(C), list(TC), list(Hs)
    for t in range(T):
        z = zs[t]
        if t:
            z += np.dot(hs[t - 1], WhTs)
        np.tanh(z, out=z)
        z *= s
        z += off                                       # z is now [i, f, g, o]
        c = cs[t]
        np.multiply(z[:, :H], z[:, 2 * H:3 * H], out=c)
        if t:
            c += z[:, H:2 * H] * cs[t - 1]
        np.tanh(c, out=tcs[t])
        np.multiply(z[:, 3 * H:], tcs[t], out=hs[t])
    Y = _rows(Hs) @ Wy.T
    Y += by
    return Z.reshape(T, Q, 4, H), C, TC, Hs, Y.reshape(T, Q, -1)


def lstm_simulate(p, x):
    """LSTM without peepholes.

    ``z(t) = Wx x(t) + Wh h(t-1) + b`` split into four H-blocks ``[i, f, g, o]``;
    ``i, f, o = sigmoid(.)``, ``g = tanh(.)``; ``c(t) = f*c(t-1) + i*g``,
    ``h(t) = o*tanh(c(t))``, ``y(t) = Wy h(t) + by``; ``h(-1) = c(-1) = 0``.

    Parameters ``p``: ``Wx`` (4H, R), ``Wh`` (4H, H), ``b`` (4H,) — row blocks
    ``0:H`` input gate i, ``H:2H`` forget gate f, ``2H:3H`` candidate g, ``3H:4H``
    output gate o —; ``Wy`` (K, H), ``by`` (K,).  The recurrent step is one fused
    (Q, H) x (H, 4H) matmul.

    ``x``: (T, Q, R).  Returns ``Y`` (T, Q, K).
    """
    return _lstm_forward(p, x)[4]


def lstm_grad(p, x, target):
    """BPTT loss and gradient of the mse of :func:`lstm_simulate` against ``target``
    (T, Q, K).  Returns ``(loss, grads)`` keyed ``Wx, Wh, b, Wy, by``.

    The sweep stores ``dL/dz(t)`` (T, Q, 4H) (one fused (Q, 4H) x (4H, H) matmul per
    step carries it back to ``h(t-1)``); the gate-derivative factors are computed for all
    steps before the sweep and the weight gradients with one matmul after it.
    """
    Wh, Wy = p["Wh"], p["Wy"]
    Gt, C, TC, Hs, Y = _lstm_forward(p, x)
    T, Q, H = Hs.shape
    I, F, Gg, O = Gt[:, :, 0], Gt[:, :, 1], Gt[:, :, 2], Gt[:, :, 3]
    loss, E = _mse_and_seed(Y, target)
    E2 = _rows(E)
    DH = (E2 @ Wy).reshape(T, Q, H)            # direct dL/dh(t)
    # Factors for all steps, built in place:  dc(t) = dh(t)*Kc(t) + dc(t+1)*f(t+1)  and
    # dz(t) = [dc, dc, dc, dh](t) * K(t) with K = [g*i', c(t-1)*f', i*g', tanh(c)*o'].
    Kc = TC * TC
    np.subtract(1.0, Kc, out=Kc)
    Kc *= O
    K = np.subtract(1.0, Gt)
    K *= Gt                                    # sigmoid' = s(1-s): right for i, f, o
    np.multiply(Gg, Gg, out=K[:, :, 2])
    np.subtract(1.0, K[:, :, 2], out=K[:, :, 2])   # tanh' = 1 - g^2 for g
    K[:, :, 0] *= Gg
    K[0, :, 1] = 0.0                           # c(-1) = 0
    K[1:, :, 1] *= C[:-1]
    K[:, :, 2] *= I
    K[:, :, 3] *= TC
    dZ = np.empty((T, Q, 4, H))
    dZ2 = dZ.reshape(T, Q, 4 * H)
    dhs, kcs, ks, fs, dzs = list(DH), list(Kc), list(K), list(F), list(dZ)
    dc = None
    for t in range(T - 1, -1, -1):
        dh = dhs[t]
        if t < T - 1:
            dh += np.dot(dZ2[t + 1], Wh)
            dc *= fs[t + 1]
            dc += dh * kcs[t]
        else:
            dc = dh * kcs[t]
        dzt, kt = dzs[t], ks[t]
        np.multiply(dc[:, None, :], kt[:, :3], out=dzt[:, :3])
        np.multiply(dh, kt[:, 3], out=dzt[:, 3])
    D2 = _rows(dZ2)
    return loss, {
        "Wx": D2.T @ _rows(x),
        "Wh": _rows(dZ2[1:]).T @ _rows(Hs[:-1]),
        "b": D2.sum(0),
        "Wy": E2.T @ _rows(Hs),
        "by": E2.sum(0),
    }


# ----------------------------------------------------------------------------- NARX

def _lag2(v):
    """(T, Q, n) -> (T, Q, 2n) holding ``[v(t-1); v(t-2)]``, zero before t=0."""
    T, Q, n = v.shape
    L = np.zeros((T, Q, 2 * n))
    L[1:, :, :n] = v[:-1]
    L[2:, :, n:] = v[:-2]
    return L


def _narx_forward(p, u):
    """Hidden (T, Q, H), outputs (T, Q, K) and the lagged input (T, Q, 2R)."""
    Wu, Wy, bh, Wo, bo = p["Wu"], p["Wy"], p["bh"], p["Wo"], p["bo"]
    T, Q, R = u.shape
    H, K = Wo.shape[1], Wo.shape[0]
    Ul = _lag2(u)
    A = (_rows(Ul) @ Wu.T).reshape(T, Q, H)   # hoisted input projection
    A += bh
    Wy1T = np.ascontiguousarray(Wy[:, :K].T)  # multiplies y(t-1)
    Wy2T = np.ascontiguousarray(Wy[:, K:].T)  # multiplies y(t-2)
    WoT = np.ascontiguousarray(Wo.T)
    Hs = A                                     # A becomes h in place
    Yp = np.zeros((T + 2, Q, K))               # Yp[t + 2] = y(t); y(-1) = y(-2) = 0
    hs, ys = list(Hs), list(Yp)
    for t in range(T):
        a = hs[t]
        a += np.dot(ys[t + 1], Wy1T)
        a += np.dot(ys[t], Wy2T)
        np.tanh(a, out=a)
        y = ys[t + 2]
        np.dot(a, WoT, out=y)
        y += bo
    return Hs, Yp[2:], Ul


def narx_simulate(p, u):
    """NARX network in parallel (closed-loop, output-feedback) form.

    ``h(t) = tanh(Wu [u(t-1); u(t-2)] + Wy [y(t-1); y(t-2)] + bh)``,
    ``y(t) = Wo h(t) + bo``, with ``u(t) = y(t) = 0`` for ``t < 0``.

    Parameters ``p``: ``Wu`` (H, 2R) — columns ``0:R`` multiply ``u(t-1)``, ``R:2R``
    ``u(t-2)``; ``Wy`` (H, 2K) — columns ``0:K`` multiply ``y(t-1)``, ``K:2K``
    ``y(t-2)``; ``bh`` (H,); ``Wo`` (K, H); ``bo`` (K,).

    ``u``: (T, Q, R).  Returns ``Y`` (T, Q, K).
    """
    return _narx_forward(p, u)[1]


def narx_grad(p, u, target):
    """BPTT loss and gradient of the mse of :func:`narx_simulate` against ``target``
    (T, Q, K).  Returns ``(loss, grads)`` keyed ``Wu, Wy, bh, Wo, bo``.

    Backward sweep over the closed loop, storing ``gy(t) = dL/dy(t)`` (total) and
    ``delta(t) = dL/da(t)``:

        gy(t)    = e(t) + Wy1^T delta(t+1) + Wy2^T delta(t+2)
        delta(t) = tanh'(a(t)) * (Wo^T gy(t))

    (``e(t)`` the direct mse term); weight gradients are formed afterwards with one
    matmul over all steps.
    """
    Wy, Wo = p["Wy"], p["Wo"]
    Hs, Y, Ul = _narx_forward(p, u)
    T, Q, H = Hs.shape
    K = Y.shape[2]
    loss, E = _mse_and_seed(Y, target)
    Wy1, Wy2 = Wy[:, :K], Wy[:, K:]
    Dp = 1.0 - Hs * Hs
    GY = E.copy()                               # becomes gy(t) in place
    Dl = np.empty((T, Q, H))                    # delta(t)
    gys, ds, dps = list(GY), list(Dl), list(Dp)
    for t in range(T - 1, -1, -1):
        gy = gys[t]
        if t + 1 < T:
            gy += np.dot(ds[t + 1], Wy1)
            if t + 2 < T:
                gy += np.dot(ds[t + 2], Wy2)
        d = ds[t]
        np.dot(gy, Wo, out=d)
        d *= dps[t]
    D2, G2 = _rows(Dl), _rows(GY)
    return loss, {
        "Wu": D2.T @ _rows(Ul),
        "Wy": D2.T @ _rows(_lag2(Y)),
        "bh": D2.sum(0),
        "Wo": G2.T @ _rows(Hs),
        "bo": G2.sum(0),
    }


def narx_rtrl_layout(R, H, K):
    """Order of the NARX RTRL parameter vector ``theta`` (each block row-major):
    ``[Wu (H,2R), Wy (H,2K), bh (H,), Wo (K,H), bo (K,)]`` — every parameter, since the
    output layer sits inside the loop; ``P = 2RH + 2KH + H + KH + K``."""
    return [("Wu", (H, 2 * R)), ("Wy", (H, 2 * K)), ("bh", (H,)), ("Wo", (K, H)), ("bo", (K,))]


def narx_rtrl_grad(p, u, target):
    """RTRL loss and gradient of the same mse as :func:`narx_grad` (equal to it to
    rounding).  Returns ``(loss, grads)`` keyed ``Wu, Wy, bh, Wo, bo``.

    ``theta`` in the order of :func:`narx_rtrl_layout`.  Carries the output sensitivities
    ``Sy(t) = dy(t)/dtheta`` (logical shape (Q, K, P)) of the last two steps, and per step
    the hidden sensitivity ``Sh(t) = dh(t)/dtheta`` (logical (Q, H, P)):

        Sh(t) = diag(tanh'(a(t))) [ Wy1 Sy(t-1) + Wy2 Sy(t-2) + dA(t) ]
        Sy(t) = Wo Sh(t) + dB(t),                 Sy(-1) = Sy(-2) = 0,

    with explicit parts ``dA(t)`` (``[u(t-1); u(t-2)]`` in the ``Wu`` block,
    ``[y(t-1); y(t-2)]`` in the ``Wy`` block, 1 in ``bh``) and ``dB(t)`` (``h(t)`` in the
    ``Wo`` block, 1 in ``bo``) added through strided diagonal views.
    ``dL/dtheta += sum_{q,k} e_k(t) Sy(t)[q, k, :]``.

    Memory layout: ``Sh`` is stored (H, P, Q) and the two ``Sy`` slots (K, P, Q) each, in
    one (2, K, P, Q) buffer where ``Sy(t)`` overwrites ``Sy(t-2)``; the lag product is then
    one (H, 2K) x (2K, P*Q) matmul (``[Wy2 | Wy1]`` or ``[Wy1 | Wy2]`` by the parity of
    ``t``) and ``Wo Sh(t)`` one (K, H) x (H, P*Q) matmul, straight into its slot.  With
    ``Q`` innermost the strided explicit-part updates run over contiguous batch rows.
    """
    Wy, Wo = p["Wy"], p["Wo"]
    Hs, Y, Ul = _narx_forward(p, u)
    T, Q, H = Hs.shape
    R, K = u.shape[2], Y.shape[2]
    layout = narx_rtrl_layout(R, H, K)
    oWy = 2 * R * H
    obh = oWy + 2 * K * H
    oWo = obh + H
    obo = oWo + K * H
    P = obo + K
    loss, E = _mse_and_seed(Y, target)
    Et = np.ascontiguousarray(E.transpose(0, 2, 1))                       # (T, K, Q)
    # everything the loop reads, hoisted and transposed to the (., Q) memory order
    Dp = np.ascontiguousarray((1.0 - Hs * Hs).transpose(0, 2, 1))[:, :, None, :]  # (T,H,1,Q)
    UlT = np.ascontiguousarray(Ul.transpose(0, 2, 1))[:, None]              # (T,1,2R,Q)
    YlT = np.ascontiguousarray(_lag2(Y).transpose(0, 2, 1))[:, None]        # (T,1,2K,Q)
    HsT = np.ascontiguousarray(Hs.transpose(0, 2, 1))[:, None]              # (T,1,H,Q)

    def explicit(S, offset, width):             # strided diagonal block, physical order
        return _diag_block(S.transpose(2, 0, 1), offset, width).transpose(1, 2, 0)

    Sh = np.zeros((H, P, Q))
    vu, vy = explicit(Sh, 0, 2 * R), explicit(Sh, oWy, 2 * K)     # (H, 2R, Q), (H, 2K, Q)
    vb = explicit(Sh, obh, 1)                                       # (H, 1, Q)
    Sh2 = Sh.reshape(H, P * Q)
    B = np.zeros((2, K, P, Q))                 # the two Sy slots
    B2 = B.reshape(2 * K, P * Q)
    slots = [(B[s], B[s].reshape(K, P * Q), explicit(B[s], oWo, H), explicit(B[s], obo, 1))
             for s in range(2)]
    Wy1, Wy2 = Wy[:, :K], Wy[:, K:]
    Wlag = (np.hstack([Wy2, Wy1]), np.hstack([Wy1, Wy2]))   # t even: slot 0 holds Sy(t-2)
    g = np.zeros(P)
    for t in range(T):
        np.dot(Wlag[t % 2], B2, out=Sh2)
        vu += UlT[t]
        vy += YlT[t]
        vb += 1.0
        Sh *= Dp[t]
        sy, sy2, vo, vbo = slots[t % 2]
        np.dot(Wo, Sh2, out=sy2)
        vo += HsT[t]
        vbo += 1.0
        et = Et[t]
        for k in range(K):
            g += np.dot(sy[k], et[k])
    return loss, unflatten(g, layout)


# ----------------------------------------------------------------------------- GRU

def _sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _gru_forward(p, x):
    """Gates r, z, candidate hc, states h (T, Q, H) and outputs (T, Q, K)."""
    T, Q, R = x.shape
    H = p["Ur"].shape[0]
    X = _rows(x)
    Ar = (X @ p["Wr"].T + p["br"]).reshape(T, Q, H)      # hoisted input projections
    Az = (X @ p["Wz"].T + p["bz"]).reshape(T, Q, H)
    Ac = (X @ p["Wc"].T + p["bc"]).reshape(T, Q, H)
    Rg, Zg, Hc, Hs = (np.empty((T, Q, H)) for _ in range(4))
    h = np.zeros((Q, H))
    Urz = np.concatenate([p["Ur"], p["Uz"]]).T           # fused (H, 2H) recurrent weight
    UcT = p["Uc"].T
    for t in range(T):
        rz = _sigmoid(np.concatenate([Ar[t], Az[t]], axis=1) + h @ Urz)
        r, z = rz[:, :H], rz[:, H:]
        hc = np.tanh(Ac[t] + (r * h) @ UcT)
        h = h + z * (hc - h)
        Rg[t], Zg[t], Hc[t], Hs[t] = r, z, hc, h
    Y = (_rows(Hs) @ p["Wy"].T + p["by"]).reshape(T, Q, -1)
    return Rg, Zg, Hc, Hs, Y


def gru_simulate(p, x):
    """GRU with the reset gate before the recurrent matrix (Cho et al. 2014), as
    ``specs/gru.yaml``: ``r = sigmoid(Wr x + Ur h(t-1) + br)``, ``z = sigmoid(Wz x +
    Uz h(t-1) + bz)``, ``hc = tanh(Wc x + Uc (r * h(t-1)) + bc)``, ``h = h(t-1) +
    z * (hc - h(t-1))``, ``y = Wy h + by``; ``h(-1) = 0``.

    Parameters ``p``: ``Wr, Wz, Wc`` (H, R), ``Ur, Uz, Uc`` (H, H), ``br, bz, bc`` (H,),
    ``Wy`` (K, H), ``by`` (K,).  ``x``: (T, Q, R).  Returns ``Y`` (T, Q, K).
    """
    return _gru_forward(p, x)[4]


def gru_grad(p, x, target):
    """BPTT loss and gradient of the mse of :func:`gru_simulate` against ``target``
    (T, Q, K); the per-step deltas of the three net inputs are stored and the weight
    gradients formed after the sweep, one matmul each."""
    Rg, Zg, Hc, Hs, Y = _gru_forward(p, x)
    T, Q, H = Hs.shape
    loss, E = _mse_and_seed(Y, target)
    E2 = _rows(E)
    DH = (E2 @ p["Wy"]).reshape(T, Q, H)
    Hp = np.concatenate([np.zeros((1, Q, H)), Hs[:-1]])   # h(t-1)
    dAr, dAz, dAc = (np.empty((T, Q, H)) for _ in range(3))
    Ur, Uz, Uc = p["Ur"], p["Uz"], p["Uc"]
    carry = np.zeros((Q, H))
    for t in range(T - 1, -1, -1):
        dh = DH[t] + carry
        r, z, hc, hp = Rg[t], Zg[t], Hc[t], Hp[t]
        dac = dh * z * (1.0 - hc * hc)
        drh = dac @ Uc
        daz = dh * (hc - hp) * z * (1.0 - z)
        dar = drh * hp * r * (1.0 - r)
        carry = dh * (1.0 - z) + drh * r + dar @ Ur + daz @ Uz
        dAr[t], dAz[t], dAc[t] = dar, daz, dac
    X, Hp2 = _rows(x), _rows(Hp)
    RH = _rows(Rg * Hp)
    g = {}
    for gate, dA, rec in (("r", dAr, Hp2), ("z", dAz, Hp2), ("c", dAc, RH)):
        D = _rows(dA)
        g["W" + gate] = D.T @ X
        g["U" + gate] = D.T @ rec
        g["b" + gate] = D.sum(0)
    g["Wy"] = E2.T @ _rows(Hs)
    g["by"] = E2.sum(0)
    return loss, g


# ----------------------------------------------------------------------------- gamma memory

def _gamma_memory(mu, u, D):
    """Taps (T, Q, (D+1) R) ``[g_0; ...; g_D]`` of the gamma memory of order D:
    ``g_0 = u``, ``g_k(t) = (1 - mu) g_k(t-1) + mu g_{k-1}(t-1)``, zero before t = 0."""
    T, Q, R = u.shape
    G = np.zeros((T, Q, D + 1, R))
    G[:, :, 0] = u
    for t in range(1, T):
        G[t, :, 1:] = (1.0 - mu) * G[t - 1, :, 1:] + mu * G[t - 1, :, :-1]
    return G


def gamma_simulate(p, u):
    """Focused gamma memory network, as ``specs/gamma_ftdnn.yaml``: a gamma memory of
    order D on ``u`` (see :func:`_gamma_memory`), ``h = tanh(W1 [g_0; ...; g_D] + b1)``,
    ``y = W2 h + b2``.  Parameters ``p``: ``mu`` (1,), ``W1`` (H, (D+1) R), ``b1``,
    ``W2`` (K, H), ``b2``.  ``u``: (T, Q, R).  Returns ``Y`` (T, Q, K)."""
    D = p["W1"].shape[1] // u.shape[2] - 1
    G = _gamma_memory(float(p["mu"][0]), u, D)
    Hs = np.tanh(_rows(G.reshape(G.shape[0], G.shape[1], -1)) @ p["W1"].T + p["b1"])
    return (Hs @ p["W2"].T + p["b2"]).reshape(u.shape[0], u.shape[1], -1)


def gamma_grad(p, u, target):
    """BPTT loss and gradient of the mse of :func:`gamma_simulate` against ``target``:
    the weights' gradients over all rows at once, mu's by a backward sweep through the
    memory, ``dg_k(t) += (1 - mu) dg_k(t+1) + mu dg_{k+1}(t+1)``."""
    T, Q, R = u.shape
    D = p["W1"].shape[1] // R - 1
    mu = float(p["mu"][0])
    G = _gamma_memory(mu, u, D)
    G2 = G.reshape(T * Q, -1)
    Hs = np.tanh(G2 @ p["W1"].T + p["b1"])
    Y = (Hs @ p["W2"].T + p["b2"]).reshape(T, Q, -1)
    loss, E = _mse_and_seed(Y, target)
    E2 = _rows(E)
    dA = (E2 @ p["W2"]) * (1.0 - Hs * Hs)
    dG = (dA @ p["W1"]).reshape(T, Q, D + 1, R)
    dmu = 0.0
    for t in range(T - 1, 0, -1):
        # g_k(t) for k >= 1 depends on mu through g_{k-1}(t-1) - g_k(t-1)
        dmu += float(np.sum(dG[t, :, 1:] * (G[t - 1, :, :-1] - G[t - 1, :, 1:])))
        dG[t - 1, :, 1:] += (1.0 - mu) * dG[t, :, 1:]
        dG[t - 1, :, :-1] += mu * dG[t, :, 1:]
    return loss, {"mu": np.array([dmu]), "W1": dA.T @ G2, "b1": dA.sum(0),
                  "W2": E2.T @ Hs, "b2": E2.sum(0)}


# ----------------------------------------------------------------------------- params / data

def make_params(net, sizes, seed=0):
    """Random parameters for ``net`` in :data:`NETS`.

    ``sizes``: dict with ``H`` (hidden units, required), ``R`` (inputs, default 1),
    ``K`` (outputs, default 1) and, for ``ftdnn``, ``D`` (taps, required; for ``gamma``
    the memory's order, default 4).  Weights are
    normal with std ``1/sqrt(fan_in)`` (the NARX feedback weights ``Wy`` and output
    weights ``Wo`` half that, to keep the closed loop tame), biases normal with std 0.1.
    """
    rng = np.random.default_rng(seed)
    H = int(sizes["H"])
    R = int(sizes.get("R", 1))
    K = int(sizes.get("K", 1))

    def w(rows, cols, scale=1.0):
        return rng.standard_normal((rows, cols)) * (scale / np.sqrt(cols))

    def bias(n):
        return 0.1 * rng.standard_normal(n)

    if net == "ftdnn":
        D = int(sizes["D"])
        return {"W1": w(H, D * R), "b1": bias(H), "W2": w(K, H), "b2": bias(K)}
    if net == "elman":
        return {"Wx": w(H, R), "Wh": w(H, H), "bh": bias(H), "Wy": w(K, H), "by": bias(K)}
    if net == "lstm":
        b = bias(4 * H)
        b[H:2 * H] += 1.0                       # the usual forget-gate bias
        return {"Wx": w(4 * H, R), "Wh": w(4 * H, H), "b": b, "Wy": w(K, H), "by": bias(K)}
    if net == "narx":
        return {"Wu": w(H, 2 * R), "Wy": w(H, 2 * K, 0.5), "bh": bias(H),
                "Wo": w(K, H, 0.5), "bo": bias(K)}
    if net == "gru":
        out = {"Wy": w(K, H), "by": bias(K)}
        for gate in "rzc":
            out["W" + gate], out["U" + gate], out["b" + gate] = w(H, R), w(H, H), bias(H)
        return out
    if net == "gamma":
        D = int(sizes.get("D", 4))
        return {"mu": np.array([0.5]), "W1": w(H, (D + 1) * R), "b1": bias(H),
                "W2": w(K, H), "b2": bias(K)}
    raise ValueError(f"unknown net {net!r}; expected one of {NETS}")


def make_data(net, sizes, T, Q, seed=0):
    """Random time-major input (T, Q, R) and target (T, Q, K) for ``net`` (standard
    normal input, target a smooth-ish nonlinear function of the input plus noise)."""
    rng = np.random.default_rng(seed)
    R = int(sizes.get("R", 1))
    K = int(sizes.get("K", 1))
    u = rng.standard_normal((T, Q, R))
    mix = rng.standard_normal((R, K)) / np.sqrt(R)
    target = np.tanh(np.cumsum(u, axis=0) * 0.1) @ mix + 0.1 * rng.standard_normal((T, Q, K))
    return u, target


# dispatch tables: net name -> function
SIMULATE = {"ftdnn": ftdnn_simulate, "elman": elman_simulate,
            "lstm": lstm_simulate, "narx": narx_simulate,
            "gru": gru_simulate, "gamma": gamma_simulate}
GRAD = {"ftdnn": ftdnn_grad, "elman": elman_grad, "lstm": lstm_grad, "narx": narx_grad,
        "gru": gru_grad, "gamma": gamma_grad}
RTRL = {"elman": elman_rtrl_grad, "narx": narx_rtrl_grad}
_SIMULATE, _GRAD, _RTRL = SIMULATE, GRAD, RTRL     # older private spellings


# ----------------------------------------------------------------------------- timing

BENCH_CASES = [
    # (label, net, sizes, T, Q, kinds); one output (K = 1) everywhere
    ("FTDNN  Q=32 T=2000 H=20 D=10 R=1", "ftdnn", {"H": 20, "D": 10}, 2000, 32, ("sim", "bptt")),
    ("Elman  Q=32 T=200  H=32 R=1", "elman", {"H": 32}, 200, 32, ("sim", "bptt")),
    ("Elman  Q=1  T=1000 H=10 R=1", "elman", {"H": 10}, 1000, 1, ("sim", "bptt")),
    ("LSTM   Q=32 T=200  H=32 R=3", "lstm", {"H": 32, "R": 3}, 200, 32, ("sim", "bptt")),
    ("NARX   Q=32 T=1000 H=10 R=1", "narx", {"H": 10}, 1000, 32, ("sim", "bptt")),
    ("Elman  Q=32 T=200  H=10 R=1", "elman", {"H": 10}, 200, 32, ("rtrl",)),
    ("NARX   Q=32 T=1000 H=10 R=1", "narx", {"H": 10}, 1000, 32, ("rtrl",)),
]


def time_call(fn, repeat=7, min_time=0.2, clock=None):
    """Best-of-``repeat`` seconds per call (each sample averages enough calls to last
    about ``min_time / repeat``).  ``clock`` defaults to ``time.perf_counter`` (wall);
    ``time.process_time`` (this process's CPU time) is steadier on a shared machine."""
    import time
    clock = clock or time.perf_counter
    t0 = clock()
    fn()
    once = max(clock() - t0, 1e-6)
    n = max(1, int(min_time / repeat / once))
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        for _ in range(n):
            fn()
        best = min(best, (clock() - t0) / n)
    return best


def main(argv=None):
    """Print best-of-N wall times (ms) of every reference at the benchmark sizes."""
    import argparse
    import os
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--repeat", type=int, default=15, help="samples per case (best is kept)")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds spent per case")
    ap.add_argument("--cpu", action="store_true",
                    help="time with process CPU time instead of wall time (shared machines)")
    args = ap.parse_args(argv)
    import time
    clock = time.process_time if args.cpu else time.perf_counter
    print("OMP_NUM_THREADS =", os.environ.get("OMP_NUM_THREADS"),
          " OPENBLAS_NUM_THREADS =", os.environ.get("OPENBLAS_NUM_THREADS"))
    print(f"{'case':36s} {'kind':5s} {'ms (' + ('cpu' if args.cpu else 'wall') + ')':>10s}")
    for label, net, sizes, T, Q, kinds in BENCH_CASES:
        p = make_params(net, sizes, seed=0)
        u, y = make_data(net, sizes, T, Q, seed=1)
        fns = {"sim": lambda: SIMULATE[net](p, u), "bptt": lambda: GRAD[net](p, u, y),
               "rtrl": lambda: RTRL[net](p, u, y)}
        for kind in kinds:
            best = time_call(fns[kind], repeat=args.repeat, min_time=args.min_time, clock=clock)
            print(f"{label:36s} {kind:5s} {best * 1e3:10.2f}", flush=True)


if __name__ == "__main__":
    main()
