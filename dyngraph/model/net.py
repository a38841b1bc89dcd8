"""The user's object: a checked network with its parameter values.

:class:`Net` is a thin facade over the pipeline spec -> graph -> plan -> engines; it owns
the parameter values and converts user arrays to the engines' layout and back.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

import numpy as np

from ..engines import bptt as _bptt
from ..engines.backend import resolve as resolve_backend
from ..training import prepare as _prepare
from ..engines import rtrl as _rtrl
from ..engines.losses import error_vector, loss_and_adjoint
from ..engines.records import (DataError, Form, from_internal, initial_to_internal, to_internal,
                               weights_to_internal)
from ..engines.simulate import final_state, forward
from ..graph import loops as _loops
from ..graph.build import build_graph
from ..graph.params import initial_values
from ..graph.plan import make_plan, require_derivatives
from ..io import export_numpy as _export_numpy
from ..io import store as _store
from ..language.spec import Spec
from ..training import scaling as _scaling
from ..kinds.transfers import random_stream
from ..training.forecast import forecast as _forecast, symbolic as _symbolic
from ..viz import render as _render

__all__ = ["Net", "load_model"]


class Net:
    """A dynamic network built from a :class:`~dyngraph.spec.Spec`.

    Parameters
    ----------
    spec : Spec
    seed : int, seed of the random initial weights (fan-in scaled uniform)
    init : 'fanin' or 'nguyen-widrow'

    Examples
    --------
    >>> import dyngraph as dg, numpy as np
    >>> net = dg.loads('''
    ... inputs: {x: 1}
    ... layers:
    ...   y: {size: 1, bias: false, from: {x: 0, y: {delays: 1, value: [[0.5]]}}}
    ... outputs: [y]''')
    >>> net.set("y.W[x]", [[1.0]])
    >>> net.simulate(np.r_[1.0, np.zeros(4)])
    array([1.    , 0.5   , 0.25  , 0.125 , 0.0625])
    """

    def __init__(self, spec: Spec, seed=0, init: str = "fanin"):
        self.spec = spec
        self._graph = build_graph(spec)
        self.plan = make_plan(self._graph)
        self._values = initial_values(list(self.plan.blocks), seed=seed, method=init)
        self._learn = frozenset(b.name for b in self.plan.blocks if b.learn)
        self.meta: Dict[str, object] = {}

    # ------------------------------------------------------------------ structure
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def graph(self):
        """The networkx MultiDiGraph (nodes: inputs, layers, memories; edges: links)."""
        return self._graph.nx

    @property
    def order(self):
        """Simulation order (names): every delay-0 link goes forward in it."""
        return self._graph.order

    @property
    def inputs(self) -> Dict[str, int]:
        return self._graph.inputs

    @property
    def outputs(self) -> Dict[str, int]:
        return self._graph.outputs

    @property
    def sizes(self) -> Dict[str, int]:
        return dict(self._graph.sizes)

    # ------------------------------------------------------------------ parameters
    @property
    def param_names(self):
        """Names of the learnable blocks, in the order of :attr:`params`."""
        return [b.name for b in self.plan.blocks if b.learn]

    @property
    def block_names(self):
        """Names of all parameter blocks, learnable or fixed."""
        return [b.name for b in self.plan.blocks]

    @property
    def n_params(self) -> int:
        return self.plan.n_params

    def _learned(self):
        """(name, offset, size, shape) of every learnable block, kept per plan (an online
        loop reads and sets :attr:`params` every step)."""
        kept = self.__dict__.get("_learned_layout")
        if kept is None or kept[0] is not self.plan:
            kept = (self.plan, tuple((b.name, b.offset, b.size, b.shape)
                                     for b in self.plan.blocks if b.learn))
            self.__dict__["_learned_layout"] = kept
        return kept[1]

    @property
    def params(self) -> np.ndarray:
        """The learnable parameters as one flat float64 vector (a copy)."""
        if not self.plan.n_params:
            return np.zeros(0)
        return np.concatenate([self._values[name].ravel() for name, *_ in self._learned()])

    @params.setter
    def params(self, theta) -> None:
        self._take_params(np.array(theta, dtype=float))

    def _take_params(self, theta: np.ndarray) -> None:
        """Make the blocks views of ``theta`` (P,) float64 itself, no copy: for a caller that
        hands over an array nobody else holds (online RTRL's write-back)."""
        if theta.shape != (self.plan.n_params,):
            raise ValueError(f"params: expected shape ({self.plan.n_params},), got {theta.shape}")
        # Each block is a view of theta (blocks never overlap).
        values = self._values
        for name, offset, size, shape in self._learned():
            values[name] = theta[offset:offset + size].reshape(shape)

    def get(self, name: str) -> np.ndarray:
        """Value of a parameter block by name (a copy), e.g. ``net.get("h.W[u]")``."""
        if name not in self._values:
            raise KeyError(f"no parameter block '{name}' (blocks: {', '.join(self.block_names)})")
        return self._values[name].copy()

    def set(self, name: str, value) -> None:
        """Set a parameter block by name; the shape must match."""
        old = self.get(name)
        value = np.asarray(value, dtype=float)
        if value.size != old.size or (value.shape != old.shape and value.ndim > 1):
            raise ValueError(f"{name}: expected shape {old.shape}, got {value.shape}")
        self._values[name] = value.reshape(old.shape).copy()

    def flat(self, grads: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-block gradients -> flat vector in :attr:`params` order (missing = 0)."""
        out = np.zeros(self.plan.n_params)
        for b in self.plan.blocks:
            if b.learn and b.name in grads:
                out[b.offset:b.offset + b.size] = np.asarray(grads[b.name]).ravel()
        return out

    def copy(self) -> "Net":
        new = object.__new__(Net)
        new.__dict__.update(self.__dict__)
        new._values = {k: v.copy() for k, v in self._values.items()}
        new.meta = dict(self.meta)
        return new

    # ------------------------------------------------------------------ data
    @property
    def scaling(self):
        """The normalisation record (see :mod:`dyngraph.scaling`) or None. With one, every
        method takes and returns data in original units; losses, errors and Jacobians are
        in the scaled units training works in."""
        return self.meta.get("scaling")

    def _no_inputs(self, inputs, initial, steps):
        """Data of a simulation of a net without inputs: ({}, form, Q, T)."""
        if inputs not in (None, {}) and not (hasattr(inputs, "__len__") and len(inputs) == 0):
            raise DataError(f"the net '{self.name}' has no inputs; pass inputs=None and "
                            "steps=T")
        if steps is None or int(steps) != steps or steps < 1:
            raise DataError(f"the net '{self.name}' has no inputs: give the number of time "
                            f"steps, simulate(steps=T), T >= 1 (got {steps!r})")
        batched = any(np.ndim(v) == 3 for v in (initial or {}).values())
        Q = next(np.shape(v)[0] for v in initial.values() if np.ndim(v) == 3) if batched else 1
        return {}, Form(batched, True, False), Q, int(steps)

    def _inputs(self, inputs):
        X, form = to_internal(inputs, self.inputs, "input")
        if self.scaling:
            X = _scaling.scale_inputs(self, self.scaling, X)
        return X, form

    def _targets(self, targets, T, Q):
        Y, _ = to_internal(targets, self.outputs, "target", allow_nan=True)
        shape = next(iter(Y.values())).shape[:2]
        if shape != (T, Q):
            raise DataError(f"targets have T={shape[0]}, Q={shape[1]} but inputs have "
                            f"T={T}, Q={Q}")
        if self.scaling:
            Y = _scaling.scale_outputs(self, self.scaling, Y)
        return Y

    def _weights(self, weights, T, Q):
        return weights_to_internal(weights, self.outputs, T, Q)

    def _initial(self, initial, Q):
        out = initial_to_internal(initial, self.plan.nodes, Q)
        if out and self.scaling:
            out = _scaling.scale_state(self, self.scaling, out, "in")
        return out

    def _state_out(self, state, form, mode="out"):
        if self.scaling:
            state = _scaling.scale_state(self, self.scaling, state, mode)
        out = {}
        for name, a in state.items():
            a = a.transpose(1, 0, 2)
            out[name] = a if form.batched else a[0]
        return out

    # ------------------------------------------------------------------ engines
    def simulate(self, inputs=None, initial=None, return_state: bool = False, backend=None,
                 steps: Optional[int] = None, chunk: Optional[int] = None,
                 sample: Optional[str] = None, seed=None):
        """Run the network.

        Parameters
        ----------
        inputs : array (T, n) / (T,) / (Q, T, n), or dict input name -> array
        initial : dict node name -> past values (L, n) or (Q, L, n), oldest first; missing
                  nodes start from zero. A ``state`` returned earlier continues a run.
                  With :attr:`scaling`, input and output nodes are in original units,
                  hidden nodes in the net's own.
        return_state : also return the final state (same layout as ``initial``)
        backend : 'numpy' or 'compiled' (default: ``DYNGRAPH_BACKEND``, else compiled when
                  numba is installed); both give the same numbers to rounding
        steps : number of time steps, for a net without inputs (an autonomous net, e.g. a
                NAR model run from ``initial``); inputs then stay None. A batched
                ``initial`` (Q, L, n) runs Q sequences.
        chunk : simulate this many steps at a time, carrying the state across (memory
                O(chunk + output) instead of O(T) for the engines' caches); the same numbers
                as one call, to rounding. Default: chunks of ``STREAM_CHUNK`` steps for
                records longer than that; one piece for a net with backward layers.
        sample : None, 'argmax' or 'sample' — generation: every softmax output layer gives
                 (and feeds back) the one-hot of its most probable symbol, or of a draw from
                 its probabilities, instead of the probabilities; the spec is not edited
                 (see :func:`dyngraph.training.forecast.symbolic`)
        seed : integer >= 0, the seed of the draws of ``sample='sample'`` and of layers
               written with ``transfer: sample``; None: 0 (or the stream already open, see
               :func:`dyngraph.kinds.transfers.random_stream`). Same seed, same symbols, on
               either backend and whatever the chunking.

        Returns
        -------
        outputs in the same form as ``inputs`` (a bare array when there is one output),
        and the state when asked.
        """
        if sample is not None:
            return _symbolic(self, sample).simulate(inputs, initial, return_state, backend,
                                                    steps, chunk, seed=seed)
        with random_stream(seed):
            return self._simulate(inputs, initial, return_state, backend, steps, chunk)

    def _simulate(self, inputs, initial, return_state, backend, steps, chunk):
        if not self.inputs:
            X, form, Q, T = self._no_inputs(inputs, initial, steps)
        else:
            if steps is not None:
                raise DataError("steps= is for a net without inputs; the inputs' length is T")
            X, form = self._inputs(inputs)
            T, Q = next(iter(X.values())).shape[:2]
        if chunk is None:
            # A backward layer at step t depends on every later step: one piece.
            chunk = T if T <= STREAM_CHUNK or self.plan.backward else STREAM_CHUNK
        elif self.plan.backward and chunk < T:
            raise DataError("a net with backward layers is simulated in one piece (each "
                            "step depends on the later ones); leave chunk= unset")
        if int(chunk) != chunk or chunk < 1:
            raise DataError(f"chunk must be a number of steps >= 1, got {chunk!r}")
        chunk = int(chunk)
        engine, state = resolve_backend(backend), self._initial(initial, Q)
        if chunk >= T:
            # One piece: the outputs are the trace's own buffers (fresh for every call).
            trace = forward(self.plan, self._values, X, state, backend=engine, steps=(T, Q),
                            values_only=True)
            Y = {o: trace.output(self.plan, o) for o in self.outputs}
            state = final_state(self.plan, trace) if return_state else None
            del trace
            return self._results(Y, form, state, return_state)
        Y = {o: np.empty((T, Q, n)) for o, n in self.outputs.items()}
        for t0 in range(0, T, chunk):
            t1 = min(t0 + chunk, T)
            trace = forward(self.plan, self._values, {k: v[t0:t1] for k, v in X.items()},
                            state, backend=engine, steps=(t1 - t0, Q), values_only=True)
            for o in self.outputs:
                Y[o][t0:t1] = trace.output(self.plan, o)
            state = final_state(self.plan, trace)
            del trace                       # its caches are the O(chunk) part
        return self._results(Y, form, state, return_state)

    def _results(self, Y, form, state, return_state):
        """Outputs (T, Q, n) in the user's form, with the state when asked."""
        if self.scaling:
            Y = _scaling.unscale_outputs(self, self.scaling, Y)
        Y = from_internal(Y, form)
        if return_state:
            return Y, self._state_out(state, form)
        return Y

    def _prepare(self, inputs, targets, initial, weights=None):
        # A feedback_of input left out is the measured output: take it from the targets.
        X, form = self._inputs(_prepare.fill_feedback(self, inputs, targets))
        T, Q = next(iter(X.values())).shape[:2]
        Yt = self._targets(targets, T, Q)
        return X, Yt, self._initial(initial, Q), form, self._weights(weights, T, Q)

    def gradient(self, inputs, targets, method: str = "bptt", loss: str = "mse",
                 weights=None, initial=None, truncate=None, initial_grad: bool = False,
                 backend=None, input_grad: bool = False):
        """Loss and its gradient w.r.t. :attr:`params`.

        Parameters
        ----------
        method : 'bptt' or 'rtrl' — the same numbers (to rounding)
        loss : 'mse', 'sse' or 'cross_entropy' (see :mod:`dyngraph.losses`)
        weights : dict output name -> error weights (scalar, (T,), or target-shaped)
        truncate : (k1, k2) truncated BPTT (seed 003): every k1 steps, backpropagate the
                   errors of the last k1 steps through k2 steps (approximate gradient)
        initial_grad : also return dF/d(initial values) (BPTT), a dict like ``initial``
        input_grad : also return dF/d(inputs) (BPTT), a dict by input name in the inputs'
                     layout (in original units when the net has a scaling) — saliency,
                     sensitivity analysis, adversarial inputs
        backend : as for :meth:`simulate`

        With :attr:`scaling`, inputs and targets are in original units and the loss is
        measured in scaled units (what training minimises).

        Returns
        -------
        loss : float
        g : (n_params,) array
        (g_initial : dict, when ``initial_grad``)
        (g_inputs : when ``input_grad``, last)
        """
        require_derivatives(self.plan, "a gradient")
        X, Yt, init, form, weights = self._prepare(inputs, targets, initial, weights)
        if method not in ("bptt", "rtrl"):
            raise ValueError(f"method must be 'bptt' or 'rtrl', got '{method}'")
        truncate = _bptt.check_truncation(truncate)
        trace = forward(self.plan, self._values, X, init, backend=resolve_backend(backend))
        Y = {o: trace.output(self.plan, o) for o in self.outputs}
        value, dA = loss_and_adjoint(Y, Yt, loss, weights)
        if method == "rtrl":
            if truncate is not None or initial_grad:
                raise ValueError("truncate and initial_grad are options of method='bptt'")
            g = _rtrl.gradient(self.plan, self._values, trace, dA, resolve_backend(backend))
            return value, g
        if input_grad:
            if truncate is not None:
                raise ValueError("input_grad is an option of the whole BPTT (no truncate)")
            grads, gi, gu = _bptt.backward(self.plan, self._values, trace, dA, self._learn,
                                           input_adjoints=True)
            if self.scaling:             # u_s = (u - a) / s, so dF/du = dF/du_s / s
                maps = _scaling.input_maps(self, self.scaling)
                gu = {k: v / maps[k][1] for k, v in gu.items()}
            out = (value, self.flat(grads))
            if initial_grad:
                out += (self._state_out(gi, form, mode="grad"),)
            return out + (from_internal(gu, form),)
        if truncate is None:
            grads, gi = _bptt.backward(self.plan, self._values, trace, dA, self._learn)
        else:
            grads, gi = _bptt.truncated(self.plan, self._values, trace, dA, self._learn,
                                        truncate)
        g = self.flat(grads)
        if initial_grad:
            return value, g, self._state_out(gi, form, mode="grad")
        return value, g

    def jacobian(self, inputs, targets, method: str = "rtrl", weights=None, initial=None,
                 backend=None):
        """Errors e = sqrt(w)(target − output) at the non-NaN targets and J = de/dparams.

        Order of e (and rows of J): outputs in spec order; within one, sequence, then time,
        then element (NaN targets left out). RTRL costs about one gradient; 'bptt' does one
        backward sweep per error and exists to cross-check small problems.

        Returns
        -------
        e : (N,) array
        J : (N, n_params) array
        """
        if method not in ("rtrl", "bptt"):
            raise ValueError(f"method must be 'rtrl' or 'bptt', got '{method}'")
        require_derivatives(self.plan, "a Jacobian")
        X, Yt, init, form, weights = self._prepare(inputs, targets, initial, weights)
        trace = forward(self.plan, self._values, X, init, backend=resolve_backend(backend))
        return self._jacobian_of(trace, Yt, weights, method, resolve_backend(backend))

    def _jacobian_of(self, trace, Yt, weights, method="rtrl", backend=None):
        """e, J of a forward trace against internal targets (see :meth:`jacobian`)."""
        Y = {o: trace.output(self.plan, o) for o in self.outputs}
        e, masks, scales = error_vector(Y, Yt, weights)
        if method == "rtrl":
            S = _rtrl.output_sensitivities(self.plan, self._values, trace, backend)
            rows = []
            for o in self.outputs:
                s = np.swapaxes(S[o], 0, 1)                  # (Q, T, n, P)
                rows.append(-(s * scales[o][..., None])[masks[o]])
            J = np.concatenate(rows) if rows else np.zeros((0, self.n_params))
            return e, J
        rows = []
        T, Q = trace.T, trace.Q
        for o, n in self.outputs.items():
            for q, t, i in np.argwhere(masks[o]):
                dA = {o: np.zeros((T, Q, n))}
                dA[o][t, q, i] = -scales[o][q, t, i]
                grads, _ = _bptt.backward(self.plan, self._values, trace, dA, self._learn)
                rows.append(self.flat(grads))
        J = np.array(rows) if rows else np.zeros((0, self.n_params))
        return e, J

    # ------------------------------------------------------------------ forms
    def closeloop(self) -> "Net":
        """Series-parallel (open-loop) -> parallel (closed-loop) form; weights kept."""
        return _net_of(*_loops.closeloop(self.spec, self._values, self.meta))

    def openloop(self) -> "Net":
        """Parallel (closed-loop) -> series-parallel (open-loop) form; weights kept."""
        return _net_of(*_loops.openloop(self.spec, self._values, self.meta))

    def detach(self, inputs=None, initial=None, steps: Optional[int] = None):
        """The net whose true gradient is this one's stopped gradient (``gradient: stop``
        links, docs/spec.md): each stopped link reads a new input ``<source>_stopped`` fed
        the source's values from a simulation of this net on ``inputs`` and ``initial``.
        Finite differences of the detached net check the engines' stopped gradients.

        Returns
        -------
        net : the detached Net (the same parameters in the same flat order)
        inputs : dict, ``inputs`` plus the recorded feeds, in the inputs' form
        initial : dict, ``initial`` plus the feeds' past values (nodes that the detached net
                  no longer reads with a delay left out)
        """
        if self.scaling:
            raise ValueError("detach works in the net's own units: use a net without scaling")
        if not self.inputs:
            X, form, Q, T = self._no_inputs(inputs, initial, steps)
        else:
            X, form = self._inputs(inputs)
            T, Q = next(iter(X.values())).shape[:2]
        init = self._initial(initial, Q) or {}
        trace = forward(self.plan, self._values, X, init, steps=(T, Q))
        spec, values, feeds = _loops.detach(self.spec, self._values)
        new = _net_of(spec, values, self.meta)
        X = dict(X)
        past = {k: v for k, v in init.items() if new.plan.nodes[k].lookback}
        for name, src in feeds.items():
            L, Ls = new.plan.nodes[name].lookback, self.plan.nodes[src].lookback
            X[name] = trace.A[src][Ls:]
            if L:
                past[name] = trace.A[src][Ls - L:Ls]
        form = Form(form.batched, False, form.flat, form.index)
        return new, from_internal(X, form), self._state_out(past, form)

    # ------------------------------------------------------------------ workflow
    def forecast(self, past_inputs, past_outputs, future_inputs=None, steps=None,
                 sample=None, seed=None):
        """Multi-step prediction in closed loop from the end of a measured record;
        ``sample='argmax'|'sample'`` (and ``seed``) generates symbols from a softmax output.

        See :func:`dyngraph.forecast.forecast`."""
        return _forecast(self, past_inputs, past_outputs, future_inputs, steps, sample, seed)

    def export(self, path) -> str:
        """Write the net as a standalone model, the format chosen by the suffix:

        - ``.py``: a Python module that needs only numpy, with the weights as exact
          literals and ``simulate(u)``, ``step(state, u_t)``, ``initial_state(Q)``;
        - ``.onnx``: an ONNX model (float64; inputs and outputs named as in the spec, each
          (Q, T, n); the time loop is a Scan), for onnxruntime and other ONNX tools.

        The net's scaling, if any, is applied inside the exported model. An existing file
        at ``path`` is replaced. See docs/export.md.

        Returns
        -------
        str, the path written

        Raises
        ------
        ValueError : another suffix; :class:`~dyngraph.io.export_numpy.ExportError` (a
                     ValueError) for a net the format cannot express, naming what
        """
        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in (".py", ".onnx"):
            raise ValueError(f"export: cannot tell the format of '{path}' from its suffix "
                             f"'{suffix}'; use .py (numpy module) or .onnx")
        maps = None
        if self.scaling:
            maps = (_scaling.input_maps(self, self.scaling),
                    _scaling.output_maps(self, self.scaling))
        data = _export_numpy.describe(self.plan, self._values, maps, self.name)
        if suffix == ".py":
            _export_numpy.write_module(path, data)
        else:
            from ..io import export_onnx as _export_onnx     # needs the optional onnx package
            _export_onnx.write_onnx(path, data)
        return path

    def save(self, path) -> None:
        """Write the model to directory ``path`` (spec.yaml, weights.npz, meta.json),
        atomically; ``dg.load(path)`` reads it back. See :mod:`dyngraph.store`."""
        _store.save_model(self.spec, {n: self._values[n] for n in self.block_names},
                          self.meta, path)

    # ------------------------------------------------------------------ drawing
    def to_dot(self, unroll: Optional[int] = None):
        """A pydot.Dot of the folded graph, or unrolled over ``unroll`` time steps."""
        return _render.to_dot(self, unroll=unroll)

    def render(self, path, unroll: Optional[int] = None):
        """Write the diagram to ``path`` (.svg, .png, .pdf or .dot by extension)."""
        return _render.render(self, path, unroll=unroll)

    def __repr__(self):
        return (f"Net({self.name!r}, inputs={self.inputs}, outputs={self.outputs}, "
                f"params={self.n_params})")

    def _repr_html_(self):
        """Notebook display: the folded diagram and a table of the nodes."""
        from ..viz.summary import summary_html
        return summary_html(self)


#: Records longer than this are simulated in chunks of this many steps (see simulate).
STREAM_CHUNK = 16384


def _net_of(spec: Spec, values: Mapping[str, np.ndarray], meta) -> Net:
    """A new Net of ``spec`` carrying ``values`` (by block name) and ``meta``."""
    new = Net(spec)
    for name, value in values.items():
        new._values[name] = np.array(value, dtype=float)
    new.meta = dict(meta)
    return new


def load_model(path) -> Net:
    """A :class:`Net` from a model directory written by :meth:`Net.save`
    (``dg.load(path)`` calls this; see :mod:`dyngraph.io.store` for the format).

    Raises
    ------
    ModelError : missing files, unknown format, blocks or scaling that do not fit the spec
    SpecError : spec.yaml is not a valid spec (positions in spec.yaml)
    """
    spec, values, meta = _store.read_model(path)
    net = _net_of(spec, values, meta)
    if meta.get("scaling") is not None:
        try:
            _scaling.check_scaling(meta["scaling"], net)
        except ValueError as err:
            raise _store.ModelError(f"{os.path.join(os.fspath(path), _store.META_FILE)}: "
                                    f"{err}") from None
    return net
