"""The five diagnostic views of a trained dynamic network (MATLAB's plotperform, plotresponse,
ploterrcorr, plotinerrcorr, ploterrhist), as matplotlib Figures.

matplotlib is an optional dependency (``pip install dyngraph[plot]``); it is imported inside
the functions so that the rest of dyngraph works without it. When no display is available the
non-interactive Agg backend is used, so the functions work on servers and in CI.

The correlation functions are small pure-numpy helpers (:func:`autocorrelation`,
:func:`crosscorrelation`) so that they can be tested without matplotlib.

Errors are ``target - output`` (MATLAB's convention). Signals may be given as (T,), (T, n),
(Q, T, n) arrays or dicts name -> such arrays; every element of every signal is one
*channel*. With several sequences (Q > 1) the correlations are summed over the sequences
(no product ever pairs samples of two different sequences).
"""
from __future__ import annotations

import os
import sys
from typing import List, Mapping, Optional, Tuple

import numpy as np

__all__ = ["autocorrelation", "crosscorrelation", "confidence_band", "plot_performance",
           "plot_response", "plot_error_autocorrelation", "plot_input_error_crosscorrelation",
           "plot_error_histogram", "save_all", "PLOT_FILES"]

#: The files :func:`save_all` writes, in order.
PLOT_FILES = ("performance.png", "response.png", "error_autocorrelation.png",
              "input_error_crosscorrelation.png", "error_histogram.png")

# Grids of subplots beyond this many channels become unreadable; the rest are left out
# (and the figure title says so).
_MAX_CHANNELS = 4


# ---------------------------------------------------------------------------- numpy helpers
def _sequences(x) -> np.ndarray:
    """One channel as (Q, T): (T,) -> (1, T)."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim == 2:
        return a
    raise ValueError(f"a channel must be (T,) or (Q, T), got shape {a.shape}")


def _centred(x) -> Tuple[np.ndarray, int]:
    """Remove the mean of the finite samples, set NaN samples to 0 (so they add nothing to
    any product) and count the finite ones."""
    a = _sequences(x)
    finite = np.isfinite(a)
    n = int(finite.sum())
    if n == 0:
        raise ValueError("the signal has no finite samples")
    a = np.where(finite, a - a[finite].mean(), 0.0)
    return a, n


def autocorrelation(x, maxlag: int = 20) -> np.ndarray:
    """Normalised autocorrelation of a signal at lags 0..maxlag.

    r[k] = sum_q sum_t x_q(t) x_q(t + k) / sum_q sum_t x_q(t)^2, after removing the mean;
    NaN samples (missing targets) count as zero.

    Parameters
    ----------
    x : (T,) or (Q, T) array
    maxlag : largest lag (clipped to T - 1)

    Returns
    -------
    r : (maxlag + 1,) array, r[0] = 1 (all zeros for a constant signal)
    """
    a, _ = _centred(x)
    T = a.shape[1]
    maxlag = int(min(maxlag, T - 1))
    if maxlag < 0:
        raise ValueError("maxlag must be >= 0")
    r = np.array([np.sum(a[:, :T - k] * a[:, k:]) for k in range(maxlag + 1)])
    return r / r[0] if r[0] > 0 else np.zeros_like(r)


def crosscorrelation(x, e, maxlag: int = 20) -> np.ndarray:
    """Normalised cross-correlation between an input x and an error e at lags
    -maxlag..maxlag.

    r[k] = sum_q sum_t x_q(t) e_q(t + k) / sqrt(sum x^2 sum e^2), after removing the means;
    so a positive lag k pairs the error with the input k steps *earlier*. NaN samples count
    as zero.

    Parameters
    ----------
    x, e : (T,) or (Q, T) arrays of the same shape
    maxlag : largest |lag| (clipped to T - 1)

    Returns
    -------
    r : (2 maxlag + 1,) array; r[maxlag + k] is lag k
    """
    a, _ = _centred(x)
    b, _ = _centred(e)
    if a.shape != b.shape:
        raise ValueError(f"input and error differ in shape: {a.shape} vs {b.shape}")
    T = a.shape[1]
    maxlag = int(min(maxlag, T - 1))
    r = np.empty(2 * maxlag + 1)
    for k in range(-maxlag, maxlag + 1):
        if k >= 0:
            r[maxlag + k] = np.sum(a[:, :T - k] * b[:, k:])
        else:
            r[maxlag + k] = np.sum(a[:, -k:] * b[:, :T + k])
    scale = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return r / scale if scale > 0 else np.zeros_like(r)


def confidence_band(n_samples: int) -> float:
    """Half-width of the 95 % band of a white signal's sample correlation: 1.96 / sqrt(N)."""
    return 1.96 / np.sqrt(n_samples)


