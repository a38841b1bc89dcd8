"""The pool of spare workspaces of the compiled programs.

A program whose workspace is not read after its run (a simulation's, a backward sweep's)
takes one from here and gives it back: a fresh large workspace costs its page faults on
every call (~0.5 ms at T·Q·H = 5·10⁴).
"""
from __future__ import annotations

__all__ = ["SPARES", "take", "give"]

#: Spare workspaces by size (a few per size, a bounded total), for programs whose
#: workspace is not needed after the run. A list pop / append is atomic, so two threads
#: never share one.
SPARES = {}
BYTES = 256 * 2 ** 20


#: bytes held in the pool (a soft bound: threads may race on it by a workspace or two)
HELD = [0]


def take(n):
    """A spare workspace of n elements, or None."""
    pool = SPARES.get(n)
    try:
        ws = pool.pop() if pool else None
    except IndexError:
        return None
    if ws is not None:
        HELD[0] -= ws.nbytes
    return ws


def give(ws):
    """Keep ``ws`` for a later run (unless the pool is full)."""
    pool = SPARES.setdefault(ws.size, [])
    if len(pool) < 2 and HELD[0] + ws.nbytes <= BYTES:
        pool.append(ws)
        HELD[0] += ws.nbytes
