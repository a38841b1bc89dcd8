"""Data division by time blocks (MATLAB ``divideblock``), done by masking targets.

A record of T steps is cut into consecutive blocks: the first ``train`` fraction of the steps
for training, the next ``val`` fraction for validation, the rest for testing. The same cut
applies to every sequence of a batch.

The blocks are not cut out of the record. The whole record is simulated, and each block's
targets are the record's targets with every step outside the block set to NaN ("no target
here"). For a dynamic network this is the right choice: its state (delayed inputs, feedback,
hidden recurrence) carries across the block boundaries, so the validation block starts from
the state the training block left behind, exactly as when the record is simulated in one
piece. Cutting the record into separate pieces would instead restart each block from zero
initial conditions and distort its first steps.
"""
from __future__ import annotations

from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

__all__ = ["BLOCKS", "block_ranges", "mask_targets"]

BLOCKS = ("train", "val", "test")


def block_ranges(T: int, fractions: Sequence[float]) -> Dict[str, Tuple[int, int]]:
    """Steps [start, stop) of the train, validation and test blocks.

    Parameters
    ----------
    T : number of time steps of the record
    fractions : (train, val) or (train, val, test) non-negative fractions; they are divided
                by their sum, so (0.7, 0.15, 0.15) and (70, 15, 15) are the same

    Returns
    -------
    dict 'train' / 'val' / 'test' -> (start, stop); an empty block has start == stop

    Examples
    --------
    >>> block_ranges(100, (0.7, 0.15, 0.15))
    {'train': (0, 70), 'val': (70, 85), 'test': (85, 100)}
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape not in ((2,), (3,)) or not np.all(np.isfinite(f)) or np.any(f < 0) \
            or f.sum() <= 0:
        raise ValueError(f"divide: expected (train, val[, test]) non-negative fractions, "
                         f"got {tuple(fractions)!r}")
    if f.shape == (2,):
        f = np.append(f, 0.0)
    edges = np.rint(np.cumsum(f / f.sum()) * T).astype(int)
    edges[-1] = T
    if edges[0] < 1:
        raise ValueError(f"divide: the training block of {tuple(fractions)!r} is empty for a "
                         f"record of {T} steps")
    starts = (0, int(edges[0]), int(edges[1]))
    stops = (int(edges[0]), int(edges[1]), int(edges[2]))
    return {name: (a, b) for name, a, b in zip(BLOCKS, starts, stops)}


def mask_targets(targets: Mapping[str, np.ndarray], start: int, stop: int,
                 axis: int = 0) -> Dict[str, np.ndarray]:
    """Copies of ``targets`` with NaN at every step outside [start, stop).

    Parameters
    ----------
    targets : dict name -> array with time along ``axis`` (0 for internal (T, Q, n),
              1 for the batched user layout (Q, T, n))
    """
    out = {}
    for name, a in targets.items():
        m = np.array(a, dtype=float, copy=True)
        index = [slice(None)] * m.ndim
        index[axis] = slice(0, start)
        m[tuple(index)] = np.nan
        index[axis] = slice(stop, None)
        m[tuple(index)] = np.nan
        out[name] = m
    return out
