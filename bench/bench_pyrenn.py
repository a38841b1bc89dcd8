"""Benchmark: dyngraph vs pyrenn — RTRL Jacobian and Levenberg–Marquardt training.

Two processes. This one (dyngraph's environment) writes each case's data and architecture to
a temporary .npz and runs ``bench/pyrenn_driver.py`` with the pyrenn environment's Python;
the driver creates the pyrenn net (seeded), and returns its initial weights, its data
scaling, its RTRL Jacobian and timings (and, with ``--lm``, a ``train_LM`` run). This side
builds the same architecture as a dyngraph spec (bench/pyrenn_nets.py), copies pyrenn's
weights into it, feeds it pyrenn's scaled data (P / normP, Y / normY), and checks that
``net.jacobian(method="rtrl")`` gives the same errors and Jacobian (to 1e-9, relative to the
largest entry; both use e = target − output and J = de/dw) before timing it.

Cases: pyrenn's four example nets on its example data (../shared/data/pyrenn/, training
records) and pyrenn's 1762-weight net [2, 20, 20, 1], dIntern=[1], dOut=[1, 2] on T=1000
synthetic steps. Bars: Jacobian >= 5x faster; LM training: final error equal or better and
time >= 5x less with the same initial weights and number of iterations.

Setup:  python -m venv /work/pyrenn-env && /work/pyrenn-env/bin/pip install pyrenn numpy pandas
Run:    python bench/bench_pyrenn.py [--lm ITERS] [--python /work/pyrenn-env/bin/python]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"          # before numpy is imported anywhere (inherited by the driver)

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import pyrenn_nets  # noqa: E402
from timing import blas_note, format_table  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "shared", "data", "pyrenn")
PYRENN_PYTHON = "/work/pyrenn-env/bin/python"
JAC_TOL = 1e-9
BAR = 5.0

#: name -> (CSV file or None, input columns, output columns, nn, dIn, dIntern, dOut)
CASES = {
    "friction": ("friction", ["P"], ["Y"], [1, 3, 3, 1], [0], [], []),
    "pt2": ("pt2", ["P"], ["Y"], [1, 2, 2, 1], [0], [1], [1, 2]),
    "narendra4": ("narendra4", ["P"], ["Y"], [1, 3, 3, 1], [1, 2], [], [1, 2, 3]),
    "compressed_air": ("compressed_air", ["P1", "P2", "P3"], ["Y1", "Y2"], [3, 5, 5, 2],
                       [0], [], [1]),
    "big1762": (None, None, None, [2, 20, 20, 1], [0], [1], [1, 2]),
}


def load_case(name):
    """Raw training data of a case: P (nIn, T), Y (nOut, T)."""
    csv, pcols, ycols = CASES[name][:3]
    if csv is None:
        return synthetic_plant(T=1000, seed=7)
    a = np.genfromtxt(os.path.join(DATA, csv + ".csv"), delimiter=",", names=True)
    P = np.array([a[c] for c in pcols])
    Y = np.array([a[c] for c in ycols])
    keep = ~(np.isnan(P).any(0) | np.isnan(Y).any(0))   # friction's training record is short
    return P[:, keep], Y[:, keep]


def synthetic_plant(T, seed):
    """Two random staircase inputs and a nonlinear second-order plant's output."""
    rng = np.random.default_rng(seed)
    P = np.repeat(rng.uniform(-1, 1, (2, T // 20 + 1)), 20, axis=1)[:, :T]
    y = np.zeros(T)
    for t in range(2, T):
        y[t] = 0.6 * y[t - 1] - 0.15 * y[t - 2] + np.tanh(P[0, t - 1]) * (1 + 0.5 * P[1, t - 1])
    return P, y[None]


def run_driver(python, name, P, Y, seed, jac_repeats, lm_iters):
    nn, dIn, dIntern, dOut = CASES[name][3:]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(src, nn=np.array(nn), dIn=np.array(dIn, dtype=int),
                 dIntern=np.array(dIntern, dtype=int), dOut=np.array(dOut, dtype=int),
                 P=P, Y=Y, seed=seed, jac_repeats=jac_repeats, lm_iters=lm_iters)
        proc = subprocess.run([python, os.path.join(HERE, "pyrenn_driver.py"), src, dst],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode:
            raise RuntimeError(f"pyrenn driver failed on {name}:\n{proc.stderr}")
        with np.load(dst, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}


def median_time(fn, repeats, min_sample=0.05):
    fn()
    t0 = time.perf_counter()
    fn()
    n = max(1, int(round(min_sample / max(time.perf_counter() - t0, 1e-7))))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def scaled(P, Y, out):
    """pyrenn's scaling (each row divided by max(max|row|, 1)), in dyngraph's (T, n) layout."""
    return (P / out["normP"][:, None]).T.copy(), (Y / out["normY"][:, None]).T.copy()


def checked_jacobian(name, out, P, Y):
    """The dyngraph net of case ``name`` with pyrenn's weights, after checking that its RTRL
    errors, SSE and Jacobian equal pyrenn's; returns (timed call, net, T, J error)."""
    nn, dIn, dIntern, dOut = CASES[name][3:]
    dnet, pos = pyrenn_nets.build(nn, dIn, dIntern, dOut, out["w0"], out)
    U, Yt = scaled(P, Y, out)
    e, J = dnet.jacobian(U, Yt, method="rtrl")
    Jp = np.empty_like(J)
    Jp[:, pos] = J                                   # dyngraph columns -> pyrenn's order
    e_err = float(np.max(np.abs(e - out["e"])) / max(np.max(np.abs(out["e"])), 1e-300))
    J_err = float(np.max(np.abs(Jp - out["J"])) / np.max(np.abs(out["J"])))
    sse_err = abs(float(e @ e) - float(out["E"])) / float(out["E"])
    if not (e_err <= JAC_TOL and J_err <= JAC_TOL and sse_err <= JAC_TOL):
        raise AssertionError(f"{name}: dyngraph and pyrenn differ (e {e_err:.2g}, "
                             f"J {J_err:.2g}, SSE {sse_err:.2g})")
    return (lambda: dnet.jacobian(U, Yt, method="rtrl")), dnet, U.shape[0], J_err


def jacobian_row(name, dnet, T, J_err, t_py, t_dg):
    """Table row from per-round timings (medians over rounds)."""
    t_py, t_dg = float(np.median(t_py)), float(np.median(t_dg))
    speed = t_py / t_dg
    return [name, dnet.n_params, T, f"{J_err:.1e}", f"{t_py * 1e3:.1f}", f"{t_dg * 1e3:.2f}",
            f"{speed:.1f}x", "yes" if speed >= BAR else "**no**"]


#: dyngraph LM variants: (label, options of dg.train). trainlm's default starting damping
#: mu = 1e-3, and pyrenn's train_LM schedule (dampfac 3.0, /10 on success, x10 on failure),
#: with which both should follow the same path.
LM_VARIANTS = [("mu0=1e-3 (trainlm)", {}), ("mu0=3 (pyrenn's)", {"mu": 3.0})]


def lm_case(name, out, P, Y, iters):
    """dyngraph LM from pyrenn's initial weights for ``iters`` epochs vs pyrenn's train_LM;
    one table row per variant of :data:`LM_VARIANTS`."""
    import dyngraph as dg
    train = getattr(dg, "train", None)
    if not callable(train):                # not (yet) re-exported by dyngraph/__init__.py
        from dyngraph.training.train import train
    nn, dIn, dIntern, dOut = CASES[name][3:]
    dnet, _ = pyrenn_nets.build(nn, dIn, dIntern, dOut, out["w0"], out)
    U, Yt = scaled(P, Y, out)
    E_py, t_py = float(out["E_lm"]), float(out["lm_time"])
    rows = []
    for label, options in LM_VARIANTS:
        t0 = time.perf_counter()
        # All the data is training data (no validation stop), min_grad=0 so that only the
        # epoch count (or mu reaching mu_max) ends it, as pyrenn's k_max does.
        result = train(dnet, U, Yt, method="lm", epochs=iters, min_grad=0.0, **options)
        t_dg = time.perf_counter() - t0
        r = Yt - result.net.simulate(U).reshape(Yt.shape)
        E_dg = float(np.sum(r * r))
        speed = t_py / t_dg
        ok = E_dg <= E_py * (1 + 1e-9) and speed >= BAR
        done = int(result.history["epoch"][-1])
        rows.append([name, label, iters, f"{float(out['E']):.4g}", f"{E_py:.6g}",
                     f"{E_dg:.6g}", f"{done} ({result.stop_reason})", f"{t_py:.2f}",
                     f"{t_dg:.3f}", f"{speed:.1f}x", "yes" if ok else "**no**"])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=PYRENN_PYTHON, help="Python of the pyrenn environment")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--repeats", type=int, default=7, help="timed dyngraph samples")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds per case; each round times one pyrenn RTRL call (a fresh "
                         "driver process) and then dyngraph (median of --repeats)")
    ap.add_argument("--lm", type=int, default=0, metavar="ITERS",
                    help="also compare LM training for ITERS iterations (needs dg.train)")
    ap.add_argument("--seed", type=int, default=1, help="seed of pyrenn's initial weights")
    args = ap.parse_args(argv)
    if not os.path.exists(args.python):
        sys.exit(f"no pyrenn environment at {args.python}; see the module docstring")
    print(f"# pyrenn vs dyngraph ({blas_note()})")
    jac_rows, lm_rows = [], []
    for name in args.cases:
        P, Y = load_case(name)
        lm_iters = args.lm if (args.lm and CASES[name][0] is not None) else 0
        out = run_driver(args.python, name, P, Y, args.seed, 1, lm_iters)
        call, dnet, T, J_err = checked_jacobian(name, out, P, Y)
        # The two sides alternate round by round, so slow phases of a shared machine hit both.
        t_py, t_dg = list(out["jac_times"]), [median_time(call, args.repeats)]
        for _ in range(args.rounds - 1):
            t_py += list(run_driver(args.python, name, P, Y, args.seed, 1, 0)["jac_times"])
            t_dg.append(median_time(call, args.repeats))
        jac_rows.append(jacobian_row(name, dnet, T, J_err, t_py, t_dg))
        if lm_iters:
            lm_rows.extend(lm_case(name, out, P, Y, lm_iters))
        print("  done:", name, file=sys.stderr, flush=True)
    print(f"\n## RTRL Jacobian (same weights, same scaled data; medians of {args.rounds} "
          f"alternating rounds)")
    print(format_table(["case", "weights", "T", "max rel |dJ|", "pyrenn ms", "dyngraph ms",
                        "speed-up", f">= {BAR:.0f}x"], jac_rows))
    if lm_rows:
        print("\n## LM training (same initial weights, same iterations; SSE on scaled data)")
        print(format_table(["case", "dyngraph LM", "iters", "SSE start", "pyrenn SSE",
                            "dyngraph SSE", "dyngraph epochs (stop)", "pyrenn s", "dyngraph s", "speed-up",
                            "bar met"], lm_rows))


if __name__ == "__main__":
    main()
