"""Gradients of whole networks: BPTT against RTRL against central finite differences.

Every spec in specs/ is covered (a new spec file is picked up by the glob). The finite
differences are taken of a loss computed here from ``net.simulate`` (not from the engines'
loss code), so the loss values are checked too. Also covered: the sse / mse /
cross-entropy losses, NaN targets, error weights, the Jacobian and its error ordering,
initial conditions, truncated BPTT against a hand-written reference, and the closed-form
vanishing gradient of seed 000.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, fd_reference, spec_id

# Every test here runs on both engine backends (the numpy reference and the compiled one).
pytestmark = pytest.mark.usefixtures("engine_backend")

T, Q = 15, 2
EPS = 1e-6                   # central differences in float64
ENGINE_RTOL = 1e-9           # BPTT vs RTRL
FD_RTOL = 1e-6               # engines vs finite differences
STEP_TRANSFERS = {"hardlim", "hardlims"}

TWO_OUTPUTS = """
inputs: {u: 2}
layers:
  h:  {size: 3, transfer: tanh, from: {u: 0, h: 1}}
  y1: {size: 1, from: h}
  y2: {size: 2, transfer: sigmoid, from: {h: 0, y2: 1}}
outputs: [y1, y2]
"""


# --------------------------------------------------------------------------- helpers
def has_step_transfer(net) -> bool:
    return any(layer.transfer in STEP_TRANSFERS for layer in net.spec.layers)


def random_problem(net, seed=0, T=T, Q=Q, one_hot=False):
    """Random inputs and targets as dicts by name, (Q, T, n) each."""
    rng = np.random.default_rng(seed)
    U = {k: rng.standard_normal((Q, T, n)) for k, n in net.inputs.items()}
    if one_hot:
        Y = {k: np.eye(n)[rng.integers(0, n, (Q, T))] for k, n in net.outputs.items()}
    else:
        Y = {k: rng.standard_normal((Q, T, n)) for k, n in net.outputs.items()}
    return U, Y


def _full_weight(w, shape):
    """User error weights (scalar, (T,), (Q, T, n)) -> (Q, T, n)."""
    if w is None:
        return np.ones(shape)
    w = np.asarray(w, dtype=float)
    if w.ndim == 1:
        w = w[None, :, None]
    return np.broadcast_to(w, shape)


def reference_loss(net, U, Y, loss="mse", weights=None, initial=None):
    """The loss written from its definition in dyngraph.losses, on ``net.simulate``."""
    out = net.simulate(U, initial=initial)
    weights = weights or {}
    total, count = 0.0, 0
    for name, tgt in Y.items():
        y = out[name]
        w = _full_weight(weights.get(name), tgt.shape)
        mask = ~np.isnan(tgt)
        if loss == "cross_entropy":
            rows = mask.all(axis=-1)
            total -= np.sum((w * np.where(mask, tgt, 0.0) * np.log(y))[rows])
            count += int(rows.sum())
        else:
            total += np.sum((w * (tgt - y) ** 2)[mask])
            count += int(mask.sum())
    return total if loss == "sse" else total / count


def directional_fd(net, f, v):
    """(f(θ + εv) − f(θ − εv)) / 2ε; θ restored afterwards."""
    theta = net.params.copy()
    try:
        net.params = theta + EPS * v
        fp = f()
        net.params = theta - EPS * v
        fm = f()
    finally:
        net.params = theta
    return (fp - fm) / (2 * EPS)


def rel_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else np.linalg.norm(a - b) / scale


def assert_engines_agree(g_bptt, g_rtrl, what=""):
    assert g_bptt.shape == g_rtrl.shape
    assert rel_diff(g_bptt, g_rtrl) <= ENGINE_RTOL, (what, rel_diff(g_bptt, g_rtrl))


def assert_matches_fd(net, g, loss_fn, seed=0, rtol=FD_RTOL):
    v = np.random.default_rng(seed + 100).standard_normal(net.n_params)
    fd = directional_fd(net, loss_fn, v)
    gv = float(g @ v)
    assert abs(gv - fd) <= rtol * abs(gv) + 1e-12, (gv, fd)




def check_all(net, U, Y, loss="mse", weights=None, initial=None, seed=0, fd=True):
    """BPTT == RTRL, both == finite differences; the engines' loss == the reference."""
    lb, gb = net.gradient(U, Y, method="bptt", loss=loss, weights=weights, initial=initial)
    lr, gr = net.gradient(U, Y, method="rtrl", loss=loss, weights=weights, initial=initial)
    want = reference_loss(net, U, Y, loss, weights, initial)
    np.testing.assert_allclose([lb, lr], want, rtol=1e-12)
    assert gb.shape == (net.n_params,)
    assert_engines_agree(gb, gr, loss)
    if fd and net.n_params:
        ref, rU, rinit = fd_reference(net, U, initial)
        assert_matches_fd(ref, gb, lambda: reference_loss(ref, rU, Y, loss, weights, rinit),
                          seed)
    return gb


