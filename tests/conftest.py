"""Shared helpers for the test suite.

Stable names other test files may import (``from conftest import ...``):

- ``SPEC_DIR``: the repository's ``specs/`` directory.
- ``SPECS``: every ``specs/*.yaml`` file (sorted), so a new spec is covered automatically.
- ``REQUIRED_SPECS``: the twelve catalogue files the project promises.
- ``spec_id(path)``: a short pytest id for a spec path.
- ``random_data(net, Q, T, seed)``: random inputs for a net, as the net's user API wants them.
- ``sigmoid(x)``: the logistic function, for hand-written reference loops.
- ``has_stops(net)`` and ``fd_reference(net, inputs, initial)``: the net and data whose
  finite differences check ``net``'s gradients (its detached form when it has
  ``gradient: stop`` links, whose gradients finite differences of ``net`` itself miss).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"
SPECS = sorted(SPEC_DIR.glob("*.yaml"))
REQUIRED_SPECS = (
    "fir", "iir", "ftdnn", "distributed_tdnn", "gamma_ftdnn", "narx_series_parallel",
    "narx_parallel", "layer_recurrent", "jordan", "lstm", "gru", "parity",
)


def spec_id(path) -> str:
    """Test id of a spec file: its stem, e.g. ``narx_parallel``."""
    return Path(path).stem


def random_data(net, Q=None, T=12, seed=0):
    """Random standard-normal inputs for ``net``.

    Parameters
    ----------
    net : dyngraph.Net
    Q : None for one sequence (arrays (T, n)), or the batch size (arrays (Q, T, n))
    T : number of time steps
    seed : seed of the generator

    Returns
    -------
    dict input name -> array (T, n) or (Q, T, n), in ``net.inputs`` order
    """
    rng = np.random.default_rng(seed)
    shape = (lambda n: (T, n)) if Q is None else (lambda n: (Q, T, n))
    return {name: rng.standard_normal(shape(n)) for name, n in net.inputs.items()}


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)) (reference loops only)."""
    return 1.0 / (1.0 + np.exp(-x))


def has_stops(net) -> bool:
    """Whether a link of ``net`` has ``gradient: stop``."""
    return any(link.gradient == "stop" for layer in net.spec.layers for link in layer.links)


def fd_reference(net, inputs, initial=None):
    """(net, inputs, initial) to take finite differences of when checking ``net``'s
    gradients: the same, or for a net with stopped links its detached form and the recorded
    feeds (``Net.detach``), whose true gradient the stopped one is. Parameters come in the
    same flat order; initial values of nodes the detached net no longer reads with a delay
    are left out (the stopped gradient w.r.t. them is zero)."""
    if not has_stops(net):
        return net, inputs, initial
    return net.detach(inputs, initial)


import pytest  # noqa: E402

#: The engines' backends; a module with ``pytestmark = pytest.mark.usefixtures("engine_backend")``
#: runs every test once per backend (through ``DYNGRAPH_BACKEND``).
ENGINE_BACKENDS = ("numpy", "compiled")


@pytest.fixture(params=ENGINE_BACKENDS)
def engine_backend(request, monkeypatch):
    if request.param == "compiled":
        pytest.importorskip("numba")
    monkeypatch.setenv("DYNGRAPH_BACKEND", request.param)
    return request.param
