"""train(..., learn_initial=...): initial states learnt jointly with the weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.training.train import _setup

#: A first-order plant in parallel form: y(t) = a y(t-1) + b u(t-1).
PLANT = """\
inputs: {u: 1}
layers:
  y: {size: 1, from: {u: 1, y: 1}}
outputs: [y]
"""

#: An Elman net with a hidden state and output feedback: two nodes with a past.
ELMAN = """\
inputs: {u: 1}
layers:
  h: {size: 3, transfer: tanh, from: {u: 0, h: 1, y: "1:2"}}
  y: {size: 1, from: h}
outputs: [y]
"""


def plant_record(T=40, y_past=3.0, Q=None, seed=0):
    """u ~ N(0, 1) and the plant's response from y(-1) = y_past (u(-1) = 0)."""
    rng = np.random.default_rng(seed)
    shape = (T,) if Q is None else (Q, T)
    u = rng.standard_normal(shape)
    past = np.broadcast_to(np.asarray(y_past, dtype=float), shape[:-1]).copy()
    y = np.zeros(shape)
    u_prev = np.zeros(shape[:-1])
    for t in range(T):
        y[..., t] = 0.8 * past + 0.5 * u_prev
        past, u_prev = y[..., t], u[..., t]
    return u, y


def test_learning_the_initial_state_recovers_it_and_fits_better():
    u, y = plant_record()
    net = dg.loads(PLANT)
    plain = dg.train(net, u, y, method="lbfgs", epochs=200)
    learnt = dg.train(net, u, y, method="lbfgs", epochs=200, learn_initial=True)
    assert plain.initial is None and "initial" not in plain.net.meta
    assert learnt.loss < 1e-9 < 1e-3 < plain.loss
    np.testing.assert_allclose(learnt.initial["y"], [[3.0]], atol=1e-4)
    np.testing.assert_allclose(learnt.net.get("y.W[y]"), [[0.8]], atol=1e-5)
    np.testing.assert_allclose(learnt.net.get("y.W[u]"), [[0.5]], atol=1e-5)
    assert learnt.params.shape == (net.n_params,)
    # The learnt state reproduces the training loss from the returned net.
    sim = learnt.net.simulate(u, initial=learnt.initial)
    assert np.mean((sim - y) ** 2) == pytest.approx(learnt.loss, abs=1e-12)
    assert learnt.net.meta["training"]["learn_initial"] == ["y"]


@pytest.mark.parametrize("method, options", [("adam", {"lr": 0.05}), ("sgd", {"lr": 0.005}),
                                             ("bfgs", {})])
def test_every_gradient_method_learns_it(method, options):
    u, y = plant_record()
    net = dg.loads(PLANT)
    epochs = 100 if method == "bfgs" else 600
    plain = dg.train(net, u, y, method=method, epochs=epochs, **options)
    learnt = dg.train(net, u, y, method=method, epochs=epochs, learn_initial=["y"], **options)
    assert learnt.loss < 0.2 * plain.loss
    assert abs(learnt.initial["y"][0, 0] - 3.0) < 1.0     # from 0, towards the true 3


