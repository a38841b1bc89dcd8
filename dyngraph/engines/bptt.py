"""Backpropagation through time over any plan: the mirror image of :mod:`dyngraph.simulate`.

The adjoint buffers ``G[v]`` = dF/da_v have the same layout as the forward buffers
(L_v + T, Q, n_v); their first L_v rows end up holding dF/d(initial values). Components are
visited in reverse order; one with no cycle is done for all T at once, a recurrent one steps
backward in time, propagating only through its inside links. The kinds' inner adjoints δ of
a recurrent component are stored per step, and everything that is linear in them — weight
gradients dW = Σ_t δ(t) X(t)ᵀ and adjoints sent to sources outside the component — is formed
after the sweep as one matmul over all T·Q rows.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..graph.plan import Plan, require_derivatives
from .reverse import flip_caches, flip_into, mirror_names, mirror_plan, unflip
from .simulate import Trace, fused_groups, taps

__all__ = ["backward", "Adjoints", "finish_recurrent", "truncated", "check_truncation"]


def backward(plan: Plan, P: Mapping[str, np.ndarray], trace: Trace,
             dA: Mapping[str, np.ndarray], learn: frozenset,
             t_range: Optional[Tuple[int, int]] = None, input_adjoints: bool = False):
    """Gradient of a loss F given dF/d(outputs).

    Parameters
    ----------
    plan, P, trace : as produced by :func:`dyngraph.simulate.forward`
    dA : dict node name -> (T, Q, n) explicit dF/da (usually the outputs')
    learn : set of block names whose gradient is wanted
    t_range : (t0, t1) — only steps t0 <= t < t1 are swept and no adjoint flows below t0
              (truncated BPTT); default all steps
    input_adjoints : also send adjoints into the inputs: ``initial`` then holds
              dF/d(input) too, and the third result is {input: (T, Q, n)}

    Returns
    -------
    grads : dict block name -> array of the block's shape
    initial : dict node name -> (L_v, Q, n_v), dF/d(initial values) (empty when truncated)
    """
    require_derivatives(plan, "backpropagation")
    T = trace.T
    if t_range is not None and plan.backward:
        raise ValueError("truncated BPTT (t_range) is not defined for a spec with backward "
                         "layers: they depend on the steps after the truncation window")
    t0, t1 = (0, T) if t_range is None else t_range
    G = Adjoints(plan, trace)
    G.inputs_too = input_adjoints
    for comp in plan.components:
        if comp.recurrent:
            for name in comp.nodes:
                G.buffer(name)          # stepped nodes receive adjoints step by step
    for name, g in dA.items():
        G.add(name, 0, g[t0:t1], t0, t1)
    tmin = None if t_range is None else t0
    grads: Dict[str, np.ndarray] = {}
    backend = trace.backend
    for comp in reversed(plan.components):
        if comp.backward:
            _backward_reversed(plan, P, trace, G, comp, learn, grads)
            continue
        if comp.recurrent:
            if backend is None or not backend.backward_component(
                    plan, P, trace, G, comp, learn, grads, t0, t1, tmin):
                _backward_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin)
            continue
        _backward_static(plan, P, trace, G, comp.nodes[0], learn, grads, t0, t1, tmin,
                         t_range is None)
    initial = {}
    if t_range is None:
        initial = {n: G[n][:plan.nodes[n].lookback] for n in G if plan.nodes[n].lookback}
        initial.update({n: np.zeros((node.lookback, trace.Q, node.size))
                        for n, node in plan.nodes.items()
                        if node.kind is not None and node.lookback and n not in G})
    if input_adjoints:
        T = trace.T
        per_input = {n: (G[n][plan.nodes[n].lookback:] if n in G
                         else np.zeros((T, trace.Q, plan.nodes[n].size)))
                     for n in plan.inputs}
        for n in plan.inputs:
            initial.pop(n, None)
        return grads, initial, per_input
    return grads, initial


def _backward_static(plan, P, trace, G, name, learn, grads, t0, t1, tmin, whole):
    """A node off any cycle, all its steps at once."""
    if name not in G:
        return                          # nothing downstream depends on it
    node = plan.nodes[name]
    L = node.lookback
    c = tuple(ci[t0:t1] for ci in trace.caches[name])
    d = node.kind.delta(P, c, G[name][L + t0:L + t1])
    if whole and trace.taps and name in trace.taps:
        X = trace.taps[name]
    else:
        X = {l: taps(plan, trace.A, link, t0, t1) for l, link in enumerate(node.links)}
    _to_sources(plan, P, node, c, d, G, range(len(node.links)), t0, t1, tmin)
    _accumulate(grads, node.kind.param_grad(P, X, c, d, learn))


def _backward_reversed(plan, P, trace, G, comp, learn, grads):
    """A backward component: the forward component's backward sweep on the time-reversed
    record (see :mod:`.reverse`); the adjoints it sends to its sources are turned back to
    real time and added into ``G``."""
    if not comp.recurrent and comp.nodes[0] not in G:
        return
    T, Q = trace.T, trace.Q
    mplan = mirror_plan(plan)
    names = mirror_names(plan, comp)
    mtrace = Trace(flip_into(plan, mplan, trace.A, names, T, Q),
                   {v: flip_caches(trace.caches[v]) for v in comp.nodes}, T, Q, {}, None)
    MG = Adjoints(mplan, mtrace)
    MG.inputs_too = getattr(G, "inputs_too", False)
    own = [v for v in comp.nodes if v in G]
    MG.update(flip_into(plan, mplan, G, own, T, Q))
    if comp.recurrent:
        for name in comp.nodes:
            MG.buffer(name)
        _backward_recurrent(mplan, P, mtrace, MG, comp, learn, grads, 0, T, None)
    else:
        _backward_static(mplan, P, mtrace, MG, comp.nodes[0], learn, grads, 0, T, None, True)
    for name in names[len(comp.nodes):]:
        if name in MG:
            G.add(name, 0, unflip(mplan, MG, name, T), 0, T)


class Adjoints(dict):
    """name -> adjoint buffer dF/da (L + T, Q, n), created when the first adjoint arrives
    (a node with none is unreached: its adjoint and its parameters' gradients are zero).

    A node that is never read with a delay and does not step receives its adjoint over all
    T in one piece; that array is adopted as the buffer instead of being added into zeros.
    """

    def __init__(self, plan: Plan, trace: Trace):
        super().__init__()
        self.plan, self.trace = plan, trace

    def buffer(self, name):
        if name not in self:
            # np.zeros, not zeros_like: calloc hands back already-zero pages for free.
            self[name] = np.zeros(self.trace.A[name].shape)
        return self[name]

    def add(self, name, d, g, t0, t1, tmin=None):
        """Add g, the adjoint of name(t - d) for t in [t0, t1), dropping times < tmin."""
        L = self.plan.nodes[name].lookback
        lo = t0 - d
        if tmin is not None and lo < tmin:
            g = g[tmin - lo:]
            lo = tmin
        if g.shape[0] <= 0:
            return
        # Adopting is safe: every adjoint handed here is either fresh or a view of a delta
        # whose last use (its node's own step) is over before anything else adds to it.
        if (name not in self and L == 0 and lo == 0 and g.shape[0] == self.trace.T
                and g.flags.writeable and g.flags.c_contiguous):
            self[name] = g
            return
        buf = self.buffer(name)
        buf[L + lo:L + lo + g.shape[0]] += g


def scatter_taps(plan: Plan, G: Adjoints, link, gX, t0: int, t1: int, tmin=None) -> None:
    """Add dF/dX (t1-t0, Q, k*n) of a link's taps into its source's adjoints."""
    n = plan.nodes[link.source].size
    for j, d in enumerate(link.delays):
        part = gX[..., j * n:(j + 1) * n] if len(link.delays) > 1 else gX
        G.add(link.source, d, part, t0, t1, tmin)


def _to_sources(plan, P, node, c, d, G, links, t0, t1, tmin):
    for l in links:
        link = node.links[l]
        if link.stop:
            continue        # gradient: stop, the source gets nothing through this link
        if plan.nodes[link.source].kind is None and not getattr(G, "inputs_too", False):
            continue        # inputs need no adjoint, unless asked for
        gX = node.kind.vjp_input(P, c, d, l)
        scatter_taps(plan, G, link, gX, t0, t1, tmin)


def _accumulate(grads, new):
    for k, v in new.items():
        grads[k] = grads[k] + v if k in grads else v


def _sink(plan, G, link, tmin, t0):
    """sink(b, gX): add a link's tap adjoints at step t0 + b into its source's adjoint
    buffer (b counts within the swept block, as the compiled closures do)."""
    gs = G[link.source]
    L = plan.nodes[link.source].lookback
    n = plan.nodes[link.source].size
    lo = -(1 << 60) if tmin is None else tmin
    if len(link.delays) == 1:
        d = link.delays[0]
        off = L - d + t0

        def sink(b, g):
            if t0 + b - d >= lo:
                gs[off + b] += g
        # For closures that inline the add: buffer, offset, and the first active b.
        sink.buf, sink.off, sink.first = gs, off, lo - t0 + d
        return sink

    delays = link.delays
    step = delays[1] - delays[0]
    if tmin is None and all(b - a == step for a, b in zip(delays, delays[1:])):
        # Evenly spaced taps, nothing truncated: the k target rows of step b are one
        # strided, writable view of the buffer (distinct rows within a step).
        s0, s1, s2 = gs.strides
        B = gs.shape[0] - L
        view = as_strided(gs[L - delays[0] + t0:], shape=(B - t0, gs.shape[1], len(delays),
                                                          n),
                          strides=(s0, s1, -step * s0, s2))
        rows = list(view)
        Q = gs.shape[1]

        def sink_strided(b, g):
            rows[b] += g.reshape(Q, len(delays), n)
        return sink_strided

    def sink_many(b, g):
        for j, d in enumerate(link.delays):
            if t0 + b - d >= lo:
                gs[L - d + t0 + b] += g[..., j * n:(j + 1) * n]
    return sink_many


def _backward_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin):
    """Step a recurrent component backward over [t0, t1). The deltas of all its nodes live
    side by side in one (B, Q, Σ n) array, so that the nodes reading one source at one
    delay (fused_groups) send their adjoints back through one matmul."""
    B, Q = t1 - t0, trace.Q
    kinds = {v: plan.nodes[v].kind for v in comp.nodes}
    # A stopped link sends no adjoint: it leaves its fused group, which may then be too
    # small to fuse (the forward pass still fuses it).
    found = [(s, d, ms) for s, d, ms in
             ((s, d, [(v, l) for v, l in ms if not kinds[v].links[l].stop])
              for s, d, ms in fused_groups(plan, comp)) if len(ms) >= 2]
    members = [v for v in comp.nodes if any(v == m for _, _, ms in found for m, _ in ms)]
    widths = {v: kinds[v].S for v in members}
    Dall = np.zeros((B, Q, sum(widths.values())))
    D, cols, lo = {}, {}, 0
    for v in members:
        D[v], cols[v] = Dall[:, :, lo:lo + widths[v]], lo
        lo += widths[v]
    for v in comp.nodes:
        D.setdefault(v, None)      # every kind's δ is (B, Q, S): allocated below
    groups, fused = [], {v: set() for v in comp.nodes}
    for s, d, ms in found:
        contiguous = all(cols[ms[i + 1][0]] == cols[ms[i][0]] + widths[ms[i][0]]
                         for i in range(len(ms) - 1))
        if not contiguous:
            continue
        W = np.concatenate([P[kinds[v].links[l].block] for v, l in ms], axis=0)
        span = slice(cols[ms[0][0]], cols[ms[0][0]] + W.shape[0])
        for v, l in ms:
            fused[v].add(l)
        groups.append((G[s], plan.nodes[s].lookback - d, d, span, W))
    for v in comp.nodes:
        if D[v] is None and getattr(kinds[v], "delta_is_adjoint", False):
            L = plan.nodes[v].lookback
            D[v] = G[v][L + t0:L + t1]
        elif D[v] is None:
            D[v] = np.zeros((B, Q, kinds[v].S))
    runs = []
    for name in reversed(comp.nodes):
        node = plan.nodes[name]
        L = node.lookback
        cache = tuple(ci[t0:t1] for ci in trace.caches[name])
        inside = [(l, _sink(plan, G, node.links[l], tmin, t0)) for l in comp.inside[name]
                  if l not in fused[name] and not node.links[l].stop]
        g = G[name][L + t0:L + t1]
        run = None
        if hasattr(node.kind, "compile_backward"):
            run = node.kind.compile_backward(P, cache, g, D[name], inside)
        runs.append(run or _generic_back(P, node, cache, g, D[name], inside))
    lo = -(1 << 60) if tmin is None else tmin
    for t in range(t1 - 1, t0 - 1, -1):
        b = t - t0
        for run in runs:
            run(b)
        for gs, off, d, span, W in groups:
            if t - d >= lo:
                gs[off + t] += Dall[b, :, span] @ W
    finish_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin, D)


def finish_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin, D):
    """After a recurrent component's backward sweep: everything linear in its deltas
    ``D[v]`` (B, Q, S) — adjoints to sources outside it, and the parameter gradients — as
    one matmul over all B·Q rows each."""
    for name in comp.nodes:
        node = plan.nodes[name]
        c = tuple(ci[t0:t1] for ci in trace.caches[name])
        d = D[name]
        outside = [l for l in range(len(node.links)) if l not in comp.inside[name]]
        _to_sources(plan, P, node, c, d, G, outside, t0, t1, tmin)
        X = {l: taps(plan, trace.A, link, t0, t1) for l, link in enumerate(node.links)}
        _accumulate(grads, node.kind.param_grad(P, X, c, d, learn))


def _generic_back(P, node, cache, g, D, inside):
    """run(b) through the kind's plain delta/vjp_input rules (block-local step b)."""
    kind = node.kind

    def run(b):
        c = tuple(ci[b:b + 1] for ci in cache)
        d = kind.delta(P, c, g[b:b + 1])
        D[b] = d[0]
        for l, sink in inside:
            sink(b, kind.vjp_input(P, c, d, l)[0])

    return run


def check_truncation(truncate):
    """``truncate`` as the pair of ints (k1, k2), checked before any work (None stays)."""
    if truncate is None:
        return None
    try:
        k1, k2 = truncate
        ok = int(k1) == k1 and int(k2) == k2 and 1 <= k1 <= k2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("truncate=(k1, k2) takes two whole numbers 1 <= k1 <= k2 (every "
                         f"k1 steps, backpropagate through the last k2), got {truncate!r}")
    return int(k1), int(k2)


def truncated(plan, P, trace, dA, learn, truncate):
    """Truncated BPTT(k1, k2): every k1 steps, the errors of those k1 steps are
    backpropagated through the last k2 steps only."""
    k1, k2 = truncate
    T = trace.T
    total = {}
    for start in range(0, T, k1):
        end = min(start + k1, T)
        chunk = {}
        for o, g in dA.items():
            c = np.zeros_like(g)
            c[start:end] = g[start:end]
            chunk[o] = c
        grads, _ = backward(plan, P, trace, chunk, learn, t_range=(max(end - k2, 0), end))
        for k, v in grads.items():
            total[k] = total[k] + v if k in total else v
    return total, {}
