"""Training progress for people: a live bar on a terminal, a line every N epochs elsewhere.

:func:`reporter` turns ``train``'s ``verbose=`` option into an epoch callback. On a terminal
it draws a tqdm bar whose postfix holds the loss (and the validation loss when there is one);
otherwise — a log file, a CI job, a notebook cell's captured output — it prints one plain line
every ``print_every`` epochs and at the last one, so 500 epochs make 50 lines, not 500.
"""
from __future__ import annotations

import math
import sys
from typing import Callable, Optional

__all__ = ["reporter", "format_row"]


def _number(x) -> str:
    return f"{x:.6g}"


def format_row(row) -> str:
    """``epoch   12  loss 0.0123  val 0.0456  mu 0.001  1.23s`` (val only when there is
    validation data; mu for LM/BR, step for the gradient methods)."""
    parts = [f"epoch {int(row['epoch']):5d}", f"loss {_number(row['loss'])}"]
    val = row.get("val_loss")
    if val is not None and math.isfinite(val):
        parts.append(f"val {_number(val)}")
    if "mu" in row:
        parts.append(f"mu {row['mu']:.3g}")
    elif "step" in row:
        parts.append(f"step {row['step']:.3g}")
    parts.append(f"{row['time']:.2f}s")
    return "  ".join(parts)


def reporter(verbose, epochs: int, stream=None) -> Optional[Callable]:
    """The epoch callback for ``verbose`` (False/0: none; True: every 10 epochs or a bar;
    an int N: every N epochs or a bar), with a ``close()`` to call when training ends."""
    if verbose is False or verbose is None or verbose == 0:
        return None
    every = 10 if verbose is True else int(verbose)
    if every < 1:
        raise ValueError(f"verbose must be True, False or a number of epochs >= 1, got "
                         f"{verbose!r}")
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return _Bar(epochs, stream)
    return _Lines(every, epochs, stream)


class _Report:
    def finish(self, stop_reason, best_epoch, loss):
        """The last word: why training stopped and which epoch's weights were kept."""
        print(f"stop: {stop_reason}; best epoch {best_epoch}, loss {loss:.6g}",
              file=self.stream, flush=True)


class _Lines(_Report):
    def __init__(self, every, epochs, stream):
        self.every, self.epochs, self.stream = every, epochs, stream
        self.last = None

    def __call__(self, row) -> bool:
        epoch = int(row["epoch"])
        self.last = row
        if epoch % self.every == 0 or epoch >= self.epochs:
            print(format_row(row), file=self.stream, flush=True)
            self.last = None
        return False

    def close(self):
        if self.last is not None:        # the last epoch of an early stop
            print(format_row(self.last), file=self.stream, flush=True)


class _Bar(_Report):
    def __init__(self, epochs, stream):
        from tqdm import tqdm
        self.stream = stream
        self.bar = tqdm(total=epochs, file=stream, unit="epoch", dynamic_ncols=True)

    def __call__(self, row) -> bool:
        post = {"loss": f"{row['loss']:.4g}"}
        val = row.get("val_loss")
        if val is not None and math.isfinite(val):
            post["val"] = f"{val:.4g}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.n = int(row["epoch"])
        self.bar.refresh()
        return False

    def close(self):
        self.bar.close()
