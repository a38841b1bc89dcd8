"""The forward engine: run a plan over a batch of sequences and keep what the gradients need.

Internal layout is time-major: every node's values live in a buffer ``A[v]`` of shape
(L_v + T, Q, n_v) whose first L_v rows are the past (initial conditions, oldest first) and
row L_v + t is time t. A link's taps over the block of steps [t0, t1) are slices of these
buffers, so a delayed read is free.
"""
from __future__ import annotations

import weakref

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..graph.plan import Plan
from .reverse import flip_caches, flip_into, mirror_names, mirror_plan, unflip

__all__ = ["Trace", "forward", "taps", "final_state", "hoisted_groups", "read_after"]


@dataclass
class Trace:
    """The result of a forward pass.

    A : dict name -> (L_v + T, Q, n_v) values, past rows first
    caches : dict name -> tuple of (T, Q, ...) arrays, what each kind's derivative rules need
    T, Q : int
    taps : dict name -> {link index: (T, Q, k*n)}, the stacked taps of nodes computed for
           all T at once (kept so the backward pass does not gather them again)
    backend : the stepping backend of recurrent components (None = numpy); the backward
           pass uses the same one
    """

    A: Dict[str, np.ndarray]
    caches: Dict[str, tuple]
    T: int
    Q: int
    taps: Dict[str, dict] = None
    backend: object = None

    def output(self, plan: Plan, name: str) -> np.ndarray:
        """Values of node ``name`` over t = 0..T-1, shape (T, Q, n)."""
        return self.A[name][plan.nodes[name].lookback:]


def taps(plan: Plan, A, link, t0: int, t1: int) -> np.ndarray:
    """Stacked taps [s(t-d_1), ..., s(t-d_k)] for t in [t0, t1): shape (t1-t0, Q, k*n)."""
    L = plan.nodes[link.source].lookback
    buf = A[link.source]
    delays = link.delays
    if len(delays) == 1:
        d = delays[0]
        return buf[L + t0 - d:L + t1 - d]
    step = delays[1] - delays[0]
    if all(b - a == step for a, b in zip(delays, delays[1:])) and buf.flags.c_contiguous:
        # Evenly spaced taps are one strided view of the buffer (tap j is `step` rows
        # further back); a single copy of it is several times faster than concatenating
        # k thin slices.
        s0, s1, s2 = buf.strides
        view = as_strided(buf[L + t0 - delays[0]:], shape=(t1 - t0, buf.shape[1], len(delays),
                                                           buf.shape[2]),
                          strides=(s0, s1, -step * s0, s2), writeable=False)
        return np.ascontiguousarray(view).reshape(t1 - t0, buf.shape[1], -1)
    return np.concatenate([buf[L + t0 - d:L + t1 - d] for d in delays], axis=-1)


#: id(component) -> (weak reference to it, :func:`read_after` of it)
_READ_AFTER = {}


def read_after(plan: Plan, comp) -> frozenset:
    """The nodes of ``comp`` whose values a simulation reads after stepping it: outputs,
    nodes with a past (the final state) and sources of later components. The others are
    the component's workspace: ``forward(values_only=True)`` allocates them only for a
    component the backend leaves to numpy."""
    entry = _READ_AFTER.get(id(comp))
    if entry is not None and entry[0]() is comp:
        return entry[1]
    members = set(comp.nodes)
    out = frozenset(
        v for v in comp.nodes
        if v in plan.outputs or plan.nodes[v].lookback
        or any(t not in members for t, _ in plan.consumers.get(v, ())))
    if len(_READ_AFTER) > 1024:
        _READ_AFTER.clear()
    _READ_AFTER[id(comp)] = (weakref.ref(comp), out)
    return out


#: id(plan) -> (weak reference to it, :func:`_inner_nodes` of it)
_INNER = {}


def _inner_nodes(plan: Plan) -> frozenset:
    """The nodes of forward recurrent components that no simulation reads afterwards."""
    entry = _INNER.get(id(plan))
    if entry is not None and entry[0]() is plan:
        return entry[1]
    out = frozenset(v for c in plan.components if c.recurrent and not c.backward
                    for v in c.nodes if v not in read_after(plan, c))
    if len(_INNER) > 1024:
        _INNER.clear()
    _INNER[id(plan)] = (weakref.ref(plan), out)
    return out