@pytest.mark.parametrize("normalize", [None, "standard"])
def test_the_joint_gradient_matches_finite_differences(normalize):
    u, y = plant_record(T=25, Q=2, y_past=[1.5, -2.0], seed=1)
    u = {"u": u[..., None]}
    net = dg.loads(ELMAN)
    problem, record, _ = _setup(net, u, y[..., None], None, None, None, None, normalize,
                                "mse", learn_initial=True)
    assert problem.learnt.names == ("h", "y")
    assert problem.learnt.shapes == {"h": (2, 1, 3), "y": (2, 2, 1)}
    rng = np.random.default_rng(2)
    theta = problem.theta0 + 0.3 * rng.standard_normal(problem.theta0.size)
    value, g = problem.loss_grad(theta)
    assert g.shape == theta.shape == (net.n_params + 2 * 3 + 2 * 2,)
    eps = 1e-6
    fd = np.array([(problem.loss_grad(theta + eps * e)[0] - problem.loss_grad(theta - eps * e)[0])
                   / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
    assert np.all(g[net.n_params:] != 0)          # every learnt state is reached
    assert value == pytest.approx(problem.train_loss(theta), rel=1e-12)


def test_user_units_and_the_saved_model(tmp_path):
    u, y = plant_record(y_past=3.0)
    u, y = 10.0 + 2.0 * u, 5.0 + 4.0 * y           # nonzero centres: scaling matters
    r = dg.train(dg.loads(PLANT), u, y, method="lbfgs", epochs=300, normalize="standard",
                 learn_initial=True)
    # The start is in original units: simulate from it reproduces the fit.
    sim = r.net.simulate(u, initial=r.initial)
    assert np.max(np.abs(sim - y)) < 1e-4
    r.net.save(tmp_path / "m")
    text = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert set(text["meta"]["initial"]) == {"y"}
    back = dg.load(tmp_path / "m")
    np.testing.assert_allclose(back.simulate(u, initial=back.meta["initial"]), sim, atol=1e-12)


def test_sequences_have_their_own_pasts_and_the_given_initial_is_the_start():
    u, y = plant_record(Q=3, y_past=[1.0, -2.0, 0.5])
    r = dg.train(dg.loads(PLANT), u[..., None], y[..., None], method="lbfgs", epochs=300,
                 learn_initial="y", initial={"y": [[0.3]]})
    assert r.initial["y"].shape == (3, 1, 1)
    np.testing.assert_allclose(r.initial["y"][:, 0, 0], [1.0, -2.0, 0.5], atol=1e-2)
    # epochs=0: the returned state is the given start.
    r0 = dg.train(dg.loads(PLANT), u[..., None], y[..., None], method="adam", epochs=0,
                  learn_initial="y", initial={"y": [[0.3]]})
    np.testing.assert_array_equal(r0.initial["y"], np.full((3, 1, 1), 0.3))


def test_a_retrained_net_drops_a_stale_learnt_state():
    u, y = plant_record()
    r = dg.train(dg.loads(PLANT), u, y, method="lbfgs", epochs=50, learn_initial=True)
    again = dg.train(r.net, u, y, method="lbfgs", epochs=5)
    assert "initial" not in again.net.meta


def test_restarts_return_the_learnt_state():
    u, y = plant_record()
    res = dg.train(dg.loads(PLANT), u, y, method="lbfgs", epochs=100, learn_initial=True,
                   restarts=2, cluster="sequential")
    for run in res.runs:
        np.testing.assert_allclose(run.initial["y"], [[3.0]], atol=1e-3)


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "lm"}, "'lm' works on the RTRL Jacobian"),
    ({"method": "br"}, "'br' works on the RTRL Jacobian"),
    ({"method": "adam", "windows": 10}, "give one or the other"),
    ({"method": "adam", "truncate": (5, 10)}, "truncate=None"),
    ({"method": "adam", "learn_initial": "u"}, "'u' is an input"),
    ({"method": "adam", "learn_initial": "nope"}, "no node 'nope'"),
    ({"method": "adam", "learn_initial": []}, "empty list"),
])
def test_refusals(kwargs, match):
    u, y = plant_record()
    kwargs = {"learn_initial": True, **kwargs}
    with pytest.raises(ValueError, match=match):
        dg.train(dg.loads(PLANT), u, y, epochs=2, **kwargs)


def test_a_node_without_a_past_is_refused():
    net = dg.load("specs/narx_series_parallel.yaml")
    with pytest.raises(ValueError, match="'h' is never read through a delay"):
        dg.train(net, {"u": np.zeros(10), "y_meas": np.zeros(10)}, np.zeros(10),
                 method="adam", epochs=1, learn_initial=["h"])
    with pytest.raises(ValueError, match="has no node with a past"):
        dg.train(net, {"u": np.zeros(10), "y_meas": np.zeros(10)}, np.zeros(10),
                 method="adam", epochs=1, learn_initial=True)
