"""The losses' fast form (no NaN target, no weights) equals the masked form, and a NaN
target still drops out of both the value and the adjoint."""
from __future__ import annotations

import numpy as np
import pytest

from dyngraph.engines import losses


def _data(seed=0, T=7, Q=3):
    rng = np.random.default_rng(seed)
    Y = {"y": rng.standard_normal((T, Q, 2)), "z": rng.standard_normal((T, Q, 1))}
    targets = {k: rng.standard_normal(v.shape) for k, v in Y.items()}
    return Y, targets


@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_fast_form_equals_the_masked_form(monkeypatch, loss):
    Y, targets = _data()
    fast = losses.loss_and_adjoint(Y, targets, loss)
    monkeypatch.setattr(losses, "_squared_without_gaps", lambda *a: None)
    slow = losses.loss_and_adjoint(Y, targets, loss)
    assert fast[0] == pytest.approx(slow[0], rel=1e-14)
    for k in Y:
        np.testing.assert_allclose(fast[1][k], slow[1][k], rtol=1e-14, atol=0)
    # and against the definition
    e = np.concatenate([(targets[k] - Y[k]).ravel() for k in Y])
    n = 1 if loss == "sse" else e.size
    assert fast[0] == pytest.approx((e @ e) / n, rel=1e-14)


def test_a_nan_target_is_left_out():
    Y, targets = _data()
    targets["y"][2, 1, 0] = np.nan
    value, dA = losses.loss_and_adjoint(Y, targets, "mse")
    keep = ~np.isnan(targets["y"])
    e = np.concatenate([(targets["y"] - Y["y"])[keep], (targets["z"] - Y["z"]).ravel()])
    assert value == pytest.approx((e @ e) / e.size, rel=1e-14)
    assert dA["y"][2, 1, 0] == 0.0 and np.isfinite(value)


def test_the_inputs_are_not_changed():
    Y, targets = _data()
    before = {k: v.copy() for k, v in Y.items()}
    losses.loss_and_adjoint(Y, targets, "mse")
    for k in Y:
        np.testing.assert_array_equal(Y[k], before[k])