def _channels(data, default: str) -> List[Tuple[str, np.ndarray]]:
    """Signals -> [(label, (Q, T) array)], one entry per element of each signal.

    Accepts (T,), (T, n), (Q, T, n) arrays or a dict name -> such arrays.
    """
    items = data.items() if isinstance(data, Mapping) else [(default, data)]
    out = []
    for name, value in items:
        a = np.asarray(value, dtype=float)
        if a.ndim == 1:
            a = a[None, :, None]
        elif a.ndim == 2:
            a = a[None]
        elif a.ndim != 3:
            raise ValueError(f"'{name}': expected (T,), (T, n) or (Q, T, n), got {a.shape}")
        n = a.shape[2]
        for i in range(n):
            out.append((name if n == 1 else f"{name}[{i}]", a[:, :, i]))
    return out


def _errors(targets, outputs):
    """target - output, in the same form (arrays or dicts)."""
    if isinstance(targets, Mapping):
        if not isinstance(outputs, Mapping):
            raise ValueError("targets are a dict: outputs must be a dict with the same names")
        missing = sorted(set(targets) - set(outputs))
        if missing:
            raise ValueError(f"outputs missing for targets {', '.join(missing)}")
        return {k: _difference(targets[k], outputs[k], k) for k in targets}
    return _difference(targets, outputs, "target")


def _difference(t, y, name):
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.shape != y.shape and t.squeeze().shape == y.squeeze().shape:
        t = t.reshape(y.shape)                # (T,) vs (T, 1): the same signal
    if t.shape != y.shape:
        raise ValueError(f"'{name}': targets {t.shape} and outputs {y.shape} differ in shape")
    return t - y


