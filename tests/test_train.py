"""dg.train: every method on known plants, stopping rules, validation, data options.

Plants are small and records short so the whole file runs in seconds: an FIR filter
(identification must recover its taps), the Narendra plant y(t+1) = y/(1+y²) + u³ for NARX.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

import dyngraph as dg
from dyngraph.training.divide import block_ranges, mask_targets

TAPS = np.array([0.5, -0.3, 0.2, 0.1, 0.05])

NARX_OPEN = """
inputs: {u: 1, y_meas: {size: 1, feedback_of: y}}
layers:
  h: {size: 4, transfer: tanh, from: {u: "0:1", y_meas: 1}}
  y: {size: 1, from: h}
outputs: [y]
"""


def narendra(u):
    """y(t+1) = y(t) / (1 + y(t)²) + u(t)³, y(0) = 0; returns y(1..T) (so y(t) depends on
    u(t-1), y(t-1): the NARX model above with delays 0:1 on u reads u(t) and u(t-1))."""
    y = np.zeros(len(u) + 1)
    for t in range(len(u)):
        y[t + 1] = y[t] / (1 + y[t] ** 2) + u[t] ** 3
    return y[1:]


@pytest.fixture(scope="module")
def fir_data():
    x = np.random.default_rng(0).standard_normal(120)
    return x, scipy.signal.lfilter(TAPS, [1.0], x)


@pytest.fixture(scope="module")
def plant():
    u = np.random.default_rng(1).uniform(-1, 1, 160)
    return u, narendra(u)


def fir():
    return dg.load("specs/fir.yaml")


# --------------------------------------------------------------------------- methods
def test_lm_recovers_fir_taps(fir_data):
    x, y = fir_data
    r = dg.train(fir(), x, y, method="lm", epochs=50)
    np.testing.assert_allclose(r.net.get("y.W[x]")[0], TAPS, atol=1e-6)
    assert r.stop_reason in ("min_grad", "goal")
    assert r.history["loss"][-1] < 1e-12


@pytest.mark.parametrize("method, options, epochs", [
    ("lm", {}, 20), ("br", {}, 20), ("adam", {"lr": 0.05}, 150),
    ("sgd", {"lr": 0.1, "momentum": 0.5}, 150), ("lbfgs", {}, 50), ("bfgs", {}, 50)])
def test_every_method_fits_fir(fir_data, method, options, epochs):
    x, y = fir_data
    r = dg.train(fir(), x, y, method=method, epochs=epochs, **options)
    first = r.history["loss"][0]
    assert r.loss < first / 100, (method, first, r.loss, r.stop_reason)
    np.testing.assert_allclose(r.net.get("y.W[x]")[0], TAPS, atol=2e-2)
    # history is complete and consistent
    h = r.history
    n = len(h["epoch"])
    assert np.array_equal(h["epoch"], np.arange(n))
    for key in ("loss", "val_loss", "test_loss", "grad_norm", "time"):
        assert len(h[key]) == n
    assert np.all(np.diff(h["time"]) >= 0)
    assert np.array_equal(r.params, r.net.params)
    assert r.loss == pytest.approx(h["loss"][r.best_epoch])
    assert ("mu" in h) == (method in ("lm", "br"))


def test_lm_loss_is_monotone_and_history_matches_loss(fir_data):
    x, y = fir_data
    noisy = y + 0.05 * np.random.default_rng(5).standard_normal(len(y))
    r = dg.train(fir(), x, noisy, method="lm", epochs=5)
    assert np.all(np.diff(r.history["loss"]) < 0)
    loss, _ = r.net.gradient(x, noisy)
    assert r.loss == pytest.approx(loss, rel=1e-12)


def test_narx_on_narendra_plant_lm_and_adam(plant):
    u, y = plant
    net = dg.loads(NARX_OPEN, seed=0)
    data = {"u": u, "y_meas": y}
    r_lm = dg.train(net, data, y, method="lm", epochs=40)
    assert r_lm.loss < r_lm.history["loss"][0] / 1000
    r_adam = dg.train(net, data, y, method="adam", epochs=150, lr=0.02)
    assert r_adam.loss < r_adam.history["loss"][0] / 3
    # open-loop training, then closeloop(): a good one-step model simulates well too
    closed = r_lm.net.closeloop()
    sim = closed.simulate(u)
    assert np.mean((sim - y) ** 2) < 2e-2 * np.var(y)


def test_closed_loop_training_directly(plant):
    u, y = plant
    u, y = u[:80], y[:80]
    closed = dg.loads(NARX_OPEN, seed=0).closeloop()
    assert "y_meas" not in closed.inputs
    before = np.mean((closed.simulate(u) - y) ** 2)
    r = dg.train(closed, u, y, method="lm", epochs=8)
    after = np.mean((r.net.simulate(u) - y) ** 2)
    assert after < before / 10
    assert r.loss == pytest.approx(after, rel=1e-9)


def test_caller_net_is_not_modified(fir_data):
    x, y = fir_data
    net = fir()
    before, meta = net.params, dict(net.meta)
    dg.train(net, x, y, method="lm", epochs=3, normalize="standard")
    assert np.array_equal(net.params, before)
    assert net.meta == meta


# --------------------------------------------------------------------------- stopping
def test_lm_stops_on_zero_gradient_plateau():
    net = dg.loads("inputs: {u: 1}\nlayers: {y: {size: 1, transfer: hardlim, from: u}}\n"
                   "outputs: [y]")
    u = np.linspace(-1, 1, 30)
    r = dg.train(net, u, 0.5 + u, method="lm", epochs=1000)
    assert r.stop_reason == "min_grad"
    assert len(r.history["loss"]) == 1 and r.history["grad_norm"][0] == 0.0
    assert np.array_equal(r.params, net.params)


def test_tiny_max_epochs(plant, fir_data):
    u, y = plant
    net = dg.loads(NARX_OPEN, seed=0)
    r = dg.train(net, {"u": u, "y_meas": y}, y, method="lm", epochs=2)
    assert r.stop_reason == "max epochs"
    assert list(r.history["epoch"]) == [0, 1, 2]
    x, y = fir_data
    r0 = dg.train(fir(), x, y, method="adam", epochs=0)
    assert r0.stop_reason == "max epochs" and np.array_equal(r0.params, fir().params)


def test_lm_terminates_by_mu_max_at_an_exact_minimum(fir_data):
    x, y = fir_data
    net = fir()
    net.set("y.W[x]", TAPS[None])
    # No step can lower an (almost) zero loss, and no other rule may stop it: μ must
    # climb to mu_max and end the run.
    r = dg.train(net, x, y + 1e-3 * np.sin(np.arange(len(y))), method="lm", epochs=10 ** 6,
                 min_grad=0.0, goal=-1.0)
    assert r.stop_reason == "mu_max"
    assert r.history["mu"][-1] <= 1e10 and len(r.history["loss"]) < 100


def test_goal_stops(fir_data):
    x, y = fir_data
    r = dg.train(fir(), x, y, method="lm", epochs=100, goal=1e-3)
    assert r.stop_reason == "goal" and r.loss <= 1e-3
    assert np.all(r.history["loss"][:-1] > 1e-3)


def test_early_stopping_restores_best_weights(fir_data):
    x, y = fir_data
    start = fir().get("y.W[x]")[0]
    # Validation targets come from taps halfway between the start and the truth: training
    # moves through them, so the validation loss falls, then rises.
    xv = np.random.default_rng(7).standard_normal(80)
    yv = scipy.signal.lfilter((start + TAPS) / 2, [1.0], xv)
    seen = {}
    r = dg.train(fir(), x, y, method="sgd", epochs=400, lr=0.02, momentum=0.0,
                 val=(xv, yv), max_fail=4,
                 callback=lambda row: seen.__setitem__(row["epoch"], row["params"]))
    h = r.history
    assert r.stop_reason == "validation stop (4 fails)"
    assert 0 < r.best_epoch < h["epoch"][-1]
    assert h["epoch"][-1] == r.best_epoch + 4
    assert np.argmin(h["val_loss"]) == r.best_epoch
    assert np.array_equal(r.params, seen[r.best_epoch])
    assert np.array_equal(r.net.params, seen[r.best_epoch])
    assert not np.array_equal(r.params, seen[h["epoch"][-1]])


def test_divergence_stops_cleanly_with_finite_best_weights(plant):
    u, y = plant
    net = dg.loads(NARX_OPEN, seed=0)
    r = dg.train(net, {"u": u, "y_meas": y}, y, method="sgd", lr=50.0, epochs=500)
    assert r.stop_reason.startswith("diverged")   # caught before the loss overflows
    assert r.history["loss"][-1] > 1e4 * r.history["loss"].min()
    assert np.all(np.isfinite(r.params))
    assert np.isfinite(r.history["loss"][r.best_epoch])
    assert r.loss == pytest.approx(r.net.gradient({"u": u, "y_meas": y}, y)[0])


@pytest.mark.parametrize("method", ["lbfgs", "bfgs"])
def test_scipy_methods_report_history_and_stop(fir_data, method):
    x, y = fir_data
    r = dg.train(fir(), x, y, method=method, epochs=3)
    assert r.stop_reason == "max epochs"
    assert len(r.history["loss"]) == 4
    r = dg.train(fir(), x, y, method=method, epochs=200)
    assert r.stop_reason != "max epochs" and r.loss < 1e-8


def test_callback_can_stop(fir_data):
    x, y = fir_data
    r = dg.train(fir(), x, y, method="adam", epochs=100, callback=lambda row: row["epoch"] == 3)
    assert r.stop_reason == "callback" and r.history["epoch"][-1] == 3


# --------------------------------------------------------------------------- BR
def test_br_reports_effective_parameters(fir_data):
    x, y = fir_data
    noisy = y + 0.1 * np.random.default_rng(2).standard_normal(len(y))
    r = dg.train(fir(), x, noisy, method="br", epochs=30)
    assert 0 < r.effective_params <= 5
    assert r.effective_params > 4        # every tap is well determined by 120 samples
    assert np.all((r.history["gamma"] > 0) & (r.history["gamma"] <= 5))
    np.testing.assert_allclose(r.net.get("y.W[x]")[0], TAPS, atol=0.05)


def test_br_shrinks_an_oversized_net():
    net = dg.load("specs/ftdnn.yaml", seed=0)           # 61 parameters
    u = np.random.default_rng(3).uniform(-1, 1, 40)
    y = 0.5 * u + 0.05 * np.random.default_rng(4).standard_normal(40)
    r = dg.train(net, u, y, method="br", epochs=40)
    assert 0 < r.effective_params < net.n_params / 2
    assert r.effective_params == r.history["gamma"][r.best_epoch]


# --------------------------------------------------------------------------- data options
def test_several_sequences_nan_targets_and_weights(fir_data):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 50, 1))
    y = np.stack([scipy.signal.lfilter(TAPS, [1.0], s[:, 0]) for s in x])[..., None]
    y_nan = y.copy()
    y_nan[0, 10:30] = np.nan
    y_nan[2, ::3] = np.nan
    r = dg.train(fir(), x, y_nan, method="lm", epochs=30)
    np.testing.assert_allclose(r.net.get("y.W[x]")[0], TAPS, atol=1e-6)
    # A zero error weight is the same as no target there (sse: the same sum).
    w = np.ones_like(y)
    w[0, 10:30] = 0.0
    w[2, ::3] = 0.0
    y_bad = np.where(np.isnan(y_nan), 1e3, y)
    net = fir()
    l1, g1 = net.gradient(x, y_bad, loss="sse", weights=w)
    l2, g2 = net.gradient(x, y_nan, loss="sse")
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10)
    r_w = dg.train(fir(), x, y_bad, method="lm", epochs=30, weights=w, loss="sse")
    np.testing.assert_allclose(r_w.net.get("y.W[x]")[0], TAPS, atol=1e-6)


def test_weights_of_one_sequence_as_target_shaped_array(fir_data):
    x, y = fir_data
    w = np.linspace(0.1, 2.0, len(y))
    net = fir()
    l_flat, g_flat = net.gradient(x, y, weights=w)
    l_col, g_col = net.gradient(x[:, None], y[:, None], weights=w[:, None])
    assert l_flat == pytest.approx(l_col)
    np.testing.assert_allclose(g_flat, g_col)
    e, J = net.jacobian(x, y, weights=w)
    assert float(e @ e) / len(e) == pytest.approx(l_flat)


def test_divide_blocks_and_masking():
    assert block_ranges(100, (0.7, 0.15, 0.15)) == {
        "train": (0, 70), "val": (70, 85), "test": (85, 100)}
    assert block_ranges(10, (1, 1)) == {"train": (0, 5), "val": (5, 10), "test": (10, 10)}
    with pytest.raises(ValueError, match="fractions"):
        block_ranges(10, (0.5, -0.1, 0.6))
    y = {"y": np.arange(12.0).reshape(6, 2, 1)}
    m = mask_targets(y, 2, 4)["y"]
    assert np.all(np.isnan(m[:2])) and np.all(np.isnan(m[4:]))
    assert np.array_equal(m[2:4], y["y"][2:4])


def test_divide_by_time_blocks_reports_val_and_test(plant):
    u, y = plant
    net = dg.loads(NARX_OPEN, seed=0)
    r = dg.train(net, {"u": u, "y_meas": y}, y, method="lm", epochs=6, divide=(0.6, 0.2, 0.2))
    assert r.divide == {"train": (0, 96), "val": (96, 128), "test": (128, 160)}
    h = r.history
    assert np.all(np.isfinite(h["val_loss"])) and np.all(np.isfinite(h["test_loss"]))
    # the validation loss is the error on the validation block of the whole-record run
    sim = r.net.simulate({"u": u, "y_meas": y})["y"][:, 0]
    assert r.val_loss == pytest.approx(np.mean((sim[96:128] - y[96:128]) ** 2), rel=1e-9)
    assert r.loss == pytest.approx(np.mean((sim[:96] - y[:96]) ** 2), rel=1e-9)
    json.dumps(r.net.meta)


def test_seed_reinitialises_reproducibly(fir_data):
    net = dg.load("specs/ftdnn.yaml", seed=0)
    x, y = fir_data
    a = dg.train(net, x, y, method="lm", epochs=2, seed=5)
    b = dg.train(net, x, y, method="lm", epochs=2, seed=5)
    c = dg.train(net, x, y, method="lm", epochs=2, seed=6)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    start = dg.load("specs/ftdnn.yaml", seed=5).params
    assert a.history["loss"][0] == pytest.approx(dg.Net(net.spec, seed=5).gradient(x, y)[0])
    assert not np.array_equal(start, net.params)
    nw = dg.train(net, x, y, method="lm", epochs=1, seed=5, init="nguyen-widrow")
    assert nw.history["loss"][0] != a.history["loss"][0]


def test_truncate_and_clip_reach_the_gradient():
    net = dg.load("specs/layer_recurrent.yaml", seed=0)
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal(40), rng.standard_normal(40)
    full = dg.train(net, u, y, method="sgd", epochs=1, lr=0.1, momentum=0.0)
    trunc = dg.train(net, u, y, method="sgd", epochs=1, lr=0.1, momentum=0.0,
                     truncate=(5, 5))
    g_full = net.gradient(u, y)[1]
    g_trunc = net.gradient(u, y, truncate=(5, 5))[1]
    np.testing.assert_allclose(full.params, net.params - 0.1 * g_full, atol=1e-14)
    np.testing.assert_allclose(trunc.params, net.params - 0.1 * g_trunc, atol=1e-14)
    clip = 0.25 * np.linalg.norm(g_full)
    clipped = dg.train(net, u, y, method="sgd", epochs=1, lr=0.1, momentum=0.0, clip=clip)
    assert np.linalg.norm(clipped.params - net.params) == pytest.approx(0.1 * clip)


def test_nar_net_without_inputs_trains_in_closed_loop():
    nar = dg.loads("layers:\n  h: {size: 3, transfer: tanh, from: {y: '1:2'}, "
                   "bias: {init: 0.5}}\n  y: {size: 1, from: h}\noutputs: [y]", seed=1)
    target = 0.5 * np.cos(0.3 * np.arange(60))
    r = dg.train(nar, None, target, method="lm", epochs=15)
    assert r.loss < r.history["loss"][0]
    assert r.net.inputs == {} and r.net.block_names == nar.block_names


def test_normalized_training_works_in_original_units(plant):
    u, y = plant
    u_big, y_big = 40.0 + 5.0 * u, 300.0 + 100.0 * y
    net = dg.loads(NARX_OPEN, seed=0)
    r = dg.train(net, {"u": u_big, "y_meas": y_big}, y_big, method="lm", epochs=30,
                 normalize="minmax")
    rec = r.net.meta["scaling"]
    assert rec["method"] == "minmax" and set(rec["inputs"]) == {"u"}
    sim = r.net.simulate({"u": u_big, "y_meas": y_big})["y"][:, 0]
    assert np.mean((sim - y_big) ** 2) < 1e-3 * np.var(y_big)
    # the reported loss is in scaled units: (error / scale)²
    scale = rec["outputs"]["y"]["scale"][0]
    assert r.loss == pytest.approx(np.mean((sim - y_big) ** 2) / scale ** 2, rel=1e-8)
    # the closed loop of the scaled model simulates in original units too
    closed = r.net.closeloop()
    assert np.mean((closed.simulate(u_big) - y_big) ** 2) < 1e-2 * np.var(y_big)


def test_bad_arguments_are_refused_clearly(fir_data):
    x, y = fir_data
    with pytest.raises(ValueError, match="unknown method 'newton'"):
        dg.train(fir(), x, y, method="newton")
    with pytest.raises(TypeError, match="no option 'lr'.*mu"):
        dg.train(fir(), x, y, method="lm", lr=0.1)
    with pytest.raises(ValueError, match="squared errors"):
        dg.train(fir(), x, y, method="lm", loss="cross_entropy")
    with pytest.raises(ValueError, match="either val"):
        dg.train(fir(), x, y, val=(x, y), divide=(0.8, 0.2))
    with pytest.raises(dg.DataError, match="T=120"):
        dg.train(fir(), x, y[:50])
    with pytest.raises(dg.DataError, match="all NaN"):
        dg.train(fir(), x, np.full_like(y, np.nan))
    with pytest.raises(ValueError, match="init"):
        dg.train(fir(), x, y, init="glorot")
