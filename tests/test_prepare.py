"""Series-parallel training from plain (u, y) records, and preparets' initial states."""
from __future__ import annotations

import os

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR

SP = SPEC_DIR / "narx_series_parallel.yaml"


def plant(u):
    y = np.zeros_like(u)
    for t in range(1, len(u)):
        y[t] = 0.6 * y[t - 1] / (1 + y[t - 1] ** 2) + 0.4 * np.tanh(u[t - 1])
    return y


@pytest.fixture
def record():
    u = np.random.default_rng(0).uniform(-2, 2, 120)
    return u, plant(u)


def test_feedback_input_filled_from_targets(record):
    u, y = record
    net = dg.load(SP)
    auto = net.gradient({"u": u}, y)
    manual = net.gradient({"u": u, "y_meas": y}, y)
    np.testing.assert_array_equal(auto[1], manual[1])
    bare = dg.train(net, u, y, epochs=3)                 # a bare array: u alone
    full = dg.train(net, {"u": u, "y_meas": y}, y, epochs=3)
    np.testing.assert_array_equal(bare.params, full.params)


def test_feedback_from_nan_targets_refused(record):
    u, y = record
    y = y.copy()
    y[7] = np.nan
    with pytest.raises(dg.DataError, match="NaN at step 7"):
        dg.train(dg.load(SP), u, y, epochs=1)


def test_preparets_shifts_and_gives_initial_states(record):
    u, y = record
    net = dg.load(SP)
    L = max(net.plan.nodes[n].lookback for n in net.inputs)
    X, Y, Xi = dg.preparets(net, u, y)
    np.testing.assert_array_equal(X["u"][:, 0], u[L:])
    np.testing.assert_array_equal(X["y_meas"][:, 0], y[L:])
    np.testing.assert_array_equal(Y["y"][:, 0], y[L:])
    for name, a in (("u", u), ("y_meas", y)):
        Lv = net.plan.nodes[name].lookback
        np.testing.assert_array_equal(Xi[name][:, 0], a[L - Lv:L])
    # Simulating the shifted record from those states equals simulating the whole record
    # and dropping its first L steps.
    whole = net.simulate({"u": u, "y_meas": y})
    part = net.simulate(X, initial=Xi)
    np.testing.assert_allclose(part["y"], whole["y"][L:], rtol=1e-13)


def test_preparets_parallel_form_seeds_the_fed_back_output(record):
    u, y = record
    net = dg.load(SPEC_DIR / "narx_parallel.yaml")
    X, Y, Xi = dg.preparets(net, u, y)
    L = net.plan.nodes["y"].lookback
    assert set(Xi) == {"u", "y"} and Xi["y"].shape == (L, 1)
    np.testing.assert_array_equal(Xi["y"][:, 0], y[:L])


def test_preparets_needs_a_long_enough_record():
    net = dg.load(SP)
    with pytest.raises(dg.DataError, match="longer record"):
        dg.preparets(net, np.ones(2), np.ones(2))


def test_cli_trains_series_parallel_from_a_plain_record(tmp_path, record):
    from dyngraph.cli import main
    u, y = record
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="u,y", comments="")
    assert main(["train", str(SP), "--data", str(path), "--epochs", "3", "--quiet",
                 "-o", str(tmp_path / "m")]) == 0
    assert os.path.isdir(tmp_path / "m")
