"""Multi-step forecasting in closed loop from the end of a measured record.

What MATLAB users assemble by hand with ``preparets`` + ``closeloop``, in one call:

1. run the *open-loop* (series-parallel) form over the past record, the measured outputs
   fed in as the feedback inputs, to reach the final state;
2. hand that state to the *closed-loop* (parallel) form: a fed-back output layer's delayed
   history is the last measured outputs; every other node keeps its state under its name;
3. simulate the closed-loop form over the future inputs (or for ``steps`` steps when the
   model has no exogenous input, e.g. a NAR model).

It works from either form of the model. A model without output feedback (FIR, TDNN, Elman…)
simply continues from the state its own past simulation ends in.

Generation (``sample='argmax'`` or ``'sample'``): a net trained with softmax outputs gives
probabilities; fed back, they are a blend of symbols, not a symbol. :func:`symbolic` swaps
each softmax output's transfer for the symbol picker, on a copy, so the trained spec is
never edited and the same weights serve both training (differentiable softmax) and
generation (the fed-back value is the one-hot of the picked symbol).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional

import numpy as np

from ..engines.records import DataError, from_internal, to_internal

__all__ = ["forecast", "clocked", "symbolic", "SAMPLE_MODES"]

#: The symbol pickers ``sample=`` takes (transfers of :mod:`dyngraph.kinds.transfers`).
SAMPLE_MODES = ("argmax", "sample")


def symbolic(net, mode):
    """A copy of ``net`` whose softmax output layers pick a symbol instead: their transfer
    becomes ``mode`` ('argmax': the most probable symbol; 'sample': a draw from the
    probabilities). Same weights, scaling and metadata; ``mode=None`` returns ``net``.

    Raises
    ------
    ValueError : an unknown mode, or a net without a softmax output
    """
    if mode is None:
        return net
    if mode not in SAMPLE_MODES:
        raise ValueError(f"sample must be None, 'argmax' or 'sample', got {mode!r}")
    outputs = set(net.outputs)
    if not any(l.name in outputs and l.transfer == "softmax" for l in net.spec.layers):
        found = ", ".join(f"{l.name} ({l.transfer})" for l in net.spec.layers
                          if l.name in outputs) or "none"
        raise ValueError(f"sample='{mode}' replaces the softmax of an output layer, and the "
                         f"net '{net.name}' has none (output layers: {found})")
    layers = tuple(dataclasses.replace(l, transfer=mode)
                   if l.name in outputs and l.transfer == "softmax" else l
                   for l in net.spec.layers)
    new = type(net)(dataclasses.replace(net.spec, layers=layers))
    for block in net.block_names:
        new.set(block, net.get(block))
    new.meta = dict(net.meta)
    return new


def clocked(net):
    """A copy of ``net`` with one extra, unused input of size 1, and its name.

    The engines take the number of steps from the inputs; a net without inputs (a NAR model
    in closed loop) runs with an all-zero clock input of the length wanted. Parameter
    values, scaling and other metadata are carried over.
    """
    from ..language.spec import InputSpec
    name = "_clock"
    while name in net.sizes:
        name += "_"
    spec = dataclasses.replace(net.spec, inputs=tuple(net.spec.inputs) + (InputSpec(name, 1),))
    new = type(net)(spec)
    for block in net.block_names:
        new.set(block, net.get(block))
    new.meta = dict(net.meta)
    if new.meta.get("scaling"):
        record = dict(new.meta["scaling"])
        record["inputs"] = dict(record["inputs"], **{name: {"center": [0.0], "scale": [1.0]}})
        new.meta["scaling"] = record
    return new, name


def _fed(open_net) -> Dict[str, str]:
    """{layer: feedback input} of a series-parallel net."""
    return {i.feedback_of: i.name for i in open_net.spec.inputs if i.feedback_of}


def _last(a: np.ndarray, L: int) -> np.ndarray:
    """The last L steps of a (Q, T, n) array, zero-padded in front when T < L."""
    Q, T, n = a.shape
    if T >= L:
        return a[:, T - L:]
    return np.concatenate([np.zeros((Q, L - T, n)), a], axis=1)


def _batched(arrays):
    """internal (T, Q, n) dict -> user batched (Q, T, n) dict."""
    return {k: v.transpose(1, 0, 2) for k, v in arrays.items()}


def forecast(net, past_inputs, past_outputs, future_inputs=None, steps: Optional[int] = None,
             sample: Optional[str] = None, seed=None):
    """Predict the outputs after a measured record, in closed loop.

    Parameters
    ----------
    net : Net, in open-loop (with ``feedback_of`` inputs) or closed-loop form
    past_inputs : the exogenous inputs over the past record — an array (T, n) / (T,) /
                  (Q, T, n) when there is one, a dict by name when several, None when none
    past_outputs : the measured outputs over the past record, for the fed-back layers: an
                   array when there is one, else a dict by layer name (the name of the
                   feedback input is accepted too); None for a model without output feedback
    future_inputs : the exogenous inputs over the forecast horizon (same forms), or None
    steps : the horizon when the model has no exogenous input (NAR)
    sample : None, 'argmax' or 'sample' — generation: over the horizon, each softmax
             output layer feeds back (and returns) the one-hot of its most probable symbol
             or of a draw from its probabilities (:func:`symbolic`); the past record is
             still run on the measured symbols
    seed : the seed of the draws of ``sample='sample'`` (see
           :func:`dyngraph.kinds.transfers.random_stream`; None: 0, or the stream open)

    Returns
    -------
    the predicted outputs over the horizon, shaped like ``net.simulate`` would return them
    for ``future_inputs`` (or like ``past_outputs`` when forecasting by ``steps``)

    Notes
    -----
    With scaling stored in the net, every argument and the result are in original units.
    """
    fb_inputs = any(i.feedback_of for i in net.spec.inputs)
    open_net = net if fb_inputs else net.openloop()
    closed = symbolic(net.closeloop() if fb_inputs else net, sample)
    fed = _fed(open_net)

    # Past record, batched (Q, T, n) by name.
    past = {}
    if closed.inputs:
        if past_inputs is None:
            raise DataError(f"forecast: past_inputs are needed for the inputs "
                            f"{', '.join(closed.inputs)}")
        X, _ = to_internal(past_inputs, closed.inputs, "past input")
        past.update(_batched(X))
    elif past_inputs is not None and not (isinstance(past_inputs, Mapping) and not past_inputs):
        raise DataError("forecast: the model has no exogenous inputs; pass past_inputs=None")
    measured, out_form = {}, None
    if fed:
        if past_outputs is None:
            raise DataError(f"forecast: past_outputs are needed for the fed-back output(s) "
                            f"{', '.join(fed)}")
        if isinstance(past_outputs, Mapping):
            alias = {v: k for k, v in fed.items()}
            past_outputs = {alias.get(k, k): v for k, v in past_outputs.items()}
        Y, out_form = to_internal(past_outputs, {k: open_net.sizes[k] for k in fed},
                                  "past output")
        measured = _batched(Y)
        past.update({fed[layer]: a for layer, a in measured.items()})
    lengths = {k: v.shape[:2] for k, v in past.items()}
    if len(set(lengths.values())) > 1:
        raise DataError("forecast: past inputs and outputs differ in length or batch size: "
                        + ", ".join(f"{k}: Q={s[0]}, T={s[1]}" for k, s in lengths.items()))

    # 1. the open-loop form over the past record gives the final state.
    state = {}
    if past:
        _, state = open_net.simulate(past, return_state=True)
    Q = next(iter(past.values())).shape[0] if past else 1

    # 2. that state, moved onto the closed-loop form.
    initial = {}
    for name, node in closed.plan.nodes.items():
        L = node.lookback
        if not L:
            continue
        if name in measured:
            initial[name] = _last(measured[name], L)
        elif name in state:
            initial[name] = _last(state[name], L)

    # 3. the closed-loop form over the horizon.
    if closed.inputs:
        if future_inputs is None:
            raise DataError(f"forecast: future_inputs are needed for the inputs "
                            f"{', '.join(closed.inputs)}")
        F, form = to_internal(future_inputs, closed.inputs, "future input")
        Fq = next(iter(F.values())).shape[1]
        if past and Fq != Q:
            raise DataError(f"forecast: future inputs have Q={Fq} sequences, the past "
                            f"record has Q={Q}")
        if steps is not None and steps != next(iter(F.values())).shape[0]:
            raise DataError(f"forecast: steps={steps} disagrees with the future inputs' "
                            f"length {next(iter(F.values())).shape[0]}")
        Y = closed.simulate(_batched(F), initial=initial or None, seed=seed)
    else:
        if future_inputs is not None and not (isinstance(future_inputs, Mapping)
                                              and not future_inputs):
            raise DataError("forecast: the model has no exogenous inputs; give steps "
                            "instead of future_inputs")
        if steps is None or int(steps) < 1:
            raise DataError("forecast: give steps >= 1 (the model has no exogenous inputs)")
        runner, clock = clocked(closed)
        Y = runner.simulate({clock: np.zeros((Q, int(steps), 1))}, initial=initial or None,
                            seed=seed)
        form = out_form
        if form is None:
            raise DataError("forecast: a model with neither exogenous inputs nor output "
                            "feedback has nothing to forecast from")
    internal = {k: v.transpose(1, 0, 2) for k, v in Y.items()}
    return from_internal(internal, form)
