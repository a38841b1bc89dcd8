"""The layer kind's rules as operations for the compiled backend.

The same equations as :mod:`.layer`, stated once more in the backend's small operation set
(:mod:`dyngraph.engines.compiled.program`): for one time step t, with the taps of the links
stepped inside a recurrent component and the rest hoisted,

    n(t) = H(t) [or b] + Σ_l z_l(t)        (net sum)
    n(t) = H(t) · Π_l z_l(t) · b           (net prod; H = the product of hoisted z's)
    z_l(t) = Σ_j W_l[:, j-th block] s(t - d_j)   (full; diagonal and identity likewise)
    a(t) = f(n(t))

and backward δ(t) = dF/da(t) ∘ f'(n, a), dF/ds(t - d_j) += W_l[:, j-th block]ᵀ dF/dz_l(t)
with dF/dz_l = δ (sum) or δ · b · Π_{j≠l} z_j (prod); the parameters' rows (online RTRL's
explicit part) dF/dW_l[i, j-th block] = dF/dz_l[i] s(t - d_j)ᵀ, dF/db = δ (sum) or δ Π_l z_l
(prod). The engine tests compare every result with the numpy rules to 1e-12.
"""
from __future__ import annotations

__all__ = ["CompiledLayerRules"]


class CompiledLayerRules:
    """Mixin of :class:`~dyngraph.kinds.layer.LayerKind` (reads ``S``, ``links``,
    ``transfer``, ``transfer_name``, ``prod``, ``bias``)."""

    def compilable(self) -> bool:
        return self.transfer.scalar is not None

    def _contribute(self, em, P, l, taps, dst):
        """dst += z_l(t) from the taps of link l (one Ref per delay)."""
        link = self.links[l]
        n = self.S if link.weight != "full" else P[link.block].shape[1] // link.k
        if link.weight == "identity":
            for src in taps:
                em.add(dst, src, self.S)
            return
        W = em.param(P[link.block])
        for j, src in enumerate(taps):
            if link.weight == "full":
                em.matvec(dst, W.cols(j * n), src, self.S, n)
            else:
                em.diag(dst, W.cols(j), src, self.S)

    def fusion_key(self, stepped):
        """What layers must share for one product to give all their net inputs (the gates
        of an LSTM): the links' sources and delays, and whether there is a bias; None when
        this layer cannot take part (a product net, a linear transfer, a weight that is not
        full, a link not stepped — ``stepped``: the link indices read in the loop)."""
        if (self.prod or self.transfer.linear or set(stepped) != set(range(len(self.links)))
                or any(link.weight != "full" for link in self.links)):
            return None
        return (tuple((link.source, tuple(link.delays)) for link in self.links),
                bool(self.bias))

    @staticmethod
    def emit_fused(em, P, members, inside):
        """One step's net inputs n(t) of every layer in ``members`` (equal ``fusion_key``),
        side by side in one fresh buffer: Σ_l W_l s over the members' weights stacked, one
        product per link and tap instead of one per member — the same sums in the same
        order as each member's own. Returns the Ref of each member's n(t)."""
        first = members[0]
        width = sum(k.S for k in members)
        Z = em.alloc(width)
        if first.bias:
            em.copy(Z, em.stacked_row([P[k.bias] for k in members]), width)
        for l, link in enumerate(first.links):
            W = em.stacked([P[k.links[l].block] for k in members])
            n = P[link.block].shape[1] // link.k
            for j, src in enumerate(inside[l]):
                em.matvec(Z, W.cols(j * n), src, width, n)
        refs, col = [], 0
        for k in members:
            refs.append(Z.cols(col))
            col += k.S
        return refs

    def emit_forward(self, em, P, H, inside, out, net=None):
        """Operations of one step.

        Parameters
        ----------
        em : the backend's emitter
        P : block name -> value
        H : ``hoist()`` over all T of the links not stepped (or ())
        inside : {link index: [Ref of s(t - d_j) for each delay j]}
        out : Ref of a(t)
        net : Ref of n(t) when :meth:`emit_fused` made it already (then only f is left)

        Returns
        -------
        the cache, as ``step`` returns it: a tuple of Refs (or arrays)
        """
        S, name = self.S, self.transfer_name
        if net is not None:
            em.transfer(out, net, name, S)
            return (net, out)
        if not (self.prod or self.transfer.linear or H or self.bias) and len(inside) == 1:
            (l, taps), = inside.items()
            if self.links[l].weight == "identity" and len(taps) == 1:
                # n(t) is the source's row itself (tanh(c) of an LSTM): no copy of it
                em.transfer(out, taps[0], name, S)
                return (taps[0], out)
        n = out if self.transfer.linear else em.alloc(S)
        if not self.prod:
            # The first term sets n (then its rows need no zeroing), the others add.
            fresh = False
            if H:
                em.copy(n, em.const(H[0]), S)
            elif self.bias:
                em.copy(n, em.param_row(P[self.bias]), S)
            else:
                fresh = True
            for l, taps in inside.items():
                if fresh and self.links[l].weight == "identity":
                    em.copy(n, taps[0], S)
                    taps, fresh = taps[1:], False
                self._contribute(em, P, l, taps, n)
            if not self.transfer.linear:
                em.transfer(out, n, name, S)
            return (n, out)
        bias = em.param(P[self.bias]) if self.bias else None
        hoisted = sorted(set(range(len(self.links))) - set(inside))
        zs = {l: em.const(h) for l, h in zip(hoisted, H[1:])}
        for l, taps in inside.items():
            if self.links[l].weight == "identity" and len(taps) == 1:
                zs[l] = taps[0]             # z_l is the source itself: read it in place
                continue
            zs[l] = em.alloc(S)
            self._contribute(em, P, l, taps, zs[l])
        stepped = [zs[l] for l in inside]
        if H:
            first, rest = em.const(H[0]), stepped
        else:
            first, rest = stepped[0], stepped[1:]
        if rest:
            em.mul3(n, first, rest[0], S)
        else:
            em.copy(n, first, S)
        for z in rest[1:]:
            em.mul(n, z, S)
        if bias is not None:
            em.vmul(n, bias, S)
        if not self.transfer.linear:
            em.transfer(out, n, name, S)
        return (n, out) + tuple(zs[l] for l in range(len(self.links)))

    def _emit_dz(self, em, P, cache, D, l):
        """A Ref of dF/dz_l from δ (δ itself for a net sum)."""
        if not self.prod:
            return D
        dz = em.alloc(self.S)
        em.copy(dz, D, self.S)
        if self.bias:
            em.vmul(dz, em.param(P[self.bias]), self.S)
        for j in range(len(self.links)):
            if j != l:
                em.mul(dz, cache[2 + j], self.S)
        return dz

    def emit_param_jac(self, em, P, cache, inside, D, dest):
        """Operations adding dF/dθ of one step to ``dest`` (one direction's row).

        Parameters
        ----------
        cache : Refs of the forward cache (rows t);  D : Ref of δ(t)
        inside : {link index: [Ref of s(t - d_j) for each delay j]}, every link
        dest : {learned block name: Ref of the row where its derivative starts}
        """
        S = self.S
        if self.bias in dest:
            if self.prod:
                tmp = em.alloc(S)
                em.copy(tmp, D, S)
                for j in range(len(self.links)):
                    em.mul(tmp, cache[2 + j], S)
                em.add(dest[self.bias], tmp, S)
            else:
                em.add(dest[self.bias], D, S)
        for l, taps in inside.items():
            link = self.links[l]
            if link.weight == "identity" or link.block not in dest:
                continue
            dz = self._emit_dz(em, P, cache, D, l)
            E = dest[link.block]
            if link.weight == "full":
                n = P[link.block].shape[1] // link.k
                for j, src in enumerate(taps):
                    em.outer(E.cols(j * n), dz, src, S, n, link.k * n)
            else:
                for j, src in enumerate(taps):
                    em.dmul(E.cols(j), dz, src, S, link.k)

    def emit_backward(self, em, P, cache, g, D, sinks):
        """Operations of one backward step.

        Parameters
        ----------
        cache : Refs of the forward cache (rows t)
        g : Ref of dF/da(t);  D : Ref where δ(t) goes
        sinks : {link index: [(Ref of dF/ds(t - d_j), d_j) for each delay j]}
        """
        S = self.S
        if self.transfer.linear:
            em.copy(D, g, S)
        else:
            # a derivative of a alone (tanh, sigmoid) leaves n's cache unread: not copied
            n = cache[0] if self.transfer.uses_n else cache[1]
            em.deriv(D, g, n, cache[1], self.transfer_name, S)
        bias = em.param(P[self.bias]) if self.bias and self.prod else None
        for l, targets in sinks.items():
            link = self.links[l]
            if (self.prod and bias is None and link.weight == "identity"
                    and len(self.links) == 2):
                # dF/dz_l = δ · z_other: one fused multiply-add per target (the gates of
                # an LSTM from gates)
                other = cache[2 + (1 - l)]
                for dst, d in targets:
                    em.addmul(dst, D, other, S, guard=d)
                continue
            dz = D
            if self.prod:
                dz = em.alloc(S)
                em.copy(dz, D, S)
                if bias is not None:
                    em.vmul(dz, bias, S)
                for j in range(len(self.links)):
                    if j != l:
                        em.mul(dz, cache[2 + j], S)
            link = self.links[l]
            if link.weight == "identity":
                for dst, d in targets:
                    em.add(dst, dz, S, guard=d)
                continue
            W = em.param(P[link.block])
            n = P[link.block].shape[1] // link.k if link.weight == "full" else S
            for j, (dst, d) in enumerate(targets):
                if link.weight == "full":
                    em.matvec_t(dst, W.cols(j * n), dz, S, n, guard=d)
                else:
                    em.diag(dst, W.cols(j), dz, S, guard=d)
