"""suggest_lags recovers the lags of simulated plants (Lipschitz quotients)."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.training import lags

U = np.random.default_rng(0).uniform(-1, 1, 800)


def simulate(step, first):
    y = np.zeros(len(U))
    for t in range(first, len(U)):
        y[t] = step(y, t)
    return y


@pytest.mark.parametrize("n_y, n_u, step", [
    (2, 1, lambda y, t: 0.5 * y[t - 1] - 0.3 * y[t - 2] + np.tanh(U[t - 1])),
    (1, 3, lambda y, t: 0.6 * y[t - 1] / (1 + y[t - 1] ** 2) + 0.4 * np.tanh(U[t - 1])
     + 0.3 * U[t - 3]),
    (1, 1, lambda y, t: 0.7 * y[t - 1] + np.sin(U[t - 1])),
])
def test_suggest_lags_recovers_the_plant(n_y, n_u, step):
    s = dg.suggest_lags(U, simulate(step, 3), max_lag=5)
    assert (s["n_y"], s["n_u"]) == (n_y, n_u)
    assert s["feedback_delays"] == f"1:{n_y}" and s["input_delays"] == f"1:{n_u}"
    net = dg.narx(input_delays=s["input_delays"], feedback_delays=s["feedback_delays"])
    assert net.n_params > 0                         # the presets take them as they are


def test_index_falls_until_the_true_lags():
    y = simulate(lambda y, t: 0.5 * y[t - 1] - 0.3 * y[t - 2] + np.tanh(U[t - 1]), 2)
    q = {k: lags.lipschitz_index(U, y, *k) for k in [(0, 1), (1, 1), (2, 1)]}
    assert q[(0, 1)] > q[(1, 1)] > q[(2, 1)]


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_lag"):
        dg.suggest_lags(U, U, max_lag=0)
    with pytest.raises(ValueError, match="same length"):
        dg.suggest_lags(U, U[:-1])


def test_docstring_example():
    assert doctest.testmod(lags).failed == 0
