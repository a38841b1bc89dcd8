"""Least squares for nets linear in their parameters (ARX and its relatives).

In series-parallel form an ARX model's one-step errors are linear in its weights,
e(θ) = e(0) + J θ with J the (exact, constant) Jacobian; one least-squares solve gives the
optimum, the classical ARX fit. :func:`fit_least_squares` does that for any net whose
layers are all linear sums, and hands back the net in the form it was given (parallel
nets are opened for the fit and closed again). It is the baseline an identification result
should beat, and a good start for a net that contains a linear path.
"""
from __future__ import annotations

import numpy as np

from ..engines.records import DataError
from .prepare import feedback_inputs, preparets

__all__ = ["fit_least_squares", "fit_linear_path", "linear_path_blocks"]


def _is_linear(net) -> bool:
    for layer in net.spec.layers:
        if layer.transfer != "linear" or layer.net != "sum":
            return False
    return not net.spec.memories or all(m.kind == "tdl" for m in net.spec.memories)


def fit_least_squares(net, inputs, targets, rcond=None):
    """The least-squares weights of a net linear in its parameters.

    Parameters
    ----------
    net : Net with linear sum layers only (e.g. ``dg.arx(...)``), parallel or series-parallel
    inputs, targets : as for ``dg.train`` (a parallel net's fed-back outputs are the
                      measured targets during the fit; the first L samples serve as the
                      initial delay states)

    Returns
    -------
    Net, a copy with the fitted weights, in the same form as ``net``

    Raises
    ------
    ValueError : a nonlinear layer (use ``dg.train``)

    Examples
    --------
    >>> import numpy as np, dyngraph as dg
    >>> u = np.random.default_rng(0).standard_normal(300)
    >>> y = np.zeros(300)
    >>> for t in range(2, 300):
    ...     y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + 0.8 * u[t - 1]
    >>> fit = dg.fit_least_squares(dg.arx(input_delays="1:1", feedback_delays="1:2"), u, y)
    >>> np.round(fit.get("y.W[y]"), 6), np.round(fit.get("y.W[u]"), 6)
    (array([[ 0.5, -0.2]]), array([[0.8]]))
    """
    if not _is_linear(net):
        raise ValueError(f"fit_least_squares: net '{net.name}' has nonlinear layers; "
                         "least squares fits linear sums only (use dg.train)")
    was_parallel = not feedback_inputs(net) and any(
        l.source in net.outputs and min(l.delays) >= 1
        for layer in net.spec.layers for l in layer.links)
    work = net.openloop() if was_parallel else net.copy()
    # The record's first L samples are the initial delay states, not errors against a zero
    # history (as MATLAB's preparets does).
    X, Y, Xi = preparets(work, inputs, targets)
    work.params = np.zeros(work.n_params)
    e0, J = work.jacobian(X, Y, initial=Xi, backend="numpy")
    if J.shape[0] < J.shape[1]:
        raise DataError(f"fit_least_squares: {J.shape[0]} targets for {J.shape[1]} "
                        "parameters; give a longer record")
    theta, *_ = np.linalg.lstsq(J, -e0, rcond=rcond)
    work.params = theta
    return work.closeloop() if was_parallel else work


def linear_path_blocks(net):
    """(fit, zero): the output layers' learnable blocks of the linear path — the weights of
    links from inputs and from output layers, and the biases — and the weights of their
    links from hidden layers.

    Raises
    ------
    ValueError : an output layer that is not a linear sum, or no direct link at all
    """
    outputs, inputs = set(net.outputs), set(net.inputs)
    learn = {b.name: b for b in net.plan.blocks if b.learn}
    fit, zero = [], []
    for layer in net.spec.layers:
        if layer.name not in outputs:
            continue
        if layer.transfer != "linear" or layer.net != "sum":
            raise ValueError(f"linear path: output layer '{layer.name}' is not a linear sum "
                             f"(transfer {layer.transfer}, net {layer.net})")
        for link in layer.links:
            name = f"{layer.name}.W[{link.source}]"
            if name in learn:
                (fit if link.source in inputs | outputs else zero).append(name)
        if f"{layer.name}.b" in learn:
            fit.append(f"{layer.name}.b")
    if not any(".W[" in n for n in fit):
        raise ValueError(f"linear path: no output layer of net '{net.name}' reads an input or "
                         "an output directly (build it with a linear path, e.g. "
                         "dg.narx(..., linear=True))")
    return fit, zero


def fit_linear_path(net, inputs, targets, rcond=None):
    """Start a net with a linear path at its least-squares ARX.

    The output layers' links from hidden layers are set to zero, so the net *is* the ARX
    model made of its direct links; those links and the output biases get their
    least-squares values (one-step errors, the record's first L samples as initial delay
    states, as :func:`fit_least_squares`). Training then starts from the linear model and
    can only improve on it in the loss it minimises. Hidden weights are kept (their
    gradient flows again as soon as the hidden-to-output weights move).

    Parameters
    ----------
    net : Net whose output layers are linear sums reading inputs / fed-back outputs
          directly (``dg.narx(..., linear=True)``), parallel or series-parallel
    inputs, targets : as for ``dg.train``

    Returns
    -------
    Net, a copy, in the same form as ``net``

    Examples
    --------
    >>> import numpy as np, dyngraph as dg
    >>> u = np.random.default_rng(0).standard_normal(300)
    >>> y = np.zeros(300)
    >>> for t in range(2, 300):
    ...     y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + 0.8 * u[t - 1]
    >>> net = dg.fit_linear_path(dg.narx(input_delays="1:1", hidden=3, linear=True), u, y)
    >>> np.round(net.get("y.W[y]"), 6), float(abs(net.get("y.W[h]")).max())
    (array([[ 0.5, -0.2]]), 0.0)
    """
    fit, zero = linear_path_blocks(net)
    was_parallel = not feedback_inputs(net) and any(
        l.source in net.outputs and min(l.delays) >= 1
        for layer in net.spec.layers for l in layer.links)
    work = net.openloop() if was_parallel else net.copy()
    fit, zero = linear_path_blocks(work)
    for name in zero:
        work.set(name, np.zeros_like(work.get(name)))
    for name in fit:
        work.set(name, np.zeros_like(work.get(name)))
    X, Y, Xi = preparets(work, inputs, targets)
    e0, J = work.jacobian(X, Y, initial=Xi, backend="numpy")
    blocks = {b.name: b for b in work.plan.blocks}
    cols = np.concatenate([np.arange(blocks[n].offset, blocks[n].offset + blocks[n].size)
                           for n in fit])
    rows = np.isfinite(e0)
    if rows.sum() < cols.size:
        raise DataError(f"fit_linear_path: {int(rows.sum())} targets for {cols.size} "
                        "linear-path parameters; give a longer record")
    # With the hidden-to-output weights at zero the errors are linear in these blocks, so
    # one solve is the optimum.
    step, *_ = np.linalg.lstsq(J[rows][:, cols], -e0[rows], rcond=rcond)
    theta = work.params
    theta[cols] = step
    work.params = theta
    return work.closeloop() if was_parallel else work
