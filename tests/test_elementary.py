"""The compiled backend's own elementary functions against numpy's (libm's)."""
import numpy as np
import pytest

pytest.importorskip("numba")

from numba import njit, uintp  # noqa: E402

from dyngraph.engines.compiled import _rules  # noqa: E402
from dyngraph.engines.compiled.elementary import tanh  # noqa: E402
from dyngraph.engines.compiled.generate import CODES  # noqa: E402


@njit(cache=False, error_model="numpy")
def _tanh_loop(x, out):
    for i in range(uintp(x.size)):
        out[i] = tanh(x[i])


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.maximum(np.abs(want), np.finfo(float).tiny))


@pytest.mark.parametrize("scale", [1e-300, 1e-12, 1e-4, 0.1, 0.6, 0.625, 1.0, 3.0, 10.0,
                                   21.0, 40.0])
def test_tanh_within_two_ulp_of_numpy(scale):
    x = np.random.default_rng(7).standard_normal(200_000) * scale
    got = np.empty_like(x)
    _tanh_loop(x, got)
    assert _ulps(got, np.tanh(x)).max() <= 2.0


def test_tanh_at_the_seams_and_special_values():
    # both sides of the switch between the two forms, the cap, and the IEEE specials
    edges = np.array([0.625, 22.0, 19.0, 0.0, 5e-324, 1e308])
    x = np.concatenate([np.nextafter(edges, -np.inf), edges, np.nextafter(edges, np.inf)])
    x = np.concatenate([x, -x, [np.inf, -np.inf]])
    got = np.empty_like(x)
    _tanh_loop(x, got)
    np.testing.assert_array_less(_ulps(got, np.tanh(x)), 2.0 + 1e-9)
    nan = np.array([np.nan, -np.nan])
    _tanh_loop(nan, out := np.empty(2))
    assert np.isnan(out).all()


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_transfer_rules_use_it_and_match_numpy(name):
    """The generated transfer loop (what the interpreter calls) against the numpy engines'
    transfer, over a row segment of odd width (vector lanes plus a remainder)."""
    from dyngraph.kinds.transfers import TRANSFERS
    x = np.random.default_rng(1).standard_normal(1003) * 4
    out = np.zeros(1003 + 5)
    _rules.transfer(CODES[name], x, 0, out, 5, x.size)
    want = TRANSFERS[name].f(x)
    assert np.abs(out[5:] - want).max() <= 4 * np.spacing(1.0)
    assert not out[:5].any()
