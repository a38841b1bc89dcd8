"""Sub-sequence (multiple-shooting) training data: overlapping windows cut from one record.

Training a parallel (closed-loop) model on its whole record makes every error depend on
every earlier step: the loss surface of a long free run is rough, gradients explode or
vanish, and one bad stretch spoils the fit. Cutting the record into windows of ``length``
steps, each started from the *measured* past (the delay states of the inputs and of the
outputs fed back, as :func:`~.prepare.preparets` makes them), bounds how far an error
propagates while still training on simulation error over ``length`` steps — the
"truncated simulation error" / multiple-shooting loss of the system-identification
literature (e.g. Ribeiro & Aguirre 2018; Beintema, Tóth & Schoukens 2021).

The windows become one batch (Q = number of windows), so every engine and method runs on
them unchanged. Window w covers target steps ``[s_w, s_w + length)`` with
``s_w = start + L + w * step`` (L = the net's largest input/output lookback), its initial
delay states being the record's steps ``[s_w - L_v, s_w)`` of each delayed input or output
v. Hidden recurrent layers start from zero in every window.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from ..engines.records import DataError

__all__ = ["cut_windows", "window_starts", "measured_lookback"]


def measured_lookback(net, X: Dict[str, np.ndarray], Y: Dict[str, np.ndarray]) -> int:
    """L: the largest delay with which a measured input or output is read."""
    nodes = net.plan.nodes
    names = list(X) + [o for o in Y if nodes[o].lookback]
    return max((nodes[n].lookback for n in names), default=0)


def window_starts(start: int, stop: int, lookback: int, length: int, step: int):
    """First target steps s_w of the windows inside the record's steps [start, stop).

    Examples
    --------
    >>> window_starts(0, 20, 2, 8, 4)
    [2, 6, 10]
    """
    first = start + lookback
    return list(range(first, stop - length + 1, step))


def cut_windows(net, X: Dict[str, np.ndarray], Y: Dict[str, np.ndarray], length: int,
                step: int, start: int = 0, stop=None
                ) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray], dict]:
    """Cut windows from internal-layout records.

    Parameters
    ----------
    net : the net whose plan gives the lookbacks
    X : dict input -> (T, Q, n) internal layout (feedback inputs already filled)
    Y : dict output -> (T, Q, n) targets (NaN = no target)
    length : steps per window (targets per window)
    step : offset between consecutive window starts (``step < length`` overlaps them)
    start, stop : the part of the record windows are cut from (``stop`` default T)

    Returns
    -------
    Xw : dict input -> (length, Q * W, n)
    Yw : dict output -> (length, Q * W, n)
    initial : dict node -> (Q * W, L_v, n), the measured past of each window (user layout,
              oldest first), for every input and output read with a delay

    Examples
    --------
    >>> import dyngraph as dg, numpy as np
    >>> net = dg.narx(input_delays="1:2", feedback_delays="1:3", hidden=[2])
    >>> u = np.arange(20.0).reshape(20, 1, 1); y = -u
    >>> Xw, Yw, init = cut_windows(net, {"u": u}, {"y": y}, length=5, step=5)
    >>> Yw["y"].shape, init["y"][:, :, 0].tolist()
    ((5, 3, 1), [[-0.0, -1.0, -2.0], [-5.0, -6.0, -7.0], [-10.0, -11.0, -12.0]])
    """
    length, step = int(length), int(step)
    if length < 1 or step < 1:
        raise ValueError(f"windows: length and step must be >= 1, got {length} and {step}")
    T = next(iter(Y.values())).shape[0]
    stop = T if stop is None else int(stop)
    nodes = net.plan.nodes
    L = measured_lookback(net, X, Y)
    starts = window_starts(int(start), stop, L, length, step)
    if not starts:
        raise DataError(f"windows: steps {start}..{stop - 1} hold no window of {length} steps "
                        f"after the {L} needed as initial delay states; use shorter windows")
    delayed = {**{n: a for n, a in X.items() if nodes[n].lookback},
               **{o: y for o, y in Y.items() if nodes[o].lookback}}
    initial = {}
    for name, a in delayed.items():
        Lv = nodes[name].lookback
        # (W, Lv, Q, n) -> (W * Q, Lv, n): window-major, the record's sequences inside.
        part = np.stack([a[s - Lv:s] for s in starts])
        if np.isnan(part).any():
            raise DataError(f"windows: the initial states of '{name}' in a window hold NaN; "
                            "a fed-back or delayed measurement must be known where a window "
                            "starts")
        initial[name] = np.ascontiguousarray(
            part.transpose(0, 2, 1, 3).reshape(-1, Lv, a.shape[2]))

    def cut(a):
        w = np.stack([a[s:s + length] for s in starts], axis=1)      # (length, W, Q, n)
        return np.ascontiguousarray(w.reshape(length, -1, a.shape[2]))

    return ({n: cut(a) for n, a in X.items()}, {n: cut(a) for n, a in Y.items()}, initial)