# --------------------------------------------------------------------------- every spec
@pytest.mark.parametrize("path", SPECS, ids=spec_id)
@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_spec_gradients(path, loss):
    net = dg.load(path, seed=1)
    U, Y = random_problem(net, seed=2)
    g = check_all(net, U, Y, loss, fd=not has_step_transfer(net))
    if net.n_params:
        assert np.linalg.norm(g) > 0


def test_step_transfers_give_zero_gradients():
    """parity.yaml with its weights made learnable: hardlim has a zero derivative almost
    everywhere, so both engines must give exactly zero (and not crash)."""
    text = open("specs/parity.yaml").read().replace("learn: false", "learn: true")
    net = dg.loads(text)
    assert net.n_params == 11
    U, Y = random_problem(net, seed=3)
    U = {"p": (U["p"] > 0).astype(float)}
    for method in ("bptt", "rtrl"):
        loss, g = net.gradient(U, Y, method=method)
        assert loss == pytest.approx(reference_loss(net, U, Y), rel=1e-12)
        np.testing.assert_array_equal(g, 0.0)


def test_cross_entropy_on_softmax_output():
    net = dg.load("specs/jordan.yaml", seed=3)
    assert net.spec.layers[-1].transfer == "softmax"
    U, Y = random_problem(net, seed=4, one_hot=True)
    check_all(net, U, Y, "cross_entropy")
    # a NaN row is left out of the loss and its count
    Y["y"][0, 3] = np.nan
    check_all(net, U, Y, "cross_entropy", seed=1)


# --------------------------------------------------------------------------- NaN / weights
@pytest.mark.parametrize("name", ["iir", "layer_recurrent", "jordan", "lstm"])
@pytest.mark.parametrize("method", ["bptt", "rtrl"])
def test_nan_targets_equal_zero_error_weights(name, method):
    net = dg.load(f"specs/{name}.yaml", seed=5)
    U, Y = random_problem(net, seed=6)
    rng = np.random.default_rng(7)
    Ynan, W = {}, {}
    for o, y in Y.items():
        hole = rng.random(y.shape) < 0.3
        Ynan[o] = np.where(hole, np.nan, y)
        W[o] = np.where(hole, 0.0, 1.0)
    # NaN -> masked; weight 0 -> zero error but still counted by mse
    ls, gs = net.gradient(U, Ynan, method=method, loss="sse")
    lw, gw = net.gradient(U, Y, method=method, loss="sse", weights=W)
    assert ls == pytest.approx(lw, rel=1e-13)
    np.testing.assert_allclose(gs, gw, rtol=1e-12, atol=1e-14 * np.abs(gw).max())
    n_all = sum(y.size for y in Y.values())
    n_kept = sum(int((~np.isnan(y)).sum()) for y in Ynan.values())
    lm, gm = net.gradient(U, Ynan, method=method, loss="mse")
    lmw, gmw = net.gradient(U, Y, method=method, loss="mse", weights=W)
    assert lm * n_kept == pytest.approx(lmw * n_all, rel=1e-12)
    np.testing.assert_allclose(gm * n_kept, gmw * n_all, rtol=1e-12,
                               atol=1e-14 * np.abs(gmw * n_all).max())
    # and the masked gradient differs from the unmasked one (the mask did something)
    assert rel_diff(gs, net.gradient(U, Y, method=method, loss="sse")[1]) > 1e-3


def _weight_cases():
    rng = np.random.default_rng(8)
    return {
        "per_output": {"y1": 0.3, "y2": 2.5},
        "per_step": {"y1": rng.uniform(0, 2, T), "y2": rng.uniform(0, 2, T)},
        "target_shaped": {"y2": rng.uniform(0, 2, (Q, T, 2))},
        "mixed": {"y1": 0.7, "y2": rng.uniform(0, 2, T)},
    }


