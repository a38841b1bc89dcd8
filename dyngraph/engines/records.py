"""User arrays <-> internal time-major arrays, with the checks that name what is wrong.

A user passes one sequence as (T, n) or (T,) (n = 1), many as (Q, T, n); a bare array when
the net has one input (or output), or a dict by name. Internally every array is (T, Q, n).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping

import numpy as np

__all__ = ["DataError", "Form", "to_internal", "from_internal", "weights_to_internal",
           "initial_to_internal", "column_names", "is_frame"]


class DataError(ValueError):
    """Data that does not fit the network: wrong names, shapes, lengths, NaN/inf inputs."""


@dataclass(frozen=True)
class Form:
    """How the user gave the data, so results come back the same way."""

    batched: bool
    bare: bool
    flat: bool     # (T,) for a size-1 signal
    index: object = None    # a pandas index: the data came as a DataFrame, results go back so


def column_names(name: str, size: int) -> List[str]:
    """Column names of a signal in a table (CSV file, DataFrame): ``[name]`` when size is 1,
    else ``name[0]``, ….

    >>> column_names("u", 1), column_names("y", 2)
    (['u'], ['y[0]', 'y[1]'])
    """
    if size == 1:
        return [name]
    return [f"{name}[{i}]" for i in range(size)]


def is_frame(data) -> bool:
    """A pandas DataFrame (duck-typed: pandas stays an optional dependency)."""
    return hasattr(data, "columns") and hasattr(data, "to_numpy") and hasattr(data, "index")


def _frame_columns(frame, sizes: Mapping[str, int], what: str):
    """{name: (T, n)} from a DataFrame's columns named like a CSV file's; other columns are
    ignored (one frame may hold inputs and targets)."""
    columns = [str(c) for c in frame.columns]
    out = {}
    for name, size in sizes.items():
        want = column_names(name, size)
        missing = [c for c in want if c not in columns]
        if missing:
            raise DataError(f"{what} '{name}': the data frame has no column "
                            + ", ".join(f"'{m}'" for m in missing)
                            + f" (its columns: {', '.join(columns)})")
        out[name] = frame[[frame.columns[columns.index(c)] for c in want]].to_numpy(
            dtype=float)
    return out


def _one(name, arr, size, what, allow_nan):
    try:
        a = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what} '{name}' is not numeric: {err}") from None
    if a.ndim == 1:
        if size != 1:
            raise DataError(f"{what} '{name}': got shape {a.shape}, expected (T, {size})")
        a3, batched, flat = a[None, :, None], False, True
    elif a.ndim == 2:
        if a.shape[1] != size:
            raise DataError(f"{what} '{name}': got shape {a.shape}, expected (T, {size}) "
                            f"(or (Q, T, {size}) for a batch)")
        a3, batched, flat = a[None], False, False
    elif a.ndim == 3:
        if a.shape[2] != size:
            raise DataError(f"{what} '{name}': got shape {a.shape}, expected (Q, T, {size})")
        a3, batched, flat = a, True, False
    else:
        raise DataError(f"{what} '{name}': got a {a.ndim}-D array, expected (T, n) or (Q, T, n)")
    if a3.shape[0] == 0 or a3.shape[1] == 0:
        raise DataError(f"{what} '{name}' is empty (shape {a.shape}): a record needs at least "
                        "one sequence of at least one time step")
    bad = None if not allow_nan and np.isfinite(a3).all() else (
        ~np.isfinite(a3) if not allow_nan else np.isinf(a3))
    if bad is not None and bad.any():
        b = np.argwhere(bad)[0]
        where = f"sequence {b[0]}, " if batched else ""
        if allow_nan:       # NaN means "no target here"; inf is no value at all
            raise DataError(f"{what} '{name}' has inf at {where}step {b[1]} (element {b[2]}); "
                            "mark a missing target with NaN")
        raise DataError(f"{what} '{name}' has NaN or inf at {where}step {b[1]}"
                        f" (element {b[2]})")
    return np.ascontiguousarray(a3.transpose(1, 0, 2)), Form(batched, False, flat)


def to_internal(data, sizes: Mapping[str, int], what: str = "input", allow_nan: bool = False):
    """Convert user data to {name: (T, Q, n)}.

    Parameters
    ----------
    data : array, dict name -> array, or a pandas DataFrame (columns named like a CSV
           file's: ``u``, or ``u[0]``, ``u[1]`` for a signal of size 2; other columns ignored)
    sizes : dict name -> n, the expected names in order
    what : 'input' or 'target', used in messages
    allow_nan : targets may hold NaN ("no target here"); inputs may not

    Returns
    -------
    arrays : dict name -> (T, Q, n)
    form : Form
    """
    if type(data) is np.ndarray and len(sizes) == 1:
        # The common call, one input as a bare array: straight to its checks.
        (name, size), = sizes.items()
        a, f = _one(name, data, size, what, allow_nan)
        return {name: a}, Form(f.batched, True, f.flat)
    names = list(sizes)
    if is_frame(data):
        arrays, _ = to_internal(_frame_columns(data, sizes, what), sizes, what, allow_nan)
        return arrays, Form(False, False, False, index=data.index)
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or missing:
            msg = []
            if missing:
                msg.append("missing " + ", ".join(f"'{m}'" for m in missing))
            if unknown:
                msg.append("unknown " + ", ".join(f"'{u}'" for u in unknown))
            raise DataError(f"{what}s: " + "; ".join(msg) + f" (expected {', '.join(names)})")
        bare = False
    else:
        if len(names) != 1:
            raise DataError(f"the net has {len(names)} {what}s ({', '.join(names)}): "
                            f"pass a dict by name")
        data, bare = {names[0]: data}, True
    out, forms = {}, []
    for n in names:
        out[n], f = _one(n, data[n], sizes[n], what, allow_nan)
        forms.append(f)
    shapes = {n: a.shape[:2] for n, a in out.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{what}s differ in length or batch size: "
                        + ", ".join(f"{n}: T={s[0]}, Q={s[1]}" for n, s in shapes.items()))
    batched = any(f.batched for f in forms)
    return out, Form(batched, bare, bare and forms[0].flat)


def from_internal(arrays: Mapping[str, np.ndarray], form: Form):
    """Inverse of :func:`to_internal` for results: same form as the user's inputs (a
    DataFrame with the inputs' index when they came as one)."""
    if form.index is not None:
        import pandas as pd
        cols = {}
        for n, a in arrays.items():
            for i, c in enumerate(column_names(n, a.shape[-1])):
                cols[c] = a[:, 0, i]
        return pd.DataFrame(cols, index=form.index)
    out = {}
    for n, a in arrays.items():
        a = a.transpose(1, 0, 2)
        if not form.batched:
            a = a[0]
            if form.flat and a.shape[-1] == 1:
                a = a[:, 0]
        out[n] = np.ascontiguousarray(a)
    if form.bare and len(out) == 1:
        return next(iter(out.values()))
    return out


def weights_to_internal(weights, outputs: Mapping[str, int], T: int, Q: int):
    """User error weights -> {output: weights}: a scalar and a (T,) per-step array pass as
    they are; a target-shaped (T, n) or (Q, T, n) array becomes (T, 1 or Q, n)."""
    if weights is None:
        return None
    if not isinstance(weights, Mapping):
        if len(outputs) != 1:
            raise DataError("weights: the net has several outputs; pass a dict by name")
        weights = {next(iter(outputs)): weights}
    out = {}
    for name, w in weights.items():
        if name not in outputs:
            raise DataError(f"weights: unknown output '{name}' (outputs: "
                            f"{', '.join(outputs)})")
        w = np.asarray(w, dtype=float)
        n = outputs[name]
        if w.ndim == 2:
            w = w[:, None, :]
        elif w.ndim == 3:
            w = w.transpose(1, 0, 2)
        if w.ndim > 1 and w.shape not in ((T, 1, n), (T, Q, n)):
            raise DataError(f"weights '{name}': expected a scalar, (T,), (T, {n}) or "
                            f"(Q, T, {n}) with T={T}, Q={Q}")
        if w.ndim == 1 and w.shape != (T,):
            raise DataError(f"weights '{name}': a 1-D weight array needs T={T} elements, "
                            f"got {w.shape[0]}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise DataError(f"weights '{name}': must be finite and non-negative")
        out[name] = w
    return out


def initial_to_internal(initial, nodes, Q: int):
    """User initial conditions -> {name: (L, Q, n)}.

    Parameters
    ----------
    initial : dict node name -> past values (L, n), (Q, L, n), or (L,) when n = 1 — the
              node's last L values, oldest first (the layout ``simulate`` returns as state)
    nodes : the plan's nodes (name -> NodePlan with ``lookback`` L and ``size`` n)
    """
    if initial is None:
        return None
    if not isinstance(initial, Mapping):
        raise DataError("initial: expected a dict node name -> past values (the state "
                        f"returned by simulate(..., return_state=True)), got "
                        f"{type(initial).__name__}")
    out = {}
    for name, value in initial.items():
        if name not in nodes:
            raise DataError(f"initial: unknown node '{name}'")
        L, n = nodes[name].lookback, nodes[name].size
        if L == 0:
            raise DataError(f"initial: '{name}' is never read with a delay; it has no "
                            f"past to set")
        try:
            a = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as err:
            raise DataError(f"initial '{name}' is not numeric: {err}") from None
        if a.ndim == 1 and n == 1:
            a = a[:, None]
        if a.ndim == 2:
            a = np.broadcast_to(a[None], (Q,) + a.shape)
        if a.shape != (Q, L, n):
            raise DataError(f"initial '{name}': expected ({L}, {n}) or ({Q}, {L}, {n}) "
                            f"(the last {L} past values, oldest first), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise DataError(f"initial '{name}' has NaN or inf")
        out[name] = a.transpose(1, 0, 2)
    return out
