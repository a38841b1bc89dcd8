"""Input/output normalisation: fitting, round trips, and the Net boundary."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

import dyngraph as dg
from dyngraph.training.scaling import check_scaling, fit_scaling, scale_inputs, scale_outputs, \
    unscale_outputs

NARX = """
inputs: {u: 1, y_meas: {size: 1, feedback_of: y}}
layers:
  h: {size: 3, transfer: tanh, from: {u: "1:2", y_meas: "1:2"}}
  y: {size: 1, from: h}
outputs: [y]
"""


def internal(a):
    """(Q, T, n) -> (T, Q, n)"""
    return np.asarray(a, dtype=float).transpose(1, 0, 2)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    u = 10.0 + 3.0 * rng.standard_normal((2, 40, 1))
    y = -5.0 + 0.1 * rng.standard_normal((2, 40, 1))
    y[0, :7] = np.nan
    return u, y


def test_minmax_maps_training_data_onto_minus_one_one(data):
    u, y = data
    net = dg.loads(NARX)
    rec = fit_scaling(net, {"u": internal(u), "y_meas": internal(y)}, {"y": internal(y)},
                      "minmax")
    su = scale_inputs(net, rec, {"u": internal(u), "y_meas": internal(y)})
    sy = scale_outputs(net, rec, {"y": internal(y)})["y"]
    assert su["u"].min() == pytest.approx(-1) and su["u"].max() == pytest.approx(1)
    assert np.nanmin(sy) == pytest.approx(-1) and np.nanmax(sy) == pytest.approx(1)
    assert np.array_equal(np.isnan(sy), np.isnan(internal(y)))
    # the feedback input has no entry of its own: it is scaled exactly like its output
    assert set(rec["inputs"]) == {"u"}
    np.testing.assert_array_equal(su["y_meas"], sy)


def test_standard_gives_zero_mean_unit_variance_and_round_trips(data):
    u, y = data
    net = dg.loads(NARX)
    rec = fit_scaling(net, {"u": internal(u), "y_meas": internal(y)}, {"y": internal(y)},
                      "standard")
    sy = scale_outputs(net, rec, {"y": internal(y)})
    assert np.nanmean(sy["y"]) == pytest.approx(0, abs=1e-12)
    assert np.nanstd(sy["y"]) == pytest.approx(1)
    back = unscale_outputs(net, rec, sy)["y"]
    np.testing.assert_allclose(back, internal(y), rtol=1e-14)
    # JSON round trip gives the same record and the same numbers
    again = json.loads(json.dumps(rec))
    assert again == rec and check_scaling(again, net) is again


def test_constant_and_all_nan_elements_are_only_shifted():
    net = dg.loads("inputs: {u: 2}\nlayers: {y: {size: 2, from: u}}\noutputs: [y]")
    u = np.ones((5, 1, 2)) * np.array([3.0, -1.0])
    y = np.full((5, 1, 2), np.nan)
    rec = fit_scaling(net, {"u": u}, {"y": y}, "minmax")
    assert rec["inputs"]["u"] == {"center": [3.0, -1.0], "scale": [1.0, 1.0]}
    assert rec["outputs"]["y"] == {"center": [0.0, 0.0], "scale": [1.0, 1.0]}


def test_bad_records_are_refused():
    net = dg.loads(NARX)
    good = {"method": "minmax", "inputs": {"u": {"center": [0.0], "scale": [1.0]}},
            "outputs": {"y": {"center": [0.0], "scale": [2.0]}}}
    check_scaling(good, net)
    with pytest.raises(ValueError, match="method"):
        check_scaling(dict(good, method="zscore"))
    with pytest.raises(ValueError, match="non-zero"):
        check_scaling(dict(good, outputs={"y": {"center": [0.0], "scale": [0.0]}}))
    with pytest.raises(ValueError, match="no entry for input 'u'"):
        check_scaling(dict(good, inputs={}), net)
    with pytest.raises(ValueError, match="2 elements"):
        check_scaling(dict(good, outputs={"y": {"center": [0.0, 1.0], "scale": [1.0, 1.0]}}),
                      net)
    with pytest.raises(ValueError, match="normalize"):
        fit_scaling(net, {}, {}, "robust")


def scaled_iir():
    net = dg.load("specs/iir.yaml")
    net.meta["scaling"] = {"method": "standard",
                           "inputs": {"x": {"center": [2.0], "scale": [4.0]}},
                           "outputs": {"y": {"center": [-1.0], "scale": [0.5]}}}
    return net


def test_simulate_takes_and_returns_original_units():
    net = scaled_iir()
    x = np.random.default_rng(1).standard_normal(30)
    # reference: the filter runs on the scaled input; its output is unscaled
    ref = scipy.signal.lfilter([0.2, 0.3, 0.1], [1.0, -0.5, 0.2], (x - 2.0) / 4.0) * 0.5 - 1.0
    np.testing.assert_allclose(net.simulate(x), ref, rtol=1e-12, atol=1e-12)
    raw = dg.load("specs/iir.yaml")
    # loss and gradient are those of the raw net on scaled data
    y = np.cos(np.arange(30.0))
    l1, g1 = net.gradient(x, y)
    l2, g2 = raw.gradient((x - 2.0) / 4.0, (y + 1.0) / 0.5)
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)


def test_state_continues_a_scaled_run_in_original_units():
    net = scaled_iir()
    x = np.random.default_rng(2).standard_normal(30)
    full = net.simulate(x)
    first, state = net.simulate(x[:12], return_state=True)
    # output nodes' state is in original units: the last outputs themselves
    np.testing.assert_allclose(state["y"][:, 0], full[10:12], rtol=1e-12)
    np.testing.assert_allclose(state["x"][:, 0], x[10:12], rtol=1e-12)
    rest = net.simulate(x[12:], initial=state)
    np.testing.assert_allclose(np.r_[first, rest], full, rtol=1e-12, atol=1e-12)


def test_initial_gradient_is_in_original_units():
    # A first-order filter: one step of history, so only y(-1) has a gradient.
    net = dg.loads("inputs: {x: 1}\nlayers:\n  y: {size: 1, bias: false, from: {x: 0, "
                   "y: {delays: 1, value: [[0.7]]}}}\noutputs: [y]")
    net.meta["scaling"] = scaled_iir().meta["scaling"]
    x = np.random.default_rng(3).standard_normal(10)
    y = np.random.default_rng(4).standard_normal(10)
    init = {"y": np.array([0.3])}
    _, _, gi = net.gradient(x, y, initial=init, initial_grad=True)
    h = 1e-6
    assert "y" in gi                 # (the engine gives no gradient for input histories)
    for node in gi:
        for k in range(len(init[node])):
            plus = {n: v.copy() for n, v in init.items()}
            minus = {n: v.copy() for n, v in init.items()}
            plus[node][k] += h
            minus[node][k] -= h
            fd = (net.gradient(x, y, initial=plus)[0] - net.gradient(x, y, initial=minus)[0])
            assert gi[node][k, 0] == pytest.approx(fd / (2 * h), rel=1e-6, abs=1e-10)


def test_closeloop_of_a_scaled_open_loop_net_is_consistent():
    open_net = dg.loads(NARX, seed=2)
    open_net.meta["scaling"] = {"method": "minmax",
                                "inputs": {"u": {"center": [5.0], "scale": [2.0]}},
                                "outputs": {"y": {"center": [10.0], "scale": [3.0]}}}
    closed = open_net.closeloop()
    assert closed.scaling == open_net.scaling
    u = 5.0 + 2.0 * np.random.default_rng(5).standard_normal(25)
    y_closed = closed.simulate(u)
    # Fed its own closed-loop outputs as measurements, the open-loop net reproduces them:
    # both forms agree on the units of the fed-back signal.
    y_open = open_net.simulate({"u": u, "y_meas": y_closed})["y"][:, 0]
    np.testing.assert_allclose(y_open, y_closed, rtol=1e-12, atol=1e-12)
    # and openloop() again finds the feedback input's scaling through its output
    again = closed.openloop()
    np.testing.assert_allclose(again.simulate({"u": u, "y_meas": y_closed})["y"][:, 0],
                               y_closed, rtol=1e-12, atol=1e-12)


def test_train_fits_scaling_on_the_training_block_only():
    net = dg.load("specs/fir.yaml")
    x = np.random.default_rng(6).standard_normal(100)
    y = np.r_[np.zeros(80), np.full(20, 100.0)]        # the last 20 steps are not training
    r = dg.train(net, x, y, method="lm", epochs=1, divide=(0.8, 0.2), normalize="minmax")
    assert r.net.meta["scaling"]["outputs"]["y"] == {"center": [0.0], "scale": [1.0]}
    r = dg.train(net, x, y, method="lm", epochs=1, normalize="minmax")
    assert r.net.meta["scaling"]["outputs"]["y"] == {"center": [50.0], "scale": [50.0]}
    # a second training run keeps (and trains in) the scaling the net already has
    r2 = dg.train(r.net, x, y, method="lm", epochs=1)
    assert r2.net.meta["scaling"] == r.net.meta["scaling"]
    assert r2.history["loss"][0] == pytest.approx(r.loss)
