"""Where a program's buffers sit in its one workspace, and what moves in and out at a run.

The buffers a program reads from the caller's arrays come first, side by side, then the
parameters stacked for fused layers (:meth:`.program.Emitter.stacked`) and the transposed
ones (products over few columns), then everything else: so that one ``np.concatenate``
fills all of the first two groups. At Q = 1 every copy
costs its ~0.5–1 µs of Python, which an LSTM from gates paid ~20 times a call (one per
weight block, bias and record), about a tenth of its whole simulation.

A parameter that only feeds a stacked or transposed copy and that no operation reads (an
LSTM's gate weights once fused), or a read-only record no operation reads (a forward cache
of net inputs where the derivative needs the outputs only), keeps its place in the
workspace but is not copied in.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["arrange", "moves", "fill"]


def arrange(shapes, arrays, derived, used, optional=frozenset()):
    """Every buffer's start in the workspace, and its total size.

    Parameters
    ----------
    shapes : the buffers' shapes, by buffer index
    arrays : the array handed in for each buffer (None: one the program owns)
    derived : {buffer: (how, source buffers)} of the buffers filled from parameters
    used : the buffers some operation reads or writes
    optional : arrays to copy in only when used (besides the derived buffers' sources)

    Returns
    -------
    (starts, total) : a tuple of ints, one per buffer, and the workspace's length
    """
    sources = {s for _, srcs in derived.values() for s in srcs} | set(optional)
    first = [b for b, a in enumerate(arrays) if a is not None and _copied(b, sources, used)]
    made = [b for b in range(len(arrays)) if derived.get(b, ("",))[0] in _FLAT]
    placed = set(first) | set(made)
    order = first + made + [b for b in range(len(arrays)) if b not in placed]
    starts, at = [0] * len(arrays), 0
    for b in order:
        starts[b] = at
        at += math.prod(shapes[b])
    return tuple(starts), at


#: derived buffers whose flat content is a concatenation of their sources' own (C order): a
#: stack of rows is its sources one after the other, a transpose is ``source.T``'s
_FLAT = ("stack", "T")


def _copied(b, sources, used):
    return b in used or b not in sources


def moves(starts, shapes, arrays, writes, derived, clean, used, optional=frozenset()):
    """What every run moves, fixed once the program is laid out.

    Returns
    -------
    (fill_in, zero, back, transposed) :
        ``fill_in`` (lo, hi, items): the handed-in arrays, the sources of the stacked
        parameters and the transposed ones (an item (b, "T")) whose flat concatenation is
        the workspace's [lo, hi); ``zero``: (lo, hi) of the own buffers that need zeroing
        (see :meth:`.program.Emitter.alloc`); ``back``: (buffer, lo, hi) of each handed-in
        array the program writes; ``transposed``: (how, sources, lo, hi, shape) of each
        buffer made of several parameters transposed side by side ("stack.T").
    """
    sources = {s for _, srcs in derived.values() for s in srcs} | set(optional)
    span = lambda b: (starts[b], starts[b] + math.prod(shapes[b]))  # noqa: E731
    ins, back, zero, transposed = [], [], [], []
    for b, a in enumerate(arrays):
        if a is not None:
            if _copied(b, sources, used):
                ins.append(b)
            if writes[b]:
                back.append((b, *span(b)))
    made = [b for b in range(len(arrays)) if derived.get(b, ("",))[0] in _FLAT]
    for b in sorted(made, key=starts.__getitem__):
        how, srcs = derived[b]
        ins.extend(srcs if how == "stack" else [(srcs[0], "T")])
    for b in sorted(range(len(arrays)), key=starts.__getitem__):
        if arrays[b] is not None or derived.get(b, ("",))[0] in _FLAT:
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
    n_in = sum(math.prod(shapes[b if isinstance(b, int) else b[0]]) for b in ins)
    # (arrange puts these buffers first: the region starts at 0)
    return (0, n_in, tuple(ins)), tuple(zero), tuple(back), tuple(transposed)


def fill(ws, moved, arrays):
    """Copy a run's inputs into the workspace ``ws`` (see :func:`moves`)."""
    (lo, hi, ins), zero, _, transposed = moved
    if ins:
        np.concatenate([arrays[b] if type(b) is int else arrays[b[0]].T for b in ins],
                       axis=None, out=ws[lo:hi])
    for _, sources, lo, hi, shape in transposed:          # "stack.T"
        np.concatenate([arrays[b].T for b in sources], axis=1, out=ws[lo:hi].reshape(shape))
    for lo, hi in zero:
        ws[lo:hi] = 0.0              # the program's own buffers start at zero
