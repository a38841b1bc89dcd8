"""Benchmark: peak memory of the gradient engines as the sequence grows, and a long online run.

Part 1 — for an Elman net (H=10, one input, one output, Q=1) and T = 1e3, 1e4, 1e5, each
measurement runs in a fresh subprocess and reports the peak of Python's traced allocations
(``tracemalloc``, which sees numpy's buffers) during one call, the data excluded:

- ``bptt``:   ``net.gradient(u, y, method="bptt")`` — stores the whole trajectory: O(T);
- ``rtrl``:   ``net.gradient(u, y, method="rtrl")`` — the sensitivities live in ring buffers,
  but the batch API first runs the forward pass over all T and keeps it: still O(T);
- ``online``: ``dyngraph.engines.online.OnlineRTRL(net).step(...)`` T times, data generated on the fly —
  memory independent of T;
- ``ref_bptt``, ``ref_rtrl``: the hand-written references of bench/refs.py (``elman_grad``,
  ``elman_rtrl_grad``) on the same data, for scale — both keep O(T) arrays too.

Part 2 — ``--steps`` (default 1e6) steps of online RTRL on a small Elman net (H=4) doing
adaptive filtering (an SGD step on each step's gradient) of a nonlinear IIR plant, without
tracemalloc (it slows Python down): steps/s, the resident set size at checkpoints, and the
process's peak RSS (``resource.getrusage``) — four ways (``--modes``): ``step(..., lr=)`` in a
Python loop with the numpy engines and with the compiled backend, the compiled ``step`` with
the SGD update written by hand in the loop (``net.params = net.params - lr * g``: two
copies of θ a step), and ``run`` (the compiled program steps and updates a tenth of the
stream per call; the plant's data is generated before each call, outside the timing). All
follow the same path (the same errors per tenth).

Run (from the repository root):  python bench/bench_memory.py [--steps 1000000] [--skip-long]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"          # before numpy is imported anywhere

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from timing import blas_note, format_table  # noqa: E402

METHODS = ("bptt", "rtrl", "online", "ref_bptt", "ref_rtrl")
LENGTHS = (1_000, 10_000, 100_000)


def elman(H):
    import dyngraph as dg
    return dg.loads(f"""
inputs: {{u: 1}}
layers:
  h: {{size: {H}, transfer: tanh, from: {{u: 0, h: 1}}}}
  y: {{size: 1, from: h}}
outputs: [y]
""", file="<bench elman>", seed=0)


class Plant:
    """A stream: u(t) uniform in [-1, 1], y(t) = 0.7 y(t-1) + tanh(u(t)) u(t-1) / 2."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.u1 = 0.0
        self.y1 = 0.0

    def next(self):
        u = self.rng.uniform(-1.0, 1.0)
        y = 0.7 * self.y1 + 0.5 * np.tanh(u) * self.u1
        self.u1, self.y1 = u, y
        return u, y


def record(T, seed=0):
    plant = Plant(seed)
    uy = np.array([plant.next() for _ in range(T)])
    return uy[:, :1].copy(), uy[:, 1:].copy()


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(method, T, H):
    """One measurement in this (fresh) process; returns a dict."""
    from dyngraph.engines.online import OnlineRTRL
    net = elman(H)
    if method == "online":
        online = OnlineRTRL(net)
        plant = Plant(0)
        u, y = np.zeros((1, 1)), np.zeros((1, 1))
        online.step({"u": u}, {"y": y})              # warm-up outside the measurement
        tracemalloc.start()
        t0 = time.perf_counter()
        for _ in range(T):
            u[0, 0], y[0, 0] = plant.next()
            online.step({"u": u}, {"y": y})
    elif method.startswith("ref_"):
        import refs
        fn = {"ref_bptt": refs.elman_grad, "ref_rtrl": refs.elman_rtrl_grad}[method]
        p = refs.make_params("elman", {"H": H}, seed=0)
        u, y = record(T)
        u, y = u[:, None, :], y[:, None, :]             # time-major (T, Q=1, 1)
        fn(p, u[:10], y[:10])
        tracemalloc.start()
        t0 = time.perf_counter()
        fn(p, u, y)
    else:
        u, y = record(T)
        net.gradient(u[:10], y[:10], method=method)   # warm-up outside the measurement
        tracemalloc.start()
        t0 = time.perf_counter()
        net.gradient(u, y, method=method)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"method": method, "T": T, "peak": peak, "seconds": seconds,
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


