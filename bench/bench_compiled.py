"""Benchmark: the compiled backend against the numpy engines, hand-written numpy and JAX.

BPTT gradient (loss mse) of spec-built nets, side by side in this one process, 1 BLAS
thread, float64: dyngraph with ``backend="numpy"``, dyngraph with ``backend="compiled"``,
the hand-written numpy references of ``refs.py`` and — when JAX is installed — JAX
``jit(value_and_grad)`` over ``lax.scan`` (XLA pinned to one thread). Every side gets the same
weights and data and the gradients must agree (1e-8 relative) before anything is timed.
The sides are timed alternately (rotating who goes first); medians.

— and, when torch is installed, a torch loop (eager autograd over a Python loop of steps, the
way most recurrent code is written). Also reported: simulate (numpy vs compiled), the T
scaling of the Elman case up to T = 10⁵, and the compile cost (first use in a fresh cache vs
loading from the cache, each in a new process).

Run (from the repository root):
    python bench/bench_compiled.py [--repeats 7] [--no-jax] [--no-torch] [--no-scaling]
                                    [--no-compile] [--cases SUBSTRING]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"          # before numpy is imported anywhere
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import ref_nets  # noqa: E402
import refs  # noqa: E402
from timing import blas_note, format_table  # noqa: E402


TOL = 1e-8

#: (label, reference net, sizes, T, Q)
CASES = [
    ("Elman Q=1  T=1000 H=10", "elman", {"H": 10}, 1000, 1),
    ("NARX  Q=1  T=1000 H=10", "narx", {"H": 10}, 1000, 1),
    ("NARX  Q=32 T=1000 H=10", "narx", {"H": 10}, 1000, 32),
    ("LSTM  Q=1  T=500  H=8", "lstm", {"H": 8}, 500, 1),
    ("LSTM  Q=32 T=200  H=32", "lstm", {"H": 32}, 200, 32),
    ("GRU   Q=1  T=500  H=8", "gru", {"H": 8, "R": 3}, 500, 1),
    ("GRU   Q=32 T=200  H=32", "gru", {"H": 32, "R": 3}, 200, 32),
    ("gamma FTDNN Q=1 T=1000 H=8", "gamma", {"H": 8, "D": 4}, 1000, 1),
]


def _sample(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def race(fns, repeats, min_sample=0.05):
    """Median seconds per call of each callable, timed alternately (rotating order)."""
    counts = {}
    for k, fn in fns.items():
        fn()        # a first call may load or compile: calibrating on it gave 1-call samples
        t0 = time.perf_counter()
        fn()
        counts[k] = max(1, int(round(min_sample / max(time.perf_counter() - t0, 1e-7))))
    times = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            times[k].append(_sample(fns[k], counts[k]))
    return {k: statistics.median(v) for k, v in times.items()}


# --------------------------------------------------------------------------- JAX models
def jax_grad_fn(net, p, u, target, simulate=False):
    """jit(value_and_grad) of the mse of reference net ``net`` over lax.scan (with
    ``simulate``: jit of the outputs alone)."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    U, Yt = jnp.asarray(u), jnp.asarray(target)

    def elman(p):
        def step(h, x):
            h = jnp.tanh(x @ p["Wx"].T + h @ p["Wh"].T + p["bh"])
            return h, h
        _, Hs = jax.lax.scan(step, jnp.zeros((U.shape[1], p["Wh"].shape[0])), U)
        return Hs @ p["Wy"].T + p["by"]

    def lstm(p):
        H = p["Wh"].shape[1]

        def step(carry, x):
            h, c = carry
            z = x @ p["Wx"].T + h @ p["Wh"].T + p["b"]
            i, f = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H:2 * H])
            g, o = jnp.tanh(z[:, 2 * H:3 * H]), jax.nn.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), h
        zero = jnp.zeros((U.shape[1], H))
        _, Hs = jax.lax.scan(step, (zero, zero), U)
        return Hs @ p["Wy"].T + p["by"]

    def narx(p):
        K = p["Wo"].shape[0]
        Ul = jnp.concatenate([jnp.concatenate([jnp.zeros_like(U[:1]), U[:-1]]),
                              jnp.concatenate([jnp.zeros_like(U[:2]), U[:-2]])], axis=-1)
        A = Ul @ p["Wu"].T + p["bh"]

        def step(carry, a):
            y1, y2 = carry
            h = jnp.tanh(a + y1 @ p["Wy"][:, :K].T + y2 @ p["Wy"][:, K:].T)
            y = h @ p["Wo"].T + p["bo"]
            return (y, y1), y
        zero = jnp.zeros((U.shape[1], K))
        _, Y = jax.lax.scan(step, (zero, zero), A)
        return Y

    def gru(p):
        def step(h, x):
            r = jax.nn.sigmoid(x @ p["Wr"].T + h @ p["Ur"].T + p["br"])
            z = jax.nn.sigmoid(x @ p["Wz"].T + h @ p["Uz"].T + p["bz"])
            hc = jnp.tanh(x @ p["Wc"].T + (r * h) @ p["Uc"].T + p["bc"])
            h = h + z * (hc - h)
            return h, h
        _, Hs = jax.lax.scan(step, jnp.zeros((U.shape[1], p["Ur"].shape[0])), U)
        return Hs @ p["Wy"].T + p["by"]

    def gamma(p):
        mu = p["mu"][0]
        R = U.shape[2]
        D = p["W1"].shape[1] // R - 1

        def step(G, x):
            G = jnp.concatenate([x[:, None, :], (1 - mu) * G[:, 1:] + mu * G[:, :-1]], axis=1)
            return G, G
        _, Gs = jax.lax.scan(step, jnp.zeros((U.shape[1], D + 1, R)), U)
        Hs = jnp.tanh(Gs.reshape(Gs.shape[0], Gs.shape[1], -1) @ p["W1"].T + p["b1"])
        return Hs @ p["W2"].T + p["b2"]

    model = {"elman": elman, "lstm": lstm, "narx": narx, "gru": gru, "gamma": gamma}[net]
    P = {k: jnp.asarray(v) for k, v in p.items()}
    if simulate:
        sim = jax.jit(model)

        def run():
            y = sim(P)
            jax.block_until_ready(y)
            return y
        return run
    fn = jax.jit(jax.value_and_grad(lambda p: jnp.mean((model(p) - Yt) ** 2)))

    def call():
        value, g = fn(P)
        jax.block_until_ready(g)
        return value, g
    return call


