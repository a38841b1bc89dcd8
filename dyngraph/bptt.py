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

from .plan import Plan
from .simulate import Trace, scatter_taps, taps

__all__ = ["backward"]


def backward(plan: Plan, P: Mapping[str, np.ndarray], trace: Trace,
             dA: Mapping[str, np.ndarray], learn: frozenset,
             t_range: Optional[Tuple[int, int]] = None):
    """Gradient of a loss F given dF/d(outputs).

    Parameters
    ----------
    plan, P, trace : as produced by :func:`dyngraph.simulate.forward`
    dA : dict node name -> (T, Q, n) explicit dF/da (usually the outputs')
    learn : set of block names whose gradient is wanted
    t_range : (t0, t1) — only steps t0 <= t < t1 are swept and no adjoint flows below t0
              (truncated BPTT); default all steps

    Returns
    -------
    grads : dict block name -> array of the block's shape
    initial : dict node name -> (L_v, Q, n_v), dF/d(initial values) (empty when truncated)
    """
    T = trace.T
    t0, t1 = (0, T) if t_range is None else t_range
    G = {name: np.zeros_like(trace.A[name]) for name, node in plan.nodes.items()
         if node.kind is not None}
    for name, g in dA.items():
        L = plan.nodes[name].lookback
        G[name][L + t0:L + t1] += g[t0:t1]
    tmin = None if t_range is None else t0
    grads: Dict[str, np.ndarray] = {}
    for comp in reversed(plan.components):
        if comp.recurrent:
            _backward_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin)
            continue
        name = comp.nodes[0]
        node = plan.nodes[name]
        L = node.lookback
        c = tuple(ci[t0:t1] for ci in trace.caches[name])
        d = node.kind.delta(P, c, G[name][L + t0:L + t1])
        X = {l: taps(plan, trace.A, link, t0, t1) for l, link in enumerate(node.links)}
        _to_sources(plan, P, node, c, d, G, range(len(node.links)), t0, t1, tmin)
        _accumulate(grads, node.kind.param_grad(P, X, c, d, learn))
    initial = {}
    if t_range is None:
        initial = {n: G[n][:plan.nodes[n].lookback] for n in G if plan.nodes[n].lookback}
    return grads, initial


def _to_sources(plan, P, node, c, d, G, links, t0, t1, tmin):
    for l in links:
        link = node.links[l]
        if plan.nodes[link.source].kind is None:
            continue        # inputs need no adjoint
        gX = node.kind.vjp_input(P, c, d, l)
        scatter_taps(plan, G, link, gX, t0, t1, tmin)


def _accumulate(grads, new):
    for k, v in new.items():
        grads[k] = grads[k] + v if k in grads else v


def _backward_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin):
    steps = []
    for name in reversed(comp.nodes):
        node = plan.nodes[name]
        inside = comp.inside[name]
        steps.append((name, node, G[name], node.lookback, trace.caches[name],
                      [(l, node.links[l], G[node.links[l].source],
                        plan.nodes[node.links[l].source].lookback) for l in inside]))
    D = {}
    for t in range(t1 - 1, t0 - 1, -1):
        for name, node, g, L, cache, inside in steps:
            c = tuple(ci[t:t + 1] for ci in cache)
            d = node.kind.delta(P, c, g[L + t:L + t + 1])
            if name not in D:
                D[name] = np.zeros((t1 - t0,) + d.shape[1:])
            D[name][t - t0] = d[0]
            for l, link, gs, Ls, in inside:
                gX = node.kind.vjp_input(P, c, d, l)
                if len(link.delays) == 1:
                    dl = link.delays[0]
                    if tmin is None or t - dl >= tmin:
                        gs[Ls + t - dl] += gX[0]
                else:
                    scatter_taps(plan, G, link, gX, t, t + 1, tmin)
    for name in comp.nodes:
        node = plan.nodes[name]
        c = tuple(ci[t0:t1] for ci in trace.caches[name])
        d = D[name]
        outside = [l for l in range(len(node.links)) if l not in comp.inside[name]]
        _to_sources(plan, P, node, c, d, G, outside, t0, t1, tmin)
        X = {l: taps(plan, trace.A, link, t0, t1) for l, link in enumerate(node.links)}
        _accumulate(grads, node.kind.param_grad(P, X, c, d, learn))