@pytest.mark.parametrize("case", sorted(_weight_cases()))
@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_error_weights(case, loss):
    net = dg.loads(TWO_OUTPUTS, seed=9)
    U, Y = random_problem(net, seed=10)
    weights = _weight_cases()[case]
    g = check_all(net, U, Y, loss, weights=weights)
    assert rel_diff(g, net.gradient(U, Y, loss=loss)[1]) > 1e-3


# --------------------------------------------------------------------------- Jacobian
JACOBIAN_NETS = ["iir", "layer_recurrent", "jordan", "gamma_ftdnn", "narx_parallel", "gru"]


def _jacobian_case(name):
    if name == "two_outputs":
        net = dg.loads(TWO_OUTPUTS, seed=11)
        U, Y = random_problem(net, seed=12, T=6)
        Y["y2"][1, 2, 0] = np.nan
        Y["y1"][0, 4] = np.nan
        weights = {"y1": 0.5, "y2": np.linspace(0.5, 2.0, 6)}
        return net, U, Y, weights
    net = dg.load(f"specs/{name}.yaml", seed=11)
    U, Y = random_problem(net, seed=12, T=6)
    return net, U, Y, None


@pytest.mark.parametrize("name", JACOBIAN_NETS + ["two_outputs"])
def test_jacobian(name):
    net, U, Y, weights = _jacobian_case(name)
    e, J = net.jacobian(U, Y, method="rtrl", weights=weights)
    e2, J2 = net.jacobian(U, Y, method="bptt", weights=weights)
    n_err = sum(int((~np.isnan(y)).sum()) for y in Y.values())
    assert e.shape == (n_err,) and J.shape == (n_err, net.n_params)
    np.testing.assert_array_equal(e, e2)
    assert rel_diff(J, J2) <= ENGINE_RTOL
    # sse = Σ e², and J = de/dθ, so its gradient is 2 Jᵀe
    l, g = net.gradient(U, Y, loss="sse", weights=weights)
    assert l == pytest.approx(e @ e, rel=1e-12)
    assert rel_diff(g, 2 * J.T @ e) <= ENGINE_RTOL
    # J is de/dθ (not dy/dθ): check its sign and values by differences of e
    v = np.random.default_rng(13).standard_normal(net.n_params)
    fd = directional_fd(net, lambda: net.jacobian(U, Y, weights=weights)[0], v)
    assert rel_diff(J @ v, fd) <= FD_RTOL


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_rtrl_products_by_blas_equal_those_by_matmul(path, monkeypatch):
    """RTRL's recursion S += C S_x through dgemm in place (every product, on every spec and
    Q > 1) gives the same Jacobian as through numpy's matmul, and BPTT's."""
    from dyngraph.engines import rtrl
    net = dg.load(path, seed=3)
    if not net.plan.states or net.plan.backward:
        pytest.skip("no recursion stepped by the sweep")
    U, Y = random_problem(net, seed=4, T=7)
    e, J = net.jacobian(U, Y, method="rtrl", backend="numpy")
    monkeypatch.setattr(rtrl, "_BLAS_ROWS", 0)
    e_b, J_b = net.jacobian(U, Y, method="rtrl", backend="numpy")
    monkeypatch.setattr(rtrl, "_BLAS_ROWS", 1 << 60)
    e_m, J_m = net.jacobian(U, Y, method="rtrl", backend="numpy")
    np.testing.assert_array_equal(e_b, e_m)
    assert rel_diff(J_b, J_m) <= 1e-13 and rel_diff(J, J_m) <= 1e-13
    assert rel_diff(J_b, net.jacobian(U, Y, method="bptt", backend="numpy")[1]) <= ENGINE_RTOL