# --------------------------------------------------------------------------- torch loop
def torch_grad_fn(net, p, u, target):
    """A torch loop (eager autograd over a Python loop of steps): the mse and its gradient."""
    import torch
    torch.set_num_threads(1)
    U = torch.as_tensor(u, dtype=torch.float64)
    Yt = torch.as_tensor(target, dtype=torch.float64)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in p.items()}

    def elman(p):
        h = torch.zeros(U.shape[1], p["Wh"].shape[0], dtype=torch.float64)
        out = []
        for x in U:
            h = torch.tanh(x @ p["Wx"].T + h @ p["Wh"].T + p["bh"])
            out.append(h)
        return torch.stack(out) @ p["Wy"].T + p["by"]

    def lstm(p):
        H = p["Wh"].shape[1]
        h = c = torch.zeros(U.shape[1], H, dtype=torch.float64)
        out = []
        for x in U:
            z = x @ p["Wx"].T + h @ p["Wh"].T + p["b"]
            i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
            g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            h = o * torch.tanh(c)
            out.append(h)
        return torch.stack(out) @ p["Wy"].T + p["by"]

    def narx(p):
        K = p["Wo"].shape[0]
        zero = torch.zeros_like(U[:1])
        Ul = torch.cat([torch.cat([zero, U[:-1]]), torch.cat([zero, zero, U[:-2]])], dim=-1)
        A = Ul @ p["Wu"].T + p["bh"]
        y1 = y2 = torch.zeros(U.shape[1], K, dtype=torch.float64)
        out = []
        for a in A:
            h = torch.tanh(a + y1 @ p["Wy"][:, :K].T + y2 @ p["Wy"][:, K:].T)
            y = h @ p["Wo"].T + p["bo"]
            out.append(y)
            y1, y2 = y, y1
        return torch.stack(out)

    def gru(p):
        h = torch.zeros(U.shape[1], p["Ur"].shape[0], dtype=torch.float64)
        out = []
        for x in U:
            r = torch.sigmoid(x @ p["Wr"].T + h @ p["Ur"].T + p["br"])
            z = torch.sigmoid(x @ p["Wz"].T + h @ p["Uz"].T + p["bz"])
            hc = torch.tanh(x @ p["Wc"].T + (r * h) @ p["Uc"].T + p["bc"])
            h = h + z * (hc - h)
            out.append(h)
        return torch.stack(out) @ p["Wy"].T + p["by"]

    def gamma(p):
        mu = p["mu"][0]
        R = U.shape[2]
        D = p["W1"].shape[1] // R - 1
        G = torch.zeros(U.shape[1], D + 1, R, dtype=torch.float64)
        out = []
        for x in U:
            G = torch.cat([x[:, None, :], (1 - mu) * G[:, 1:] + mu * G[:, :-1]], dim=1)
            out.append(G.reshape(G.shape[0], -1))
        Hs = torch.tanh(torch.stack(out) @ p["W1"].T + p["b1"])
        return Hs @ p["W2"].T + p["b2"]

    model = {"elman": elman, "lstm": lstm, "narx": narx, "gru": gru, "gamma": gamma}[net]

    def call():
        for v in P.values():
            v.grad = None
        loss = torch.mean((model(P) - Yt) ** 2)
        loss.backward()
        return float(loss.detach()), {k: v.grad.numpy() for k, v in P.items()}
    return call


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), 1e-300)


