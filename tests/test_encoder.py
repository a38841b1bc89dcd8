"""train(..., windows=, encoder=): each window's unmeasured initial state estimated from the
measured steps before it (SUBNET), trained jointly with the weights."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.training.encoder import Encoder
from dyngraph.training.train import _setup


def plant(T=300, seed=0):
    """A slow second-order plant seen through its first state only: a window started from
    x = 0 is wrong for many steps, so its initial state is worth estimating.
        x1(t) = 0.9 x1(t-1) + 0.2 x2(t-1),  x2(t) = -0.2 x1(t-1) + 0.9 x2(t-1) + u(t-1)
        y(t) = x1(t)"""
    rng = np.random.default_rng(seed)
    u = np.repeat(rng.standard_normal(T // 10), 10)
    x = np.zeros(2)
    y = np.zeros(T)
    for t in range(T):
        up = u[t - 1] if t else 0.0
        x = np.array([0.9 * x[0] + 0.2 * x[1], -0.2 * x[0] + 0.9 * x[1] + up])
        y[t] = x[0]
    return u, y


def test_the_joint_gradient_matches_finite_differences():
    u, y = plant(T=60)
    net = dg.state_space(states=2, hidden=[3])
    problem, _, _ = _setup(net, u, y, None, None, None, None, "standard", "mse",
                           windows=(10, 7), encoder=(4, 3), seed=1)
    enc = problem.learnt
    assert set(enc.shapes) == {"x"} and enc.shapes["x"] == (1, 2)
    W = enc.Z.shape[0]
    assert enc.Z.shape == (W, 4 * 2)                  # p = 4 steps of u and of y
    rng = np.random.default_rng(2)
    theta = problem.theta0 + 0.3 * rng.standard_normal(problem.theta0.size)
    value, g = problem.loss_grad(theta)
    eps = 1e-6
    fd = np.array([(problem.loss_grad(theta + eps * e)[0] - problem.loss_grad(theta - eps * e)[0])
                   / (2 * eps) for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
    assert np.all(g[net.n_params:] != 0)               # every encoder weight is reached
    assert value == pytest.approx(problem.train_loss(theta), rel=1e-12)


def test_the_encoder_inputs_are_the_steps_before_each_window():
    u, y = plant(T=60)
    net = dg.state_space(states=2, hidden=[3])
    problem, _, _ = _setup(net, u, y, None, None, None, None, None, "mse",
                           windows=(10, 7), encoder=(5, 3))
    Z = problem.learnt.Z
    # u is read at delay 1, so windows would start at 1; the encoder's p = 5 moves them to 5.
    starts = range(5, 60 - 10 + 1, 7)
    assert Z.shape[0] == len(starts)
    for w, s in enumerate(starts):
        np.testing.assert_array_equal(Z[w], np.concatenate([u[s - 5:s], y[s - 5:s]]))
    # ... and the windows' targets start there too.
    np.testing.assert_array_equal(problem.Yt["y"][0, :, 0], y[5:15])


def test_the_encoder_beats_zero_initial_states():
    u, y = plant(T=300)
    net = dg.state_space(states=2, hidden=[4])
    common = dict(method="lbfgs", epochs=150, windows=(30, 15), normalize="standard",
                  seed=0, max_fail=None)
    plain = dg.train(net, u, y, **common)
    encoded = dg.train(net, u, y, encoder={"past": 6, "hidden": 8}, **common)
    assert encoded.loss < 0.75 * plain.loss, (encoded.loss, plain.loss)
    assert encoded.encoder is not None and plain.encoder is None


def test_the_trained_encoder_starts_a_simulation_as_in_training():
    u, y = plant(T=120)
    net = dg.state_space(states=2, hidden=[3])
    r = dg.train(net, u, y, method="lbfgs", epochs=20, windows=(20, 10), encoder=6,
                 normalize="standard", seed=3)
    enc = r.encoder
    assert isinstance(enc, Encoder) and enc.past == 6 and enc.states == (("x", 1, 2),)
    # The window at s = 46: its state from the encoder, then a free run of 20 steps.
    s = 46
    init = enc.initial(r.net, u[:s], y[:s])
    assert set(init) == {"x"} and init["x"].shape == (1, 2)
    from_encoder = r.net.simulate(u[s:s + 20], initial={**init, "u": u[s - 1:s, None]})
    assert np.isfinite(from_encoder).all() and from_encoder.shape == (20,)
    # The training problem built on the trained net (its scaling, so z in the same units)
    # gives that window the same state from the same weights.
    problem, _, _ = _setup(r.net, u, y, None, None, None, None, None, "mse",
                           windows=(20, 10), encoder=(6, enc.W1.shape[0]))
    w = list(range(6, 120 - 20 + 1, 10)).index(s)
    tail = np.concatenate([a.ravel() for a in (enc.W1, enc.b1, enc.W2, enc.b2)])
    np.testing.assert_allclose(problem.learnt.learnt(tail)["x"][w], init["x"], rtol=1e-12)
    # A net saved and loaded keeps the encoder (JSON in meta, no pickle).
    again = Encoder.from_meta(r.net)
    np.testing.assert_array_equal(again.W2, enc.W2)
    np.testing.assert_allclose(again.initial(r.net, u[:s], y[:s])["x"], init["x"])


def test_a_saved_model_keeps_its_encoder(tmp_path):
    u, y = plant(T=80)
    r = dg.train(dg.state_space(states=2, hidden=[3]), u, y, method="adam", epochs=5,
                 windows=(20, 10), encoder=4, seed=0)
    path = tmp_path / "model"
    r.net.save(path)
    loaded = dg.load(path)
    a = Encoder.from_meta(loaded).initial(loaded, u[:30], y[:30])
    b = r.encoder.initial(r.net, u[:30], y[:30])
    np.testing.assert_array_equal(a["x"], b["x"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(encoder=4), "give windows= as well"),
    (dict(encoder=4, windows=20, method="lm"), "lbfgs"),
    (dict(encoder=4, windows=20, learn_initial=True), "windows="),
    (dict(encoder=0, windows=20), "integer >= 1"),
    (dict(encoder={"past": 3, "depth": 2}, windows=20), "past"),
])
def test_refusals(kwargs, match):
    u, y = plant(T=80)
    opts = dict(method="adam", epochs=1)
    opts.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dg.train(dg.state_space(states=2, hidden=[3]), u, y, **opts)


def test_a_narx_model_has_nothing_to_encode():
    u, y = plant(T=80)
    net = dg.narx(input_delays="1:2", feedback_delays="1:2", hidden=[3])
    with pytest.raises(ValueError, match="no state to encode"):
        dg.train(net, u, y, method="adam", epochs=1, windows=20, encoder=4)


def test_cli_train_with_an_encoder(tmp_path, capsys):
    from dyngraph.cli import main
    from dyngraph.language.writer import spec_to_yaml
    u, y = plant(T=80)
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="u,y", comments="")
    spec = tmp_path / "ss.yaml"
    spec.write_text(spec_to_yaml(dg.state_space(states=2, hidden=[3]).spec))
    model = tmp_path / "m"
    assert main(["train", str(spec), "--data", str(path), "--method", "adam", "--epochs", "3",
                 "--seed", "0", "--windows", "20,10", "--encoder", "5,4", "--quiet",
                 "-o", str(model)]) == 0
    saved = dg.load(str(model))
    assert saved.meta["training"]["encoder"] == {"past": 5, "hidden": 4}
    enc = Encoder.from_meta(saved)
    assert enc.past == 5 and enc.W1.shape == (4, 10)
    assert main(["train", str(spec), "--data", str(path), "--method", "adam", "--windows", "20",
                 "--encoder", "5,x", "-o", str(tmp_path / "n")]) == 2
    assert "--encoder" in capsys.readouterr().err
    assert main(["train", str(spec), "--data", str(path), "--encoder", "5",
                 "-o", str(tmp_path / "k")]) == 2
    assert "windows" in capsys.readouterr().err
