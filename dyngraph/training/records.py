"""Training data at the boundary: the user's records read and checked into the engines'
internal (T, Q, n) layout, and the batched (Q, T, n) layout the training loops hand to the
net's public API."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..engines.records import DataError, to_internal
from .prepare import fill_feedback

__all__ = ["as_batched", "read_records", "weights_batched"]


def as_batched(arrays):
    return {k: np.ascontiguousarray(v.transpose(1, 0, 2)) for k, v in arrays.items()}


def read_records(net, inputs, targets, what=""):
    """User data -> internal (T, Q, n) dicts, checked against the net; ``feedback_of``
    inputs left out are taken from the targets (series-parallel from a plain record)."""
    inputs = fill_feedback(net, inputs, targets)
    Y, _ = to_internal(targets, net.outputs, what + "target", allow_nan=True)
    T, Q = next(iter(Y.values())).shape[:2]
    if net.inputs:
        if inputs is None:
            raise DataError(f"train: {what}inputs are needed for {', '.join(net.inputs)}")
        X, _ = to_internal(inputs, net.inputs, what + "input")
        shape = next(iter(X.values())).shape[:2]
        if shape != (T, Q):
            raise DataError(f"{what}targets have T={T}, Q={Q} but {what}inputs have "
                            f"T={shape[0]}, Q={shape[1]}")
    else:
        if inputs is not None and not (isinstance(inputs, Mapping) and not inputs):
            raise DataError("train: the net has no inputs; pass inputs=None")
        X = {}
    return X, Y


def weights_batched(net, weights, T, Q):
    """User weights -> {output: scalar, (T,) or (Q, T, n)} via the facade's checks."""
    W = net._weights(weights, T, Q)
    if W is None:
        return None
    return {k: (np.ascontiguousarray(np.broadcast_to(w, (T, Q, w.shape[2])).transpose(1, 0, 2))
                if np.ndim(w) == 3 else w) for k, w in W.items()}
