"""Losses over the outputs, their adjoints, and the error vector Levenberg–Marquardt needs.

All arrays here are internal (T, Q, n). e = target - output; a NaN target means "no target
there" and is left out everywhere. Error weights w (per output: a scalar, a (T,) array of
per-step weights, or an array of the target's shape) multiply each squared error.

- ``sse``  = Σ w e²
- ``mse``  = sse / (number of target elements that are not NaN)
- ``cross_entropy`` = -Σ w t log(y) / (number of target rows (t, q) that are not NaN), for
  softmax outputs
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

__all__ = ["LOSSES", "loss_and_adjoint", "error_vector", "LossError"]

LOSSES = ("mse", "sse", "cross_entropy")
_TINY = 1e-300


class LossError(ValueError):
    """Unknown loss, or targets that do not fit the outputs."""


def _weights(w, shape):
    if w is None:
        return None
    w = np.asarray(w, dtype=float)
    if w.ndim == 1 and w.shape[0] == shape[0] and len(shape) == 3:
        return w[:, None, None]
    return np.broadcast_to(w, shape)


def loss_and_adjoint(Y: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                     loss: str = "mse", weights: Optional[Mapping] = None):
    """Loss value and dF/dY per output.

    Parameters
    ----------
    Y, targets : dict output name -> (T, Q, n)
    weights : dict output name -> error weights (see module doc), optional

    Returns
    -------
    value : float
    dA : dict output name -> (T, Q, n)
    """
    if loss not in LOSSES:
        raise LossError(f"unknown loss '{loss}' (choose from {', '.join(LOSSES)})")
    weights = weights or {}
    if loss != "cross_entropy" and not weights:
        fast = _squared_without_gaps(Y, targets, loss)
        if fast is not None:
            return fast
    count = 0
    parts = {}
    for name, tgt in targets.items():
        mask = ~np.isnan(tgt)
        count += int(mask.sum()) if loss != "cross_entropy" else int(mask.all(-1).sum())
        parts[name] = (mask, np.where(mask, tgt, 0.0), _weights(weights.get(name), tgt.shape))
    scale = 1.0 if loss == "sse" else 1.0 / max(count, 1)
    value, dA = 0.0, {}
    for name, (mask, tgt, w) in parts.items():
        y = Y[name]
        if loss == "cross_entropy":
            ysafe = np.maximum(y, _TINY)
            term = np.where(mask, -tgt * np.log(ysafe), 0.0)
            grad = np.where(mask, -tgt / ysafe, 0.0)
        else:
            e = np.where(mask, tgt - y, 0.0)
            term = e * e
            grad = -2.0 * e
        if w is not None:
            term = term * w
            grad = grad * w
        value += float(term.sum()) * scale
        dA[name] = grad * scale
    return value, dA


def _squared_without_gaps(Y, targets, loss):
    """mse / sse and their adjoints when no target is NaN and nothing is weighted (the common
    call, at Q = 1 a tenth of a small net's gradient in the masked form); None otherwise."""
    errors = {}
    for name, tgt in targets.items():
        e = Y[name] - tgt
        if np.isnan(e).any():
            if np.isnan(tgt).any():
                return None         # gaps: the masked form
        errors[name] = e
    count = sum(t.size for t in targets.values())
    scale = 1.0 if loss == "sse" else 1.0 / max(count, 1)
    value = 0.0
    for name, e in errors.items():
        flat = e.reshape(-1)
        value += float(np.dot(flat, flat)) * scale
        e *= 2.0 * scale
    return value, errors


def error_vector(Y: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                 weights: Optional[Mapping] = None):
    """The errors LM works on: sqrt(w)·(target − output) at every non-NaN target element.

    Order: outputs in spec order; within one, sequence q, then time t, then element — the
    C order of the user's (Q, T, n) array with NaN targets removed.

    Returns
    -------
    e : (N,) array
    masks : dict name -> (Q, T, n) bool, where each error came from
    scales : dict name -> (Q, T, n) sqrt(w) (ones when unweighted)
    """
    weights = weights or {}
    es, masks, scales = [], {}, {}
    for name, tgt in targets.items():
        w = _weights(weights.get(name), tgt.shape)
        sw = np.ones(tgt.shape) if w is None else np.sqrt(w)
        m = ~np.isnan(tgt)
        e = (tgt - Y[name]) * sw
        es.append(np.swapaxes(e, 0, 1)[np.swapaxes(m, 0, 1)])
        masks[name] = np.swapaxes(m, 0, 1)
        scales[name] = np.swapaxes(np.broadcast_to(sw, tgt.shape), 0, 1)
    return np.concatenate(es) if es else np.zeros(0), masks, scales
