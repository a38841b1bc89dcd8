"""Benchmark: Levenberg–Marquardt training end to end on the cascaded tanks, numpy engines
vs the compiled backend (compiled forward pass and compiled RTRL recursion).

NARX in parallel form (input delays 1:5, feedback delays 1:2, 10 tanh units), trained in
closed loop on the estimation record (T = 1024) for 50 LM epochs from the same weights,
min-max scaled, no early stopping. Both paths must end at the same training loss (to 1e-8
relative; rounding differences are amplified by LM's damping decisions) before they are
timed. Alternating repetitions, medians, BLAS pinned to one thread; the compiled backend's
cache is warmed first (its one-off load is reported separately).

Run:  python bench/bench_lm_tanks.py [PATH/dataBenchmark.csv] [--repeats 5] [--epochs 50]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import dyngraph as dg  # noqa: E402
from timing import blas_note, duel, format_table  # noqa: E402

DEFAULT = os.path.join(HERE, "..", "..", "shared", "data", "cascaded_tanks",
                       "dataBenchmark.csv")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=50)
    args = ap.parse_args(argv)
    d = np.genfromtxt(args.path, delimiter=",", names=True)
    u, y = d["uEst"], d["yEst"]
    net = dg.narx(input_delays="1:5", feedback_delays="1:2", hidden=10)

    def run(backend):
        return dg.train(net, u, y, method="lm", epochs=args.epochs, max_fail=None,
                        normalize="minmax", backend=backend)

    t = time.perf_counter()
    first = run("compiled")
    warm = time.perf_counter() - t
    ref = run("numpy")
    rel = abs(first.loss - ref.loss) / abs(ref.loss)
    assert rel < 1e-8, f"the two paths differ: {first.loss!r} vs {ref.loss!r}"
    times = duel(lambda: run("numpy"), lambda: run("compiled"), repeats=args.repeats)
    print(blas_note())
    print(f"LM, {args.epochs} epochs, NARX 1:5/1:2 H=10 parallel, T={len(y)}; final loss "
          f"{ref.loss:.9f} (paths agree to {rel:.1e} relative); first compiled run "
          f"(cache load included) {warm:.2f} s")
    print(format_table(["backend", "s (median)", "speed-up"],
                       [["numpy engines", f"{times.med_a:.3f}", "1.0x"],
                        ["compiled", f"{times.med_b:.3f}", f"{times.med_a / times.med_b:.1f}x"]]))


if __name__ == "__main__":
    main()
