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

Optional fast paths — the same rules, bound once per sweep for the stepped loops of
recurrent components; an engine uses them when a kind has them and falls back to the
methods above otherwise (LayerKind has them, the memories do not):

``compile_step`` / ``compile_backward``   closures run(t) over per-step views
``fusable()``          links whose contribution is X @ W.T (the engine batches several nodes'
                       reads of one tap into one matmul, forward and backward)
``delta_is_adjoint``   δ equals dF/da (a linear transfer): the engine may alias them
``param_jac_diag``     RTRL's explicit rows for an identity seed, without the R× zeros

Transfers and weights have their own tables (:mod:`dyngraph.transfers`,
:mod:`dyngraph.weights`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .transfers import TRANSFER_ALIASES, TRANSFERS, Transfer
from .weights import WEIGHTS, Weight

__all__ = ["TRANSFERS", "TRANSFER_ALIASES", "WEIGHTS", "KINDS", "Transfer", "Weight",
           "LinkInfo", "LayerKind", "GammaKind", "TdlKind"]


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

    # -- stepped fast path ---------------------------------------------------------
    # The same rules as step/delta/vjp_input, bound once per sweep into closures over
    # 2-D (Q, .) arrays so that a recurrent loop pays no per-step dispatch. Only sum nets
    # have them; the engines fall back to step/delta/vjp_input otherwise.

    @property
    def delta_is_adjoint(self):
        """True when δ = dF/dn equals dF/da (a linear transfer): an engine may then hand
        compile_backward the adjoint buffer itself as D, and no copy is made."""
        return self.transfer.linear

    def fusable(self):
        """Links whose contribution is exactly X @ W.T added into n: the engine may batch
        those of several nodes reading the same tap into one matmul."""
        if self.prod:
            return ()
        return tuple(l for l, link in enumerate(self.links) if link.weight == "full")

    def compile_step(self, P, H, inside, fused, a_out, T, Q):
        """Forward closure for stepping.

        Parameters
        ----------
        H : hoist() result over all T (or ())
        inside : list of (l, taps) — taps(t) -> (Q, k*n) for links read at step t
        fused : dict l -> (Q, S) view that holds z_l(t) whenever run(t) is called
        a_out : (T, Q, S) view of the output buffer

        Returns
        -------
        run(t), and the cache (n, a) over all T
        """
        if self.prod:
            return self._compile_prod_step(P, H, inside, fused, a_out, T, Q)
        terms = self._terms(P, inside, fused)
        base = H[0] if H else (P[self.bias] if self.bias else None)
        # A linear layer's n is its a: write straight into the output buffer.
        n_all = a_out if self.transfer.linear else np.empty((T, Q, self.S))
        f_into = None if self.transfer.linear else self.transfer.f_into_fn()
        first, rest = terms[0], terms[1:]
        hoisted = bool(H)
        single = inside[0][1] if len(inside) == 1 and not fused else None
        if single is not None and self.links[inside[0][0]].weight == "full":
            # The common recurrent layer, n(t) = H(t) + W s(t - d) (H hoisted, or the bias,
            # or nothing): three numpy calls on per-step views made once (a list index is
            # cheaper than an array index). When the derivative rule reads only a, n is
            # computed in a's own place.
            WT = np.ascontiguousarray(P[self.links[inside[0][0]].block].T)
            if not self.transfer.uses_n:
                n_all = a_out
            if getattr(single, "off", None) is not None:
                src = list(single.buf[single.off:single.off + T]).__getitem__
            else:
                src = single
            ns, outs = list(n_all), list(a_out)
            bs = list(base) if hoisted else None
            b = None if hoisted else base

            def run_one(t):
                n = ns[t]
                np.matmul(src(t), WT, out=n)
                if bs is not None:
                    n += bs[t]
                elif b is not None:
                    n += b
                if f_into is not None:
                    f_into(n, outs[t])
            return run_one, (n_all, a_out)
        if (base is None and single is not None and getattr(single, "all", None) is not None
                and self.links[inside[0][0]].weight == "identity" and f_into is not None):
            # n is the source itself (e.g. tanh of a cell state): keep its buffer as the
            # cache of n, copy nothing.
            def run_identity(t):
                f_into(single(t), a_out[t])
            return run_identity, (single.all, a_out)
        if hoisted and not inside and len(fused) == 1:
            z = next(iter(fused.values()))      # a gate whose recurrent matmul is fused
            if not self.transfer.uses_n:
                n_all = a_out
            ns, bs, outs = list(n_all), list(base), list(a_out)

            def run_fused(t):
                n = ns[t]
                np.add(bs[t], z, out=n)
                if f_into is not None:
                    f_into(n, outs[t])
            return run_fused, (n_all, a_out)

        def run(t):
            n = n_all[t]
            if base is None:
                if rest:
                    np.add(first(t), rest[0](t), out=n)
                    for g in rest[1:]:
                        n += g(t)
                else:
                    n[...] = first(t)
            else:
                np.add(base[t] if hoisted else base, first(t), out=n)
                for g in rest:
                    n += g(t)
            if f_into is not None:
                f_into(n, a_out[t])

        return run, (n_all, a_out)

    def _terms(self, P, inside, fused):
        """term(t) -> z_l(t) (Q, S) for each link stepped here; views where possible."""
        terms = [lambda t, z=z: z for z in fused.values()]
        for l, fn in inside:
            link = self.links[l]
            if link.weight == "full":
                WT = P[link.block].T
                terms.append(lambda t, fn=fn, WT=WT: fn(t) @ WT)
            elif link.weight == "identity" and link.k == 1:
                terms.append(fn)
            else:
                w, W = WEIGHTS[link.weight], (P[link.block] if link.block else link.k)
                terms.append(lambda t, fn=fn, w=w, W=W: w.apply(W, fn(t)))
        return terms

    def compile_backward(self, P, c, G, D, inside):
        """Backward closure for stepping: run(t) sets D[t] = δ(t) from G[t] (both (T, Q, S)
        views) and hands dF/dX_l(t) to ``sink(t, gX)`` for each (l, sink) in ``inside``."""
        if self.prod:
            return self._compile_prod_backward(P, c, G, D, inside)
        sinks = []
        for l, sink in inside:
            link = self.links[l]
            W = P[link.block] if link.block else link.k
            sinks.append((sink, W, None if link.weight == "full"
                          else WEIGHTS[link.weight].vjp_x))
        delta = self._stepped_delta(c, G, D)
        if len(sinks) == 1 and sinks[0][2] is None and hasattr(sinks[0][0], "off"):
            # The common recurrent layer: its only stepped link is one full tap.
            sink, W = sinks[0][0], sinks[0][1]
            first = max(sink.first, 0)
            # The sink's target rows for b >= first, as views made once.
            targets = [None] * first + list(sink.buf[sink.off + first:sink.off + len(D)])

            def run_one(t):
                d = delta(t)
                if t >= first:
                    targets[t] += d @ W
            return run_one

        def run(t):
            d = delta(t)
            for sink, W, vjp in sinks:
                sink(t, d @ W if vjp is None else vjp(W, d))
        return run

    def _stepped_delta(self, c, G, D):
        """delta(t): writes δ(t) into D[t] and returns it as a contiguous (Q, S) array.

        An elementwise transfer's derivative f'(n) is formed for all T at once before the
        sweep, so a step costs one multiply. D may be the adjoint buffer itself (a linear
        layer: ``delta_is_adjoint``) or a strided view (fused nodes' deltas side by side,
        then a contiguous scratch does the work).
        """
        n_all, a_all = c[0], c[1]
        Ds, Gs = list(D), list(G)
        tr = self.transfer
        if np.may_share_memory(D, G):
            return Ds.__getitem__
        strided = not D[0].flags.c_contiguous
        scratch = np.empty(D.shape[1:]) if strided else None
        if tr.linear:
            def copy(t):
                d = Ds[t]
                d[...] = Gs[t]
                return Gs[t] if strided else d
            return copy
        if tr.elementwise:
            fps = list(tr.deriv(n_all, a_all))
            if not strided:
                def mul(t):
                    d = Ds[t]
                    np.multiply(Gs[t], fps[t], out=d)
                    return d
                return mul

            def mul_strided(t):
                np.multiply(Gs[t], fps[t], out=scratch)
                Ds[t][...] = scratch
                return scratch
            return mul_strided
        ns, as_ = list(n_all), list(a_all)

        def rule(t):
            d = tr.vjp(ns[t], as_[t], Gs[t])
            Ds[t][...] = d
            return d
        return rule

    def _dz(self, P, c, d, l):
        """dF/dz_l from dF/dn = d."""
        if not self.prod:
            return d
        dz = d * P[self.bias] if self.bias else d
        for j in range(len(self.links)):
            if j != l:
                dz = dz * c[2 + j]
        return dz

    def _compile_prod_step(self, P, H, inside, fused, a_out, T, Q):
        hoisted = sorted(set(range(len(self.links))) - {l for l, _ in inside})
        zs = dict(zip(hoisted, H[1:]))
        terms = self._terms(P, inside, {})
        writes = []
        for (l, fn), term in zip(inside, terms):
            if getattr(fn, "all", None) is not None and term is fn:
                zs[l] = fn.all             # identity tap: z_l is the source's own buffer
            else:
                zs[l] = np.empty((T, Q, self.S))
                writes.append((term, zs[l]))
        z_in = [zs[l] for l, _ in inside]
        base = H[0] if H else None
        b = P[self.bias] if self.bias else None
        n_all = a_out if self.transfer.linear else np.empty((T, Q, self.S))
        f_into = None if self.transfer.linear else self.transfer.apply_into

        def run(t):
            for term, z_all in writes:
                z_all[t] = term(t)
            n = n_all[t]
            if base is None:
                if len(z_in) > 1:
                    np.multiply(z_in[0][t], z_in[1][t], out=n)
                    for z in z_in[2:]:
                        n *= z[t]
                else:
                    n[...] = z_in[0][t]
            else:
                np.multiply(base[t], z_in[0][t], out=n)
                for z in z_in[1:]:
                    n *= z[t]
            if b is not None:
                n *= b
            if f_into is not None:
                f_into(n, a_out[t])

        return run, (n_all, a_out) + tuple(zs[l] for l in range(len(self.links)))

    def _compile_prod_backward(self, P, c, G, D, inside):
        zs = c[2:]
        b = P[self.bias] if self.bias else None
        delta = self._stepped_delta(c, G, D)
        sinks = []
        for l, sink in inside:
            link = self.links[l]
            W = P[link.block] if link.block else link.k
            others = [list(zs[j]) for j in range(len(self.links)) if j != l]
            sinks.append((sink, W, WEIGHTS[link.weight].vjp_x, others))

        def run(t):
            d = delta(t)
            for sink, W, vjp, others in sinks:
                dz = d * b if b is not None else d
                for z in others:
                    dz = dz * z[t]
                sink(t, vjp(W, dz))

        return run

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

    def param_jac_diag(self, P, X, c, dvec, blocks):
        """param_jac for a δ that is diagonal in the directions, δ[r, .., i] = [r = i]
        dvec[.., i] (an identity seed through an elementwise transfer): for each block
        whose row i depends only on n_i, that row's derivative (B, Q, S, m) and m.
        Returns {} for a softmax layer (its δ is not diagonal)."""
        out = {}
        covered = self._diag_blocks(blocks)
        for l, link in enumerate(self.links):
            if link.block in covered:
                dz = self._dz(P, c, dvec, l)
                out[link.block] = (dz[..., :, None] * X[l][..., None, :], X[l].shape[-1])
        if self.bias in covered:
            gb = dvec if not self.prod else dvec * self._bias_factor(c)
            out[self.bias] = (gb[..., None], 1)
        return out

    def _diag_blocks(self, blocks):
        if not self.transfer.elementwise:
            return frozenset()
        key = id(blocks)
        hit = self.__dict__.get("_diag_cache")
        if hit is None or hit[0] != key:
            full = {l.block for l in self.links if l.weight == "full"}
            hit = (key, frozenset(b for b in blocks if b in full or b == self.bias), blocks)
            self._diag_cache = hit
        return hit[1]

    def param_jac_rest(self, P, X, c, d, blocks):
        """The blocks param_jac_diag does not cover, by the dense rule."""
        return self.param_jac(P, X, c, d, set(blocks) - self._diag_blocks(blocks))

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


#: Registry: node kind name -> class. Adding a kind = a class here + a sample in the tests.
KINDS = {"layer": LayerKind, "gamma": GammaKind, "tdl": TdlKind}
