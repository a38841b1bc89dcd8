"""The ``compile`` subcommand: compile the compiled backend's kernels now, and say what it cost.

dyngraph compile runs a small net through every kernel of the compiled backend — a
simulation (the forward interpreter), a BPTT gradient (the full interpreter), the RTRL
Jacobian (the sensitivity recursion) and online RTRL (its stream kernel) — and prints, per
stage, the seconds it took and how many kernels numba compiled or loaded from its disk
cache. The kernels do not depend on the spec: run it once after installing (a Docker image,
a CI setup step) and no later first call pays the compilation.
"""
from __future__ import annotations

import time

import numpy as np

from .common import EXIT_FAILED, EXIT_OK, CommandError
from ..engines.backend import available
from ..model import loads

__all__ = ["add_commands", "cmd_compile"]

#: A net with every kind of step the kernels take (a recurrent tanh layer, a linear output
#: read back with two delays, a gamma memory): small, so that running it costs nothing.
_SPEC = """
inputs: {u: 1}
memories:
  m: {kind: gamma, from: {u: 0}, order: 2, mu: 0.5}
layers:
  h: {size: 3, transfer: tanh, from: {m: 0, h: 1, y: [1, 2]}}
  y: {size: 1, from: {h: 0}}
outputs: [y]
"""


def add_commands(subparsers) -> None:
    """Add ``compile`` to the CLI's subparsers."""
    p = subparsers.add_parser("compile", help="compile the compiled backend's kernels now "
                                              "(once per machine)",
                              description=__doc__.split("\n\n")[1])
    p.set_defaults(func=cmd_compile)


def _counts(dispatchers):
    """(overloads loaded from the disk cache, overloads in all) over ``dispatchers``."""
    hits = sum(sum(d.stats.cache_hits.values()) for d in dispatchers)
    return hits, sum(len(d.overloads) for d in dispatchers)


def cmd_compile(args) -> int:
    if not available("compiled"):
        raise CommandError("the compiled backend needs numba: pip install numba",
                           code=EXIT_FAILED)
    import numba
    from ..engines.online import OnlineRTRL
    from ..engines.compiled import DISPATCHERS, cache_directory

    where = cache_directory()
    print(f"compiled backend: numba {numba.__version__}; disk cache: "
          f"{where or 'off (DYNGRAPH_CACHE=off): every process compiles'}")
    net = loads(_SPEC, file="<dyngraph compile>")
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal((20, 1)), rng.standard_normal((20, 1))
    stages = [("simulate", "forward interpreter",
               lambda: net.simulate(u, backend="compiled")),
              ("gradient", "full interpreter",
               lambda: net.gradient(u, y, backend="compiled")),
              ("jacobian", "RTRL recursion",
               lambda: net.jacobian(u, y, backend="compiled")),
              ("online", "online RTRL",
               lambda: OnlineRTRL(net, backend="compiled").run(u, y, lr=0.01))]
    total = 0.0
    for name, what, run in stages:
        before = _counts(DISPATCHERS)
        t0 = time.perf_counter()
        run()
        seconds = time.perf_counter() - t0
        total += seconds
        hits, overloads = (a - b for a, b in zip(_counts(DISPATCHERS), before))
        if overloads - hits > 0:
            done = f"compiled {overloads - hits} functions"
        else:
            done = "loaded from the cache" if hits else "nothing new"
        print(f"  {name:9s} ({what}){' ' * (20 - len(what))} {seconds:6.2f} s  {done}")
    print(f"  total {total:.2f} s" + (
        "; later processes load the kernels from the cache" if where else ""))
    return EXIT_OK
