"""The layer kind's optional fast paths: the rules of :mod:`.layer`, bound once per sweep.

The stepped loops of recurrent components (:mod:`dyngraph.engines.simulate`,
:mod:`dyngraph.engines.bptt`) call a closure per time step over per-step views, so the
rules are bound here into closures that pay no per-step dispatch; RTRL's explicit rows for
an identity seed (``param_jac_diag``) skip the R x zeros of the dense rule. Nothing here
states a new rule: each method computes what ``step``/``delta``/``vjp_input``/``param_jac``
of :class:`~dyngraph.kinds.layer.LayerKind` compute, and the engine tests compare both.
"""
from __future__ import annotations

import numpy as np

from .weights import WEIGHTS

__all__ = ["SteppedLayerRules"]


class SteppedLayerRules:
    """Mixin of :class:`~dyngraph.kinds.layer.LayerKind`: the fast paths. It reads
    ``S``, ``links``, ``transfer``, ``prod``, ``bias`` and ``_dz`` of the layer."""

    # Closures over 2-D (Q, .) per-step views, so that a recurrent loop pays no per-step
    # dispatch. A kind without these methods (the memories) is stepped through
    # step/delta/vjp_input instead.

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

