"""The training loops: Levenberg–Marquardt, Bayesian regularisation, Adam, SGD, scipy.

Every loop works on a *problem* (see :class:`dyngraph.train._Problem`) that knows the data
and answers, for a parameter vector theta:

- ``loss_grad(theta, truncate)`` -> (training loss, its gradient) by BPTT,
- ``errors_jacobian(theta)`` -> (e, J) by RTRL, e = sqrt(w)(target - output),
- ``losses(theta)`` -> {'loss', 'val_loss', 'test_loss'} by forward simulation,
- ``loss_scale``: loss = loss_scale * e·e for the squared-error losses (1/N for mse).

and reports each epoch to a :class:`Recorder`, which keeps the history, the best weights and
decides when to stop. Row k of the history describes the weights after k updates (row 0 the
initial weights), so ``best_epoch`` indexes it directly.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Dict, Optional

import numpy as np

__all__ = ["Recorder", "run_lm", "run_br", "run_gradient", "run_scipy", "solve_damped",
           "effective_params", "Adam", "SGD", "clip_norm"]

_MU_MIN = 1e-20          # trainlm's floor, so μ can always climb back within a few trials


# --------------------------------------------------------------------------- bookkeeping
class Recorder:
    """History, best weights and stopping rules shared by every method.

    Parameters
    ----------
    epochs : maximum number of updates
    goal : stop when the training loss is <= goal
    min_grad : stop when the gradient norm is <= min_grad
    max_fail : stop after this many validation checks in a row without a new best
               validation loss (None: never)
    select : 'val' — best = lowest validation loss (early stopping);
             'loss' — best = lowest training loss; 'last' — the last finite weights
    time_limit : seconds, or None
    callback : called with each history row (a dict, plus 'params', a copy of the weights);
               returning True stops training with reason 'callback'
    """

    def __init__(self, epochs: int, goal: float, min_grad: float, max_fail: Optional[int],
                 select: str, time_limit: Optional[float] = None,
                 callback: Optional[Callable] = None):
        self.epochs, self.goal, self.min_grad = epochs, goal, min_grad
        self.max_fail, self.select = max_fail, select
        self.time_limit, self.callback = time_limit, callback
        self.history: Dict[str, list] = {}
        self.best_theta: Optional[np.ndarray] = None
        self.best_epoch = 0
        self._best_value = math.inf
        self.fails = 0
        self.stop_reason: Optional[str] = None
        self._start = time.perf_counter()
        self._lowest = math.inf          # the lowest training loss so far

    def record(self, epoch: int, theta: np.ndarray, losses: Dict[str, float],
               grad_norm: float, **extra) -> Optional[str]:
        """Add one row, update the best weights; return the stop reason or None."""
        grad_norm = _norm(grad_norm)
        row = {"epoch": epoch, "loss": float(losses["loss"]),
               "val_loss": float(losses.get("val_loss", math.nan)),
               "test_loss": float(losses.get("test_loss", math.nan)),
               "grad_norm": float(grad_norm), "time": time.perf_counter() - self._start}
        row.update({k: float(v) for k, v in extra.items()})
        for key, value in row.items():
            self.history.setdefault(key, []).append(value)
        self._update_best(epoch, theta, row)
        reason = self._reason(epoch, row)
        if self.callback is not None:                 # every row, the last one too
            if self.callback(dict(row, params=np.array(theta, copy=True))) and reason is None:
                reason = "callback"
        if reason is not None:
            self.stop_reason = reason
        return reason

    def stop(self, reason: str) -> None:
        self.stop_reason = reason

    def _update_best(self, epoch, theta, row):
        if not (math.isfinite(row["loss"]) and np.all(np.isfinite(theta))):
            return
        if self.select == "val":
            value = row["val_loss"]
            if not math.isfinite(value):
                self.fails += 1
                return
            if value < self._best_value:
                self.fails = 0
            elif value > self._best_value:
                self.fails += 1
                return
            else:
                return               # a tie is no progress, nor a failure (trainlm's rule)
        elif self.select == "loss":
            value = row["loss"]
            if not value < self._best_value:
                return
        else:
            value = row["loss"]
        self._best_value = value
        self.best_theta = np.array(theta, copy=True)
        self.best_epoch = epoch

    def _reason(self, epoch, row) -> Optional[str]:
        if not math.isfinite(row["loss"]):
            return "non-finite loss"
        low = min(self._lowest, row["loss"])
        self._lowest = low
        if row["loss"] > DIVERGED * low and row["loss"] > DIVERGED * self.history["loss"][0]:
            return (f"diverged (training loss {row['loss']:.3g}, over {DIVERGED:g} times its "
                    f"lowest {low:.3g}; try a smaller step size)")
        if not math.isfinite(row["grad_norm"]):
            return "non-finite gradient"
        if row["loss"] <= self.goal:
            return "goal"
        if self.max_fail is not None and self.select == "val" and self.fails >= self.max_fail:
            return f"validation stop ({self.fails} fails)"
        if row["grad_norm"] <= self.min_grad:
            return "min_grad"
        if epoch >= self.epochs:
            return "max epochs"
        if self.time_limit is not None and row["time"] >= self.time_limit:
            return "time limit"
        return None


#: A loss this many times the best so far (and the first) means the run diverged.
DIVERGED = 1e4


def _norm(x) -> float:
    """Euclidean norm of a vector (or a number passed through), inf on overflow."""
    if np.ndim(x) == 0:
        return float(x)
    with np.errstate(all="ignore"):
        return float(np.linalg.norm(x))


# --------------------------------------------------------------------------- linear algebra
def solve_damped(A: np.ndarray, rhs: np.ndarray, damping: float) -> np.ndarray:
    """Solve (A + damping·I) x = rhs for a symmetric positive semi-definite A.

    Cholesky first (the usual case: fast, and exact enough); a matrix that is not positive
    definite in floating point (μ tiny, J rank-deficient) falls back to least squares.
    """
    import scipy.linalg            # (~0.2 s: at the first solve, not at dyngraph's import)
    M = A + damping * np.eye(A.shape[0])
    try:
        factor = scipy.linalg.cho_factor(M, check_finite=False)
        x = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
        if np.all(np.isfinite(x)):
            return x
    except (np.linalg.LinAlgError, ValueError):
        pass
    return scipy.linalg.lstsq(M, rhs, check_finite=False)[0]


def effective_params(JtJ: np.ndarray, alpha: float, beta: float) -> float:
    """γ = N_w − 2α tr(H⁻¹) with H = 2βJᵀJ + 2αI, as Σ βλ/(βλ + α) over JᵀJ's eigenvalues
    λ (the same number, and always in [0, N_w])."""
    lam = np.clip(np.linalg.eigvalsh(JtJ), 0.0, None)
    return float(np.sum(beta * lam / (beta * lam + alpha)))


# --------------------------------------------------------------------------- LM and BR
def _damped_search(propose, objective, current, mu, mu_dec, mu_inc, mu_max):
    """The μ schedule LM and BR share: try ``propose(μ)``; accept it when ``objective``
    drops below ``current`` (then μ ← max(μ·mu_dec, floor)), else μ ← μ·mu_inc and retry.

    Returns (accepted weights, new μ), or (None, μ) once μ exceeds mu_max — so a search
    always ends.
    """
    while True:
        trial = propose(mu)
        if objective(trial) < current:
            return trial, max(mu * mu_dec, _MU_MIN)
        mu *= mu_inc
        if mu > mu_max:
            return None, mu


@np.errstate(all="ignore")       # non-finite values end training with a reason
def run_lm(problem, rec: Recorder, mu=1e-3, mu_dec=0.1, mu_inc=10.0, mu_max=1e10) -> None:
    """Levenberg–Marquardt with MATLAB ``trainlm``'s rules.

    Each epoch: e, J at theta; step δ = −(JᵀJ + μI)⁻¹ Jᵀe; if the loss drops, accept and
    μ ← μ·mu_dec, else μ ← μ·mu_inc and retry. The retry loop is bounded: once μ exceeds
    mu_max training stops ('mu_max'), so LM always terminates.
    """
    theta = problem.theta0.copy()
    epoch = 0
    while True:
        e, J = problem.errors_jacobian(theta)
        losses = problem.losses(theta)
        grad = 2.0 * problem.loss_scale * (J.T @ e)      # ∇(scale·e·e), J = de/dθ
        if rec.record(epoch, theta, losses, grad, mu=mu):
            return
        if not np.all(np.isfinite(J)):
            rec.stop("non-finite gradient")
            return
        JtJ, Jte = J.T @ J, J.T @ e
        theta, mu = _damped_search(lambda m: theta - solve_damped(JtJ, Jte, m),
                                   problem.train_loss, losses["loss"],
                                   mu, mu_dec, mu_inc, mu_max)
        if theta is None:
            rec.stop("mu_max")
            return
        epoch += 1


@np.errstate(all="ignore")       # non-finite values end training with a reason
def run_br(problem, rec: Recorder, mu=1e-3, mu_dec=0.1, mu_inc=10.0, mu_max=1e10) -> None:
    """Bayesian regularisation (MacKay 1992; Foresee & Hagan 1997; MATLAB ``trainbr``).

    Minimises F = β E_D + α E_W (E_D = Σe², E_W = Σθ²) by LM steps
    δ = −(βJᵀJ + (α + μ)I)⁻¹ (βJᵀe + αθ). Each epoch re-estimates, at the current weights,
    γ = N_w − 2α tr(H⁻¹) (H ≈ 2βJᵀJ + 2αI), α = γ / (2E_W), β = (N − γ) / (2E_D).
    Rows record γ ('gamma'), α, β and F; the last weights are returned (no early stopping).
    """
    theta = problem.theta0.copy()
    P = theta.size
    gamma = float(P)
    alpha = beta = None
    epoch = 0
    while True:
        e, J = problem.errors_jacobian(theta)
        losses = problem.losses(theta)
        N, E_D, E_W = e.size, float(e @ e), float(theta @ theta)
        finite = np.all(np.isfinite(J)) and math.isfinite(E_D)
        if alpha is None:        # trainbr's starting guesses, from γ = N_w
            alpha = gamma / (2 * E_W) if E_W > 0 else 1.0
            beta = (N - gamma) / (2 * E_D) if E_D > 0 and N > gamma else 1.0
        JtJ = J.T @ J if finite else None
        if finite:
            gamma = effective_params(JtJ, alpha, beta)
            alpha = gamma / (2 * E_W) if E_W > 0 else 1.0
            # Guards: γ can reach N on tiny data sets, and E_D can reach 0 on a perfect fit.
            beta = max(N - gamma, 1e-6) / (2 * max(E_D, 1e-200))
        grad = 2.0 * beta * (J.T @ e) + 2.0 * alpha * theta        # ∇F
        F = beta * E_D + alpha * E_W
        if rec.record(epoch, theta, losses, grad, mu=mu, gamma=gamma,
                      alpha=alpha, beta=beta, F=F):
            return
        if not finite:
            rec.stop("non-finite gradient")
            return
        rhs = -0.5 * grad
        a, b = alpha, beta
        theta, mu = _damped_search(
            lambda m: theta + solve_damped(b * JtJ, rhs, m + a),
            lambda trial: b * problem.train_loss(trial) / problem.loss_scale
            + a * float(trial @ trial), F, mu, mu_dec, mu_inc, mu_max)
        if theta is None:
            rec.stop("mu_max")
            return
        epoch += 1


# --------------------------------------------------------------------------- gradient methods
def clip_norm(g: np.ndarray, clip: Optional[float]) -> np.ndarray:
    """Scale g down to global norm ``clip`` when it is longer (Pascanu et al. 2013)."""
    if clip is None:
        return g
    norm = float(np.linalg.norm(g))
    return g * (clip / norm) if norm > clip else g


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, n: int, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr, (self.b1, self.b2), self.eps = lr, betas, eps
        self.m, self.v, self.t = np.zeros(n), np.zeros(n), 0

    def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1 ** self.t)
        v_hat = self.v / (1 - self.b2 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class SGD:
    """Gradient descent with (heavy-ball) momentum: v ← m·v − lr·g, θ ← θ + v."""

    def __init__(self, n: int, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.velocity = np.zeros(n)

    def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        self.velocity = self.momentum * self.velocity - self.lr * g
        return theta + self.velocity


@np.errstate(all="ignore")       # non-finite values end training with a reason
def run_gradient(problem, rec: Recorder, optimizer, clip=None, truncate=None) -> None:
    """One full-batch step per epoch on the BPTT gradient (all sequences at once)."""
    theta = problem.theta0.copy()
    epoch = 0
    while True:
        loss, g = problem.loss_grad(theta, truncate)
        losses = problem.losses(theta, train=loss)
        if rec.record(epoch, theta, losses, g, step=optimizer.lr):
            return
        theta = optimizer.step(theta, clip_norm(g, clip))
        epoch += 1


# --------------------------------------------------------------------------- scipy adapter
class _Stop(Exception):
    """Raised from the scipy callback to end the run on our own stopping rules."""


@np.errstate(all="ignore")       # non-finite values end training with a reason
def run_scipy(problem, rec: Recorder, method: str) -> None:
    """scipy.optimize.minimize ('L-BFGS-B' or 'BFGS') on the BPTT loss and gradient, one
    history row per iteration (its callback), the same stopping rules.

    A non-finite loss at a trial point is reported to scipy as +inf, which its line searches
    treat as "too far"; training stops only when an *iterate* is non-finite.
    """
    cache = {}

    def evaluate(x):
        key = x.tobytes()
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = problem.loss_grad(x, None)
        return cache[key]

    def fun(x):
        loss, g = evaluate(x)
        if not (math.isfinite(loss) and np.all(np.isfinite(g))):
            return math.inf, np.zeros_like(g)
        return loss, g

    state = {"epoch": 0, "last": problem.theta0.copy()}

    def report(x):
        loss, g = evaluate(x)
        step = float(np.linalg.norm(x - state["last"]))
        state["last"] = np.array(x, copy=True)
        losses = problem.losses(x, train=loss)
        return rec.record(state["epoch"], x, losses, g, step=step)

    if report(problem.theta0):
        return

    def callback(xk):
        state["epoch"] += 1
        if report(xk):
            raise _Stop

    import scipy.optimize          # (at the first run, not at dyngraph's import)
    options = {"maxiter": rec.epochs + 1, "gtol": rec.min_grad}
    try:
        res = scipy.optimize.minimize(fun, problem.theta0.copy(), jac=True, method=method,
                                      callback=callback, options=options)
    except _Stop:
        return
    rec.stop(f"{method}: {res.message}")
