"""Online RTRL with every step in compiled code: forward, sensitivities, gradient, update.

The same equations as :mod:`dyngraph.engines.rtrl` with chunks of one step, emitted from
the kinds' rules (``emit_forward``, ``emit_backward``, ``emit_param_jac``) into programs
for the interpreter (:mod:`.vm`), and run for a whole stream of steps in one call:

    a(t)        the forward program, every link stepped (nothing is hoisted: the next
                step's weights may differ)
    E_u, C      per head u (a state or an output) and direction r < n_u: seed
                dF/da_u(t) = e_r, backprop through the delay-0 links into non-state nodes;
                the parameter rows land in E_u[r], the adjoints reaching a state x at
                delay d in C_{u,x,d}[r]
    S_u(t)      = E_u + Σ C_{u,x,d} S_x(t − d)          (:func:`.recursion.step_chunk`)
    g(t)        = Σ_o dℓ(t)/dy_o(t) · S_o(t),  θ ← θ − lr g(t)   (lr = 0: no update)

Node values are kept in buffers of (lookback + 1) rows, shifted by one row per step; state
sensitivities in ring buffers of depth (lookback + 1). Memory does not grow with the steps.
The numpy :class:`~dyngraph.engines.online.OnlineRTRL` is the reference (tests/test_online.py
runs every case on both, to 1e-12).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .freshness import announce
from .program import Emitter, NotCompilable
from .recursion import step_chunk
from .vm import run as vm_run

__all__ = ["OnlineProgram", "NotCompilable"]

_NO_TMIN = -(1 << 60)
#: loss codes of the kernel
LOSS_CODES = {"sse": 0, "mse": 1}


@njit(cache=True, nogil=True)
def run_stream(fwd, static, ws, Q, P, clock, U, in_tab, Y, Tg, out_tab, loss_code,
               zero_tab, shift_tab, heads, coefs, states, Hflat, Oflat, theta_ws, lr,
               want_grad, g, losses):
    """Advance the stream by T = U.shape[0] steps.

    Parameters
    ----------
    fwd, static : interpreter programs of one step (forward; explicit parts E and C)
    ws : the workspace both address; node rows, E and C buffers, parameters
    Q, P : sequences, parameters;  clock : steps seen before this call
    U : (T, Q, n_in) inputs side by side;  in_tab (k, 3): ws start, n, column in U
    Y : (T, Q, n_out) outputs (written);  Tg : (T, Q, n_out) targets, NaN = none
    out_tab (k, 3) : ws start of the output's row, n, column in Y, offset of S_o in Oflat
    loss_code : 0 sse, 1 mse (over each step's targets)
    zero_tab (k, 2) : ws ranges (start, length) cleared before each step
    shift_tab (k, 3) : node buffers (ws start, elements per row Q·n, lookback L): rows
        1..L move to 0..L−1 before each step
    heads (6, h) : n_u, state index, E offset in ws, Oflat offset (−1), first and end
        coefficient of each head;  coefs (4, c) : C offset in ws, state, delay, n_x;
    states (3, s) : Hflat offset, depth, n_x (see :func:`.recursion.step_chunk`); one
        contiguous row per field, as the recursion takes them
    theta_ws : (P,) ws index of every learnable parameter;  lr : SGD step (0: none)
    want_grad : (T,) bool, whether step t had targets;  g : (T or 1, P) gradients written
        (row t, or row 0 overwritten each step when g has one row);  losses : (T,) written

    Returns
    -------
    -1, or the first step whose inputs hold NaN or inf (nothing of it or after it is run:
    the stream stays as the steps before left it)
    """
    T = U.shape[0]
    # The interpreter and the recursion are called with the argument types the other engines
    # use (run-time integers, contiguous tables): numba would otherwise compile both once
    # more, every operation included, for literal ints and strided columns (~8 s).
    zero, one, no_tmin = np.int64(0), np.int64(1), np.int64(_NO_TMIN)
    for t in range(T):
        for k in range(in_tab.shape[0]):
            n, col = in_tab[k, 1], in_tab[k, 2]
            for q in range(Q):
                for i in range(n):
                    x = U[t, q, col + i]
                    if x - x != 0.0:
                        return t
        for k in range(shift_tab.shape[0]):
            s0, n, L = shift_tab[k, 0], shift_tab[k, 1], shift_tab[k, 2]
            for i in range(L * n):
                ws[s0 + i] = ws[s0 + n + i]
        for k in range(zero_tab.shape[0]):
            s0 = zero_tab[k, 0]
            for i in range(zero_tab[k, 1]):
                ws[s0 + i] = 0.0
        for k in range(in_tab.shape[0]):
            s0, n, col = in_tab[k, 0], in_tab[k, 1], in_tab[k, 2]
            for q in range(Q):
                for i in range(n):
                    ws[s0 + q * n + i] = U[t, q, col + i]
        vm_run(fwd, ws, Q, zero, one, one, no_tmin)
        vm_run(static, ws, Q, zero, one, one, no_tmin)
        step_chunk(one, Q, P, clock + t, heads[0], heads[1], heads[2], heads[3], heads[4],
                   heads[5], coefs[0], coefs[1], coefs[2], coefs[3], states[0], states[1],
                   states[2], ws, ws, Hflat, Oflat)
        count = 0
        for k in range(out_tab.shape[0]):
            s0, n, col = out_tab[k, 0], out_tab[k, 1], out_tab[k, 2]
            for q in range(Q):
                for i in range(n):
                    Y[t, q, col + i] = ws[s0 + q * n + i]
                    if Tg[t, q, col + i] == Tg[t, q, col + i]:
                        count += 1
        scale = 1.0 if loss_code == 0 or count == 0 else 1.0 / count
        gr = g[t] if g.shape[0] == T else g[0]
        for p in range(P):
            gr[p] = 0.0
        value = 0.0
        for k in range(out_tab.shape[0]):
            n, col, o = out_tab[k, 1], out_tab[k, 2], out_tab[k, 3]
            for q in range(Q):
                for i in range(n):
                    tg = Tg[t, q, col + i]
                    if tg != tg:
                        continue
                    e = tg - Y[t, q, col + i]
                    value += e * e * scale
                    a = -2.0 * e * scale
                    row = o + (q * n + i) * P
                    for p in range(P):
                        gr[p] += a * Oflat[row + p]
        losses[t] = value
        if lr != 0.0 and want_grad[t]:
            for p in range(P):
                ws[theta_ws[p]] -= lr * gr[p]
    return -1


def _i64(rows, width):
    return np.asarray(rows, dtype=np.int64).reshape(-1, width)


class OnlineProgram:
    """The programs and buffers of online RTRL for one plan and Q streams.

    Raises :class:`NotCompilable` when a kind has no compiled form.
    """

    def __init__(self, plan, values, Q: int, programs):
        for name, node in plan.nodes.items():
            if node.kind is not None and not node.kind.compilable():
                raise NotCompilable(f"node {name}: kind {node.kind.name} has no compiled form")
        self.plan, self.Q, self.P = plan, Q, plan.n_params
        announce(run_stream, "online RTRL step", "4-6")
        em = self._em = Emitter(1, Q, by_columns=False)   # the step updates θ in place
        self.blocks = list(plan.blocks)
        for b in self.blocks:
            em.param(values[b.name])           # every block in the workspace, in any case
        # Node values: (lookback + 1) rows each, the last one is the current step.
        self.A = {name: np.zeros((node.lookback + 1, Q, node.size))
                  for name, node in plan.nodes.items()}
        self._now = {name: em.rows(self.A[name], node.lookback)
                     for name, node in plan.nodes.items()}
        fwd_first = em.n_buffers
        inside, cache = self._emit_forward(em, values)
        fwd_stop, fwd_buffers = em.mark(), (fwd_first, em.n_buffers)
        E, C, heads = self._emit_explicit(em, values, programs, inside, cache)
        em.layout()
        self.ws = em.ws
        self.fwd = em.program(0, fwd_stop)
        self.static = em.program(fwd_stop)
        o_off = self._recursion_tables(em, heads)
        self._step_tables(em, fwd_buffers, E, C, o_off)
        self._parameter_tables(em, values)
        self.clock = 0
        # One step's buffers, reused by every step() call.
        self.U1 = np.zeros((1, Q, self.n_in))
        self.T1 = np.full((1, Q, self.n_out), np.nan)
        self.Y1 = np.empty((1, Q, self.n_out))
        self.g1 = np.empty((1, self.P))
        self.l1 = np.empty(1)
        self.yes1 = np.ones(1, dtype=np.bool_)

    def _emit_forward(self, em, values):
        """One step of every node, every link stepped (nothing is hoisted: the next step's
        weights may differ). Returns each node's tap Refs and forward cache."""
        plan, A = self.plan, self.A
        inside, cache = {}, {}
        for v in (v for comp in plan.components for v in comp.nodes):
            node = plan.nodes[v]
            inside[v] = {l: [em.rows(A[link.source], plan.nodes[link.source].lookback - d)
                             for d in link.delays] for l, link in enumerate(node.links)}
            cache[v] = node.kind.emit_forward(em, values, (), inside[v], self._now[v])
        return inside, cache

    def _emit_explicit(self, em, values, programs, inside, cache):
        """Per head u and direction r: seed dF/da_u = e_r, backprop through the delay-0
        links into non-state nodes; parameter rows into E_u[r], adjoints reaching a state
        x at delay d into C_{u,x,d}[r]. Returns the E and C arrays and, per head,
        (u, n_u, E Ref, [((x, d), C Ref), ...])."""
        plan, Q, P = self.plan, self.Q, self.P
        ones = em.const(np.ones((1, Q, 1)))
        learned = {}
        for b in self.blocks:
            if b.learn:
                learned.setdefault(b.node, []).append(b)
        E, C, heads = {}, {}, []
        for prog in programs:
            u = prog.head
            R = plan.nodes[u].size
            E[u] = np.zeros((1, Q, R * P))
            Eref = em.rows(E[u])
            G = {v: em.alloc(plan.nodes[v].size) for v in prog.visit}
            D = {v: em.alloc(plan.nodes[v].kind.S) for v in prog.visit}
            Cu = {}
            for r in range(R):
                for v in prog.visit:
                    em.zero(G[v], plan.nodes[v].size)
                em.copy(G[u].cols(r), ones, 1)
                for v in prog.visit:
                    node = plan.nodes[v]
                    sinks = {}
                    for l, link in enumerate(node.links):
                        s = link.source
                        if plan.nodes[s].kind is None or link.stop:
                            continue
                        n_s = plan.nodes[s].size
                        targets = []
                        for d in link.delays:
                            if d == 0 and s not in plan.states:
                                targets.append((G[s], 0))
                                continue
                            if (s, d) not in Cu:
                                C[(u, s, d)] = np.zeros((1, Q, R * n_s))
                                Cu[(s, d)] = em.rows(C[(u, s, d)])
                            targets.append((Cu[(s, d)].cols(r * n_s), 0))
                        sinks[l] = targets
                    node.kind.emit_backward(em, values, cache[v], G[v], D[v], sinks)
                    dest = {b.name: Eref.cols(r * P + b.offset) for b in learned.get(v, ())}
                    if dest:
                        node.kind.emit_param_jac(em, values, cache[v], inside[v], D[v], dest)
            heads.append((u, R, Eref, list(Cu.items())))
        return E, C, heads

    def _recursion_tables(self, em, heads):
        """The layout of :func:`.recursion.step_chunk` with B = 1: ring buffers of the
        states' sensitivities (Hflat), the outputs' (Oflat), head and coefficient tables.
        Returns each output's offset in Oflat."""
        plan, Q, P = self.plan, self.Q, self.P
        states = list(plan.states)
        sidx = {x: i for i, x in enumerate(states)}
        depth = {x: plan.nodes[x].lookback + 1 for x in states}
        h_off, total = {}, 0
        for x in states:
            h_off[x] = total
            total += depth[x] * Q * plan.nodes[x].size * P
        self.Hflat = np.zeros(total)
        o_off, total = {}, 0
        for u, R, _, _ in heads:
            if u in plan.outputs:
                o_off[u] = total
                total += Q * R * P
        self.Oflat = np.zeros(total)
        head_rows, coef_rows = [], []
        for u, R, Eref, cs in heads:
            c0 = len(coef_rows)
            for (x, d), ref in cs:
                coef_rows.append((em.start(ref), sidx[x], d, plan.nodes[x].size))
            head_rows.append((R, sidx.get(u, -1), em.start(Eref), o_off.get(u, -1), c0,
                              len(coef_rows)))
        # One contiguous row per field (the recursion's argument layout).
        self.heads = np.ascontiguousarray(_i64(head_rows, 6).T)
        self.coefs = np.ascontiguousarray(_i64(coef_rows, 4).T)
        self.states = np.ascontiguousarray(
            _i64([(h_off[x], depth[x], plan.nodes[x].size) for x in states], 3).T)
        return o_off

    def _step_tables(self, em, fwd_buffers, E, C, o_off):
        """What each step clears, shifts, reads in and writes out."""
        plan, Q, now = self.plan, self.Q, self._now
        order = [v for comp in plan.components for v in comp.nodes]
        zero = [(em.start(now[v]), Q * plan.nodes[v].size) for v in order]
        zero += em.allocated(*fwd_buffers)
        zero += [(em.start(em.rows(a)), a.size) for a in list(E.values()) + list(C.values())]
        self.zero_tab = _i64(zero, 2)
        self.shift_tab = _i64([(em.start(em.rows(self.A[v])), Q * node.size, node.lookback)
                               for v, node in plan.nodes.items() if node.lookback], 3)
        self.in_names = list(plan.inputs)
        cols, tab = 0, []
        for k in self.in_names:
            n = plan.nodes[k].size
            tab.append((em.start(now[k]), n, cols))
            cols += n
        self.in_tab, self.n_in = _i64(tab, 3), cols
        self.out_names = list(plan.outputs)
        cols, tab = 0, []
        for o in self.out_names:
            if o not in o_off:
                raise NotCompilable(f"output {o} is not computed by a node")
            n = plan.nodes[o].size
            tab.append((em.start(now[o]), n, cols, o_off[o]))
            cols += n
        self.out_tab, self.n_out = _i64(tab, 4), cols

    def _parameter_tables(self, em, values):
        """Where every block and every learnable parameter sits in the workspace."""
        self.block_ws = [(b.name, em.where(values[b.name]), b.size) for b in self.blocks]
        self.theta_ws = np.zeros(self.P, dtype=np.int64)
        for b, (_, start, size) in zip(self.blocks, self.block_ws):
            if b.learn:
                self.theta_ws[b.offset:b.offset + size] = np.arange(start, start + size)
        self._block_views = [(b.name, self.ws[start:start + size].reshape(b.shape))
                             for b, (_, start, size) in zip(self.blocks, self.block_ws)]

    def load(self, values) -> None:
        """Copy the current parameter values into the workspace."""
        for name, view in self._block_views:
            view[...] = values[name]

    def theta(self) -> np.ndarray:
        """(P,) the learnable parameters as the workspace holds them."""
        return self.ws[self.theta_ws]            # a new array (an index array's gather)

    def advance(self, U, Tg, loss="sse", lr=0.0, want_grad=None, keep_grads=False):
        """Run T = len(U) steps.

        Parameters
        ----------
        U : (T, Q, n_in), inputs side by side in plan order
        Tg : (T, Q, n_out), targets side by side (NaN = none)
        want_grad : (T,) bool, steps that had targets (the update is applied there only)
        keep_grads : return every step's gradient (T, P), else only the last (1, P)

        Returns
        -------
        Y : (T, Q, n_out);  g : (T, P) or (1, P);  losses : (T,)
        """
        T = U.shape[0]
        Y = np.empty((T, self.Q, self.n_out))
        g = np.empty((T if keep_grads else 1, self.P))
        losses = np.empty(T)
        if want_grad is None:
            want_grad = np.ones(T, dtype=np.bool_)
        bad = run_stream(self.fwd, self.static, self.ws, self.Q, self.P, self.clock, U,
                         self.in_tab, Y, Tg, self.out_tab, LOSS_CODES[loss], self.zero_tab,
                         self.shift_tab, self.heads, self.coefs, self.states, self.Hflat,
                         self.Oflat, self.theta_ws, float(lr), want_grad, g, losses)
        if bad >= 0:        # the caller checks its data first; this keeps the clock right
            self.clock += bad
            raise ValueError(f"input has NaN or inf at step {self.clock}")
        self.clock += T
        return Y, g, losses

    def advance_one(self, loss="sse", lr=0.0) -> bool:
        """One step from :attr:`U1` and :attr:`T1` into :attr:`Y1` and :attr:`g1`, then
        θ ← θ − lr g in the workspace (:meth:`theta`); False (nothing done) when U1 holds
        NaN or inf."""
        bad = run_stream(self.fwd, self.static, self.ws, self.Q, self.P, self.clock, self.U1,
                   self.in_tab, self.Y1, self.T1, self.out_tab, LOSS_CODES[loss],
                   self.zero_tab, self.shift_tab, self.heads, self.coefs, self.states,
                         self.Hflat, self.Oflat, self.theta_ws, float(lr), self.yes1, self.g1,
                         self.l1)
        if bad >= 0:
            return False
        self.clock += 1
        return True

    def state(self):
        """The last L_v values of every node with a lookback, oldest first (as
        :func:`dyngraph.engines.simulate.final_state`)."""
        out = {}
        for v, node in self.plan.nodes.items():
            if node.lookback:
                start = self._em.start(self._em.rows(self.A[v]))
                n = self.Q * node.size
                out[v] = self.ws[start + n:start + n * (node.lookback + 1)].reshape(
                    node.lookback, self.Q, node.size).copy()
        return out
