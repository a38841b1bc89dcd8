"""Diagnostic plots: the correlation helpers against numpy, and each figure builds."""
import os

import numpy as np
import pytest

from dyngraph.viz import plots


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


def test_save_all_writes_the_views_it_has_data_for(tmp_path):
    pytest.importorskip("matplotlib")
    import dyngraph as dg
    net = dg.loads("inputs: {u: 1}\nlayers: {h: {size: 2, transfer: tanh, from: {u: '0:2'}}, "
                   "y: {size: 1, from: h}}\noutputs: [y]", seed=0)
    u = np.random.default_rng(4).standard_normal(60)
    target = np.sin(np.arange(60) / 4.0)
    target[5] = np.nan                                      # a missing target is tolerated
    four = plots.save_all(net, u, target, tmp_path / "a")
    assert [os.path.basename(p) for p in four] == list(plots.PLOT_FILES[1:])
    five = plots.save_all(net, u, target, tmp_path / "b",
                          history={"epoch": [0, 1], "loss": [1.0, 0.5], "val_loss": [1.1, None]})
    assert [os.path.basename(p) for p in five] == list(plots.PLOT_FILES)
    for p in five:
        with open(p, "rb") as fh:
            assert fh.read(4) == b"\x89PNG"


def test_several_outputs_get_one_panel_pair_each():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(6)
    t = {"a": rng.standard_normal((40, 1)), "b": rng.standard_normal((40, 2))}
    y = {k: v + 0.1 for k, v in t.items()}
    fig = plots.plot_response(t, y)
    assert len(fig.axes) == 2 * 3                           # a, b[0], b[1]: signal + error
    labels = [ax.get_ylabel() for ax in fig.axes[::2]]
    assert labels == ["a", "b[0]", "b[1]"]


def test_mismatched_targets_and_outputs_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        plots._errors(np.zeros(10), np.zeros(11))


def test_response_shades_the_divided_blocks_and_axes_are_labelled():
    import matplotlib.patches as mpatches
    from dyngraph.viz import plots
    rng = np.random.default_rng(0)
    t, y = rng.standard_normal(100), rng.standard_normal(100)
    fig = plots.plot_response(t, y, blocks={"train": (0, 70), "val": (70, 85),
                                            "test": (85, 100)})
    top = fig.axes[0]
    spans = [p for p in top.patches if isinstance(p, mpatches.Polygon)
             or isinstance(p, mpatches.Rectangle)]
    assert len(spans) == 2                          # validation and test, not train
    labels = [text.get_text() for text in top.get_legend().get_texts()]
    assert "validation block" in labels and "test block" in labels
    cc = plots.plot_input_error_crosscorrelation({"u": t}, {"y": y})
    assert cc.axes[0].get_ylabel() == "correlation" and cc.axes[0].get_xlabel() == "lag"
