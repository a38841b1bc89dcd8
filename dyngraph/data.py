"""User arrays <-> internal time-major arrays, with the checks that name what is wrong.

A user passes one sequence as (T, n) or (T,) (n = 1), many as (Q, T, n); a bare array when
the net has one input (or output), or a dict by name. Internally every array is (T, Q, n).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping

import numpy as np

__all__ = ["DataError", "Form", "to_internal", "from_internal"]


class DataError(ValueError):
    """Data that does not fit the network: wrong names, shapes, lengths, NaN/inf inputs."""


@dataclass(frozen=True)
class Form:
    """How the user gave the data, so results come back the same way."""

    batched: bool
    bare: bool
    flat: bool     # (T,) for a size-1 signal


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
    if not allow_nan and not np.all(np.isfinite(a3)):
        bad = np.argwhere(~np.isfinite(a3))[0]
        where = f"sequence {bad[0]}, " if batched else ""
        raise DataError(f"{what} '{name}' has NaN or inf at {where}step {bad[1]}"
                        f" (element {bad[2]})")
    return np.ascontiguousarray(a3.transpose(1, 0, 2)), Form(batched, False, flat)


def to_internal(data, sizes: Mapping[str, int], what: str = "input", allow_nan: bool = False):
    """Convert user data to {name: (T, Q, n)}.

    Parameters
    ----------
    data : array or dict name -> array
    sizes : dict name -> n, the expected names in order
    what : 'input' or 'target', used in messages
    allow_nan : targets may hold NaN ("no target here"); inputs may not

    Returns
    -------
    arrays : dict name -> (T, Q, n)
    form : Form
    """
    names = list(sizes)
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
    """Inverse of :func:`to_internal` for results: same form as the user's inputs."""
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
