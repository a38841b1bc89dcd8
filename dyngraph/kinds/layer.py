"""The layer kind's forward rule and local derivatives (what both engines use).

    n = b + sum_l z_l   (net sum)   or   n = b * prod_l z_l   (net prod)
    a = f(n),   z_l = weight_l(W_l, X_l)

The stepped fast paths of the same rules live apart, in :mod:`.layer_stepped`, and the
same rules as operations of the compiled backend in :mod:`.layer_compiled`.
"""
from __future__ import annotations

from .layer_compiled import CompiledLayerRules
from .layer_stepped import SteppedLayerRules
from .transfers import TRANSFERS
from .weights import WEIGHTS, row_sum

__all__ = ["LayerKind"]


class LayerKind(SteppedLayerRules, CompiledLayerRules):
    """Layer: n = b + sum_l z_l (net sum) or n = b * prod_l z_l (net prod); a = f(n);
    z_l = weight_l(W_l, X_l). Shapes: n, a (B, Q, S)."""

    name = "layer"

    def __init__(self, size, links, transfer, net, bias_block, name=None):
        self.S = size
        self.links = tuple(links)
        # A sampling transfer draws from the stream of this layer's name (see transfers).
        self.transfer = TRANSFERS[transfer].bound(name)
        self.transfer_name = transfer
        self.prod = net == "prod"
        self.bias = bias_block

    def _z(self, P, l, X):
        link = self.links[l]
        w = WEIGHTS[link.weight]
        W = P[link.block] if link.block else link.k
        return w.apply(W, X)

    def hoist(self, P, X, pre=frozenset()):
        """``pre``: links whose entry in X is already their contribution z (computed by the
        engine for several nodes at once), not their taps."""
        if not X:
            return ()
        zs = {l: x if l in pre else self._z(P, l, x) for l, x in X.items()}
        if self.prod:
            acc = None
            for z in zs.values():
                acc = z if acc is None else acc * z
            return (acc,) + tuple(zs[l] for l in sorted(zs))
        # The first sum allocates; the rest accumulate in place (a z may be a view of a
        # source buffer, e.g. an identity tap, and must not be written). The second item
        # says whether the sum is a fresh array that step may overwrite.
        z = list(zs.values())
        b = P[self.bias] if self.bias else None
        if len(z) == 1:
            l0 = next(iter(zs))
            fresh = WEIGHTS[self.links[l0].weight].fresh and l0 not in pre
            if b is None:
                return (z[0], fresh)
            if fresh:
                z[0] += b
                return (z[0], True)
            return (z[0] + b, True)
        acc = z[0] + z[1]
        for more in z[2:]:
            acc += more
        if b is not None:
            acc += b
        return (acc, True)

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
        n = H[0] if H else b          # a hoisted sum already holds the bias
        for z in zs.values():
            n = z if n is None else n + z
        if not zs and H[1] and not self.transfer.uses_n and self.transfer.f_into is not None:
            # n is ours and the derivative rule only reads a: transfer in place.
            self.transfer.f_into(n, n)
            return n, (n, n)
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
            out[self.bias] = row_sum(gb)
        return out

    def param_jac(self, P, X, c, d, blocks):
        out = {}
        for l, link in enumerate(self.links):
            if link.block in blocks:
                out[link.block] = WEIGHTS[link.weight].jac(self._dz(P, c, d, l), X[l], link.k)
        if self.bias in blocks:
            out[self.bias] = d if not self.prod else d * self._bias_factor(c)
        return out
