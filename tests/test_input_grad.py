"""dF/d(inputs) by BPTT, against finite differences on every catalog spec (both backends)."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, fd_reference, spec_id

pytestmark = pytest.mark.usefixtures("engine_backend")


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_input_gradient_matches_finite_differences(path):
    net = dg.load(path)
    if not net.inputs:
        pytest.skip("no inputs")
    rng = np.random.default_rng(0)
    X = {k: rng.standard_normal((2, 10, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((2, 10, n)) for k, n in net.outputs.items()}
    loss, g, gu = net.gradient(X, Y, loss="sse", input_grad=True)
    _, g_plain = net.gradient(X, Y, loss="sse")
    np.testing.assert_array_equal(g, g_plain)
    assert set(gu) == set(net.inputs)
    h = 1e-6
    ref, RX, rinit = fd_reference(net, X)
    for name, a in X.items():
        for idx in [(0, 0, 0), (1, 9, a.shape[2] - 1), (1, 4, 0)]:
            plus, minus = ({k: v.copy() for k, v in RX.items()} for _ in range(2))
            plus[name][idx] += h
            minus[name][idx] -= h
            fd = (ref.gradient(plus, Y, loss="sse", initial=rinit)[0]
                  - ref.gradient(minus, Y, loss="sse", initial=rinit)[0])
            fd /= 2 * h
            assert abs(fd - gu[name][idx]) <= 1e-5 * max(1.0, abs(fd)), (name, idx)


def test_input_gradient_in_original_units_of_a_scaled_net():
    rng = np.random.default_rng(1)
    u = 5 + 3 * rng.standard_normal((60, 1))
    y = np.tanh(u / 5)
    r = dg.train(dg.load(SPECS[0].parent / "narx_parallel.yaml"), u, y, epochs=2,
                 normalize="minmax")
    net = r.net
    loss, _, gu = net.gradient(u, y, input_grad=True)
    h = 1e-5
    plus, minus = u.copy(), u.copy()
    plus[20, 0] += h
    minus[20, 0] -= h
    fd = (net.gradient(plus, y)[0] - net.gradient(minus, y)[0]) / (2 * h)
    assert abs(fd - gu[20, 0]) <= 1e-5 * max(1e-3, abs(fd))


def test_input_grad_refuses_truncation():
    net = dg.load(SPECS[0].parent / "narx_parallel.yaml")
    with pytest.raises(ValueError, match="input_grad"):
        net.gradient(np.ones((10, 1)), np.ones((10, 1)), input_grad=True, truncate=(3, 3))
