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

__all__ = ["fit_least_squares"]


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
