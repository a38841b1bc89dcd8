"""Benchmark: a dg.sweep of NARX nets on the cascaded tanks, sequential vs local workers.

4 cells (input_delays 1:2 | 1:5 x hidden [5] | [10]) x 2 restarts of LM, early stopping on
the last 20 % of the estimation record (uEst, yEst), minmax scaling. The same sweep runs in
this process (``cluster="sequential"``) and on the embedded LocalCluster (one worker per
core, all 8 runs submitted at once), and, for comparison, cell after cell on the same
cluster (``dg.train(restarts=2)`` per cell); the script checks the runs are bit-identical.

Run (from the repository root):
    python bench/bench_sweep.py [PATH/dataBenchmark.csv] [--epochs 30] [--restarts 2]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import dyngraph as dg  # noqa: E402
from dyngraph.io.data_files import read_data  # noqa: E402

DATA = "/work/shared/data/cascaded_tanks/dataBenchmark.csv"
GRID = {"input_delays": ["1:2", "1:5"], "hidden": [[5], [10]]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=DATA)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--restarts", type=int, default=2)
    args = ap.parse_args()
    rec = read_data(args.data, {"uEst": 1, "yEst": 1}, allow_nan=True)
    u, y = rec["uEst"], rec["yEst"]
    kw = dict(restarts=args.restarts, epochs=args.epochs, divide=(0.8, 0.2),
              normalize="minmax", method="lm")
    dg.train(dg.narx(), u, y, restarts=1, epochs=1)   # start the cluster, warm the workers
    t0 = time.perf_counter()
    seq = dg.sweep(dg.narx, GRID, u, y, cluster="sequential", **kw)
    t_seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = dg.sweep(dg.narx, GRID, u, y, **kw)
    t_par = time.perf_counter() - t0
    t0 = time.perf_counter()                          # cell after cell, each on the cluster
    for cell in seq.configs:
        dg.train(dg.narx(**cell), u, y, **kw)
    t_cells = time.perf_counter() - t0
    same = all(np.array_equal(a.params, b.params)
               for ca, cb in zip(seq.cells, par.cells) for a, b in zip(ca.runs, cb.runs))
    print(par)
    n = len(seq.cells)
    print(f"{n} cells x {args.restarts} restarts: sequential {t_seq:.2f} s, on "
          f"{os.cpu_count()} local workers {t_par:.2f} s (all runs at once; cell after cell "
          f"{t_cells:.2f} s), speed-up {t_seq / t_par:.2f}x; bit-identical: {same}")


if __name__ == "__main__":
    main()
