"""Benchmark: dyngraph ``net.simulate`` vs the hand-written numpy references (bench/refs.py).

Each case builds the reference's network from an inline spec, copies the reference's weights
into it, checks that both compute the same outputs (to 1e-10) and only then times them
side by side in this one process, alternating, and reports medians and their ratio.
Bar: dyngraph / reference <= 1.3.

Run (from the repository root):  python bench/bench_simulate.py [--repeats 11]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"          # before numpy is imported anywhere

import argparse  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import ref_nets  # noqa: E402
import refs  # noqa: E402
from timing import blas_note, duel, format_table  # noqa: E402

BAR = 1.3
TOL = 1e-10

#: (label, reference net, sizes, T, Q)
CASES = [
    ("FTDNN  Q=32 T=2000 H=20 TDL 0:9", "ftdnn", {"H": 20, "D": 10}, 2000, 32),
    ("Elman  Q=32 T=200  H=32", "elman", {"H": 32}, 200, 32),
    ("LSTM   Q=32 T=200  H=32 R=3", "lstm", {"H": 32, "R": 3}, 200, 32),
    ("NARX   Q=32 T=1000 H=10 (parallel, 1:2)", "narx", {"H": 10}, 1000, 32),
]


def check_same(Y_dg, Y_ref, label):
    """Raise unless dyngraph's (Q, T, K) outputs equal the reference's (T, Q, K) ones."""
    Y_ref = ref_nets.user(Y_ref)
    err = float(np.max(np.abs(Y_dg - Y_ref)))
    scale = max(1.0, float(np.max(np.abs(Y_ref))))
    if not err <= TOL * scale:
        raise AssertionError(f"{label}: dyngraph and reference outputs differ by {err:.3g}")
    return err


def run_case(label, net, sizes, T, Q, repeats):
    p = refs.make_params(net, sizes, seed=0)
    u, _ = refs.make_data(net, sizes, T, Q, seed=1)
    dnet = ref_nets.build(net, sizes, p)
    U = ref_nets.user(u)
    simulate_ref = refs._SIMULATE[net]
    err = check_same(dnet.simulate(U), simulate_ref(p, u), label)
    d = duel(lambda: simulate_ref(p, u), lambda: dnet.simulate(U), repeats=repeats)
    return [label, f"{d.med_a * 1e3:.2f}", f"{d.med_b * 1e3:.2f}", f"{d.ratio:.2f}",
            "yes" if d.ratio <= BAR else "**no**", f"{err:.1e}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11, help="timed samples per side")
    args = ap.parse_args(argv)
    print(f"# simulate: dyngraph vs hand-written numpy ({blas_note()}; "
          f"median of {args.repeats} interleaved samples)")
    rows = []
    for case in CASES:
        rows.append(run_case(*case, repeats=args.repeats))
        print("  done:", case[0], file=sys.stderr, flush=True)
    print(format_table(["case", "reference ms", "dyngraph ms", "ratio", f"<= {BAR}",
                        "max |dy|"], rows))


if __name__ == "__main__":
    main()