def test_rtrl_of_a_wide_net_steps_its_products_by_blas(monkeypatch):
    """pyrenn's 1762-weight net [2, 20, 20, 1]: products into 20 x 1762 rows go to dgemm
    by default, and the Jacobian equals BPTT's."""
    spec = """
inputs: {u: 2}
layers:
  a1: {size: 20, transfer: tanh, from: {u: 0, a1: 1, a2: 1, a3: [1, 2]}}
  a2: {size: 20, transfer: tanh, from: {a1: 0, a2: 1, a3: 1}}
  a3: {size: 1, from: {a2: 0, a3: 1}}
outputs: [a3]
"""
    net = dg.loads(spec, seed=5)
    assert net.n_params > 1700
    import scipy.linalg.blas as blas      # (rtrl takes dgemm from there at each product)
    calls = []
    real = blas.dgemm
    monkeypatch.setattr(blas, "dgemm", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(6)
    U, Y = rng.uniform(-1, 1, (12, 2)), rng.uniform(-1, 1, (12, 1))
    e, J = net.jacobian(U, Y, method="rtrl", backend="numpy")
    assert calls
    assert rel_diff(J, net.jacobian(U, Y, method="bptt", backend="numpy")[1]) <= ENGINE_RTOL


def test_error_vector_order():
    """e runs over outputs (spec order), then sequence q, then time t, then element."""
    net = dg.loads(TWO_OUTPUTS, seed=14)
    T_, Q_ = 4, 3
    U, Y = random_problem(net, seed=15, T=T_, Q=Q_)
    Y["y2"][2, 1, 1] = np.nan
    Y["y1"][0, 0, 0] = np.nan
    w = {"y1": 4.0, "y2": np.arange(1.0, T_ + 1)}
    out = net.simulate(U)
    want = []
    for o in ["y1", "y2"]:
        for q in range(Q_):
            for t in range(T_):
                for i in range(net.outputs[o]):
                    if not np.isnan(Y[o][q, t, i]):
                        scale = np.sqrt(_full_weight(w[o], Y[o].shape)[q, t, i])
                        want.append(scale * (Y[o][q, t, i] - out[o][q, t, i]))
    for method in ("rtrl", "bptt"):
        e, J = net.jacobian(U, Y, method=method, weights=w)
        np.testing.assert_allclose(e, want, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- initial values
def _lookback_nodes(net):
    return {n: node for n, node in net.plan.nodes.items() if node.lookback}


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_initial_conditions(path):
    net = dg.load(path, seed=16)
    if has_step_transfer(net):
        pytest.skip("step transfers have no useful gradient")
    nodes = _lookback_nodes(net)
    if not nodes:
        pytest.skip("no node is read with a delay")
    rng = np.random.default_rng(17)
    U, Y = random_problem(net, seed=18)
    initial = {n: 0.5 * rng.standard_normal((Q, node.lookback, node.size))
               for n, node in nodes.items()}
    # the initial values matter, or this test would prove nothing
    assert reference_loss(net, U, Y, initial=initial) != pytest.approx(
        reference_loss(net, U, Y), rel=1e-6)
    check_all(net, U, Y, initial=initial)
    loss, g, gi = net.gradient(U, Y, initial=initial, initial_grad=True)
    hidden = {n for n in nodes if n not in net.inputs}
    assert set(gi) == hidden
    ref, rU, rinit = fd_reference(net, U, initial)
    for n in hidden:
        assert gi[n].shape == initial[n].shape
        got = gi[n]
        if n not in rinit:
            # read only through stopped links: no derivative reaches its past
            np.testing.assert_array_equal(got, 0.0, err_msg=n)
            continue
        fd = np.zeros_like(got)
        for idx in np.ndindex(got.shape):
            for sign in (1, -1):
                init = {k: v.copy() for k, v in rinit.items()}
                init[n][idx] += sign * EPS
                fd[idx] += sign * reference_loss(ref, rU, Y, initial=init) / (2 * EPS)
        np.testing.assert_allclose(got, fd, rtol=FD_RTOL, atol=1e-9, err_msg=n)


# --------------------------------------------------------------------------- truncated BPTT


def _k1_cases(Tn, k1s):
    return list(k1s)


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_truncated_with_whole_window_is_full_bptt(path):
    """With k2 = T every chunk is backpropagated to t = 0, so by linearity the chunks add
    up to the full gradient, whatever k1."""
    net = dg.load(path, seed=19)
    if net.plan.backward:
        pytest.skip("truncated BPTT is refused for backward layers (test_bidirectional.py)")
    U, Y = random_problem(net, seed=20)
    _, g = net.gradient(U, Y)
    for k1 in _k1_cases(T, (T, 5, 3, 1, 4, 7)):
        _, gt = net.gradient(U, Y, truncate=(k1, T))
        assert rel_diff(g, gt) <= 1e-12, k1


def truncated_iir_reference(x, y, dA, b, a, k1, k2):
    """Truncated BPTT(k1, k2) of y[t] = Σ_j b_j x[t−j] + Σ_i a_i y[t−i], one sequence.

    The errors of each chunk [start, start + k1) are backpropagated through the window
    [end − k2, end) only: the adjoint stops at the window's start, and the weights collect
    δ(t)·x[t−j], δ(t)·y[t−i] over the window (values before t = 0 are zero).
    """
    Tn = len(x)
    gb, ga = np.zeros(len(b)), np.zeros(len(a))
    for start in range(0, Tn, k1):
        end = min(start + k1, Tn)
        lo = max(end - k2, 0)
        delta = np.zeros(Tn)
        for t in range(end - 1, lo - 1, -1):
            delta[t] = dA[t] if t >= start else 0.0
            for i in range(1, len(a) + 1):
                if t + i < end:
                    delta[t] += a[i - 1] * delta[t + i]
        for t in range(lo, end):
            for j in range(len(b)):
                if t - j >= 0:
                    gb[j] += delta[t] * x[t - j]
            for i in range(1, len(a) + 1):
                if t - i >= 0:
                    ga[i - 1] += delta[t] * y[t - i]
    return gb, ga


TRUNCATIONS = [(1, 1), (1, 3), (2, 5), (3, 4), (4, 4), (2, 2), (6, 9), (5, 7), (7, 7)]


@pytest.mark.parametrize("k1,k2", [c for c in TRUNCATIONS if c[0] in _k1_cases(12, [c[0]])])
def test_truncated_bptt_on_iir_matches_hand_reference(k1, k2):
    Tn = 12
    net = dg.load("specs/iir.yaml")
    assert net.param_names == ["y.W[x]", "y.W[y]"]
    rng = np.random.default_rng(21)
    x = rng.standard_normal((Q, Tn, 1))
    tgt = rng.standard_normal((Q, Tn, 1))
    _, g = net.gradient(x, tgt, loss="sse", truncate=(k1, k2))
    y = net.simulate(x)
    b, a = net.get("y.W[x]")[0], net.get("y.W[y]")[0]
    want = np.zeros(5)
    for q in range(Q):
        dA = -2.0 * (tgt[q, :, 0] - y[q, :, 0])
        gb, ga = truncated_iir_reference(x[q, :, 0], y[q, :, 0], dA, b, a, k1, k2)
        want += np.concatenate([gb, ga])
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-13)
    if k2 < Tn:
        # a real truncation: not the full gradient
        assert rel_diff(g, net.gradient(x, tgt, loss="sse")[1]) > 1e-6


# --------------------------------------------------------------------------- seed 000
VANISHING = """
inputs: {x: 1}
layers:
  y: {size: 1, bias: false, from: {x: 0, y: 1}}
outputs: [y]
"""


@pytest.mark.parametrize("a", [0.5, 0.9, -0.7, 1.1])
@pytest.mark.parametrize("m", [0, 1, 3, 8])
@pytest.mark.parametrize("method", ["bptt", "rtrl"])
def test_vanishing_gradient_closed_form(a, m, method):
    """y[n] = b x[n] + a y[n−1], x = x0 δ[n], E = ½ (y[m] − x0)²  (seed 000):
    y[m] = b x0 a^m, so dE/db = x0 (y[m] − x0) a^m and dE/da = m b x0 (y[m] − x0) a^(m−1)."""
    b, x0 = 0.8, 1.5
    net = dg.loads(VANISHING)
    net.set("y.W[x]", [[b]])
    net.set("y.W[y]", [[a]])
    Tn = m + 3
    x = np.zeros(Tn)
    x[0] = x0
    target = np.full(Tn, np.nan)
    target[m] = x0
    sse, g = net.gradient(x, target, method=method, loss="sse")
    E, g = sse / 2, g / 2
    ym = b * x0 * a ** m
    assert E == pytest.approx(0.5 * (ym - x0) ** 2, rel=1e-13)
    dEdb = x0 * (ym - x0) * a ** m
    dEda = m * b * x0 * (ym - x0) * a ** (m - 1) if m else 0.0
    got = dict(zip(net.param_names, g))
    assert got["y.W[x]"] == pytest.approx(dEdb, rel=1e-12, abs=1e-15)
    assert got["y.W[y]"] == pytest.approx(dEda, rel=1e-12, abs=1e-15)
