"""Least-squares ARX: exact on linear plants, in both forms, refused for nonlinear nets."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.training import linear

RNG = np.random.default_rng(3)
U = RNG.standard_normal((400, 2))


def plant():
    """A 2-input, 1-output linear plant with lags (2, 2)."""
    y = np.zeros(400)
    for t in range(2, 400):
        y[t] = (0.6 * y[t - 1] - 0.25 * y[t - 2] + 0.7 * U[t - 1, 0] - 0.3 * U[t - 2, 1]
                + 0.1)
    return y


@pytest.mark.parametrize("form", ["parallel", "series-parallel"])
def test_least_squares_recovers_a_linear_plant(form):
    y = plant()
    net = dg.arx(inputs={"u": 2}, input_delays="1:2", feedback_delays="1:2", form=form)
    fit = dg.fit_least_squares(net, {"u": U}, y)
    assert fit.inputs == net.inputs                      # the form is kept
    fb = "y.W[y]" if form == "parallel" else "y.W[y_meas]"
    np.testing.assert_allclose(fit.get(fb), [[0.6, -0.25]], atol=1e-10)
    np.testing.assert_allclose(fit.get("y.W[u]"), [[0.7, 0.0, 0.0, -0.3]], atol=1e-10)
    np.testing.assert_allclose(fit.get("y.b"), [0.1], atol=1e-10)
    if form == "parallel":                               # simulates the plant exactly
        X, Y, Xi = dg.preparets(fit, {"u": U}, y)
        np.testing.assert_allclose(fit.simulate(X, initial=Xi)["y"], Y["y"], atol=1e-8)


def test_nonlinear_nets_refused():
    with pytest.raises(ValueError, match="nonlinear"):
        dg.fit_least_squares(dg.narx(), U[:, :1], plant())


def test_too_short_a_record():
    with pytest.raises(dg.DataError, match="longer record"):
        dg.fit_least_squares(dg.arx(input_delays="1:2", feedback_delays="1:2"),
                             U[:6, 0], plant()[:6])


def test_docstring_example():
    assert doctest.testmod(linear).failed == 0