def _allocate(plan: Plan, inputs: Mapping[str, np.ndarray], initial, T: int, Q: int,
              skip=frozenset()):
    """Buffers for the inputs and for every node that has a past or steps in time; a node
    off any cycle and never read with a delay gets its computed array itself, uncopied.
    Nodes in ``skip`` get none."""
    A = {}
    stepped = {v for c in plan.components if c.recurrent for v in c.nodes}
    for name, node in plan.nodes.items():
        L = node.lookback
        if (L == 0 and name not in inputs and name not in stepped) or name in skip:
            continue
        buf = np.zeros((L + T, Q, node.size))
        if initial and name in initial and L:
            buf[:L] = initial[name]
        if name in inputs:
            buf[L:] = inputs[name]
        A[name] = buf
    return A


def forward(plan: Plan, P: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
            initial: Optional[Mapping[str, np.ndarray]] = None, backend=None,
            steps: Optional[Tuple[int, int]] = None, values_only: bool = False) -> Trace:
    """Simulate.

    Parameters
    ----------
    plan : Plan
    P : dict block name -> value (every block, learnable or fixed)
    inputs : dict input name -> (T, Q, n)
    initial : dict node name -> (L_v, Q, n_v) past values, oldest first; missing = zeros.
              They are the values before step 0, for backward layers too (as forward
              layers read them); values after step T-1 (read by backward layers) are zero.
    backend : an object whose ``forward_component(plan, P, A, caches, comp, T)`` steps a
              recurrent component, fills its caches (unless handed None) and returns True
              (False: numpy steps it); None = numpy.
              See :mod:`dyngraph.engines.backend`. Backward components always run on
              numpy (:mod:`.reverse`).
    steps : (T, Q) for a plan without inputs (otherwise taken from the inputs)
    values_only : the caller reads only values (simulation): the outputs', the final state's
              (nodes with a lookback) and what later components read (:func:`read_after`).
              A backend is handed ``caches=None``; it may skip the caches, and the other
              nodes of a recurrent component get no buffer in A unless numpy steps it (the
              trace's caches are then incomplete and no gradient can be taken from it)

    Returns
    -------
    Trace
    """
    if inputs:
        first = next(iter(inputs.values()))
        T, Q = first.shape[0], first.shape[1]
    elif steps is None:
        raise ValueError("a plan without inputs needs steps=(T, Q)")
    else:
        T, Q = steps
    # A simulation's backend keeps a recurrent component's inner nodes in its workspace.
    inner = _inner_nodes(plan) if values_only and backend is not None else frozenset()
    A = _allocate(plan, inputs, initial, T, Q, skip=inner)
    caches, kept = {}, {}
    for comp in plan.components:
        if comp.backward:
            _forward_reversed(plan, P, A, caches, comp, T, Q)
        elif not comp.recurrent:
            name = comp.nodes[0]
            node = plan.nodes[name]
            X = {l: taps(plan, A, link, 0, T) for l, link in enumerate(node.links)}
            a, c = node.kind.step(P, node.kind.hoist(P, X), {})
            if name in A:
                A[name][node.lookback:] = a
            else:
                A[name] = a
            caches[name] = c
            kept[name] = X
        elif backend is None or not backend.forward_component(
                plan, P, A, None if values_only else caches, comp, T):
            for v in comp.nodes:
                if v not in A:          # left to numpy after all: it needs every buffer
                    A[v] = np.zeros((T, Q, plan.nodes[v].size))
            _forward_recurrent(plan, P, A, caches, comp, T)
    return Trace(A, caches, T, Q, kept, backend)


