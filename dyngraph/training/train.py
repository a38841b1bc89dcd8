"""``dg.train``: fit a network's parameters to input/target records.

Methods (the loops live in :mod:`dyngraph.optimizers`):

=========  =========================================================  ===================
method     what                                                       options (defaults)
=========  =========================================================  ===================
``lm``     Levenberg–Marquardt on the RTRL Jacobian, MATLAB trainlm   mu=1e-3, mu_dec=0.1,
                                                                      mu_inc=10, mu_max=1e10
``br``     Bayesian regularisation on LM (trainbr), reports γ         same as lm
``adam``   Adam on the BPTT gradient, one full-batch step per epoch   lr=1e-3,
                                                                      betas=(0.9, 0.999),
                                                                      eps=1e-8, clip=None,
                                                                      truncate=None
``sgd``    gradient descent with momentum on the BPTT gradient        lr=0.01, momentum=0.9,
                                                                      clip=None, truncate=None
``lbfgs``  scipy.optimize.minimize(method='L-BFGS-B')                 —
``bfgs``   scipy.optimize.minimize(method='BFGS')                     —
=========  =========================================================  ===================

``clip`` is a global-norm gradient clip; ``truncate=(k1, k2)`` is truncated BPTT (see
:meth:`Net.gradient`).

Open- and closed-loop training. A series-parallel net (inputs declared ``feedback_of``) is
trained open loop: pass the measured outputs as those inputs, e.g.
``dg.train(open_net, {"u": u, "y_meas": y}, y)``, then ``result.net.closeloop()`` gives the
parallel model. Training the parallel form directly is just training the closed-loop net:
``dg.train(open_net.closeloop(), u, y)``. The first is fast and well conditioned; the second
optimises what a simulation model is judged by (multi-step error) — try both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from . import optimizers as _opt
from . import progress as _progress
from .records import as_batched as _as_batched, read_records as _read, \
    weights_batched as _weights_batched
from . import scaling as _scaling
from ..engines.records import DataError
from .divide import block_ranges, mask_targets
from .linear import fit_linear_path
from .windows import cut_windows
from .initial import LearntInitial, check_learn_initial, learnt_names, take_initial
from .encoder import Encoder, check_encoder, encoded_initial, encoder_arg
from .windows import measured_lookback
from ..engines.losses import LOSSES, loss_and_adjoint
from ..engines.backend import loaded as loaded_backend, resolve as resolve_backend
from ..engines.simulate import forward
from ..graph.plan import require_derivatives

__all__ = ["train", "TrainResult", "METHODS"]

_LM_OPTIONS = {"mu": 1e-3, "mu_dec": 0.1, "mu_inc": 10.0, "mu_max": 1e10}
_OPTIONS = {
    "lm": _LM_OPTIONS,
    "br": _LM_OPTIONS,
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "clip": None, "truncate": None},
    "sgd": {"lr": 0.01, "momentum": 0.9, "clip": None, "truncate": None},
    "lbfgs": {},
    "bfgs": {},
}
METHODS = tuple(_OPTIONS)
_SCIPY = {"lbfgs": "L-BFGS-B", "bfgs": "BFGS"}


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    net : Net — a trained copy (the caller's net is never changed), holding the best weights,
          the scaling (``net.meta["scaling"]``) and a training summary
          (``net.meta["training"]``, saved with the model)
    params : (n_params,) the best weights (= ``net.params``)
    history : dict of arrays, one entry per epoch (row k = weights after k updates, row 0
              the initial weights): 'epoch', 'loss', 'val_loss', 'test_loss' (NaN when there
              is no such set), 'grad_norm', 'time' (seconds since the start), and 'mu'
              (lm, br) or 'step' (adam/sgd: the learning rate; scipy: |Δθ|); br adds
              'gamma', 'alpha', 'beta' and 'F'. Losses are in scaled units when the net
              has a scaling.
    stop_reason : 'max epochs', 'goal', 'min_grad', 'mu_max', 'validation stop (6 fails)',
                  'diverged (...)', 'non-finite loss', 'non-finite gradient', 'time limit',
                  'callback', 'interrupted' (Ctrl-C), or scipy's message ('L-BFGS-B: ...')
    best_epoch : the history row whose weights were returned
    method : the method used
    effective_params : br only — γ, the effective number of parameters at the end
    divide : the (start, stop) time blocks used for train/val/test, when ``divide`` was given
    initial : with ``learn_initial``, the learnt initial states in user units, a dict like
              ``initial=`` ((L, n) for one sequence, (Q, L, n) for Q); else None
    """

    net: object
    params: np.ndarray
    history: Dict[str, np.ndarray]
    stop_reason: str
    best_epoch: int
    method: str
    effective_params: Optional[float] = None
    divide: Optional[Dict[str, tuple]] = None
    initial: Optional[Dict[str, np.ndarray]] = None

    def __repr__(self):
        val = self.val_loss
        extra = f", val_loss={val:.6g}" if math.isfinite(val) else ""
        return (f"TrainResult(method={self.method!r}, stop_reason={self.stop_reason!r}, "
                f"best_epoch={self.best_epoch} of {int(self.history['epoch'][-1])}, "
                f"loss={self.loss:.6g}{extra}, net={self.net!r})")

    def _at_best(self, key) -> float:
        return float(self.history[key][self.best_epoch])

    @property
    def encoder(self) -> Optional[Encoder]:
        """With ``encoder=``, the trained initial-state encoder (also in
        ``net.meta["encoder"]``); else None."""
        return Encoder.from_meta(self.net) if self.net.meta.get("encoder") else None

    @property
    def loss(self) -> float:
        """Training loss of the returned weights."""
        return self._at_best("loss")

    @property
    def val_loss(self) -> float:
        return self._at_best("val_loss")

    @property
    def test_loss(self) -> float:
        return self._at_best("test_loss")