def compile_costs():
    """Seconds in a new process: a first simulation with ``backend="compiled"`` on an empty
    cache, then from the cache; a first gradient (T = 200) under the automatic choice on an
    empty cache (which leaves cold programs to numpy, see run.WARM_STEPS); a first
    simulation under the automatic choice from the cache (which loads the compiled
    backend only past backend.LOAD_STEPS); and ``import dyngraph`` itself."""
    simulate = ("import time, numpy as np, dyngraph as dg; t = time.perf_counter(); "
                "net = dg.load('specs/lstm.yaml'); "
                "net.simulate(np.ones((5, 3)), backend='compiled'); "
                "print(time.perf_counter() - t)")
    automatic = simulate.replace(", backend='compiled'", "")
    imports = "import time; t = time.perf_counter(); import dyngraph; print(time.perf_counter() - t)"
    gradient = ("import time, numpy as np, dyngraph as dg; t = time.perf_counter(); "
                "net = dg.load('specs/lstm.yaml'); "
                "net.gradient(np.ones((200, 3)), np.ones((200, 1))); "
                "print(time.perf_counter() - t)")
    import tempfile

    def run(code, cache):
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env.pop("DYNGRAPH_BACKEND", None)
        return float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                    capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as cache:
        out = [run(simulate, cache), run(simulate, cache)]
        out.append(run(automatic, cache))
    with tempfile.TemporaryDirectory() as cache:
        out.insert(2, run(gradient, cache))
        out.append(min(run(imports, cache) for _ in range(3)))
    return out


