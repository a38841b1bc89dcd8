"""Diagnostic plots: the correlation helpers against numpy, and each figure builds."""
import numpy as np
import pytest

from dyngraph import plots


def test_autocorrelation_matches_np_correlate():
    x = np.random.default_rng(0).standard_normal(200)
    c = x - x.mean()
    full = np.correlate(c, c, mode="full")[len(c) - 1:]
    np.testing.assert_allclose(plots.autocorrelation(x, 15), full[:16] / full[0], atol=1e-12)


def test_crosscorrelation_matches_np_correlate_and_its_lag_sign():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    e = np.roll(x, 3) + 0.1 * rng.standard_normal(300)    # e(t) follows x(t - 3)
    a, b = x - x.mean(), e - e.mean()
    full = np.correlate(b, a, mode="full")                  # index T-1+k: sum a(t) b(t+k)
    mid = len(a) - 1
    want = full[mid - 5:mid + 6] / np.sqrt((a @ a) * (b @ b))
    r = plots.crosscorrelation(x, e, 5)
    np.testing.assert_allclose(r, want, atol=1e-12)
    assert np.argmax(r) == 5 + 3                            # the peak sits at lag +3


def test_nan_samples_count_as_zero_and_band_is_1_96_over_sqrt_n():
    x = np.random.default_rng(2).standard_normal(100)
    y = x.copy()
    y[10] = np.nan
    r = plots.autocorrelation(y, 3)
    assert np.isfinite(r).all() and r[0] == 1.0
    assert plots.confidence_band(400) == pytest.approx(1.96 / 20)


def test_each_figure_builds():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(3)
    t = rng.standard_normal((120, 1))
    y = t + 0.1 * rng.standard_normal((120, 1))
    u = rng.standard_normal((120, 2))
    e = (t - y)[:, 0]
    history = {"epoch": np.arange(5), "loss": np.linspace(1, 0.1, 5),
               "val_loss": np.linspace(1.2, 0.3, 5)}
    figures = [plots.plot_performance(history, best_epoch=4),
               plots.plot_response(t, y),
               plots.plot_error_autocorrelation(e),
               plots.plot_input_error_crosscorrelation(u, e[:, None]),
               plots.plot_error_histogram(e)]
    for fig in figures:
        assert fig.axes, fig
