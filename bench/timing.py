"""Side-by-side timing for the benchmarks: interleaved repetitions, medians, a text table.

Import this module only *after* the BLAS thread variables are set (every ``bench_*.py``
script does that in its first lines, before anything imports numpy): a 2-core shared
machine swings absolute times by ±40 %, so only ratios measured side by side in one process
mean anything, and multi-threaded BLAS would add its own noise.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

__all__ = ["BLAS_VARS", "Duel", "duel", "format_table", "blas_note"]


@dataclass
class Duel:
    """Timings of two callables measured alternately.

    Attributes
    ----------
    a, b : list of float — seconds per call, one entry per repetition
    """

    a: List[float]
    b: List[float]

    @property
    def med_a(self) -> float:
        return statistics.median(self.a)

    @property
    def med_b(self) -> float:
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        """median(b) / median(a)."""
        return self.med_b / self.med_a


def _calls_per_sample(fn: Callable[[], object], min_sample: float) -> int:
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(round(min_sample / once)))


def _sample(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def duel(a: Callable[[], object], b: Callable[[], object], repeats: int = 11,
         min_sample: float = 0.05) -> Duel:
    """Time ``a`` and ``b`` alternately ``repeats`` times (who goes first alternates too).

    Each sample loops a call enough times to last about ``min_sample`` seconds (calibrated
    separately for ``a`` and ``b`` after one warm-up call each) and records seconds per call.
    """
    na = _calls_per_sample(a, min_sample)
    nb = _calls_per_sample(b, min_sample)
    ta, tb = [], []
    for r in range(repeats):
        if r % 2 == 0:
            ta.append(_sample(a, na))
            tb.append(_sample(b, nb))
        else:
            tb.append(_sample(b, nb))
            ta.append(_sample(a, na))
    return Duel(ta, tb)


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-markdown table (also readable as plain text)."""
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa
    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def blas_note() -> str:
    """One line stating the BLAS thread settings this process runs with."""
    env: Dict[str, str] = {v: os.environ.get(v, "unset") for v in BLAS_VARS}
    return ", ".join(f"{k}={v}" for k, v in env.items())