def scaling(have_jax, repeats):
    """Elman (1, T, 10) for T = 1e3, 1e4, 1e5: rows of the table."""
    rows = []
    for T in (1_000, 10_000, 100_000):
        p = refs.make_params("elman", {"H": 10}, seed=0)
        u, target = refs.make_data("elman", {"H": 10}, T, 1, seed=0)
        dnet = ref_nets.build("elman", {"H": 10}, p)
        U, Y = ref_nets.user(u), ref_nets.user(target)
        fns = {"numpy": lambda: dnet.gradient(U, Y, backend="numpy"),
               "compiled": lambda: dnet.gradient(U, Y, backend="compiled")}
        if have_jax:
            fns["jax"] = jax_grad_fn("elman", p, u, target)
            fns["jax"]()
        t = race(fns, repeats)
        rows.append([f"{T:,}", f"{t['numpy'] * 1e3:.1f}", f"{t['compiled'] * 1e3:.1f}"]
                    + ([f"{t['jax'] * 1e3:.1f}", f"{t['compiled'] / t['jax']:.2f}"]
                       if have_jax else ["n/a", "n/a"]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-jax", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-scaling", action="store_true", help="skip the T = 10^5 scaling")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile cost")
    ap.add_argument("--cases", default="", help="only the cases whose label contains this")
    args = ap.parse_args(argv)
    try:
        if args.no_jax:
            raise ImportError
        import jax  # noqa: F401
        have_jax = True
    except ImportError:
        have_jax = False
    try:
        if args.no_torch:
            raise ImportError
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    rows, sim_rows = [], []
    for label, net, sizes, T, Q in CASES:
        if args.cases not in label:
            continue
        p = refs.make_params(net, sizes, seed=0)
        u, target = refs.make_data(net, sizes, T, Q, seed=0)
        dnet = ref_nets.build(net, sizes, p)
        U, Y = ref_nets.user(u), ref_nets.user(target)
        ref_loss, ref_g = refs.GRAD[net](p, u, target)
        want = ref_nets.ref_grad_to_flat(dnet, net, ref_g)
        fns = {"numpy": lambda: dnet.gradient(U, Y, backend="numpy"),
               "compiled": lambda: dnet.gradient(U, Y, backend="compiled"),
               "hand": lambda: refs.GRAD[net](p, u, target)}
        for side in ("numpy", "compiled"):
            err = _rel(want, fns[side]()[1])
            if err > TOL:
                raise AssertionError(f"{label}: {side} gradient differs by {err:.1e}")
        if have_jax:
            fns["jax"] = jax_grad_fn(net, p, u, target)
            _, gj = fns["jax"]()
            err = _rel(want, ref_nets.ref_grad_to_flat(
                dnet, net, {k: np.asarray(v) for k, v in gj.items()}))
            if err > TOL:
                raise AssertionError(f"{label}: JAX gradient differs by {err:.1e}")
        if have_torch:
            fns["torch"] = torch_grad_fn(net, p, u, target)
            err = _rel(want, ref_nets.ref_grad_to_flat(dnet, net, fns["torch"]()[1]))
            if err > TOL:
                raise AssertionError(f"{label}: torch gradient differs by {err:.1e}")
        t = race(fns, args.repeats)
        row = [label, f"{t['numpy'] * 1e3:.2f}", f"{t['compiled'] * 1e3:.2f}",
               f"{t['hand'] * 1e3:.2f}"]
        row += ([f"{t['jax'] * 1e3:.2f}", f"{t['compiled'] / t['jax']:.2f}"] if have_jax
                else ["n/a", "n/a"])
        row.append(f"{t['torch'] * 1e3:.2f}" if have_torch else "n/a")
        row.append(f"{t['compiled'] / t['numpy']:.2f}")
        rows.append(row)
        sims = {"numpy": lambda: dnet.simulate(U, backend="numpy"),
                "compiled": lambda: dnet.simulate(U, backend="compiled")}
        if have_jax:
            sims["jax"] = jax_grad_fn(net, p, u, target, simulate=True)
            err = _rel(refs.SIMULATE[net](p, u), np.asarray(sims["jax"]()))
            if err > TOL:
                raise AssertionError(f"{label}: JAX simulation differs by {err:.1e}")
        s = race(sims, args.repeats)
        sim_rows.append([label, f"{s['numpy'] * 1e3:.3f}", f"{s['compiled'] * 1e3:.3f}",
                         f"{s['jax'] * 1e3:.3f}" if have_jax else "n/a",
                         f"{s['compiled'] / s['jax']:.2f}" if have_jax else "n/a",
                         f"{s['compiled'] / s['numpy']:.2f}"])
    print(blas_note())
    print("\nBPTT gradient, ms per call (median)\n")
    print(format_table(["case", "numpy engines", "compiled", "hand-written numpy", "JAX jit",
                        "compiled / JAX", "torch loop", "compiled / numpy"], rows))
    print("\nsimulate, ms per call\n")
    print(format_table(["case", "numpy engines", "compiled", "JAX jit", "compiled / JAX",
                        "compiled / numpy"], sim_rows))
    if not args.no_scaling:
        print("\nT scaling, Elman Q=1 H=10, BPTT gradient, ms per call\n")
        print(format_table(["T", "numpy engines", "compiled", "JAX jit", "compiled / JAX"],
                           scaling(have_jax, max(3, args.repeats // 2))))
    if args.no_compile:
        return
    first, cached, auto, auto_cached, imports = compile_costs()
    print(f"\ncompile cost (new process, LSTM spec, import excluded): a first simulation "
          f"with backend='compiled' {first:.2f} s, from the cache {cached:.2f} s; a first "
          f"gradient (T = 200) under the automatic choice, empty cache, {auto:.2f} s; a first "
          f"simulation (T = 5) under the automatic choice, cache full, {auto_cached:.3f} s; "
          f"import dyngraph {imports:.2f} s")


if __name__ == "__main__":
    main()
