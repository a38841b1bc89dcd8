"""Online RTRL: one step at a time on a stream (adaptive filtering), memory flat in the steps.

The numpy reference steps :mod:`.rtrl`'s sweep with chunks of one step; the compiled
backend runs every step — forward, sensitivities, gradient and the SGD update of
:meth:`OnlineRTRL.run` — in one compiled program (:mod:`.compiled.online`). A spec with
backward layers is refused (it needs the future).
"""
from __future__ import annotations

import math

import numpy as np

from ..graph.plan import require_derivatives
from .rtrl import _Sweep, _programs
from .simulate import forward, final_state

__all__ = ["OnlineRTRL"]


class OnlineRTRL:
    """RTRL one step at a time, for adaptive filtering on a stream: memory does not depend on
    how many steps have been seen.

    With the compiled backend (the default where numba is installed) every step — forward,
    sensitivities, gradient and, in :meth:`run`, the SGD update — is one compiled program
    (:mod:`dyngraph.engines.compiled.online`); the numpy engines are the reference and give
    the same numbers to rounding.

    Parameters
    ----------
    net : Net
    Q : number of parallel streams
    backend : "numpy" | "compiled" | None (automatic, as :func:`~dyngraph.engines.backend.
        resolve` says; a kind without a compiled form steps with numpy)

    Examples
    --------
    >>> import dyngraph as dg, numpy as np
    >>> net = dg.loads("inputs: {u: 1}\\nlayers: {y: {size: 1, from: {u: 0, y: 1}}}\\noutputs: [y]")
    >>> online = OnlineRTRL(net)
    >>> y, g = online.step({"u": np.ones((1, 1))}, {"y": np.zeros((1, 1))})
    >>> g.shape == (net.n_params,)
    True
    """

    def __init__(self, net, Q: int = 1, backend=None):
        from .backend import loaded, resolve
        if net.plan.backward:
            raise ValueError("online RTRL needs every step's past only; a spec with "
                             "backward layers depends on the future (use gradient or "
                             "jacobian over the whole record)")
        require_derivatives(net.plan, "online RTRL")
        self.net = net
        self.Q = Q
        self.clock = 0
        self._state = None
        self._compiled = None
        chosen = loaded(resolve(backend))
        if chosen is not None and (chosen.max_q is None or Q <= chosen.max_q):
            from .compiled.online import NotCompilable, OnlineProgram
            try:
                self._compiled = OnlineProgram(net.plan, net._values, Q, _programs(net.plan))
            except NotCompilable:
                self._compiled = None
        self.backend = "numpy" if self._compiled is None else "compiled"
        self._in_cols = list(self._columns(list(net.plan.inputs)))
        self._out_cols = list(self._columns(list(net.plan.outputs)))
        self._out_at = {k: (c0, n) for k, c0, n in self._out_cols}
        self._sweep = _Sweep(net.plan, net._values, Q) if self._compiled is None else None
        # The net's blocks as the last update of step() left them, and the θ they view:
        # while the net still holds those very arrays, the workspace holds their values
        # (no load) and the next update writes θ into them in place (no new arrays).
        self._left = None
        if self._compiled is not None:
            # views of the compiled step's one-step buffers, per input and output
            c = self._compiled
            self._u_views = [(k, c.U1[0, :, c0:c0 + n], (Q, n)) for k, c0, n in self._in_cols]
            self._t_views = {k: (c.T1[0, :, c0:c0 + n], (Q, n)) for k, c0, n in self._out_cols}
            self._y_views = [(k, c.Y1[0, :, c0:c0 + n]) for k, c0, n in self._out_cols]

    @property
    def state(self):
        """The last L_v values of every node with a lookback (``initial`` of a simulation
        that continues the stream); None before the first step."""
        if self._compiled is not None:
            return self._compiled.state() if self.clock else None
        return self._state

    def _batch(self, data, names, what, T):
        """dict name -> (T, Q, n) (or (Q, n) when T is None) as one (T, Q, Σn) array."""
        plan = self.net.plan
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"unknown {what} {sorted(unknown)[0]!r} (the net's {what}s: "
                             f"{', '.join(names)})")
        out = np.full((T or 1, self.Q, sum(plan.nodes[k].size for k in names)), np.nan)
        col = 0
        for k in names:
            n = plan.nodes[k].size
            if k in data:
                v = np.asarray(data[k], dtype=float)
                try:
                    out[:, :, col:col + n] = v.reshape(out.shape[0], self.Q, n)
                except ValueError:
                    raise ValueError(f"{what} '{k}': shape {v.shape} does not fit "
                                     f"({'T, ' if T else ''}Q={self.Q}, n={n})") from None
            elif what == "input":
                raise ValueError(f"input '{k}' is missing")
            col += n
        return out

    def step(self, inputs, targets=None, loss: str = "sse", lr: float = 0.0):
        """Advance one step.

        Parameters
        ----------
        inputs : dict input name -> (Q, n) values at this step
        targets : dict output name -> (Q, n) targets (NaN = none), optional
        lr : with targets, adapt θ ← θ − lr·g after the step, as :meth:`run` does (the
            net's parameters hold the result; 0 leaves them alone). The same numbers as
            setting ``net.params`` from ``g`` yourself, without its two copies per step.

        Returns
        -------
        outputs : dict output name -> (Q, n)
        g : (P,) gradient of this step's loss (``sse`` or ``mse`` over its elements), or
            None without targets
        """
        if loss not in ("sse", "mse"):
            from .losses import LossError
            raise LossError(f"online RTRL takes loss 'sse' or 'mse', not {loss!r}")
        if lr and not (type(lr) is float and math.isfinite(lr)) and not (
                isinstance(lr, (int, float, np.floating)) and np.isfinite(lr)):
            raise ValueError(f"lr must be a finite number, got {lr!r}")
        if self._compiled is not None:
            out, g = self._step_compiled(inputs, targets, loss, lr)
            if lr and g is not None:
                self._write_back()
            return out, g
        from .losses import loss_and_adjoint
        plan = self.net.plan
        X = {k: np.asarray(v, dtype=float).reshape(1, self.Q, -1) for k, v in inputs.items()}
        for k, v in X.items():
            if not np.all(np.isfinite(v)):
                raise ValueError(f"input '{k}' has NaN or inf at step {self.clock}")
        self._sweep.P = self.net._values
        trace = forward(plan, self.net._values, X, self._state)
        Y = {o: trace.output(plan, o) for o in plan.outputs}
        g = None
        dA = None
        if targets is not None:
            T_ = {k: np.asarray(v, dtype=float).reshape(1, self.Q, -1)
                  for k, v in targets.items()}
            _, dA = loss_and_adjoint({k: Y[k] for k in T_}, T_, loss)
            g = np.zeros(plan.n_params)

        def consume(name, t0, t1, S):
            if dA is not None and name in dA:
                e = dA[name][t0:t1].reshape(-1)
                g[:] += e @ S.reshape(e.size, plan.n_params)

        self._sweep.run(trace, consume, clock=self.clock)
        self._state = final_state(plan, trace)
        self.clock += 1
        if lr and g is not None:
            self.net.params = self.net.params - lr * g
        return {o: y[0] for o, y in Y.items()}, g

    def _step_compiled(self, inputs, targets, loss, lr=0.0):
        """step() on the compiled program: this step's values into its reused buffers."""
        c = self._compiled
        if len(inputs) != len(self._in_cols) or (targets and len(targets) > len(self._out_cols)):
            self._batch(inputs, list(self.net.plan.inputs), "input", None)   # says what
            self._batch(targets, list(self.net.plan.outputs), "target", None)
        try:
            for k, view, shape in self._u_views:
                v = inputs[k]
                view[...] = v if getattr(v, "shape", None) == shape else np.reshape(v, shape)
            if not targets or len(targets) < len(self._t_views):
                c.T1.fill(np.nan)               # an output without a target this step
            if targets:
                for k, v in targets.items():
                    view, shape = self._t_views[k]
                    view[...] = v if getattr(v, "shape", None) == shape else np.reshape(v, shape)
        except (KeyError, ValueError):
            self._batch(inputs, list(self.net.plan.inputs), "input", None)   # says what
            self._batch(targets or {}, list(self.net.plan.outputs), "target", None)
            raise
        self._load()
        if not c.advance_one(loss, lr if targets is not None else 0.0):
            self._check_finite(c.U1, list(self.net.plan.inputs))    # says which input
        self.clock += 1
        out = {k: view.copy() for k, view in self._y_views}
        return out, (None if targets is None else c.g1[0].copy())

    def _load(self):
        """The net's parameters into the compiled workspace, unless they are the arrays the
        last update left there (see ``_left``)."""
        left, values = self._left, self.net._values
        # ids are safe to compare: _left holds the arrays, so no other can take their ids
        if left is not None and list(map(id, values.values())) == left[0]:
            return
        self._left = None
        self._compiled.load(values)

    def _write_back(self):
        """The workspace's updated θ into the net: in place into the arrays the last one
        left, when the net still holds them (checked by :meth:`_load` this step)."""
        c = self._compiled
        if self._left is not None:
            np.take(c.ws, c.theta_ws, out=self._left[1])
            return
        theta = c.theta()                   # a new array, held by nobody else
        self.net._take_params(theta)
        values = self.net._values
        self._left = (list(map(id, values.values())), theta, list(values.values()))

    def _check_finite(self, U, names, t0=0):
        if np.all(np.isfinite(U)):
            return
        bad = np.argwhere(~np.isfinite(U))[0]
        col = 0
        for k in names:
            n = self.net.plan.nodes[k].size
            if bad[2] < col + n:
                raise ValueError(f"input '{k}' has NaN or inf at step {self.clock + bad[0]}")
            col += n

    def run(self, inputs, targets=None, lr: float = 0.0, loss: str = "sse"):
        """Advance over a whole stream, adapting θ ← θ − lr·g(t) after every step that has
        targets (adaptive filtering; lr = 0 leaves θ alone). The net's parameters hold the
        adapted values afterwards; the next call continues the stream.

        Parameters
        ----------
        inputs : the stream's inputs as ``net.simulate`` takes them — (T, n) or (T,) for
            one stream, (Q, T, n) for Q, a dict by name, or a DataFrame
        targets : the same for the outputs (NaN = no target there), optional
        lr : SGD step size

        Returns
        -------
        outputs : each step's output before its update, in the form of ``inputs``
        losses : (T,) each step's loss (0 without targets)
        """
        from .losses import LossError
        from .records import DataError, from_internal, to_internal
        if loss not in ("sse", "mse"):
            raise LossError(f"online RTRL takes loss 'sse' or 'mse', not {loss!r}")
        net, plan = self.net, self.net.plan
        X, form = to_internal(inputs, net.inputs, "input")
        T, Q = next(iter(X.values())).shape[:2]
        if Q != self.Q:
            raise DataError(f"inputs hold {Q} streams; this OnlineRTRL steps Q={self.Q}")
        U = self._batch(X, list(plan.inputs), "input", T)
        if targets is not None:
            Yt, _ = to_internal(targets, net.outputs, "target", allow_nan=True)
            if next(iter(Yt.values())).shape[:2] != (T, Q):
                raise DataError(f"targets: T, Q = {next(iter(Yt.values())).shape[:2]} "
                                f"differ from the inputs' ({T}, {Q})")
        else:
            Yt = {}
        Tg = self._batch(Yt, list(plan.outputs), "target", T)
        if self._compiled is not None:
            c = self._compiled
            c.load(net._values)
            # As step(): every step given targets updates (all-NaN ones with g = 0).
            want = np.full(T, targets is not None)
            Y, _, losses = c.advance(U, Tg, loss, lr=lr if targets is not None else 0.0,
                                     want_grad=want)
            self.clock += T
            if lr and targets is not None:
                net.params = c.theta()
        else:
            Y = np.empty((T, self.Q, Tg.shape[2]))
            losses = np.zeros(T)
            names = list(plan.outputs)
            for t in range(T):
                x = {k: U[t, :, c0:c0 + n] for k, c0, n in self._in_cols}
                y = None
                if targets is not None:
                    y = {k: Tg[t, :, c0:c0 + n] for k, c0, n in self._out_cols}
                out, g = self.step(x, y, loss, lr)
                for k, c0, n in self._out_cols:
                    Y[t, :, c0:c0 + n] = out[k]
                if y is not None:
                    e = np.concatenate([(y[k] - out[k]).reshape(-1) for k in names])
                    e = e[~np.isnan(e)]
                    losses[t] = float(e @ e) / (max(e.size, 1) if loss == "mse" else 1)
        outs = {k: Y[:, :, c0:c0 + n] for k, c0, n in self._out_cols}
        return from_internal(outs, form), losses

    def _columns(self, names):
        col = 0
        for k in names:
            n = self.net.plan.nodes[k].size
            yield k, col, n
            col += n