def _forward_reversed(plan, P, A, caches, comp, T, Q):
    """A backward component: its forward rule on the time-reversed record (see
    :mod:`.reverse`), values and caches turned back to real time."""
    mplan = mirror_plan(plan)
    M = flip_into(plan, mplan, A, mirror_names(plan, comp), T, Q)
    mc = {}
    if comp.recurrent:
        _forward_recurrent(mplan, P, M, mc, comp, T)
    else:
        node = mplan.nodes[comp.nodes[0]]
        X = {l: taps(mplan, M, link, 0, T) for l, link in enumerate(node.links)}
        a, mc[node.name] = node.kind.step(P, node.kind.hoist(P, X), {})
        M[node.name][node.lookback:] = a
    for name in comp.nodes:
        a = unflip(mplan, M, name, T)
        L = plan.nodes[name].lookback
        if name in A:
            A[name][L:] = a
        else:
            A[name] = a
        caches[name] = flip_caches(mc[name])


def tap_reader(plan: Plan, A, link, T: int):
    """taps(t) -> (Q, k*n) for one step: a closure, because stepped loops call it T times.
    Its attribute ``all`` is the (T, Q, n) view over all steps for a single-delay link (so
    a kind may keep it as a cache without copying), else None."""
    L = plan.nodes[link.source].lookback
    buf = A[link.source]
    if len(link.delays) == 1:
        off = L - link.delays[0]

        def read(t):
            return buf[off + t]
        read.all = buf[off:off + T]
        read.buf, read.off = buf, off
        return read
    delays = link.delays
    step = delays[1] - delays[0]
    if all(b - a == step for a, b in zip(delays, delays[1:])) and buf.flags.c_contiguous:
        # Evenly spaced taps: one strided view (T, Q, k, n) made once; a step's taps are
        # its slice (copied by reshape only when n > 1).
        s0, s1, s2 = buf.strides
        view = as_strided(buf[L - delays[0]:], shape=(T, buf.shape[1], len(delays),
                                                      buf.shape[2]),
                          strides=(s0, s1, -step * s0, s2), writeable=False)
        if buf.shape[2] == 1:
            steps = list(view[..., 0])      # live (Q, k) views of the buffer

            def read_strided(t):
                return steps[t]
        else:
            steps, Q = list(view), buf.shape[1]

            def read_strided(t):
                return steps[t].reshape(Q, -1)      # copies: read at step time only
        read_strided.all = None
        return read_strided
    offs = [L - d for d in delays]

    def read_many(t):
        return np.concatenate([buf[o + t] for o in offs], axis=-1)
    read_many.all = None
    return read_many


def fused_groups(plan: Plan, comp):
    """Inside links that several nodes of a recurrent component read from the same source at
    the same delay >= 1, with full weights in a sum net: one matmul serves them all.

    Returns a list of (source, delay, [(node, link index), ...]) with two or more members,
    members in component order.
    """
    groups = {}
    for v in comp.nodes:
        kind = plan.nodes[v].kind
        fusable = getattr(kind, "fusable", lambda: ())()
        for l in comp.inside[v]:
            link = kind.links[l]
            if l in fusable and len(link.delays) == 1 and link.delays[0] >= 1:
                groups.setdefault((link.source, link.delays[0]), []).append((v, l))
    return [(s, d, m) for (s, d), m in groups.items() if len(m) >= 2]


def _forward_recurrent(plan, P, A, caches, comp, T):
    Q = A[comp.nodes[0]].shape[1]
    prefetch, fused = [], {v: {} for v in comp.nodes}
    for s, d, members in fused_groups(plan, comp):
        Ws = [P[plan.nodes[v].kind.links[l].block] for v, l in members]
        WT = np.concatenate([W.T for W in Ws], axis=1)
        z = np.empty((Q, WT.shape[1]))
        lo = 0
        for (v, l), W in zip(members, Ws):
            fused[v][l] = z[:, lo:lo + W.shape[0]]
            lo += W.shape[0]
        prefetch.append((A[s], plan.nodes[s].lookback - d, WT, z))
    pre = hoisted_groups(plan, P, A, comp, T)
    runs = []
    for name in comp.nodes:
        node = plan.nodes[name]
        kind = node.kind
        inside = comp.inside[name]
        outside = {l: pre[name][l] if l in pre[name] else taps(plan, A, link, 0, T)
                   for l, link in enumerate(node.links) if l not in inside}
        H = kind.hoist(P, outside, pre=frozenset(pre[name]))
        compiled = None
        if hasattr(kind, "compile_step"):
            readers = [(l, tap_reader(plan, A, kind.links[l], T)) for l in inside
                       if l not in fused[name]]
            compiled = kind.compile_step(P, H, readers, fused[name], A[name][node.lookback:],
                                         T, Q)
        if compiled is None:
            run, cache = _generic_step(plan, P, A, node, H, inside, T)
        else:
            run, cache = compiled
        runs.append(run)
        caches[name] = cache
    prefetch = [(list(buf[off:off + T]), WT, z) for buf, off, WT, z in prefetch]
    for t in range(T):
        for rows, WT, z in prefetch:
            np.matmul(rows[t], WT, out=z)
        for run in runs:
            run(t)


