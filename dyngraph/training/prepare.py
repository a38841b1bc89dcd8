"""Series-parallel data from plain records, and initial delay states from a record's start
(what MATLAB's ``preparets`` does by hand).

A series-parallel NARX reads the *measured* outputs through inputs declared ``feedback_of``;
users have (u, y) records, not a ``y_meas`` column. :func:`fill_feedback` takes those inputs
from the targets, and :func:`preparets` also turns the first L samples of the record (L =
the largest delay any input or fed-back output is read with) into the initial delay states,
so the model is not fitted against a zero history at the start.
"""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

import numpy as np

from ..engines.records import DataError, is_frame, column_names, to_internal

__all__ = ["feedback_inputs", "fill_feedback", "preparets"]


def feedback_inputs(net) -> Dict[str, str]:
    """{input name: layer name} of the inputs declared ``feedback_of``."""
    return {i.name: i.feedback_of for i in net.spec.inputs if i.feedback_of}


def _user(a: np.ndarray, batched: bool) -> np.ndarray:
    """Internal (T, Q, n) -> the user layout (Q, T, n), or (T, n) for one sequence."""
    a = a.transpose(1, 0, 2)
    return np.ascontiguousarray(a if batched else a[0])


def fill_feedback(net, inputs, targets):
    """The inputs with every ``feedback_of`` input that is missing taken from the targets.

    ``inputs`` may be a dict without the feedback inputs, or a bare array when only one
    input is not a feedback input. Returns a dict by input name (the user layout), or
    ``inputs`` unchanged when nothing is missing.

    Raises
    ------
    DataError : the targets of a fed-back layer are missing or hold NaN (a measured output
                fed back must be known at every step)
    """
    fb = feedback_inputs(net)
    if not fb:
        return inputs
    plain = [n for n in net.inputs if n not in fb]
    if is_frame(inputs):
        return _fill_frame(net, fb, inputs, targets)
    if isinstance(inputs, Mapping):
        given = dict(inputs)
    elif inputs is None and not plain:
        given = {}
    elif len(plain) == 1:
        given = {plain[0]: inputs}
    else:
        return inputs                       # to_internal explains what is wrong
    missing = [n for n in fb if n not in given]
    if not missing:
        return inputs
    Y, form = to_internal(targets, net.outputs, "target", allow_nan=True)
    for name in missing:
        layer = fb[name]
        if layer not in Y:
            raise DataError(f"input '{name}' is the measured '{layer}' fed back, but '{layer}' "
                            "is not an output with targets; give the input explicitly")
        y = Y[layer]
        if np.isnan(y).any():
            t = int(np.argwhere(np.isnan(y))[0][0])
            raise DataError(f"input '{name}' is taken from the targets of '{layer}', which "
                            f"have NaN at step {t}; a fed-back measurement must be known at "
                            "every step")
        given[name] = _user(y, form.batched)
    return given


def _fill_frame(net, fb, frame, targets):
    """A DataFrame of inputs with the missing feedback columns added from the targets (its
    index kept, so results come back indexed)."""
    columns = {str(c) for c in frame.columns}
    missing = [n for n in fb if not set(column_names(n, net.inputs[n])) <= columns]
    if not missing:
        return frame
    Y, _ = to_internal(targets, net.outputs, "target", allow_nan=True)
    frame = frame.copy()
    for name in missing:
        y = Y.get(fb[name])
        if y is None or np.isnan(y).any():
            raise DataError(f"input '{name}' (the measured '{fb[name]}' fed back) is not in "
                            "the data frame and cannot be taken from the targets")
        for i, c in enumerate(column_names(name, net.inputs[name])):
            frame[c] = y[:, 0, i]
    return frame


def preparets(net, inputs, targets) -> Tuple[dict, dict, dict]:
    """(inputs, targets, initial) for training or simulating from the record's start.

    Feedback inputs are filled from the targets (:func:`fill_feedback`); then the first L
    steps become ``initial`` (the past values of the inputs and of output layers read with
    a delay), and inputs and targets start at step L.

    Returns
    -------
    inputs, targets : dicts by name in the user layout, T - L steps
    initial : dict node name -> (L_v, n) or (Q, L_v, n), oldest first — pass it to
              ``train``/``simulate`` as ``initial``

    Examples
    --------
    >>> import dyngraph as dg, numpy as np
    >>> net = dg.load("specs/narx_series_parallel.yaml")
    >>> u, y = np.random.default_rng(0).standard_normal((2, 50, 1))
    >>> X, Y, Xi = dg.preparets(net, u, y)
    >>> sorted(X), X["u"].shape, Y["y"].shape, sorted(Xi)
    (['u', 'y_meas'], (48, 1), (48, 1), ['u', 'y_meas'])
    """
    inputs = fill_feedback(net, inputs, targets)
    X, form = to_internal(inputs, net.inputs, "input") if net.inputs else ({}, None)
    Y, yform = to_internal(targets, net.outputs, "target", allow_nan=True)
    batched = (form or yform).batched
    nodes = net.plan.nodes
    known = dict(X)
    known.update({o: y for o, y in Y.items() if nodes[o].lookback})
    L = max((nodes[n].lookback for n in known), default=0)
    T = next(iter(Y.values())).shape[0]
    if L >= T:
        raise DataError(f"the record has {T} steps but the first {L} are needed as initial "
                        "delay states; give a longer record")
    initial = {}
    for name, a in known.items():
        Lv = nodes[name].lookback
        if Lv:
            part = a[L - Lv:L]
            if np.isnan(part).any():
                raise DataError(f"the initial states of '{name}' (steps {L - Lv}..{L - 1}) "
                                "hold NaN; they must be measured")
            initial[name] = _user(part, batched)
    return ({n: _user(a[L:], batched) for n, a in X.items()},
            {n: _user(a[L:], batched) for n, a in Y.items()}, initial)
