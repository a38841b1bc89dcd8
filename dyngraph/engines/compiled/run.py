"""The compiled backend's two entry points: step a recurrent component forward, and back.

Everything outside the stepped loop stays as in the numpy engines (hoisted links over all T,
parameter gradients as one matmul): only the loop over time runs in compiled code, through
the programs the kinds emit (:mod:`.program`) and the interpreter (:mod:`.vm`). A
simulation (values only) reads narrow links from outside the component in the loop too and
keeps the nodes nobody reads afterwards in the workspace (:func:`_stepped_links`).
"""
from __future__ import annotations

import weakref

import numpy as np

from ..bptt import finish_recurrent
from ..simulate import hoisted_groups, read_after, taps
from .program import Emitter, NotCompilable
from .recursion import Recursion

__all__ = ["CompiledBackend"]

_NO_TMIN = -(1 << 60)


#: id(component) -> (weak reference to it, whether every kind of it has a compiled form)
_COMPILABLE = {}


def _fusion_groups(plan, comp, links):
    """Layers of a component whose net inputs one product can give (equal ``fusion_key``
    of their kinds; ``links``: the link indices each reads in the loop): {first member:
    members in component order}. Emitting the product at the first member's turn is
    right: the members read the same sources, so a source they read at delay 0 comes
    before every one of them in the plan's order, and none reads another member at 0."""
    by_key = {}
    for v in comp.nodes:
        key_of = getattr(plan.nodes[v].kind, "fusion_key", None)
        key = key_of(links[v]) if key_of is not None else None
        if key is not None:
            by_key.setdefault(key, []).append(v)
    return {group[0]: group for group in by_key.values() if len(group) > 1}


def _compilable(plan, comp):
    entry = _COMPILABLE.get(id(comp))
    if entry is not None and entry[0]() is comp:
        return entry[1]
    ok = all(getattr(plan.nodes[v].kind, "compilable", lambda: False)() for v in comp.nodes)
    if len(_COMPILABLE) > 1024:
        _COMPILABLE.clear()
    _COMPILABLE[id(comp)] = (weakref.ref(comp), ok)
    return ok


#: The widest link from outside a recurrent component (k·n: taps times source size) that a
#: simulation reads in the compiled loop rather than hoisting: a hoisted link costs a numpy
#: product over the record plus its copy into the workspace and Python around both (tens of
#: µs), a stepped one a small product per step (bench/README.md, "fourth round").
STEP_MAX_WIDTH = 4

#: id(component) -> (weak reference to it, {node: links read in the loop, None: their
#: sources from outside})
_STEPPED = {}


def _stepped_links(plan, comp):
    """What a values-only program of ``comp`` reads and keeps: {node: the links it reads row
    by row (those inside and the narrow ones from outside, :data:`STEP_MAX_WIDTH`)}, plus
    under None their sources from outside, and under "kept" the nodes whose values the
    caller reads (outputs, nodes with a past — the final state —, and sources of later
    components); the others live in the workspace only."""
    entry = _STEPPED.get(id(comp))
    if entry is not None and entry[0]() is comp:
        return entry[1]
    out, sources = {}, set()
    members = set(comp.nodes)
    for v in comp.nodes:
        node = plan.nodes[v]
        links = []
        for l, link in enumerate(node.links):
            if l in comp.inside[v]:
                links.append(l)
            elif len(link.delays) * plan.nodes[link.source].size <= STEP_MAX_WIDTH:
                links.append(l)
                sources.add(link.source)
        out[v] = tuple(links)
    out[None] = tuple(sorted(sources))
    out["kept"] = read_after(plan, comp)
    # Whether any link is left to hoist (else a simulation hoists nothing at all).
    out["hoists"] = any(len(out[v]) < len(plan.nodes[v].links) for v in comp.nodes)
    if len(_STEPPED) > 1024:
        _STEPPED.clear()
    _STEPPED[id(comp)] = (weakref.ref(comp), out)
    return out