class _Problem:
    """The data of one training run and the three questions the loops ask about theta.

    Arrays are kept in the batched user layout (Q, T, n), already scaled, and handed to the
    work net's public API, which has no scaling of its own.
    """

    def __init__(self, net, X, Yt, W, initial, loss, sets, learnt=None):
        self.net, self.X, self.Yt, self.W, self.initial = net, X, Yt, W, initial
        self.loss = loss
        self.sets = sets          # name -> (X or None for the training inputs, Yt, W, initial)
        # With learnt initial states (.initial.LearntInitial), theta = [weights; states].
        self.learnt, self.n_weights = learnt, net.n_params
        self.theta0 = net.params
        if learnt is not None:
            self.theta0 = np.concatenate([self.theta0, learnt.start])
            self.initial = learnt.values(learnt.start)
        count = sum(int(np.sum(~np.isnan(y))) for y in Yt.values())
        if count == 0:
            raise DataError("train: the training targets are all NaN; nothing to fit")
        self.loss_scale = 1.0 / count if loss == "mse" else 1.0
        self._cache: Dict[bytes, Dict[str, float]] = {}
        self._prepared = None     # the training data in the engines' layout
        self._last = None         # (theta bytes, forward trace) of the last training pass
        self.backend = None       # the engines' stepping backend (resolved by train)

    def _set(self, theta):
        if self.learnt is None:
            self.net.params = theta
            return
        self.net.params = theta[:self.n_weights]
        self.initial = self.learnt.values(theta[self.n_weights:])

    def loss_grad(self, theta, truncate=None):
        self._set(theta)
        with np.errstate(all="ignore"):      # divergence is reported as a stop reason
            out = self.net.gradient(self.X, self.Yt, method="bptt", loss=self.loss,
                                    weights=self.W, initial=self.initial, truncate=truncate,
                                    backend=self.backend or "numpy",
                                    initial_grad=self.learnt is not None)
        if self.learnt is None:
            return out
        value, g, g_initial = out
        return value, np.concatenate([g, self.learnt.grad(theta[self.n_weights:], g_initial)])

    def _trace(self, theta):
        """The forward trace at theta on the training data. The last one is kept: LM's
        accepted trial step is the next epoch's Jacobian point, so its forward pass is
        reused rather than run again."""
        key = np.asarray(theta).tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        self._set(theta)
        if self._prepared is None or self.learnt is not None:   # the initial moves with theta
            self._prepared = self.net._prepare(self.X, self.Yt, self.initial, self.W)
        X, _, init, _, _ = self._prepared
        with np.errstate(all="ignore"):
            trace = forward(self.net.plan, self.net._values, X, init, backend=self.backend)
        self._last = (key, trace)
        return trace

    def errors_jacobian(self, theta):
        trace = self._trace(theta)
        self._set(theta)
        _, Yt, _, _, W = self._prepared
        with np.errstate(all="ignore"):
            return self.net._jacobian_of(trace, Yt, W, "rtrl", self.backend)

    def _train_loss_of(self, theta) -> float:
        trace = self._trace(theta)
        _, Yt, _, _, W = self._prepared
        Y = {o: trace.output(self.net.plan, o) for o in Yt}
        with np.errstate(all="ignore"):
            return loss_and_adjoint(Y, Yt, self.loss, W)[0]

    def _loss(self, Y, Yt, W) -> float:
        T = {k: v.transpose(1, 0, 2) for k, v in Yt.items()}
        Yi = {k: Y[k].transpose(1, 0, 2) for k in Yt}
        Wi = None if W is None else {k: (w.transpose(1, 0, 2) if np.ndim(w) == 3 else w)
                                     for k, w in W.items()}
        with np.errstate(all="ignore"):
            return loss_and_adjoint(Yi, T, self.loss, Wi)[0]

    def _simulate(self, X, initial):
        with np.errstate(all="ignore"):
            return self.net.simulate(X, initial=initial, backend=self.backend or "numpy")

    def losses(self, theta, train: Optional[float] = None) -> Dict[str, float]:
        """Training, validation and test losses (forward simulation, cached by theta).
        ``train``: the training loss when the caller already has it."""
        key = np.asarray(theta).tobytes()
        out = dict(self._cache.get(key, {}))
        if train is not None:
            out.setdefault("loss", train)
        shared = [n for n, s in self.sets.items() if s[0] is None and n not in out]
        self._set(theta)
        if "loss" not in out or shared:
            Y = self._simulate(self.X, self.initial)
            out.setdefault("loss", self._loss(Y, self.Yt, self.W))
            for name in shared:
                out[name] = self._loss(Y, self.sets[name][1], self.sets[name][2])
        for name, (X, Yt, W, initial) in self.sets.items():
            if name not in out:
                out[name] = self._loss(self._simulate(X, initial), Yt, W)
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[key] = out
        return dict(out)

    def train_loss(self, theta) -> float:
        """Training loss only — what LM's trial steps need."""
        key = np.asarray(theta).tobytes()
        if key in self._cache:
            return self._cache[key]["loss"]
        shared = any(s[0] is None for s in self.sets.values())
        if shared:             # the same forward pass gives the validation loss for free
            return self.losses(theta)["loss"]
        value = self._train_loss_of(theta)
        self._cache[key] = {"loss": value}
        return value