# ---------------------------------------------------------------------------- matplotlib
def _matplotlib():
    """matplotlib, imported on first use; the Agg backend when there is no display."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("dyngraph's plots need matplotlib: pip install dyngraph[plot] "
                          "(or pip install matplotlib)") from exc
    if (not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND")
            and "matplotlib.pyplot" not in sys.modules):
        matplotlib.use("Agg")
    return matplotlib


def _figure(nrows=1, ncols=1, **kw):
    _matplotlib()
    from matplotlib.figure import Figure
    # A bare Figure (not plt.figure) is not registered with pyplot, so figures made in a
    # loop are freed when dropped instead of piling up in pyplot's registry; savefig works
    # on it through the Agg canvas whatever the backend.
    fig = Figure(figsize=kw.pop("figsize", (7, 2.2 + 2.0 * nrows)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _series(history: Mapping, key: str):
    values = history.get(key)
    if values is None:
        return None
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    return a if np.any(np.isfinite(a)) else None


def plot_performance(history: Mapping, best_epoch: Optional[int] = None, title: str = ""):
    """Training performance: loss (and validation loss) per epoch, log scale.

    Parameters
    ----------
    history : mapping with lists 'loss' and optionally 'epoch', 'val_loss', 'test_loss'
              (``TrainResult.history``); None entries are skipped
    best_epoch : epoch to mark (the restored weights), optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    loss = _series(history, "loss")
    if loss is None:
        raise ValueError("history has no 'loss' values to plot")
    epoch = _series(history, "epoch")
    epoch = np.arange(len(loss)) if epoch is None or len(epoch) != len(loss) else epoch
    fig, axes = _figure(1, 1, figsize=(7, 4))
    ax = axes[0, 0]
    positive = lambda a: np.where(a > 0, a, np.nan)  # noqa: E731 - log axis drops <= 0
    ax.semilogy(epoch, positive(loss), label="train", color="C0")
    for key, label, colour in (("val_loss", "validation", "C1"), ("test_loss", "test", "C2")):
        s = _series(history, key)
        if s is not None and len(s) == len(epoch):
            ax.semilogy(epoch, positive(s), label=label, color=colour)
    if best_epoch is not None:
        ax.axvline(best_epoch, color="k", linestyle=":", label=f"best (epoch {best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title or "Training performance")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return fig


#: Shading of the time blocks of a divided record (train is left plain).
BLOCK_COLOURS = {"val": ("C2", "validation"), "test": ("C4", "test")}


def _shade_blocks(ax, blocks, label: bool):
    for name, (lo, hi) in (blocks or {}).items():
        if name in BLOCK_COLOURS and hi > lo:
            colour, text = BLOCK_COLOURS[name]
            ax.axvspan(lo - 0.5, hi - 0.5, color=colour, alpha=0.12,
                       label=f"{text} block" if label else None)


def plot_response(targets, outputs, title: str = "", blocks=None):
    """Target and output over time, with the error (target - output) beneath each.

    Parameters
    ----------
    targets, outputs : (T,), (T, n), (Q, T, n) arrays or dicts by output name; several
                       sequences are drawn one after another
    blocks : {"train"/"val"/"test": (start, stop)} time blocks of a divided record
             (``TrainResult.divide``); validation and test blocks are shaded

    Returns
    -------
    matplotlib.figure.Figure
    """
    tch = _channels(targets, "y")
    ych = _channels(outputs, "y")
    if [c[1].shape for c in tch] != [c[1].shape for c in ych]:
        raise ValueError("targets and outputs differ in shape")
    shown = tch[:_MAX_CHANNELS]
    fig, axes = _figure(2 * len(shown), 1, sharex=True,
                        gridspec_kw={"height_ratios": [2, 1] * len(shown)},
                        figsize=(8, 1.5 + 3.0 * len(shown)))
    for c, ((label, t), (_, y)) in enumerate(zip(shown, ych)):
        t, y = t.ravel(), y.ravel()
        steps = np.arange(t.size)
        top, bottom = axes[2 * c, 0], axes[2 * c + 1, 0]
        top.plot(steps, t, label="target", color="C0", linewidth=1)
        top.plot(steps, y, label="output", color="C1", linewidth=1)
        top.set_ylabel(label)
        _shade_blocks(top, blocks, label=True)
        _shade_blocks(bottom, blocks, label=False)
        top.legend(loc="best", fontsize="small")
        top.grid(True, alpha=0.3)
        bottom.plot(steps, t - y, color="C3", linewidth=1)
        bottom.axhline(0, color="k", linewidth=0.5)
        bottom.set_ylabel("error")
        bottom.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(_title(title or "Response", len(tch)))
    return fig


def _title(title, n_channels):
    if n_channels > _MAX_CHANNELS:
        return f"{title} (first {_MAX_CHANNELS} of {n_channels} channels)"
    return title


def plot_error_autocorrelation(errors, maxlag: int = 20, title: str = ""):
    """Autocorrelation of the errors at lags 0..maxlag with the 95 % band ±1.96/√N.

    A well-fitted model leaves white errors: every lag but 0 inside the band.

    Parameters
    ----------
    errors : (T,), (T, n), (Q, T, n) array or dict name -> array

    Returns
    -------
    matplotlib.figure.Figure
    """
    ech = _channels(errors, "e")
    shown = ech[:_MAX_CHANNELS]
    fig, axes = _figure(len(shown), 1)
    for ax, (label, e) in zip(axes[:, 0], shown):
        r = autocorrelation(e, maxlag)
        band = confidence_band(int(np.isfinite(e).sum()))
        lags = np.arange(r.size)
        ax.bar(lags, r, width=0.6, color="C0")
        ax.axhspan(-band, band, color="C3", alpha=0.15, label=f"95 % band ±{band:.3f}")
        ax.axhline(0, color="k", linewidth=0.5)
        ax.set_ylabel(f"r({label})")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("lag")
    fig.suptitle(_title(title or "Error autocorrelation", len(ech)))
    return fig


def plot_input_error_crosscorrelation(inputs, errors, maxlag: int = 20, title: str = ""):
    """Cross-correlation of each input with each error at lags -maxlag..maxlag, with the
    95 % band. Correlation left at positive lags means the model missed part of how the
    input drives the output.

    Parameters
    ----------
    inputs, errors : (T,), (T, n), (Q, T, n) arrays or dicts by name, same T and Q

    Returns
    -------
    matplotlib.figure.Figure
    """
    xch = _channels(inputs, "u")[:_MAX_CHANNELS]
    ech = _channels(errors, "e")[:_MAX_CHANNELS]
    fig, axes = _figure(len(ech), len(xch), figsize=(4 + 3 * len(xch), 2.2 + 2.0 * len(ech)))
    for i, (elabel, e) in enumerate(ech):
        for j, (xlabel, x) in enumerate(xch):
            ax = axes[i, j]
            r = crosscorrelation(x, e, maxlag)
            m = (r.size - 1) // 2
            band = confidence_band(int(np.sum(np.isfinite(x) & np.isfinite(e))))
            ax.bar(np.arange(-m, m + 1), r, width=0.6, color="C0")
            ax.axhspan(-band, band, color="C3", alpha=0.15, label=f"95 % band ±{band:.3f}")
            ax.axhline(0, color="k", linewidth=0.5)
            ax.set_title(f"{xlabel} vs {elabel}", fontsize="small")
            ax.grid(True, alpha=0.3)
            if i == len(ech) - 1:
                ax.set_xlabel("lag")
            if j == 0:
                ax.set_ylabel("correlation")
    axes[0, -1].legend(loc="upper right", fontsize="small")
    fig.suptitle("Input-error cross-correlation" if not title else title)
    return fig


def plot_error_histogram(errors, bins: int = 20, title: str = ""):
    """Histogram of the errors (NaN errors, i.e. missing targets, left out).

    Returns
    -------
    matplotlib.figure.Figure
    """
    ech = _channels(errors, "e")
    shown = ech[:_MAX_CHANNELS]
    fig, axes = _figure(len(shown), 1)
    for ax, (label, e) in zip(axes[:, 0], shown):
        e = e[np.isfinite(e)]
        ax.hist(e, bins=bins, color="C0", edgecolor="white")
        ax.axvline(0, color="C3", linewidth=1, label="zero error")
        ax.set_ylabel(f"count ({label})")
        ax.legend(loc="upper right", fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("error (target - output)")
    fig.suptitle(_title(title or "Error histogram", len(ech)))
    return fig


def _history_of(net, history) -> Tuple[Optional[Mapping], Optional[int]]:
    """The training history to draw: the argument, else a record saved with the model."""
    if history is not None:
        return history, None
    record = getattr(net, "meta", {}).get("training") or getattr(net, "meta", {}).get("train")
    if isinstance(record, Mapping) and isinstance(record.get("history"), Mapping):
        return record["history"], record.get("best_epoch")
    return None, None


def save_all(net, inputs, targets, outdir, history=None, dpi: int = 100) -> List[str]:
    """Simulate ``net`` on ``inputs`` and write the five diagnostic PNGs to ``outdir``.

    Parameters
    ----------
    net : dyngraph.Net (normalisation stored in the model is applied by ``net.simulate``)
    inputs : as for ``net.simulate``
    targets : as ``net.simulate`` returns its outputs (NaN = no target)
    outdir : directory, created if missing
    history : ``TrainResult.history``; if None, the training record saved with the model
              (``net.meta``) is used. Without either, performance.png is not written.

    Returns
    -------
    list of the paths written (names from :data:`PLOT_FILES`)
    """
    os.makedirs(outdir, exist_ok=True)
    # Name the signals after the net's inputs and outputs, so the figures are labelled.
    if not isinstance(inputs, Mapping) and len(net.inputs) == 1:
        inputs = {next(iter(net.inputs)): inputs}
    if not isinstance(targets, Mapping) and len(net.outputs) == 1:
        targets = {next(iter(net.outputs)): targets}
    outputs = net.simulate(inputs)
    errors = _errors(targets, outputs)
    hist, best = _history_of(net, history)
    record = getattr(net, "meta", {}).get("training")
    blocks = record.get("divide") if isinstance(record, Mapping) else None
    figures = {
        "performance.png": (lambda: plot_performance(hist, best)) if hist is not None else None,
        "response.png": lambda: plot_response(targets, outputs, blocks=blocks),
        "error_autocorrelation.png": lambda: plot_error_autocorrelation(errors),
        "input_error_crosscorrelation.png":
            lambda: plot_input_error_crosscorrelation(inputs, errors),
        "error_histogram.png": lambda: plot_error_histogram(errors),
    }
    written = []
    for name in PLOT_FILES:
        make = figures[name]
        if make is None:
            continue
        path = os.path.join(outdir, name)
        make().savefig(path, dpi=dpi)
        written.append(path)
    return written