def hoisted_groups(plan, P, A, comp, T, only=None):
    """Links from outside a recurrent component that several of its nodes read from the
    same source with the same delays (full weights, sum nets — the gates of an LSTM reading
    x): one matmul over all T·Q rows serves them all.

    ``only``: {node: link indices not hoisted} — groups of those links are left out.

    Returns {node: {link index: z (T, Q, S) view}} — the links' contributions, computed.
    """
    out = {v: {} for v in comp.nodes}
    for members in _hoist_groups(plan, comp):
        if only is not None and any(l in only[v] for v, l in members):
            continue
        v0, l0 = members[0]
        X = taps(plan, A, plan.nodes[v0].kind.links[l0], 0, T)
        Ws = [P[plan.nodes[v].kind.links[l].block] for v, l in members]
        Z = X.reshape(-1, X.shape[-1]) @ np.concatenate(Ws, axis=0).T
        Z = Z.reshape(X.shape[:-1] + (Z.shape[-1],))
        lo = 0
        for (v, l), W in zip(members, Ws):
            out[v][l] = Z[..., lo:lo + W.shape[0]]
            lo += W.shape[0]
    return out


#: id(component) -> (weak reference to it, its hoist groups): fixed by the plan, and worth
#: keeping — finding them costs more than the compiled loop of a short record.
_GROUPS = {}


def _hoist_groups(plan, comp):
    """The groups of (node, link index) that :func:`hoisted_groups` computes together."""
    entry = _GROUPS.get(id(comp))
    if entry is not None and entry[0]() is comp:
        return entry[1]
    groups = {}
    for v in comp.nodes:
        kind = plan.nodes[v].kind
        fusable = getattr(kind, "fusable", lambda: ())()
        for l in fusable:
            if l not in comp.inside[v]:
                link = kind.links[l]
                groups.setdefault((link.source, link.delays), []).append((v, l))
    found = tuple(tuple(m) for m in groups.values() if len(m) >= 2)
    if len(_GROUPS) > 1024:
        _GROUPS.clear()
    _GROUPS[id(comp)] = (weakref.ref(comp), found)
    return found


def _generic_step(plan, P, A, node, H, inside, T):
    """run(t) through the kind's plain step rule, for kinds without a compiled form."""
    buf, L = A[node.name], node.lookback
    links = [(l, node.links[l]) for l in inside]
    cache = []

    def run(t):
        Ht = tuple(None if h is None else h[t:t + 1] for h in H)
        X = {l: taps(plan, A, link, t, t + 1) for l, link in links}
        a, c = node.kind.step(P, Ht, X)
        buf[L + t] = a[0]
        if t == 0:
            cache.extend(np.empty((T,) + ci.shape[1:]) for ci in c)
        for dst, ci in zip(cache, c):
            dst[t] = ci[0]

    # A list, filled while stepping; the engines only iterate and index it.
    return run, cache


def final_state(plan: Plan, trace: Trace) -> Dict[str, np.ndarray]:
    """The last L_v values of every node with a lookback, oldest first — pass it as
    ``initial`` to continue the simulation exactly where this one stopped."""
    out = {}
    for name, node in plan.nodes.items():
        L = node.lookback
        if L:
            out[name] = trace.A[name][trace.T:trace.T + L].copy()
    return out
