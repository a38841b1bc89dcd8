"""Benchmark: 8 LM restarts of a NARX on the embedded LocalCluster vs 8 sequential runs.

Run (from the repository root):  python bench/bench_restarts.py [--runs 8] [--epochs 30]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import dyngraph as dg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    net = dg.narx(hidden=[10])
    rng = np.random.default_rng(0)
    u = rng.uniform(-2, 2, 1000)
    y = np.zeros(1000)
    for t in range(1, 1000):
        y[t] = 0.6 * y[t - 1] / (1 + y[t - 1] ** 2) + 0.4 * np.tanh(u[t - 1])
    kw = dict(epochs=args.epochs, divide=(0.8, 0.2), max_fail=None)
    # Warm both sides alike: this process and every worker load the compiled backend's
    # cache once before anything is timed.
    dg.train(net, u, y, seed=0, **kw)
    dg.train(net, u, y, restarts=2 * (os.cpu_count() or 1), **kw)
    t_seq, t_par = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        seq = [dg.train(net, u, y, seed=k, **kw) for k in range(args.runs)]
        t_seq.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        par = dg.train(net, u, y, seed=0, restarts=args.runs, **kw)
        t_par.append(time.perf_counter() - t0)
    same = all(np.array_equal(a.params, b.params) for a, b in zip(seq, par.runs))
    s, p = statistics.median(t_seq), statistics.median(t_par)
    print(f"{args.runs} runs ({args.epochs} epochs each), medians of {args.rounds} rounds: "
          f"sequential {s:.2f} s, on {os.cpu_count()} local workers {p:.2f} s, speed-up "
          f"{s / p:.2f}x; bit-identical: {same}")


if __name__ == "__main__":
    main()
