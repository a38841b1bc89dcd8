"""The one table of node kinds: each kind states its forward rule and its local derivatives once.

Both engines (:mod:`dyngraph.simulate`, :mod:`dyngraph.bptt`, :mod:`dyngraph.rtrl`) drive the
kinds through the same small interface and know nothing about tanh, gates or gamma.

Conventions
-----------
A node v reads its links. Link l has a source s (size n_s) and delays (d_1, ..., d_k); at a
block of time steps the engine hands the kind the stacked taps

    X_l = [s(t - d_1), ..., s(t - d_k)]           shape (B, Q, k*n_s)

(B time steps of Q sequences). Arrays handed *back* (adjoints) may carry extra leading axes
(RTRL puts a direction axis R in front: (R, B, Q, n)); every rule broadcasts over them.

Interface of a kind object (built once per node by the plan, holding static sizes):

``hoist(P, X)``       precompute from links given over *all* steps (those outside a recurrent
                      component, or all links of a node off any cycle) -> H, a tuple of arrays
                      with leading (T, Q). Default: nothing to hoist.
``step(P, H, X)``     the forward rule on a block: ``H`` sliced to the block, ``X`` the
                      remaining links' taps -> (a (B, Q, S), cache tuple of arrays (B, Q, ...)).
``delta(P, c, G)``    from the adjoint G = dF/da of the output to the kind's inner adjoint δ.
``vjp_input(P, c, δ, l)`` -> dF/dX_l.
``param_grad(P, X, c, δ)`` -> {block: gradient summed over all rows} (one matmul per block).
``param_jac(P, X, c, δ)`` -> {block: per-row derivative (R, B, Q, block.size)} for RTRL.

``P`` is the mapping block name -> current value; ``X`` a dict link index -> taps; ``c`` the
cache tuple produced by ``step``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

__all__ = ["TRANSFERS", "TRANSFER_ALIASES", "WEIGHTS", "KINDS", "Transfer", "Weight",
           "LayerKind", "GammaKind", "TdlKind"]


# --------------------------------------------------------------------------- transfers
@dataclass(frozen=True)
class Transfer:
    """a = f(n) elementwise (or over the last axis for softmax).

    ``vjp(n, a, g)`` returns dF/dn given g = dF/da; ``g`` may carry extra leading axes.
    """

    f: Callable[[np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    linear: bool = False


def _sigmoid(n):
    # Split by sign so that exp never overflows.
    out = np.empty_like(n)
    pos = n >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-n[pos]))
    e = np.exp(n[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(n):
    z = np.exp(n - n.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


TRANSFERS: Dict[str, Transfer] = {
    "linear": Transfer(lambda n: n, lambda n, a, g: g, linear=True),
    "tanh": Transfer(np.tanh, lambda n, a, g: g * (1.0 - a * a)),
    "sigmoid": Transfer(_sigmoid, lambda n, a, g: g * (a * (1.0 - a))),
    "relu": Transfer(lambda n: np.maximum(n, 0.0), lambda n, a, g: g * (n > 0)),
    "softplus": Transfer(lambda n: np.logaddexp(0.0, n), lambda n, a, g: g * _sigmoid(n)),
    "satlin": Transfer(lambda n: np.clip(n, 0.0, 1.0),
                       lambda n, a, g: g * ((n > 0) & (n < 1))),
    "satlins": Transfer(lambda n: np.clip(n, -1.0, 1.0),
                        lambda n, a, g: g * ((n > -1) & (n < 1))),
    # Step functions: derivative zero almost everywhere (gradient methods cannot train them).
    "hardlim": Transfer(lambda n: (n >= 0).astype(float), lambda n, a, g: g * 0.0),
    "hardlims": Transfer(lambda n: np.where(n >= 0, 1.0, -1.0), lambda n, a, g: g * 0.0),
    "softmax": Transfer(_softmax,
                        lambda n, a, g: a * (g - (g * a).sum(axis=-1, keepdims=True))),
}

#: MATLAB names accepted in specs.
TRANSFER_ALIASES = {"purelin": "linear", "tansig": "tanh", "logsig": "sigmoid",
                    "poslin": "relu", "satlin": "satlin", "satlins": "satlins"}


# --------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class Weight:
    """How a link's taps X (.., k*n) become its contribution z (.., S).

    full:      z = X W^T,            W (S, k*n)
    diagonal:  z = sum_j W[:, j] * X_j,  W (S, k), n == S
    identity:  z = sum_j X_j,        no parameter, n == S
    """

    shape: Callable[[int, int, int], Optional[Tuple[int, int]]]
    apply: Callable
    vjp_x: Callable
    grad: Callable      # summed over all rows -> W shape
    jac: Callable       # per row, G (R, ..., S) -> (R, ..., W.size)


def _taps(X, k):
    return X.reshape(X.shape[:-1] + (k, X.shape[-1] // k))


def _full_grad(G, X):
    return G.reshape(-1, G.shape[-1]).T @ X.reshape(-1, X.shape[-1])


def _full_jac(G, X):
    out = G[..., :, None] * X[..., None, :]
    return out.reshape(out.shape[:-2] + (-1,))


def _diag_apply(W, X):
    k = W.shape[1]
    return np.einsum("...js,sj->...s", _taps(X, k), W)


def _diag_vjp(W, G):
    return (G[..., None, :] * W.T).reshape(G.shape[:-1] + (-1,))


def _diag_grad(G, X, k):
    Xt = _taps(X, k).reshape(-1, k, G.shape[-1])
    return np.einsum("rs,rjs->sj", G.reshape(-1, G.shape[-1]), Xt)


def _diag_jac(G, X, k):
    Xt = _taps(X, k)
    out = np.swapaxes(G[..., None, :] * Xt, -1, -2)     # (..., S, k) row-major like W
    return out.reshape(out.shape[:-2] + (-1,))


WEIGHTS: Dict[str, Weight] = {
    "full": Weight(
        shape=lambda S, k, n: (S, k * n),
        apply=lambda W, X: X @ W.T,
        vjp_x=lambda W, G: G @ W,
        grad=lambda G, X, k: _full_grad(G, X),
        jac=lambda G, X, k: _full_jac(G, X)),
    "diagonal": Weight(
        shape=lambda S, k, n: (S, k),
        apply=_diag_apply,
        vjp_x=_diag_vjp,
        grad=_diag_grad,
        jac=_diag_jac),
    "identity": Weight(
        shape=lambda S, k, n: None,
        apply=lambda W, X: X if W == 1 else _taps(X, W).sum(axis=-2),
        vjp_x=lambda W, G: G if W == 1 else np.concatenate([G] * W, axis=-1),
        grad=None, jac=None),
}


# --------------------------------------------------------------------------- node kinds
@dataclass(frozen=True)
class LinkInfo:
    """A link as the kinds and engines see it. ``block`` names its weight parameter (None
    for identity / memories); ``k`` = number of taps, ``n`` = source size."""

    source: str
    delays: Tuple[int, ...]
    weight: Optional[str] = None
    block: Optional[str] = None

    @property
    def k(self):
        return len(self.delays)


class LayerKind:
    """Layer: n = b + sum_l z_l (net sum) or n = b * prod_l z_l (net prod); a = f(n);
    z_l = weight_l(W_l, X_l). Shapes: n, a (B, Q, S)."""

    name = "layer"

    def __init__(self, size, links, transfer, net, bias_block):
        self.S = size
        self.links = tuple(links)
        self.transfer = TRANSFERS[transfer]
        self.prod = net == "prod"
        self.bias = bias_block

    def _z(self, P, l, X):
        link = self.links[l]
        w = WEIGHTS[link.weight]
        W = P[link.block] if link.block else link.k
        return w.apply(W, X)

    def hoist(self, P, X):
        if not X:
            return ()
        zs = {l: self._z(P, l, x) for l, x in X.items()}
        if self.prod:
            acc = None
            for z in zs.values():
                acc = z if acc is None else acc * z
            return (acc,) + tuple(zs[l] for l in sorted(zs))
        acc = None
        for z in zs.values():
            acc = z if acc is None else acc + z
        return (acc,)

    def step(self, P, H, X):
        b = P[self.bias] if self.bias else None
        zs = {l: self._z(P, l, x) for l, x in X.items()}
        if self.prod:
            n = H[0] if H else None
            for z in zs.values():
                n = z if n is None else n * z
            if b is not None:
                n = n * b
            # Keep every link's z (hoisted ones come after the product in H) for the rule
            # d n / d z_l = b * prod_{j != l} z_j.
            hz = dict(zip(sorted(set(range(len(self.links))) - set(zs)), H[1:]))
            hz.update(zs)
            a = self.transfer.f(n)
            return a, (n, a) + tuple(hz[l] for l in range(len(self.links)))
        n = H[0] if H else None
        for z in zs.values():
            n = z if n is None else n + z
        if b is not None:
            n = n + b
        a = self.transfer.f(n)
        return a, (n, a)

    def delta(self, P, c, G):
        return self.transfer.vjp(c[0], c[1], G)

    def _dz(self, P, c, d, l):
        """dF/dz_l from dF/dn = d."""
        if not self.prod:
            return d
        dz = d * P[self.bias] if self.bias else d
        for j in range(len(self.links)):
            if j != l:
                dz = dz * c[2 + j]
        return dz

    def vjp_input(self, P, c, d, l):
        link = self.links[l]
        W = P[link.block] if link.block else link.k
        return WEIGHTS[link.weight].vjp_x(W, self._dz(P, c, d, l))

    def _bias_factor(self, c):
        if not self.prod:
            return None
        f = c[2]
        for j in range(1, len(self.links)):
            f = f * c[2 + j]
        return f

    def param_grad(self, P, X, c, d, blocks):
        out = {}
        for l, link in enumerate(self.links):
            if link.block in blocks:
                out[link.block] = WEIGHTS[link.weight].grad(self._dz(P, c, d, l), X[l], link.k)
        if self.bias in blocks:
            gb = d if not self.prod else d * self._bias_factor(c)
            out[self.bias] = gb.reshape(-1, self.S).sum(axis=0)
        return out

    def param_jac(self, P, X, c, d, blocks):
        out = {}
        for l, link in enumerate(self.links):
            if link.block in blocks:
                out[link.block] = WEIGHTS[link.weight].jac(self._dz(P, c, d, l), X[l], link.k)
        if self.bias in blocks:
            out[self.bias] = d if not self.prod else d * self._bias_factor(c)
        return out


class GammaKind:
    """Gamma memory of order K on a source of size m (de Vries & Principe):

        x_0(t) = s(t);  x_k(t) = (1 - mu) x_k(t-1) + mu x_{k-1}(t-1),  k = 1..K

    Output a = [x_0; ...; x_K], shape (B, Q, (K+1)*m). Link 0 is the source at delay 0,
    link 1 the node's own output at delay 1.
    """

    name = "gamma"

    def __init__(self, size, links, order, mu_block):
        self.S = size
        self.links = tuple(links)
        self.K = order
        self.m = size // (order + 1)
        self.mu = mu_block

    def hoist(self, P, X):
        # Nothing to precompute: hand the outside taps (usually the source's) to step.
        return (X.get(0), X.get(1))

    def step(self, P, H, X):
        mu = P[self.mu]
        m = self.m
        src = X[0] if 0 in X else H[0]
        prev = X[1] if 1 in X else H[1]
        a = np.empty(prev.shape)
        a[..., :m] = src
        a[..., m:] = (1.0 - mu) * prev[..., m:] + mu * prev[..., :-m]
        return a, ()

    def delta(self, P, c, G):
        return G

    def vjp_input(self, P, c, d, l):
        m = self.m
        if l == 0:
            return d[..., :m]
        mu = P[self.mu]
        g = np.zeros(d.shape)
        g[..., m:] = (1.0 - mu) * d[..., m:]
        g[..., :-m] += mu * d[..., m:]
        return g

    def _dmu(self, X, d):
        m = self.m
        prev = X[1]
        return d[..., m:] * (prev[..., :-m] - prev[..., m:])

    def param_grad(self, P, X, c, d, blocks):
        if self.mu not in blocks:
            return {}
        return {self.mu: np.array([self._dmu(X, d).sum()])}

    def param_jac(self, P, X, c, d, blocks):
        if self.mu not in blocks:
            return {}
        return {self.mu: self._dmu(X, d).sum(axis=-1, keepdims=True)}


class TdlKind:
    """Tapped delay line node: a = [s(t - d_1); ...; s(t - d_k)], shape (B, Q, k*m)."""

    name = "tdl"

    def __init__(self, size, links):
        self.S = size
        self.links = tuple(links)

    def hoist(self, P, X):
        return (X[0],) if X else ()

    def step(self, P, H, X):
        a = H[0] if H else X[0]
        return a, ()

    def delta(self, P, c, G):
        return G

    def vjp_input(self, P, c, d, l):
        return d

    def param_grad(self, P, X, c, d, blocks):
        return {}

    def param_jac(self, P, X, c, d, blocks):
        return {}


#: Registry: node kind name -> class. Adding a kind = a class here + a sample in the tests.
KINDS = {"layer": LayerKind, "gamma": GammaKind, "tdl": TdlKind}