#: the long run's ways: OnlineRTRL.step(lr=) in a Python loop on either backend, the
#: compiled step with the update by hand, and OnlineRTRL.run (the compiled program steps and
#: updates; one call per tenth)
MODES = ("numpy-step", "compiled-step", "compiled-step-by-hand", "compiled-run")


def long_run(steps, H, lr, mode, checkpoints=10):
    """``steps`` online RTRL + SGD steps; returns steps/s, RSS checkpoints, errors."""
    from dyngraph.engines.online import OnlineRTRL
    net = elman(H)
    online = OnlineRTRL(net, backend=mode.split("-")[0])
    assert online.backend == mode.split("-")[0]
    plant = Plant(1)
    every = max(1, steps // checkpoints)
    rss, window, seconds = [], [], 0.0
    if mode.endswith("run"):
        for k in range(0, steps, every):
            n = min(every, steps - k)
            uy = np.array([plant.next() for _ in range(n)])      # data first, not timed
            t0 = time.perf_counter()
            out, _ = online.run(uy[:, :1], uy[:, 1:], lr=lr)        # (T, 1) each
            seconds += time.perf_counter() - t0
            window.append(float(np.mean((uy[:, 1] - out[:, 0]) ** 2)))
            rss.append(rss_bytes())
    else:
        by_hand = mode.endswith("by-hand")
        u, y = np.zeros((1, 1)), np.zeros((1, 1))
        sq = 0.0
        t0 = time.perf_counter()
        for k in range(1, steps + 1):
            u[0, 0], y[0, 0] = plant.next()
            if by_hand:
                out, g = online.step({"u": u}, {"y": y})
                if lr:
                    net.params = net.params - lr * g
            else:
                out, g = online.step({"u": u}, {"y": y}, lr=lr)
            e = y[0, 0] - out["y"][0, 0]
            sq += e * e
            if k % every == 0:
                rss.append(rss_bytes())
                window.append(sq / every)
                sq = 0.0
        seconds = time.perf_counter() - t0
    return {"steps": steps, "H": H, "mode": mode, "seconds": seconds, "rss": rss,
            "mse": window, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def spawn(*args, timeout=7200):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mib(b):
    return f"{b / 2 ** 20:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=float, default=1e6, help="steps of the long online run")
    ap.add_argument("--long-hidden", type=int, default=4, help="H of the long online run")
    ap.add_argument("--lr", type=float, default=0.01, help="SGD step of the long run (0: none)")
    ap.add_argument("--hidden", type=int, default=10, help="H of the memory-vs-T nets")
    ap.add_argument("--lengths", type=int, nargs="*", default=list(LENGTHS))
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "T"), help=argparse.SUPPRESS)
    ap.add_argument("--long-worker", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES),
                    help="ways of the long online run")
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.hidden)))
        return
    if args.long_worker:
        print(json.dumps(long_run(int(args.steps), args.long_hidden, args.lr,
                                  args.long_worker)))
        return

    print(f"# memory ({blas_note()})")
    print(f"\n## Peak traced memory of one gradient, Elman H={args.hidden}, Q=1 (MiB)")
    res = {(m, T): spawn("--worker", m, T, "--hidden", args.hidden)
           for T in args.lengths for m in METHODS}
    rows = []
    for m in METHODS:
        row = [m]
        for T in args.lengths:
            r = res[m, T]
            row.append(mib(r["peak"]))
        rows.append(row)
    print(format_table(["method"] + [f"T={T:g}" for T in args.lengths], rows))
    if args.skip_long:
        return
    for mode in args.modes:
        r = spawn("--long-worker", mode, "--steps", int(args.steps),
                  "--long-hidden", args.long_hidden, "--lr", args.lr)
        print(f"\n## Online RTRL ({mode}), {r['steps']:,} steps, Elman H={r['H']}, "
              f"SGD lr={args.lr}")
        print(f"- {r['steps'] / r['seconds']:.0f} steps/s ({r['seconds']:.1f} s)")
        print(f"- RSS at each tenth (MiB): {', '.join(mib(b) for b in r['rss'])}")
        print(f"- peak RSS: {mib(r['maxrss'])} MiB")
        print(f"- mean squared error per tenth: {', '.join(f'{e:.2e}' for e in r['mse'])}")


if __name__ == "__main__":
    main()