def _options(method, options):
    allowed = _OPTIONS[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        hint = ", ".join(allowed) if allowed else "none"
        raise TypeError(f"train: method '{method}' has no option "
                        f"{', '.join(repr(u) for u in unknown)} (its options: {hint})")
    return {**allowed, **options}


def _summary(result_fields, history):
    """The JSON-able training record kept in ``net.meta["training"]``."""
    def clean(values):
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
    return {**result_fields,
            "history": {k: clean(np.asarray(v).tolist()) for k, v in history.items()}}


def _start_arg(start):
    if start not in (None, "arx"):
        raise ValueError(f"train: start must be None or 'arx', got {start!r}")
    return start


def _windows_arg(windows):
    """``windows=`` -> (length, step): an int L (step L // 2) or a pair (L, step)."""
    if isinstance(windows, (tuple, list)) and len(windows) == 2:
        length, step = windows
    elif isinstance(windows, (int, np.integer)) and not isinstance(windows, bool):
        length, step = windows, max(1, int(windows) // 2)
    else:
        raise ValueError(f"train: windows must be a length L or a pair (L, step), "
                         f"got {windows!r}")
    if int(length) != length or int(step) != step or length < 1 or step < 1:
        raise ValueError(f"train: windows length and step must be integers >= 1, "
                         f"got {windows!r}")
    return int(length), int(step)


def _setup(base, inputs, targets, weights, initial, val, divide, normalize, loss,
           windows=None, start=None, learn_initial=False, encoder=None, seed=None):
    """Read, divide and scale the data; return the training problem, the scaling record
    (or None) and the division's time blocks (or None).

    With ``windows``, the training targets are the windows cut from the training block
    (:mod:`.windows`), while validation and test blocks are still judged on the whole
    record's simulation from ``initial``."""
    # Data, in original units, internal layout.
    X, Y = _read(base, inputs, targets)
    T, Q = next(iter(Y.values())).shape[:2]
    Yt = {"train": Y}
    if windows is not None or start is not None:
        Yt["full"] = Y
    if windows is not None:
        if weights is not None:
            raise ValueError("train: error weights apply to the whole record; with windows= "
                             "give none (mask targets with NaN instead)")
    ranges = None
    if divide is not None:
        ranges = block_ranges(T, divide)
        for name, (a, b) in ranges.items():
            if b > a:
                Yt[name] = mask_targets(Y, a, b)
    W = _weights_batched(base, weights, T, Q)
    vX = vY = None
    if val is not None:
        if not (isinstance(val, (tuple, list)) and len(val) == 2):
            raise ValueError("train: val must be a pair (val_inputs, val_targets)")
        vX, vY = _read(base, val[0], val[1], "validation ")

    # Scaling: fit on the training block, then move every array into scaled units.
    record = base.scaling
    if normalize is not None:
        record = _scaling.fit_scaling(base, X, Yt["train"], normalize)
    elif record is not None:
        _scaling.check_scaling(record, base)
    if record:
        X = _scaling.scale_inputs(base, record, X)
        Yt = {k: _scaling.scale_outputs(base, record, v) for k, v in Yt.items()}
        if vX is not None:
            vX = _scaling.scale_inputs(base, record, vX)
            vY = _scaling.scale_outputs(base, record, vY)
        if initial is not None:
            initial = _scaling.scale_state(
                base, record, {k: np.asarray(v, dtype=float) for k, v in initial.items()}, "in")

    work = base.copy()
    work.meta.pop("scaling", None)
    if not work.inputs:
        from .forecast import clocked
        work, clock = clocked(work)
        X = {clock: np.zeros((T, Q, 1))}
        if vX is not None:
            vX = {clock: np.zeros(next(iter(vY.values())).shape[:2] + (1,))}

    sets = {}
    if "val" in Yt:
        sets["val_loss"] = (None, _as_batched(Yt["val"]), W, initial)
    if "test" in Yt:
        sets["test_loss"] = (None, _as_batched(Yt["test"]), W, initial)
    if vX is not None:
        sets["val_loss"] = (_as_batched(vX), _as_batched(vY), None, None)
    a, b = ranges["train"] if ranges else (0, T)
    if start == "arx":
        # In scaled units, on the training block only: the linear path's least squares.
        work = fit_linear_path(work, _as_batched({n: x[a:b] for n, x in X.items()}),
                               _as_batched({n: y[a:b] for n, y in Yt["full"].items()}))
    full = Yt.pop("full", None)
    train_X, train_Y, train_initial = X, Yt["train"], initial
    if windows is not None:
        length, step = windows
        # Cut from the unmasked record: a window's initial states are measured outputs,
        # and windows lie inside the training block only.
        first = a
        if encoder is not None:
            # The encoder reads the p steps before each window: the first starts at p.
            first = a + max(0, encoder[0] - measured_lookback(work, X, full))
        train_X, train_Y, train_initial = cut_windows(work, X, full, length, step, first, b)
        # Validation and test blocks (or the training record itself, for reporting) keep
        # the whole-record simulation, which is what the model is judged by.
        for name in ("val_loss", "test_loss"):
            if name in sets and sets[name][0] is None:
                sets[name] = (_as_batched(X),) + sets[name][1:]
        W = None
    learnt = None
    if learn_initial not in (False, None):
        learnt = LearntInitial(work, learnt_names(work, learn_initial), train_initial, Q)
    if encoder is not None:
        learnt = encoded_initial(work, X, full, encoder, windows, first, b, train_initial, seed)
    problem = _Problem(work, _as_batched(train_X), _as_batched(train_Y), W, train_initial,
                       loss, sets, learnt)
    return problem, record, ranges



# --------------------------------------------------------------------------- the entry point
def train(net, inputs, targets, method: str = "lm", epochs: int = 100, *, loss: str = "mse",
          weights=None, initial=None, val=None, divide=None, max_fail: Optional[int] = 6,
          goal: float = 0.0, min_grad: float = 1e-7, normalize: Optional[str] = None,
          seed=None, init: Optional[str] = None, time_limit: Optional[float] = None,
          callback=None, backend=None, verbose=False, windows=None, start=None,
          learn_initial=False, encoder=None, **options) -> TrainResult:
    """Train a copy of ``net`` on input/target records.

    Parameters
    ----------
    net : Net (not modified)
    inputs : as for :meth:`Net.simulate`: (T, n) / (T,) / (Q, T, n) arrays, a dict by input
             name when several; None for a net without inputs (a closed-loop NAR model)
    targets : the same forms for the outputs; NaN = no target at that step
    method : 'lm', 'br', 'adam', 'sgd', 'lbfgs' or 'bfgs' (see the module table)
    epochs : maximum number of updates (iterations for scipy)
    loss : 'mse' (default), 'sse', or 'cross_entropy' (not for lm/br, which need squared
           errors)
    weights : error weights per output (scalar, (T,), or target-shaped), as in
              :meth:`Net.gradient`; they apply to the training record and to validation/test
              blocks cut from it by ``divide``, not to explicit ``val`` data
    initial : initial conditions of the training record (see :meth:`Net.simulate`)
    val : (val_inputs, val_targets), a separate validation record
    divide : (train, val) or (train, val, test) fractions: block division along time of the
             record (see :mod:`dyngraph.divide` — blocks are NaN masks, the record is
             simulated whole)
    max_fail : validation checks in a row without improvement before stopping (None: never);
               the weights with the lowest validation loss are returned. 'br' reports the
               validation loss but does not stop on it.
    goal : stop when the training loss is <= goal
    min_grad : stop when the gradient norm is <= min_grad
    normalize : 'minmax' (to [-1, 1], MATLAB mapminmax) or 'standard': fit input/output
                scaling on the training data, train in scaled units and store the scaling
                in the result net (applied automatically afterwards); None keeps the net's
                own scaling, if any
    seed, init : re-initialise the weights before training when either is given: ``init``
                 'fanin' (or True) or 'nguyen-widrow', ``seed`` the random seed (0 when
                 only ``init`` is given); weights fixed by a spec ``value`` keep it
    windows : sub-sequence (simulation-error) training: L, or (L, step) — the training block
              is cut into windows of L steps, ``step`` apart (default L // 2, so they
              overlap), each started from the record's measured past (the delay states of
              the inputs and of the fed-back outputs; hidden states from zero) and
              simulated as one batch (:mod:`dyngraph.training.windows`). Validation and
              test blocks are still scored on the whole record's simulation from
              ``initial``. Use it to train a parallel model on long or hard records, where
              one free run over the whole record makes the loss rough.
    start : None, or 'arx' for a net with a linear path (``dg.narx(..., linear=True)``):
            after ``seed``/``init`` and scaling, the output layers' direct links and biases
            get their least-squares ARX values on the training block and the links from
            hidden layers are zeroed (:func:`dyngraph.fit_linear_path`), so training starts
            from the linear model
    learn_initial : True, a node name or a list of names: learn the initial states (the
                    past values of layers and memories read through a delay, the layout of
                    ``initial``) jointly with the weights, starting from ``initial`` (or
                    zero), one past per sequence (:mod:`dyngraph.training.initial`). True:
                    every layer and memory with a past. Gradient methods only (adam, sgd,
                    lbfgs, bfgs); the learnt states are ``result.initial`` (user units) and
                    ``result.net.meta["initial"]`` (saved with the model; give it back as
                    ``initial=``). Inputs' pasts are data, not learnt.
    time_limit : seconds
    callback : called after each epoch with the history row (a dict, plus 'params');
               return True to stop
    encoder : with ``windows``, estimate each window's unmeasured initial states (a
              state-space model's x, hidden recurrent layers) from the ``p`` measured steps
              before it, with a one-hidden-layer tanh net trained jointly with the weights
              (SUBNET, :mod:`dyngraph.training.encoder`): ``p`` or ``{"past": p, "hidden":
              h}`` (h = 16). Gradient methods only (adam, sgd, lbfgs, bfgs); the trained
              encoder is ``result.encoder`` (and ``net.meta["encoder"]``):
              ``result.encoder.initial(net, u_past, y_past)`` gives the ``initial=`` to
              simulate on from the end of a measured past.
    A ``KeyboardInterrupt`` (Ctrl-C) during training returns the result so far (the best
    weights, ``stop_reason == "interrupted"``) instead of losing it.
    verbose : progress: False (none), True (a live bar on a terminal, else a line every 10
              epochs, on stderr) or N (every N epochs); the stop reason is in the result
    backend : 'numpy' or 'compiled' engines (default: ``DYNGRAPH_BACKEND``, else compiled
              when numba is installed); the same path to rounding
    **options : method options (see the module table), e.g. ``mu=1e-2``, ``lr=0.01``,
                ``clip=1.0``, ``truncate=(10, 20)``

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import dyngraph as dg, numpy as np, scipy.signal
    >>> net = dg.load("specs/fir.yaml")
    >>> x = np.random.default_rng(0).standard_normal(200)
    >>> y = scipy.signal.lfilter([0.5, -0.3, 0.2, 0.1, 0.05], [1.0], x)
    >>> r = dg.train(net, x, y, method="lm", epochs=20)
    >>> np.round(r.net.get("y.W[x]"), 6)
    array([[ 0.5 , -0.3 ,  0.2 ,  0.1 ,  0.05]])
    """
    method = str(method).lower()
    if method not in _OPTIONS:
        raise ValueError(f"train: unknown method '{method}' (choose from {', '.join(METHODS)})")
    opts = _options(method, options)
    if loss not in LOSSES:
        raise ValueError(f"train: unknown loss '{loss}' (choose from {', '.join(LOSSES)})")
    if method in ("lm", "br") and loss == "cross_entropy":
        raise ValueError(f"train: method '{method}' minimises squared errors; use loss='mse' "
                         f"or 'sse', or a gradient method for cross_entropy")
    if normalize is not None and loss == "cross_entropy":
        raise ValueError("train: normalize rescales the outputs, which a cross_entropy loss "
                         "(probabilities) cannot take; use normalize=None")
    if val is not None and divide is not None:
        raise ValueError("train: give either val=(inputs, targets) or divide=fractions, "
                         "not both")
    epochs = int(epochs)
    if epochs < 0:
        raise ValueError(f"train: epochs must be >= 0, got {epochs}")
    if net.n_params == 0:
        raise ValueError("train: the net has no learnable parameters")
    check_learn_initial(learn_initial, method, windows, opts.get("truncate"))
    encoder = encoder_arg(encoder)
    check_encoder(encoder, method, windows, learn_initial)
    require_derivatives(net.plan, "training")

    if init is True:
        init = "fanin"
    if init not in (None, "fanin", "nguyen-widrow"):
        raise ValueError(f"train: init must be 'fanin' or 'nguyen-widrow', got {init!r}")
    base = net.copy()
    if seed is not None or init is not None:
        base = type(net)(net.spec, seed=0 if seed is None else seed, init=init or "fanin")
        base.meta = dict(net.meta)

    problem, record, ranges = _setup(base, inputs, targets, weights, initial, val, divide,
                                     normalize, loss,
                                     None if windows is None else _windows_arg(windows),
                                     _start_arg(start), learn_initial, encoder, seed)
    # A training run is a long run: under the automatic choice it takes the compiled
    # backend from its first epoch, whatever this process ran before, so that a run's
    # numbers are the same in any process (restarts and sweeps on Dask workers are
    # bit-identical to sequential runs; see engines/backend.py, LOAD_STEPS).
    problem.backend = loaded_backend(resolve_backend(backend))
    has_val = "val_loss" in problem.sets
    select = "last" if method == "br" else ("val" if has_val else "loss")
    report = _progress.reporter(verbose, epochs)
    if report is not None:
        user_callback = callback

        def callback(row):
            report(row)
            return bool(user_callback(row)) if user_callback is not None else False
    rec = _opt.Recorder(epochs, goal, min_grad, max_fail, select, time_limit, callback)
    try:
        if method == "lm":
            _opt.run_lm(problem, rec, **opts)
        elif method == "br":
            _opt.run_br(problem, rec, **opts)
        elif method in ("adam", "sgd"):
            clip, truncate = opts.pop("clip"), opts.pop("truncate")
            opt_cls = _opt.Adam if method == "adam" else _opt.SGD
            _opt.run_gradient(problem, rec, opt_cls(problem.theta0.size, **opts), clip, truncate)
        else:
            _opt.run_scipy(problem, rec, _SCIPY[method])
    except KeyboardInterrupt:
        # Ctrl-C keeps what was learnt: the best weights so far, stop reason "interrupted".
        if not rec.history:
            raise
        rec.stop("interrupted")
    finally:
        if report is not None:
            report.close()

    history = {k: np.asarray(v, dtype=int if k == "epoch" else float)
               for k, v in rec.history.items()}
    best = rec.best_theta if rec.best_theta is not None else problem.theta0
    best_epoch = rec.best_epoch if rec.best_theta is not None else 0
    gamma = float(history["gamma"][best_epoch]) if method == "br" else None

    result_net = base.copy()
    result_net.meta.pop("encoder", None)
    learnt_initial = None
    if encoder is not None:
        tail = best[problem.n_weights:]
        result_net.meta["encoder"] = problem.learnt.encoder(
            tail, encoder[0], list(base.inputs), list(base.outputs), record).to_meta()
        best = best[:problem.n_weights]
        result_net.meta.pop("initial", None)
    else:
        best, learnt_initial = take_initial(problem, best, base, record, result_net.meta)
    result_net.params = best
    if record:
        result_net.meta["scaling"] = record
    else:
        result_net.meta.pop("scaling", None)
    fields = {"method": method, "stop_reason": rec.stop_reason, "best_epoch": int(best_epoch),
              "epochs": int(history["epoch"][-1]), "loss_name": loss,
              "effective_params": gamma, "divide": ranges,
              "windows": None if windows is None else list(_windows_arg(windows)),
              "start": start,
              "learn_initial": (None if problem.learnt is None or encoder is not None
                                else list(problem.learnt.names)),
              "encoder": None if encoder is None else {"past": encoder[0],
                                                       "hidden": encoder[1]}}
    result_net.meta["training"] = _summary(fields, history)
    if report is not None:
        report.finish(rec.stop_reason, int(best_epoch), float(history["loss"][best_epoch]))
    return TrainResult(net=result_net, params=best.copy(), history=history,
                       stop_reason=rec.stop_reason, best_epoch=int(best_epoch), method=method,
                       effective_params=gamma, divide=ranges, initial=learnt_initial)
