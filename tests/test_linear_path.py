"""NARX with a linear path (``dg.narx(..., linear=True)``), started at its least-squares
ARX (``dg.fit_linear_path``, ``train(..., start="arx")``)."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg


def plant(u):
    y = np.zeros_like(u)
    for t in range(2, len(u)):
        y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + 0.8 * u[t - 1] + 0.3 * np.tanh(u[t - 2]) ** 2
    return y


@pytest.fixture
def record():
    u = np.random.default_rng(5).uniform(-1.5, 1.5, 300)
    return u, plant(u)


def test_linear_path_net_equals_hand_written_spec():
    net = dg.narx(input_delays="1:2", feedback_delays="1:3", hidden=2, linear=True, seed=3)
    hand = dg.loads("""
inputs: {u: 1}
layers:
  h: {size: 2, transfer: tanh, from: {u: "1:2", y: "1:3"}}
  y: {size: 1, from: {h: 0, u: "1:2", y: "1:3"}}
outputs: [y]
""")
    assert net.block_names == hand.block_names
    for name in net.block_names:
        hand.set(name, net.get(name))
    u = np.random.default_rng(0).standard_normal(50)
    np.testing.assert_allclose(net.simulate(u), hand.simulate(u), rtol=0, atol=1e-14)
    assert not any("W[u]" in b and b.startswith("y.") for b in dg.narx(hidden=2).block_names)


@pytest.mark.parametrize("form", ["parallel", "series-parallel"])
def test_fit_linear_path_is_the_least_squares_arx(record, form):
    u, y = record
    net = dg.narx(input_delays="1:2", feedback_delays="1:2", hidden=4, linear=True,
                  form=form, seed=1)
    fitted = dg.fit_linear_path(net, u, y)
    arx = dg.fit_least_squares(dg.arx(input_delays="1:2", feedback_delays="1:2", form=form),
                               u, y)
    fb = "y" if form == "parallel" else "y_meas"
    for block in ("y.W[u]", f"y.W[{fb}]", "y.b"):
        np.testing.assert_allclose(fitted.get(block), arx.get(block), rtol=1e-9, atol=1e-12)
    assert not fitted.get("y.W[h]").any()
    np.testing.assert_array_equal(fitted.get("h.W[u]"), net.get("h.W[u]"))    # kept
    if form == "parallel":      # the started net simulates exactly like the ARX
        np.testing.assert_allclose(fitted.simulate(u), arx.simulate(u), rtol=1e-9, atol=1e-12)


def test_train_start_arx_begins_at_the_arx_loss_and_improves(record):
    u, y = record
    net = dg.narx(input_delays="1:2", feedback_delays="1:2", hidden=4, linear=True,
                  form="series-parallel", seed=2)
    r = dg.train(net, u, y, method="lm", epochs=15, start="arx")
    arx = dg.fit_least_squares(dg.arx(input_delays="1:2", feedback_delays="1:2",
                                      form="series-parallel"), u, y)
    pred = np.ravel(arx.simulate({"u": u, "y_meas": y})["y"])
    arx_mse = float(np.mean((pred - y)[2:] ** 2))   # train fits from a zero history: drop 2
    first = r.history["loss"][0]
    assert first <= float(np.mean((pred - y) ** 2)) * 1.5
    assert r.loss < 0.5 * arx_mse                     # the nonlinear part helps
    assert r.net.meta["training"]["start"] == "arx"


def test_start_arx_works_in_scaled_units(record):
    u, y = record
    net = dg.narx(input_delays="1:2", feedback_delays="1:2", hidden=3, linear=True, seed=0)
    r = dg.train(net, 10 * u + 3, 5 * y - 1, method="lm", epochs=0, start="arx",
                 normalize="minmax")
    arx = dg.fit_least_squares(dg.arx(), 10 * u + 3, 5 * y - 1)
    # Zero history means different things in scaled and original units: compare after
    # the start-up transient has died out.
    np.testing.assert_allclose(r.net.simulate(10 * u + 3)[60:], arx.simulate(10 * u + 3)[60:],
                               rtol=1e-7, atol=1e-7)


def test_linear_path_errors(record):
    u, y = record
    with pytest.raises(ValueError, match="no output layer .* reads an input"):
        dg.fit_linear_path(dg.narx(hidden=2), u, y)
    with pytest.raises(ValueError, match="start must be None or 'arx'"):
        dg.train(dg.narx(hidden=2, linear=True), u, y, epochs=1, start="ols")
    with pytest.raises(ValueError, match="linear"):
        dg.narx(linear="yes")
