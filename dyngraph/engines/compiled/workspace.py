"""Where a program's buffers sit in its one workspace, and what moves in and out at a run.

The buffers a program reads from the caller's arrays come first, side by side, then the
parameters stacked for fused layers (:meth:`.program.Emitter.stacked`), then everything
else: so that one ``np.concatenate`` fills all of the first two groups. At Q = 1 every copy
costs its ~0.5–1 µs of Python, which an LSTM from gates paid ~20 times a call (one per
weight block, bias and record), about a tenth of its whole simulation.

A parameter that only feeds a stacked or transposed copy and that no operation reads (an
LSTM's gate weights once fused) keeps its place in the workspace but is not copied in.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["arrange", "moves", "fill"]


def arrange(shapes, arrays, derived, used):
    """Every buffer's start in the workspace, and its total size.

    Parameters
    ----------
    shapes : the buffers' shapes, by buffer index
    arrays : the array handed in for each buffer (None: one the program owns)
    derived : {buffer: (how, source buffers)} of the buffers filled from parameters
    used : the buffers some operation reads or writes

    Returns
    -------
    (starts, total) : a tuple of ints, one per buffer, and the workspace's length
    """
    sources = {s for _, srcs in derived.values() for s in srcs}
    first = [b for b, a in enumerate(arrays) if a is not None and _copied(b, sources, used)]
    stacks = [b for b in range(len(arrays)) if derived.get(b, ("",))[0] == "stack"]
    placed = set(first) | set(stacks)
    order = first + stacks + [b for b in range(len(arrays)) if b not in placed]
    starts, at = [0] * len(arrays), 0
    for b in order:
        starts[b] = at
        at += math.prod(shapes[b])
    return tuple(starts), at


def _copied(b, sources, used):
    return b in used or b not in sources


def moves(starts, shapes, arrays, writes, derived, clean, used):
    """What every run moves, fixed once the program is laid out.

    Returns
    -------
    (fill_in, zero, back, transposed) :
        ``fill_in`` (lo, hi, buffers): the handed-in arrays and the sources of the stacked
        parameters whose flat concatenation is the workspace's [lo, hi); ``zero``: (lo, hi)
        of the own buffers that need zeroing (see :meth:`.program.Emitter.alloc`);
        ``back``: (buffer, lo, hi) of each handed-in array the program writes;
        ``transposed``: (how, sources, lo, hi, shape) of each buffer made by transposing
        parameters ("T": one, "stack.T": several, side by side).
    """
    sources = {s for _, srcs in derived.values() for s in srcs}
    span = lambda b: (starts[b], starts[b] + math.prod(shapes[b]))  # noqa: E731
    ins, back, zero, transposed = [], [], [], []
    for b, a in enumerate(arrays):
        if a is not None:
            if _copied(b, sources, used):
                ins.append(b)
            if writes[b]:
                back.append((b, *span(b)))
    stacks = [b for b in range(len(arrays)) if derived.get(b, ("",))[0] == "stack"]
    for b in sorted(stacks, key=starts.__getitem__):
        ins.extend(derived[b][1])      # a stack of rows is its sources' flat concatenation
    for b in sorted(range(len(arrays)), key=starts.__getitem__):
        if arrays[b] is not None or derived.get(b, ("",))[0] == "stack":
            continue
        lo, hi = span(b)
        if b in derived:
            how, srcs = derived[b]
            transposed.append((how, srcs, lo, hi, tuple(shapes[b])))
        elif b not in clean and hi > lo:
            if zero and zero[-1][1] == lo:
                zero[-1] = (zero[-1][0], hi)
            else:
                zero.append((lo, hi))
    n_in = sum(math.prod(shapes[b]) for b in ins)
    lo = min((starts[b] for b in ins), default=0)
    return (lo, lo + n_in, tuple(ins)), tuple(zero), tuple(back), tuple(transposed)


def fill(ws, moved, arrays):
    """Copy a run's inputs into the workspace ``ws`` (see :func:`moves`)."""
    (lo, hi, ins), zero, _, transposed = moved
    if ins:
        np.concatenate([arrays[b] for b in ins], axis=None, out=ws[lo:hi])
    for how, sources, lo, hi, shape in transposed:
        out = ws[lo:hi].reshape(shape)
        if how == "T":
            out[...] = arrays[sources[0]].T
        else:                               # "stack.T"
            np.concatenate([arrays[b].T for b in sources], axis=1, out=out)
    for lo, hi in zero:
        ws[lo:hi] = 0.0              # the program's own buffers start at zero
