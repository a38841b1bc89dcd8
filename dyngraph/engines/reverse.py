"""Backward components as forward ones on the time-reversed record.

A ``direction: backward`` component steps t = T-1 down to 0 and its delay-d links read
t + d. Under the change of time t' = T-1-t that is an ordinary forward component: it steps
t' = 0..T-1 and reads t' - d, and the rows "before t' = 0" are the values beyond the
record's end (zeros). So the engines run such a component with their forward code on a
*mirror*: a plan whose lookbacks are the lookaheads, and buffers holding the time-reversed
values of the component and of the sources it reads. Only the component's own values (and
adjoints to its sources) are copied back, reversed again.

The mirror always runs on the numpy engines (the compiled backend steps forward components
only); results are the same either way, to rounding.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, Iterable

import numpy as np

from ..graph.plan import Plan

__all__ = ["mirror_plan", "mirror_names", "flip_into", "unflip", "flip_caches"]


def mirror_plan(plan: Plan) -> Plan:
    """The plan as the reversed record sees it: every node keeps ``lookahead`` rows of past
    (its values beyond the record's end, read by backward layers)."""
    nodes = {n: replace(node, lookback=node.lookahead) for n, node in plan.nodes.items()}
    return replace(plan, nodes=nodes)


def mirror_names(plan: Plan, comp) -> tuple:
    """The component's nodes and every source they read, component first."""
    names = list(comp.nodes)
    for v in comp.nodes:
        for link in plan.nodes[v].links:
            if link.source not in names:
                names.append(link.source)
    return tuple(names)


def flip_into(plan: Plan, mplan: Plan, A: Dict[str, np.ndarray], names: Iterable[str],
              T: int, Q: int) -> Dict[str, np.ndarray]:
    """Mirror buffers (lookahead + T, Q, n): row F + t' holds A's value at t = T-1-t', the
    first F rows (beyond the record's end) are zero. A name missing from A stays zero."""
    out = {}
    for name in names:
        F, L = mplan.nodes[name].lookback, plan.nodes[name].lookback
        buf = np.zeros((F + T, Q, plan.nodes[name].size))
        if name in A:
            buf[F:] = A[name][L:L + T][::-1]
        out[name] = buf
    return out


def unflip(mplan: Plan, M: Dict[str, np.ndarray], name: str, T: int) -> np.ndarray:
    """A mirror buffer's record rows back in real time order, (T, Q, n), contiguous."""
    F = mplan.nodes[name].lookback
    return np.ascontiguousarray(M[name][F:F + T][::-1])


def flip_caches(caches) -> tuple:
    """A node's caches (each (T, Q, ...)) reversed in time, contiguous."""
    return tuple(None if c is None else np.ascontiguousarray(np.asarray(c)[::-1])
                 for c in caches)
