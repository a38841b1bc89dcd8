"""net.forecast: closed-loop multi-step prediction from the end of a measured record."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import dyngraph as dg

B, A = [0.2, 0.3, 0.1], [1.0, -0.5, 0.2]          # specs/iir.yaml

NARX = """
inputs: {u: 1, y_meas: {size: 1, feedback_of: y}}
layers:
  h: {size: 4, transfer: tanh, from: {u: "1:2", y_meas: "1:3"}}
  y: {size: 1, from: h}
outputs: [y]
"""


def lfilter_continuation(x_past, y_past, x_future):
    """The IIR filter's continuation from measured past samples (lfiltic's initial state)."""
    zi = scipy.signal.lfiltic(B, A, y_past[::-1], x_past[::-1])
    return scipy.signal.lfilter(B, A, x_future, zi=zi)[0]


@pytest.fixture
def record():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    y_meas = scipy.signal.lfilter(B, A, x) + 0.2 * rng.standard_normal(50)   # not the model's
    return x, y_meas


def test_iir_forecast_equals_lfilter_from_lfiltic_state(record):
    x, y = record
    net = dg.load("specs/iir.yaml")              # closed-loop form: y feeds itself
    f = net.forecast(x[:35], y[:35], x[35:])
    assert f.shape == (15,)
    np.testing.assert_allclose(f, lfilter_continuation(x[:35], y[:35], x[35:]),
                               rtol=1e-12, atol=1e-12)


def test_iir_forecast_from_the_open_loop_form_and_a_batch(record):
    x, y = record
    rng = np.random.default_rng(1)
    xs = np.stack([x, rng.standard_normal(50)])[..., None]           # (Q, T, 1)
    ys = np.stack([y, rng.standard_normal(50)])[..., None]
    open_net = dg.load("specs/iir.yaml").openloop()
    assert open_net.inputs == {"x": 1, "y_meas": 1}
    f = open_net.forecast({"x": xs[:, :30]}, {"y": ys[:, :30]}, {"x": xs[:, 30:]})
    assert set(f) == {"y"} and f["y"].shape == (2, 20, 1)
    for q in range(2):
        ref = lfilter_continuation(xs[q, :30, 0], ys[q, :30, 0], xs[q, 30:, 0])
        np.testing.assert_allclose(f["y"][q, :, 0], ref, rtol=1e-12, atol=1e-12)
    # the feedback input's name is accepted for the measured outputs too
    g = open_net.forecast({"x": xs[:, :30]}, {"y_meas": ys[:, :30]}, {"x": xs[:, 30:]})
    np.testing.assert_array_equal(g["y"], f["y"])


def test_short_past_pads_with_zero_initial_conditions(record):
    x, y = record
    net = dg.load("specs/iir.yaml")
    f = net.forecast(x[:1], y[:1], x[1:10])
    np.testing.assert_allclose(f, lfilter_continuation(x[:1], y[:1], x[1:10]), atol=1e-12)


@pytest.mark.parametrize("scaled", [False, True])
def test_narx_forecast_continues_its_own_closed_loop_run(scaled):
    open_net = dg.loads(NARX, seed=3)
    if scaled:
        open_net.meta["scaling"] = {"method": "minmax",
                                    "inputs": {"u": {"center": [1.0], "scale": [2.0]}},
                                    "outputs": {"y": {"center": [-3.0], "scale": [0.5]}}}
    closed = open_net.closeloop()
    u = np.random.default_rng(2).uniform(-1, 1, 60)
    y_full = closed.simulate(u)
    for net in (closed, open_net):
        f = net.forecast(u[:40], y_full[:40], u[40:])
        np.testing.assert_allclose(f, y_full[40:], rtol=1e-11, atol=1e-12)


def test_nar_forecast_by_steps_matches_a_hand_loop():
    nar_open = dg.loads("""
inputs: {y_meas: {size: 1, feedback_of: y}}
layers:
  h: {size: 3, transfer: tanh, from: {y_meas: "1:2"}}
  y: {size: 1, from: h}
outputs: [y]""", seed=4)
    W, b = nar_open.get("h.W[y_meas]"), nar_open.get("h.b")
    V, c = nar_open.get("y.W[h]"), nar_open.get("y.b")
    past = np.random.default_rng(5).standard_normal(12)
    hist = list(past)
    for _ in range(8):
        h = np.tanh(W @ np.array([hist[-1], hist[-2]]) + b)
        hist.append(float((V @ h + c)[0]))
    expected = np.array(hist[12:])
    for net in (nar_open, nar_open.closeloop()):
        f = net.forecast(None, past, steps=8)
        assert f.shape == (8,)
        np.testing.assert_allclose(f, expected, rtol=1e-12, atol=1e-12)


def test_model_without_feedback_continues_its_simulation():
    net = dg.load("specs/layer_recurrent.yaml", seed=1)
    u = np.random.default_rng(6).standard_normal(30)
    full = net.simulate(u)
    f = net.forecast(u[:18], None, u[18:])
    np.testing.assert_allclose(f, full[18:], rtol=1e-12, atol=1e-12)


def test_forecast_errors_are_clear(record):
    x, y = record
    net = dg.load("specs/iir.yaml")
    with pytest.raises(dg.DataError, match="future_inputs are needed"):
        net.forecast(x[:10], y[:10])
    with pytest.raises(dg.DataError, match="past_outputs are needed"):
        net.forecast(x[:10], None, x[10:])
    with pytest.raises(dg.DataError, match="differ in length"):
        net.forecast(x[:10], y[:12], x[10:])
    with pytest.raises(dg.DataError, match="steps=3 disagrees"):
        net.forecast(x[:10], y[:10], x[10:20], steps=3)
    nar = dg.loads("layers:\n  y: {size: 1, from: {y: 1}}\noutputs: [y]").openloop()
    with pytest.raises(dg.DataError, match="give steps"):
        nar.forecast(None, y[:10])
