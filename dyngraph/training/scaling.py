"""Input/output normalisation stored in the model and applied at the Net boundary.

A scaling record is plain JSON-able data kept in ``net.meta["scaling"]``::

    {"method": "minmax",
     "inputs":  {"u": {"center": [0.1], "scale": [2.3]}},
     "outputs": {"y": {"center": [0.0], "scale": [1.5]}}}

Every signal element maps as ``scaled = (x - center) / scale``:

- ``minmax`` (MATLAB ``mapminmax``): center = (max + min) / 2, scale = (max - min) / 2, so
  the fitted data spans [-1, 1];
- ``standard``: center = mean, scale = standard deviation.

Statistics ignore NaN (NaN targets mean "no target"); an element that is constant or has no
finite value gets scale 1 (it is only shifted), so nothing divides by zero.

An input declared ``feedback_of: y`` where ``y`` is a scaled output has no entry of its own:
it always uses y's scaling. That is what keeps ``closeloop()`` consistent: in the closed
loop the layer y (in scaled units) takes the place of the input, and the two agree. An
input that stands for a layer which is not an output is fitted like any other input.

Arrays handled here are internal, (T, Q, n) dicts by name (see :mod:`dyngraph.data`);
:class:`~dyngraph.network.Net` calls these functions on its way in and out.
"""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

import numpy as np

__all__ = ["METHODS", "fit_scaling", "check_scaling", "input_maps", "output_maps",
           "scale_inputs", "scale_outputs", "unscale_outputs", "scale_state"]

METHODS = ("minmax", "standard")


def _fit_one(a: np.ndarray, method: str) -> Dict[str, list]:
    """center/scale of one (T, Q, n) array over time and sequences, per element."""
    flat = a.reshape(-1, a.shape[-1])
    n = flat.shape[1]
    center, scale = np.zeros(n), np.ones(n)
    for j in range(n):
        col = flat[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            continue
        if method == "minmax":
            lo, hi = float(col.min()), float(col.max())
            c, s = (hi + lo) / 2.0, (hi - lo) / 2.0
        else:
            c, s = float(col.mean()), float(col.std())
        center[j] = c
        # A (nearly) constant element would blow up; shift it only.
        scale[j] = s if s > 1e-12 * max(1.0, abs(c)) else 1.0
    return {"center": center.tolist(), "scale": scale.tolist()}


def _feedback_of(net) -> Dict[str, str]:
    return {i.name: i.feedback_of for i in net.spec.inputs if i.feedback_of}


def fit_scaling(net, inputs: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                method: str) -> dict:
    """Fit a scaling record on training data.

    Parameters
    ----------
    net : Net
    inputs : dict input name -> (T, Q, n) internal array
    targets : dict output name -> (T, Q, n) internal array (NaN = no target, ignored)
    method : 'minmax' or 'standard'

    Returns
    -------
    dict, the JSON-able record to store in ``net.meta["scaling"]``
    """
    if method not in METHODS:
        raise ValueError(f"normalize must be one of {', '.join(METHODS)} or None, "
                         f"got {method!r}")
    outputs = {name: _fit_one(targets[name], method) for name in net.outputs}
    fb = _feedback_of(net)
    ins = {name: _fit_one(inputs[name], method) for name in net.inputs
           if fb.get(name) not in outputs}
    return {"method": method, "inputs": ins, "outputs": outputs}


def check_scaling(record, net=None) -> dict:
    """Validate a scaling record (e.g. read from a file); with ``net``, also that it covers
    the net's inputs and outputs with the right sizes. Returns the record."""
    if not isinstance(record, Mapping) or record.get("method") not in METHODS:
        raise ValueError(f"scaling: expected a record with method in {METHODS}, got "
                         f"{record!r:.200}")
    for part in ("inputs", "outputs"):
        if not isinstance(record.get(part), Mapping):
            raise ValueError(f"scaling: '{part}' must be a mapping name -> "
                             f"{{center, scale}}")
        for name, entry in record[part].items():
            try:
                c = np.asarray(entry["center"], dtype=float)
                s = np.asarray(entry["scale"], dtype=float)
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"scaling.{part}.{name}: needs numeric lists 'center' and "
                                 f"'scale'") from None
            if c.ndim != 1 or c.shape != s.shape or not np.all(np.isfinite(c)) \
                    or not np.all(np.isfinite(s)) or np.any(s == 0):
                raise ValueError(f"scaling.{part}.{name}: center and scale must be equal-"
                                 f"length lists of finite numbers, scale non-zero")
    if net is not None:
        input_maps(net, record)
        output_maps(net, record)
    return record


def _pair(entry, name, size, what) -> Tuple[np.ndarray, np.ndarray]:
    c = np.asarray(entry["center"], dtype=float)
    s = np.asarray(entry["scale"], dtype=float)
    if c.shape != (size,):
        raise ValueError(f"scaling of {what} '{name}' has {c.size} elements, the net's "
                         f"{what} has {size}")
    return c, s


def output_maps(net, record) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """{output name: (center, scale)}; every output must be covered."""
    out = {}
    for name, size in net.outputs.items():
        if name not in record["outputs"]:
            raise ValueError(f"the scaling stored in the net has no entry for output '{name}'")
        out[name] = _pair(record["outputs"][name], name, size, "output")
    return out


def input_maps(net, record) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """{input name: (center, scale)}; a ``feedback_of`` input uses its output's entry."""
    fb = _feedback_of(net)
    out = {}
    for name, size in net.inputs.items():
        if fb.get(name) in record["outputs"]:
            out[name] = _pair(record["outputs"][fb[name]], name, size, "input")
        elif name in record["inputs"]:
            out[name] = _pair(record["inputs"][name], name, size, "input")
        else:
            raise ValueError(f"the scaling stored in the net has no entry for input '{name}'")
    return out


def scale_inputs(net, record, X: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Original -> scaled units for a dict of internal input arrays."""
    maps = input_maps(net, record)
    return {k: (v - maps[k][0]) / maps[k][1] for k, v in X.items()}


def scale_outputs(net, record, Y: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Original -> scaled units for output (target) arrays; NaN stays NaN."""
    maps = output_maps(net, record)
    return {k: (v - maps[k][0]) / maps[k][1] for k, v in Y.items()}


def unscale_outputs(net, record, Y: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Scaled -> original units for output arrays."""
    maps = output_maps(net, record)
    return {k: v * maps[k][1] + maps[k][0] for k, v in Y.items()}


def scale_state(net, record, state: Mapping[str, np.ndarray], mode: str
                ) -> Dict[str, np.ndarray]:
    """Convert a state dict (node -> (..., n) past values) at the boundary.

    Input and output nodes are in original units outside the net, scaled inside; hidden
    nodes have no original units and pass unchanged.

    mode : 'in' (original -> scaled), 'out' (scaled -> original) or 'grad' (a gradient
           w.r.t. scaled values -> w.r.t. original values)
    """
    maps = dict(input_maps(net, record))
    maps.update(output_maps(net, record))
    out = {}
    for name, a in state.items():
        if name not in maps:
            out[name] = a
            continue
        c, s = maps[name]
        if mode == "in":
            out[name] = (a - c) / s
        elif mode == "out":
            out[name] = a * s + c
        elif mode == "grad":
            out[name] = a / s
        else:
            raise ValueError(f"mode must be 'in', 'out' or 'grad', got {mode!r}")
    return out
