"""Real-time recurrent learning over any plan, the LDDN way (De Jesús & Hagan 2007).

Sensitivities S_u(t) = da_u(t)/dθᵀ, shape (Q, n_u, P), are carried forward in time only for
the *state* nodes (those read through a delay ≥ 1) and computed for the outputs. For a head
u at time t, the explicit within-step part comes from static backprop through the delay-0
links, with the kinds' own vjp rules and an identity seed of n_u directions; wherever that
backprop meets a state node x (through a delayed link, or at delay 0) it closes with the
known total sensitivity:

    S_u(t) = ∂ᵉa_u(t)/∂θᵀ + Σ_{x, d} ∂ᵉa_u(t)/∂a_x(t−d)ᵀ · S_x(t−d)

Neither the explicit part nor the coefficients ∂ᵉa_u(t)/∂a_x(t−d) depend on sensitivities,
so both are computed by one static backprop over a whole chunk of steps (T·Q rows at once);
only the recurrence itself steps, one batched matmul per closing tap. State sensitivities
live in ring buffers of depth (lookback + 1), and chunks are bounded, so memory does not
grow with T. A net with no state node (an FTDNN, a series-parallel NARX) needs no stepping
at all.

A spec with ``direction: backward`` layers is swept component by component instead (in the
plan's order, each over the whole record): a backward component's sensitivities run from
T-1 down to 0, S_u(t) = ∂ᵉa_u(t)/∂θᵀ + Σ C(t) S_x(t + d) for its delay-d links, and later
components read any step of them. Its states' sensitivities are then kept for all T steps
(memory T·Q·n·P). Online RTRL, one step at a time, is :mod:`.online`.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..graph.plan import Plan, require_derivatives
from .reverse import flip_into, mirror_names, mirror_plan
from .simulate import Trace, taps

__all__ = ["gradient", "output_sensitivities"]


@dataclass(frozen=True)
class _Program:
    """Static backprop route from one head: nodes to visit (head first, then reverse
    simulation order) and, per node, which taps propagate (delay 0, not a state) and which
    close with a known sensitivity."""

    head: str
    visit: Tuple[str, ...]


def _programs(plan: Plan) -> List[_Program]:
    order = list(plan.nodes)
    pos = {n: i for i, n in enumerate(order)}
    heads = [n for n in order if plan.nodes[n].kind is not None
             and (n in plan.states or n in plan.outputs)]
    progs = []
    for u in heads:
        seen, frontier = {u}, [u]
        while frontier:
            v = frontier.pop()
            for link in plan.nodes[v].links:
                s = link.source
                if (0 in link.delays and plan.nodes[s].kind is not None and not link.stop
                        and s not in plan.states and s not in seen):
                    seen.add(s)
                    frontier.append(s)
        progs.append(_Program(u, tuple(sorted(seen, key=pos.get, reverse=True))))
    return progs


#: id(plan) -> (weak reference to it, what every sweep of it shares: see :func:`_layout`)
_LAYOUTS = {}


def _layout(plan: Plan):
    """What a sweep needs of the plan alone — the learnable blocks and their offsets, the
    heads' programs, the ring buffers' depths, the backward components' nodes and (filled
    at first use) each program's routes and the identity seeds — made once per plan: a small net's Jacobian
    spent ~10 % of its call making them again (friction, T = 41: 154 µs a call)."""
    entry = _LAYOUTS.get(id(plan))
    if entry is not None and entry[0]() is plan:
        return entry[1]
    require_derivatives(plan, "RTRL (gradient, Jacobian)")
    out = (frozenset(b.name for b in plan.blocks if b.learn),
           {b.name: (b.offset, b.size) for b in plan.blocks if b.learn},
           _programs(plan),
           {x: plan.nodes[x].lookback + 1 for x in plan.states},
           frozenset(v for c in plan.components if c.backward for v in c.nodes),
           {}, {})
    if len(_LAYOUTS) > 1024:
        _LAYOUTS.clear()
    _LAYOUTS[id(plan)] = (weakref.ref(plan), out)
    return out


class _Sweep:
    """Ring buffers of state sensitivities and the per-head block computation."""

    def __init__(self, plan: Plan, P, Q: int):
        self.plan, self.P = plan, P
        (self.learn, self.offsets, self.progs, self.depth, self.backward,
         self._route_cache, self._seeds) = _layout(plan)
        # One flat buffer holds every ring buffer, so the compiled recursion can step them
        # in place; self.hist are views of it.
        shapes = {x: (self.depth[x], Q, plan.nodes[x].size, plan.n_params)
                  for x in plan.states}
        self.hist_offsets, total = {}, 0
        for x, shape in shapes.items():
            self.hist_offsets[x] = total
            total += int(np.prod(shape))
        self.hist_flat = np.zeros(total)
        self.hist = {x: self.hist_flat[o:o + int(np.prod(shapes[x]))].reshape(shapes[x])
                     for x, o in self.hist_offsets.items()}
        self._views, self._out = {}, {}

    def _seed(self, R, B, Q):
        """The identity seed of R directions, (R, B, Q, R), cached (read-only)."""
        key = (R, B, Q)
        if key not in self._seeds:
            if len(self._seeds) > 64:
                self._seeds.clear()     # (one per chunk length: a bounded few per plan)
            self._seeds[key] = np.broadcast_to(np.eye(R)[:, None, None, :], (R, B, Q, R))
        return self._seeds[key]

    def _routes(self, prog: _Program):
        """Per visited node, what the static backprop does with each tap, resolved once:
        (name, kind, is_head, [(link index, [(source, j, n, delay, closes), ...]), ...])."""
        plan = self.plan
        route = []
        for v in prog.visit:
            node = plan.nodes[v]
            links = []
            for l, link in enumerate(node.links):
                s = link.source
                if plan.nodes[s].kind is None:
                    continue        # inputs do not depend on the parameters
                if link.stop:
                    continue        # gradient: stop, the source's sensitivity is not passed
                n = plan.nodes[s].size
                taps_ = [(s, j, n, d, not (d == 0 and s not in plan.states))
                         for j, d in enumerate(link.delays)]
                links.append((l, len(link.delays) > 1, taps_))
            diag = getattr(node.kind, "param_jac_diag", None) if v == prog.head else None
            route.append((v, node.kind, diag, links))
        return route

    def static(self, prog: _Program, trace: Trace, t0: int, t1: int, X_all=None):
        """The part of S_head that needs no sensitivity, over steps [t0, t1) at once.

        Returns
        -------
        E : list of explicit pieces ∂ᵉa_u(t)/∂θᵀ, each (offset, size, m, arr): ``m`` None
            for a dense piece arr (B, Q, n_u, size); else a row-structured block whose row r
            of direction r is arr[:, :, r] (B, Q, n_u, m) (the rest is zero)
        C : dict (state x, delay d) -> (B, Q, n_u, n_x), the coefficients ∂ᵉa_u(t)/∂a_x(t-d)
            with which S_head(t) = E(t) + Σ C(t) @ S_x(t - d)
        """
        plan, P = self.plan, self.P
        u = prog.head
        R = plan.nodes[u].size
        B, Q = t1 - t0, trace.Q
        E, C = [], {}
        G = {u: self._seed(R, B, Q)}
        if prog not in self._route_cache:
            self._route_cache[prog] = self._routes(prog)
        for v, kind, diag, links in self._route_cache[prog]:
            g = G.pop(v, None)
            if g is None:
                continue
            c = tuple(ci[t0:t1] for ci in trace.caches[v])
            d = kind.delta(P, c, g)
            if X_all is not None:
                X = {l: x[t0:t1] for l, x in X_all[v].items()}
            else:
                X = {l: taps(plan, trace.A, link, t0, t1) for l, link in enumerate(kind.links)}
            if diag is not None:
                # Seeded with the identity, an elementwise node's δ is diagonal in the
                # directions: only row r of each row-structured block depends on direction
                # r. Keep just those rows instead of R dense outer products.
                dvec = np.einsum("rbqr->bqr", d)
                for name, (arr, m) in diag(P, X, c, dvec, self.learn).items():
                    E.append(self.offsets[name] + (m, arr))
                dense = kind.param_jac_rest(P, X, c, d, self.learn)
            else:
                dense = kind.param_jac(P, X, c, d, self.learn)
            for name, arr in dense.items():
                E.append(self.offsets[name] + (None, arr.transpose(1, 2, 0, 3)))
            for l, many, taps_ in links:
                gX = kind.vjp_input(P, c, d, l)
                for s, j, n, dl, closes in taps_:
                    part = gX[..., j * n:(j + 1) * n] if many else gX
                    if not closes:
                        G[s] = G[s] + part if s in G else part
                        continue
                    coef = part.transpose(1, 2, 0, 3)
                    key = (s, -dl if v in self.backward else dl)    # S_s(t - key[1])
                    C[key] = C[key] + coef if key in C else coef
        return E, {k: np.ascontiguousarray(v) for k, v in C.items()}

    @staticmethod
    def explicit_views(S, E):
        """Where each explicit piece lands in S (Q, R, P): writable views, made once per
        buffer (the pieces' layout is the same in every chunk)."""
        Q, R = S.shape[0], S.shape[1]
        views = []
        for off, size, m, arr in E:
            if m is None:
                views.append(S[:, :, off:off + size])
            else:
                views.append(np.einsum("qrrm->qrm", S[:, :, off:off + size].reshape(Q, R, R, m)))
        return views

    def run(self, trace: Trace, consume, clock: int = 0, backend=None):
        """Sweep all steps of ``trace``; ``consume(name, t0, t1, S)`` receives each output's
        sensitivities (B, Q, n, P).

        The static parts (explicit derivatives and closing coefficients) are computed for a
        chunk of steps at once; only the recurrence S(t) = E(t) + Σ C(t) S_x(t - d) steps,
        one matmul per closing tap — in numpy, or a chunk per call in compiled code when
        ``backend`` offers ``rtrl_recursion`` and every head's explicit part is dense.
        """
        plan = self.plan
        outputs = set(plan.outputs)
        T, Q, P = trace.T, trace.Q, plan.n_params
        if plan.backward:
            return self._run_components(trace, consume)
        if not plan.states:
            for prog in self.progs:
                E, _ = self.static(prog, trace, 0, T)
                S = np.zeros((T, Q, plan.nodes[prog.head].size, P))
                self._explicit_all(S, E)
                consume(prog.head, 0, T, S)
            return
        # Every chunk reads the same taps: gather them once for the whole trace.
        X_all = {v: {l: taps(plan, trace.A, link, 0, T)
                     for l, link in enumerate(plan.nodes[v].links)}
                 for prog in self.progs for v in prog.visit}
        sizes = [plan.nodes[p.head].size for p in self.progs]
        blocks = [sum(b.learn and b.node in p.visit for b in plan.blocks) for p in self.progs]
        dense = [Q * R * P < _DENSE_ELEMENTS * max(n, 1) for R, n in zip(sizes, blocks)]
        # Per step, a head's static parts hold (Q, n_u, n_x) coefficients and its explicit
        # rows: P columns when dense, else about a layer's fan-in. Bound the chunk by that.
        per_step = sum(Q * R * (sum(sizes) + (P if d else 64)) for R, d in zip(sizes, dense))
        K = max(1, min(T, _CHUNK_ELEMENTS // per_step))
        recursion = getattr(backend, "rtrl_recursion", None)
        if recursion is not None and all(dense) and recursion.takes(Q):
            return self._run_compiled(trace, consume, clock, X_all, K, recursion)
        for c0 in range(0, T, K):
            c1 = min(c0 + K, T)
            parts = []
            for prog, is_dense in zip(self.progs, dense):
                E, C = self.static(prog, trace, c0, c1, X_all)
                R = plan.nodes[prog.head].size
                if is_dense:
                    # Small heads: one dense explicit array per chunk, one add per step,
                    # beats a scattered add per parameter block.
                    full = np.zeros((c1 - c0, Q, R, P))
                    self._explicit_all(full, E)
                    E = [(0, P, None, full)]
                parts.append((prog.head, prog.head in plan.states, prog.head in outputs,
                              E, C))
            for t in range(c0, c1):
                b, now = t - c0, clock + t
                for u, is_state, is_output, E, C in parts:
                    k = now % self.depth[u] if is_state else 0
                    S = self.hist[u][k] if is_state else self.out_buffer(u, Q)
                    first = True
                    for (x, d), coef in C.items():
                        if now - d >= 0:
                            _product_into(S, coef[b], self.hist[x][(now - d) % self.depth[x]],
                                          first)
                            first = False
                    if first:
                        S.fill(0.0)
                    key = (u, k, len(E))
                    if key not in self._views:
                        self._views[key] = self.explicit_views(S, E)
                    for view, piece in zip(self._views[key], E):
                        view += piece[3][b]
                    if is_output:
                        consume(u, t, t + 1, S[None])

    def _run_compiled(self, trace, consume, clock, X_all, K, recursion):
        """:meth:`run` with the stepping of each chunk in one compiled call: explicit parts
        and outputs live in flat buffers laid out as the kernel's tables say."""
        plan, Q, P = self.plan, trace.Q, self.plan.n_params
        heads = [p.head for p in self.progs]
        sizes = [plan.nodes[u].size for u in heads]
        states = list(self.hist_offsets)
        sidx = {x: i for i, x in enumerate(states)}
        tables = recursion.state_tables(
            [self.hist_offsets[x] for x in states], [self.depth[x] for x in states],
            [plan.nodes[x].size for x in states])
        for c0 in range(0, trace.T, K):
            c1 = min(c0 + K, trace.T)
            B = c1 - c0
            block = [B * Q * R * P for R in sizes]
            e_off = np.concatenate([[0], np.cumsum(block)[:-1]]).astype(np.int64)
            Eflat = np.zeros(int(sum(block)))
            outs = [u in plan.outputs for u in heads]
            o_off, total = [], 0
            for is_out, n in zip(outs, block):
                o_off.append(total if is_out else -1)
                total += n if is_out else 0
            Oflat = np.empty(total)
            coefs, c_src, c_delay, c_nx, c_range = [], [], [], [], []
            for h, prog in enumerate(self.progs):
                E, C = self.static(prog, trace, c0, c1, X_all)
                view = Eflat[e_off[h]:e_off[h] + block[h]].reshape(B, Q, sizes[h], P)
                self._explicit_all(view, E)
                start = len(coefs)
                for (x, d), coef in C.items():
                    coefs.append(coef)
                    c_src.append(sidx[x])
                    c_delay.append(d)
                    c_nx.append(coef.shape[3])
                c_range.append((start, len(coefs)))
            recursion.step(B, Q, P, clock + c0, sizes,
                           [sidx.get(u, -1) for u in heads], e_off, o_off, c_range,
                           coefs, c_src, c_delay, c_nx, tables, Eflat, self.hist_flat, Oflat)
            for h, u in enumerate(heads):
                if outs[h]:
                    consume(u, c0, c1, Oflat[o_off[h]:o_off[h] + block[h]]
                            .reshape(B, Q, sizes[h], P))

    def _real_taps(self, trace: Trace):
        """Every visited node's taps over all T in real time; a backward node's delay-d
        tap reads t + d (zero beyond the record)."""
        plan = self.plan
        mplan = mirror_plan(plan) if self.backward else None
        X_all = {}
        for v in {v for prog in self.progs for v in prog.visit}:
            links = plan.nodes[v].links
            if v not in self.backward:
                X_all[v] = {l: taps(plan, trace.A, link, 0, trace.T)
                            for l, link in enumerate(links)}
                continue
            comp = next(c for c in plan.components if v in c.nodes)
            M = flip_into(plan, mplan, trace.A, mirror_names(plan, comp), trace.T, trace.Q)
            X_all[v] = {l: np.ascontiguousarray(taps(mplan, M, link, 0, trace.T)[::-1])
                        for l, link in enumerate(links)}
        return X_all

    def _run_components(self, trace: Trace, consume):
        """RTRL one component at a time over the whole record, each in its direction;
        sensitivities of every head kept for all steps (later components read any)."""
        plan = self.plan
        T, Q, P = trace.T, trace.Q, plan.n_params
        X_all = self._real_taps(trace)
        S: Dict[str, np.ndarray] = {}
        for comp in plan.components:
            parts = []
            for prog in self.progs:             # simulation order: delay-0 sources first
                if prog.head not in comp.nodes:
                    continue
                E, C = self.static(prog, trace, 0, T, X_all)
                full = np.zeros((T, Q, plan.nodes[prog.head].size, P))
                self._explicit_all(full, E)
                S[prog.head] = full
                parts.append((full, list(C.items())))
            steps = range(T - 1, -1, -1) if comp.backward else range(T)
            for t in steps:
                for full, C in parts:
                    for (x, off), coef in C:
                        if 0 <= t - off < T:
                            full[t] += np.matmul(coef[t], S[x][t - off])
        for u in plan.outputs:
            if u in S:
                consume(u, 0, T, S[u])

    def out_buffer(self, u, Q):
        """The one (Q, n_u, P) buffer an output head that is not a state is computed in
        (each step's value is consumed before the next)."""
        if u not in self._out:
            self._out[u] = np.zeros((Q, self.plan.nodes[u].size, self.plan.n_params))
        return self._out[u]

    @staticmethod
    def _explicit_all(S, E):
        """S (B, Q, R, P) += every explicit piece, all steps at once."""
        B, Q, R = S.shape[:3]
        for off, size, m, arr in E:
            if m is None:
                S[..., off:off + size] += arr
            else:
                rows = S[..., off:off + size].reshape(B, Q, R, R, m)
                np.einsum("bqrrm->bqrm", rows)[...] += arr


def _product_into(S, C, S_x, first: bool) -> None:
    """S = C @ S_x (``first``) or S += C @ S_x, in place: S (Q, n_u, P), C (Q, n_u, n_x),
    S_x (Q, n_x, P), all C-contiguous.

    Products into at least :data:`_BLAS_ROWS` elements call BLAS's dgemm on each
    sequence, accumulating into S itself (β = 1); numpy's matmul would allocate the product
    first, and with one inner column it does not call BLAS at all: (20, 1) @ (1, 1762)
    takes 71 µs against dgemm's 8.5 (a broadcast multiply 34), (20, 20) @ (20, 1762) 35
    against 30 (bench/README.md).
    """
    Q, R, P = S.shape
    if R * P < _BLAS_ROWS or not (R * P and C.shape[2]):
        if first:
            np.matmul(C, S_x, out=S)
        else:
            S += np.matmul(C, S_x)
        return
    beta = 0.0 if first else 1.0
    # (scipy is imported here, not with dyngraph: its import costs ~0.2 s, and a short
    # run never needs it; an import of a module already loaded is a dict lookup)
    from scipy.linalg.blas import dgemm as _dgemm
    for q in range(Q):
        # In C order S[q] = C[q] @ S_x[q] is Fortran's S[q]ᵀ = S_x[q]ᵀ C[q]ᵀ: every operand
        # a Fortran-ordered view, so dgemm reads and writes them where they are.
        _dgemm(1.0, S_x[q].T, C[q].T, beta, S[q].T, overwrite_c=1)


#: products into at least this many elements go to dgemm (see :func:`_product_into`);
#: below it the f2py call's overhead is more than matmul's
_BLAS_ROWS = 1_024

#: Chunk of steps whose static RTRL parts are held at once: about 32 MB of float64.
_CHUNK_ELEMENTS = 4_000_000
#: A head's explicit part is made dense (one add per step instead of one per parameter
#: block) when a step of it has fewer than this many elements per block it replaces: below
#: that, a numpy call costs more than the elements it touches.
_DENSE_ELEMENTS = 2_000


def gradient(plan: Plan, P, trace: Trace, dA, backend=None) -> np.ndarray:
    """dF/dθ (P,) by RTRL, given dF/d(outputs) ``dA`` (dict name -> (T, Q, n)); ``backend``
    as :func:`dyngraph.engines.backend.resolve` gives it (None: numpy)."""
    g = np.zeros(plan.n_params)

    def consume(name, t0, t1, S):
        e = dA[name][t0:t1].reshape(-1)
        g[:] += e @ S.reshape(e.size, plan.n_params)

    _Sweep(plan, P, trace.Q).run(trace, consume, backend=backend)
    return g


def output_sensitivities(plan: Plan, P, trace: Trace, backend=None) -> Dict[str, np.ndarray]:
    """d output(t)/dθ for every output: dict name -> (T, Q, n, P)."""
    out = {o: np.zeros((trace.T, trace.Q, plan.nodes[o].size, plan.n_params))
           for o in plan.outputs}

    def consume(name, t0, t1, S):
        out[name][t0:t1] = S

    _Sweep(plan, P, trace.Q).run(trace, consume, backend=backend)
    return out
