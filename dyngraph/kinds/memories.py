"""Memory kinds without weights of their own: the gamma memory and the tapped delay line."""
from __future__ import annotations

import numpy as np

__all__ = ["GammaKind", "TdlKind"]


class GammaKind:
    """Gamma memory of order K on an input of size m (de Vries & Principe):

        x_0(t) = s(t);  x_k(t) = (1 - mu) x_k(t-1) + mu x_{k-1}(t-1),  k = 1..K

    Output a = [x_0; ...; x_K], shape (B, Q, (K+1)*m). Link 0 is the source read through its
    delays d_1..d_j, so s(t) = [y(t-d_1); ...; y(t-d_j)] (m = j*n; usually j = 1, d_1 = 0);
    link 1 is the node's own output at delay 1.
    """

    name = "gamma"

    def __init__(self, size, links, order, mu_block):
        self.S = size
        self.links = tuple(links)
        self.K = order
        self.m = size // (order + 1)
        self.mu = mu_block

    def hoist(self, P, X, pre=frozenset()):
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
        """dE/dμ = Σ_t,k δ_k · (x_{k-1}(t-1) - x_k(t-1)), summed as two dot products over
        the (rows, S) views: no (rows, S - m) temporaries (20 -> 12 us at T = 1000, S = 5)."""
        if self.mu not in blocks:
            return {}
        m, S = self.m, self.S
        D = d.reshape(-1, S)[:, m:]
        prev = X[1].reshape(-1, S)
        value = np.einsum("ij,ij->", D, prev[:, :-m]) - np.einsum("ij,ij->", D, prev[:, m:])
        return {self.mu: np.array([value])}

    def param_jac(self, P, X, c, d, blocks):
        if self.mu not in blocks:
            return {}
        return {self.mu: self._dmu(X, d).sum(axis=-1, keepdims=True)}

    # -- the same rules as operations of the compiled backend (see kinds/layer_compiled.py)
    def compilable(self) -> bool:
        return True

    def emit_forward(self, em, P, H, inside, out):
        m, S = self.m, self.S
        mu = em.param(P[self.mu])
        # x_0 is the source's taps side by side (one per delay of link 0); rows start at
        # zero, so x_1..x_K need no zeroing.
        if 0 in inside:
            n = m // len(inside[0])
            for j, src in enumerate(inside[0]):
                em.copy(out.cols(j * n), src, n)
        else:
            em.copy(out, em.const(H[0]), m)
        prev = inside[1][0]
        em.scale_add(out.cols(m), prev.cols(m), mu, S - m, one_minus=True)
        em.scale_add(out.cols(m), prev, mu, S - m)
        return ()

    def emit_param_jac(self, em, P, cache, inside, D, dest):
        """dF/dμ = Σ δ_{x_k} (x_{k-1}(t-1) - x_k(t-1)), k ≥ 1 (see the layer's rule)."""
        if self.mu not in dest:
            return
        m, S = self.m, self.S
        prev = inside[1][0]
        em.dot(dest[self.mu], D.cols(m), prev, S - m)
        em.dot(dest[self.mu], D.cols(m), prev.cols(m), S - m, subtract=True)

    def emit_backward(self, em, P, cache, g, D, sinks):
        m, S = self.m, self.S
        mu = em.param(P[self.mu])
        em.copy(D, g, S)
        taps = sinks.get(0, ())
        n = m // max(len(taps), 1)
        for j, (dst, d) in enumerate(taps):
            em.add(dst, D.cols(j * n), n, guard=d)
        for dst, d in sinks.get(1, ()):
            em.scale_add(dst.cols(m), D.cols(m), mu, S - m, one_minus=True, guard=d)
            em.scale_add(dst, D.cols(m), mu, S - m, guard=d)


class TdlKind:
    """Tapped delay line node: a = [s(t - d_1); ...; s(t - d_k)], shape (B, Q, k*m)."""

    name = "tdl"

    def __init__(self, size, links):
        self.S = size
        self.links = tuple(links)

    def hoist(self, P, X, pre=frozenset()):
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

    # -- the same rules as operations of the compiled backend
    def compilable(self) -> bool:
        return True

    def emit_forward(self, em, P, H, inside, out):
        if 0 not in inside:
            em.copy(out, em.const(H[0]), self.S)
            return ()
        taps = inside[0]
        m = self.S // len(taps)
        for j, src in enumerate(taps):
            em.copy(out.cols(j * m), src, m)
        return ()

    def emit_param_jac(self, em, P, cache, inside, D, dest):
        """No parameters."""

    def emit_backward(self, em, P, cache, g, D, sinks):
        em.copy(D, g, self.S)
        targets = sinks.get(0, ())
        m = self.S // max(len(targets), 1)
        for j, (dst, d) in enumerate(targets):
            em.add(dst, D.cols(j * m), m, guard=d)
