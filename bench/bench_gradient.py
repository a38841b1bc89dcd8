"""Benchmark: dyngraph ``net.gradient`` (BPTT and RTRL) vs hand-written numpy gradients.

Each case builds the reference's network from an inline spec with the reference's weights,
checks that loss and gradient agree (gradient to 1e-10 relative to its largest entry) and
only then times both side by side in this one process, alternating; medians and ratio.
Bars: BPTT dyngraph / reference <= 1.3; RTRL <= 1.5 (reference: hand-written batched RTRL).

Run (from the repository root):  python bench/bench_gradient.py [--repeats 11] [--only bptt]
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

BARS = {"bptt": 1.3, "rtrl": 1.5}
TOL = 1e-10

#: (method, label, reference net, sizes, T, Q)
CASES = [
    ("bptt", "FTDNN  Q=32 T=2000 H=20 TDL 0:9", "ftdnn", {"H": 20, "D": 10}, 2000, 32),
    ("bptt", "Elman  Q=32 T=200  H=32", "elman", {"H": 32}, 200, 32),
    ("bptt", "Elman  Q=1  T=1000 H=10", "elman", {"H": 10}, 1000, 1),
    ("bptt", "LSTM   Q=32 T=200  H=32 R=3", "lstm", {"H": 32, "R": 3}, 200, 32),
    ("bptt", "NARX   Q=32 T=1000 H=10", "narx", {"H": 10}, 1000, 32),
    ("rtrl", "Elman  Q=32 T=200  H=10", "elman", {"H": 10}, 200, 32),
    ("rtrl", "NARX   Q=32 T=1000 H=10", "narx", {"H": 10}, 1000, 32),
]

REFERENCE = {"bptt": refs._GRAD, "rtrl": refs._RTRL}


def check_same(loss_dg, g_dg, loss_ref, g_ref, label):
    """Raise unless the losses and flat gradients agree; return the relative error."""
    if not abs(loss_dg - loss_ref) <= TOL * max(1.0, abs(loss_ref)):
        raise AssertionError(f"{label}: losses differ: {loss_dg!r} vs {loss_ref!r}")
    rel = float(np.max(np.abs(g_dg - g_ref)) / np.max(np.abs(g_ref)))
    if not rel <= TOL:
        raise AssertionError(f"{label}: gradients differ, max relative error {rel:.3g}")
    return rel


def run_case(method, label, net, sizes, T, Q, repeats):
    p = refs.make_params(net, sizes, seed=0)
    u, y = refs.make_data(net, sizes, T, Q, seed=1)
    dnet = ref_nets.build(net, sizes, p)
    U, Y = ref_nets.user(u), ref_nets.user(y)
    ref_fn = REFERENCE[method][net]
    loss_ref, g_ref = ref_fn(p, u, y)
    loss_dg, g_dg = dnet.gradient(U, Y, method=method, loss="mse")
    rel = check_same(loss_dg, g_dg, loss_ref, ref_nets.ref_grad_to_flat(dnet, net, g_ref), label)
    d = duel(lambda: ref_fn(p, u, y), lambda: dnet.gradient(U, Y, method=method, loss="mse"),
             repeats=repeats)
    bar = BARS[method]
    return [method.upper(), label, f"{d.med_a * 1e3:.2f}", f"{d.med_b * 1e3:.2f}",
            f"{d.ratio:.2f}", f"<= {bar}", "yes" if d.ratio <= bar else "**no**", f"{rel:.1e}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=11, help="timed samples per side")
    ap.add_argument("--only", choices=sorted(BARS), help="run one method's cases only")
    args = ap.parse_args(argv)
    print(f"# gradient: dyngraph vs hand-written numpy ({blas_note()}; "
          f"median of {args.repeats} interleaved samples)")
    rows = []
    for case in CASES:
        if args.only and case[0] != args.only:
            continue
        rows.append(run_case(*case, repeats=args.repeats))
        print("  done:", case[0], case[1], file=sys.stderr, flush=True)
    print(format_table(["method", "case", "reference ms", "dyngraph ms", "ratio", "bar",
                        "met", "max rel |dg|"], rows))


if __name__ == "__main__":
    main()