#: Sequence-steps (T·Q, summed over calls) that the automatic choice leaves a component to
#: the numpy engines while running its program would first need a compile (nothing of it
#: on this machine's disk cache yet): a first gradient of an LSTM from gates then takes
#: milliseconds instead of the ~6 s of compiling its two programs, and a training loop pays
#: that compile once it has run this long on numpy (~0.1-0.5 s for the catalog's nets).
WARM_STEPS = 20_000
#: Programs kept for re-use (per plan, component, direction and shape): emitting one costs
#: ~0.3 ms of Python, a large share at Q = 1 (bench/README.md, "compiled backend").
_KEEP = 256


class CompiledBackend:
    """Steps recurrent components in compiled code; ``name`` = "compiled".

    Only forward components: a ``direction: backward`` one never reaches it — the engines
    run it on numpy, mirrored in time (:mod:`dyngraph.engines.reverse`), so a bidirectional
    net gets compiled forward components and numpy backward ones, the same numbers as
    ``backend="numpy"`` to rounding.

    Parameters
    ----------
    max_q : batch sizes above it are declined (left to numpy); None compiles every batch
    max_q_simulate : the same for simulations (values only); None: as ``max_q``
    lazy : leave a component to numpy while its program is cold (nothing compiled for it),
           for :data:`WARM_STEPS` sequence-steps (the automatic choice); else compile at once
    background : (with ``lazy``) then compile in a process of its own, the component staying
           on numpy until the compile is done (:func:`.specialise.compile_in_background`)
    """

    name = "compiled"

    def __init__(self, max_q=None, max_q_simulate=None, lazy=False, background=False):
        self.max_q = max_q
        self.max_q_simulate = max_q if max_q_simulate is None else max_q_simulate
        self.lazy = lazy
        self.background = background
        #: (id(plan), component nodes) -> sequence-steps left to numpy while cold
        self._cold_steps = {}
        #: (id(plan), component nodes) -> whether its last forward pass was left to numpy
        #: (its backward pass then is too, so that the two compile together; a compiled
        #: backward over numpy's caches would be sound, they are the kinds' own)
        self._numpy_forward = {}
        self.rtrl_recursion = Recursion(max_q, lazy=lazy and background)
        self._templates = {}
        #: programs run again from a kept template (for tests and benchmarks)
        self.replays = 0

    def _ready(self, em, plan, comp, T, Q, direction="forward") -> bool:
        """Whether to run ``em``'s program now: False while it is cold (see ``lazy``) and the
        component has run fewer than :data:`WARM_STEPS` sequence-steps on numpy in this
        ``direction``, or its compile in the background is not done."""
        runner = em.runner(self.lazy)
        if not runner.cold:
            return True
        if runner.pending:
            return False            # compiling in another process: numpy meanwhile
        # (In the foreground a backward pass runs only after its forward pass compiled: it
        # counts the same steps, and so compiles with it.)
        key = (id(plan), comp.nodes) + ((direction,) if self.background else ())
        done = self._cold_steps.get(key, 0) + T * Q
        if done <= WARM_STEPS:
            if len(self._cold_steps) > 1024:
                self._cold_steps.clear()
            self._cold_steps[key] = done
            return False
        runner.warm_up(self.background)
        return not runner.cold

    def _takes(self, plan, comp, Q, values=False):
        top = self.max_q_simulate if values else self.max_q
        return (top is None or Q <= top) and _compilable(plan, comp)

    def forward_component(self, plan, P, A, caches, comp, T) -> bool:
        """Fill A's rows of the component's nodes for t = 0..T-1 and (unless ``caches`` is
        None: the caller reads values only) their caches; False (nothing done) when a kind
        has no compiled form.

        For values only, the narrow links from outside the component are read row by row in
        the loop too (:func:`_stepped_links`), not hoisted; with caches (a gradient follows)
        every outside link is hoisted, as the numpy engines do."""
        Q = next(iter(A.values())).shape[1]
        # Without caches nothing of the workspace is read after the run: a spare one serves.
        values = caches is None
        if not self._takes(plan, comp, Q, values):
            return False
        stepped = _stepped_links(plan, comp) if values else None
        if stepped is not None and not all(
                A[s].flags.c_contiguous and A[s].ndim == 3 and A[s].dtype == np.float64
                for s in stepped[None]):
            stepped = None          # a source that cannot be rows of the workspace
        links = stepped or comp.inside
        Hs = {}
        if stepped is None or stepped["hoists"]:
            pre = hoisted_groups(plan, P, A, comp, T, only=stepped)
            for name in comp.nodes:
                node = plan.nodes[name]
                outside = {l: pre[name][l] if l in pre[name] else taps(plan, A, link, 0, T)
                           for l, link in enumerate(node.links) if l not in links[name]}
                if outside:
                    Hs[name] = node.kind.hoist(P, outside, pre=frozenset(pre[name]))
        groups = {"A": A, "P": P,
                  "H": {(v, i): h for v, H in Hs.items() for i, h in enumerate(H)}}
        key = (id(plan), comp.nodes,
               "values" if stepped else "values-hoisted" if values else "forward", T, Q)
        em = self._replay(plan, key, T, Q, groups)
        if em is not None:
            self._numpy_forward[(id(plan), comp.nodes)] = False
            if values:
                em.run(0, T, 1, _NO_TMIN, spare=True)
            else:
                self._take_views(em, A, caches, em.extra, T)
            return True
        em = Emitter(T, Q, names={id(a): k for k, a in _names(**groups).items()})
        emitted = {}
        members = set(comp.nodes)
        # Values only: a node nobody reads afterwards lives in the workspace alone (no
        # lookback, so read at delay 0 only); it is neither copied in nor back.
        local = {v: None for v in comp.nodes if values and v not in read_after(plan, comp)}
        # Values only: layers that read the same sources at the same delays get their net
        # inputs from one product over their stacked weights (the layer kind's emit_fused).
        fused = _fusion_groups(plan, comp, links) if values else {}
        for members in fused.values():
            # Fused layers that live in the workspace alone sit side by side in one buffer,
            # in the order of their net inputs: neighbours with the same transfer then take
            # one operation (Emitter.transfer).
            if all(v in local for v in members):
                shared = em.alloc(sum(plan.nodes[v].size for v in members))
                col = 0
                for v in members:
                    local[v] = shared.cols(col)
                    col += plan.nodes[v].size
        for v, ref in local.items():
            if ref is None:
                local[v] = em.alloc(plan.nodes[v].size)
        nets = {}
        try:
            for name in comp.nodes:
                node = plan.nodes[name]
                inside = {}
                for l in links[name]:
                    link = node.links[l]
                    if link.source in local:
                        inside[l] = [local[link.source]]
                        continue
                    Ls = plan.nodes[link.source].lookback
                    # A source outside the component is only read, never copied back.
                    inside[l] = [em.rows(A[link.source], Ls - d,
                                         writes=link.source in members)
                                 for d in link.delays]
                if name in fused:
                    kinds = [plan.nodes[v].kind for v in fused[name]]
                    nets.update(zip(fused[name], node.kind.emit_fused(em, P, kinds, inside)))
                out = local.get(name) or em.rows(A[name], node.lookback)
                emitted[name] = node.kind.emit_forward(em, P, Hs.get(name, ()), inside, out,
                                                       **({"net": nets[name]}
                                                          if name in nets else {}))
        except NotCompilable:
            return False
        numpy_forward = self._numpy_forward
        if len(numpy_forward) > 1024:
            numpy_forward.clear()
        numpy_forward[(id(plan), comp.nodes)] = cold = not self._ready(em, plan, comp, T, Q)
        if cold:
            return False
        if values:
            em.run(0, T, 1, _NO_TMIN, spare=True)
        else:
            self._take_views(em, A, caches, emitted, T)
        if all(not isinstance(c, np.ndarray) for cache in emitted.values() for c in cache):
            self._keep(plan, key, em.template(extra=emitted))
        return True

    def _take_views(self, em, A, caches, emitted, T):
        """Run a forward pass whose workspace the gradient reads afterwards: its records in A
        and its caches become views of the workspace (nothing is copied back)."""
        views = em.run(0, T, 1, _NO_TMIN, back=False)
        for name, a in A.items():
            if id(a) in views:
                A[name] = views[id(a)]
        for name, cache in emitted.items():
            caches[name] = tuple(views.get(id(c), c) if isinstance(c, np.ndarray)
                                 else self._rows_of(em, c, T) for c in cache)
        return views

    def _replay(self, plan, key, T, Q, groups):
        """An emitter with the program kept for ``key`` over this call's arrays, or None."""
        entry = self._templates.get(key)
        if entry is None or entry[0]() is not plan:
            return None
        em = Emitter.replay(T, Q, entry[1], groups)
        if em is not None:
            em.extra = entry[1].extra
            self.replays += 1
        return em

    def _keep(self, plan, key, template):
        if template is None:
            return
        if len(self._templates) >= _KEEP:
            self._templates.pop(next(iter(self._templates)))
        self._templates[key] = (weakref.ref(plan), template)

    @staticmethod
    def _rows_of(em, ref, T):
        """The (T, Q, w) array of time steps 0..T-1 behind a cache reference."""
        if isinstance(ref, np.ndarray):
            return ref
        return em.array(ref)[ref.off:ref.off + T]

    def backward_component(self, plan, P, trace, G, comp, learn, grads, t0, t1, tmin) -> bool:
        """Sweep the component backward over [t0, t1) (see :func:`dyngraph.engines.bptt.
        backward`), then hand its deltas to the numpy tail; False when not compilable."""
        # In the foreground a backward pass follows its forward pass onto numpy, so that the
        # two compile together; in the background each compiles as soon as it is due (a
        # compiled backward over numpy's caches is sound: they are the kinds' own caches).
        if not self._takes(plan, comp, trace.Q) or (
                not self.background and self._numpy_forward.get((id(plan), comp.nodes))):
            return False
        B, Q = t1 - t0, trace.Q
        groups = {"P": P, "G": G, "C": {(v, i): c for v in comp.nodes
                                        for i, c in enumerate(trace.caches[v])}}
        key = (id(plan), comp.nodes, "backward", trace.T, Q, t0, t1)
        em = self._replay(plan, key, trace.T, Q, groups)
        if em is None:
            em = Emitter(trace.T, Q, names={id(a): k for k, a in _names(**groups).items()})
            # The deltas (B, Q, S) live in the workspace alone: finish_recurrent reads them
            # there, before the workspace goes back to the pool (no zeros, no copies).
            em.extra = {name: em.alloc(plan.nodes[name].kind.S, rows=B).shift(-t0)
                        for name in comp.nodes}
            try:
                for name in reversed(comp.nodes):
                    node = plan.nodes[name]
                    cache = tuple(em.const(c) for c in trace.caches[name])
                    g = em.rows(G[name], node.lookback)
                    sinks = {}
                    for l in comp.inside[name]:
                        link = node.links[l]
                        src = plan.nodes[link.source]
                        if src.kind is None or link.stop:
                            continue
                        sinks[l] = [(em.rows(G[link.source], src.lookback - d), d)
                                    for d in link.delays]
                    node.kind.emit_backward(em, P, cache, g, em.extra[name], sinks)
            except NotCompilable:
                return False
            if not self._ready(em, plan, comp, trace.T, Q, "backward"):
                return False
            em.run(t1 - 1, t0 - 1, -1, _NO_TMIN if tmin is None else tmin, spare=True,
                   hold=True)
            self._keep(plan, key, em.template(extra=em.extra))
        else:
            em.run(t1 - 1, t0 - 1, -1, _NO_TMIN if tmin is None else tmin, spare=True,
                   hold=True)
        try:
            finish_recurrent(plan, P, trace, G, comp, learn, grads, t0, t1, tmin,
                             {name: em.array(ref) for name, ref in em.extra.items()})
        finally:
            em.release()
        return True


def _names(**groups):
    """{(group, key): array} for the arrays a program may be handed."""
    return {(g, k): a for g, arrays in groups.items() for k, a in arrays.items()
            if isinstance(a, np.ndarray)}
