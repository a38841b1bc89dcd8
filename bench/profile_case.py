"""Profile one dyngraph benchmark case with cProfile: where the time goes inside dyngraph.

Prints the functions with the most own time (numpy operators written as operators — ``@``,
``+``, ``*`` — count towards the Python function that contains them; named numpy calls
such as ``np.tanh`` or ``np.concatenate`` appear on their own lines).

``--overhead`` instead times dyngraph and the hand-written reference on the same case with
every size shrunk to 1 (H = R = K = Q = 1, same T): the numpy kernels then cost next to
nothing, so time / T is the fixed per-step cost (Python + numpy call dispatch) of each side.

Run (from the repository root), e.g.:

    python bench/profile_case.py sim lstm
    python bench/profile_case.py bptt elman --H 10 --T 1000 --Q 1
    python bench/profile_case.py rtrl narx
    python bench/profile_case.py jacobian pt2          # a pyrenn example net (Q=1)
    python bench/profile_case.py bptt lstm --overhead
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"          # before numpy is imported anywhere

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import ref_nets  # noqa: E402
import refs  # noqa: E402

#: default sizes per reference net: (sizes, T, Q) as in the benchmarks
DEFAULTS = {
    "ftdnn": ({"H": 20, "D": 10}, 2000, 32),
    "elman": ({"H": 32}, 200, 32),
    "lstm": ({"H": 32, "R": 3}, 200, 32),
    "narx": ({"H": 10}, 1000, 32),
}
PYRENN_NETS = {   # CreateNN arguments of pyrenn's examples: nn, dIn, dIntern, dOut
    "pt2": ([1, 2, 2, 1], [0], [1], [1, 2]),
    "narendra4": ([1, 3, 3, 1], [1, 2], [], [1, 2, 3]),
    "compressed_air": ([3, 5, 5, 2], [0], [], [1]),
    "big1762": ([2, 20, 20, 1], [0], [1], [1, 2]),
}


def reference_case(what, net, H, T, Q):
    sizes, T0, Q0 = DEFAULTS[net]
    sizes = dict(sizes, **({"H": H} if H else {}))
    T, Q = T or T0, Q or Q0
    p = refs.make_params(net, sizes, seed=0)
    u, y = refs.make_data(net, sizes, T, Q, seed=1)
    dnet = ref_nets.build(net, sizes, p)
    U, Y = ref_nets.user(u), ref_nets.user(y)
    calls = {"sim": lambda: dnet.simulate(U),
             "bptt": lambda: dnet.gradient(U, Y, method="bptt"),
             "rtrl": lambda: dnet.gradient(U, Y, method="rtrl"),
             "jacobian": lambda: dnet.jacobian(U, Y, method="rtrl")}
    return calls[what], f"{what} {net} {sizes} T={T} Q={Q}"


def pyrenn_case(name, T):
    """A pyrenn example architecture with random weights on random data (Q=1)."""
    import pyrenn_nets
    import dyngraph as dg
    nn, dIn, dIntern, dOut = PYRENN_NETS[name]
    dnet = dg.loads(pyrenn_nets.spec_text(nn, dIn, dIntern, dOut), seed=0)
    rng = np.random.default_rng(0)
    T = T or 500
    U, Y = rng.uniform(-1, 1, (T, nn[0])), rng.uniform(-1, 1, (T, nn[-1]))
    return (lambda: dnet.jacobian(U, Y, method="rtrl"),
            f"jacobian pyrenn {name} ({dnet.n_params} weights) T={T}")


def overhead(what, net, T):
    """Per-step seconds of dyngraph and of the reference with all sizes 1 (see module doc)."""
    from timing import duel
    sizes = {"H": 1, "R": 1, "K": 1, "D": DEFAULTS[net][0].get("D", 1)}
    T = T or DEFAULTS[net][1]
    p = refs.make_params(net, sizes, seed=0)
    u, y = refs.make_data(net, sizes, T, 1, seed=1)
    dnet = ref_nets.build(net, sizes, p)
    U, Y = ref_nets.user(u), ref_nets.user(y)
    ref = {"sim": lambda: refs._SIMULATE[net](p, u), "bptt": lambda: refs._GRAD[net](p, u, y),
           "rtrl": lambda: refs._RTRL[net](p, u, y)}[what]
    dg = {"sim": lambda: dnet.simulate(U), "bptt": lambda: dnet.gradient(U, Y, method="bptt"),
          "rtrl": lambda: dnet.gradient(U, Y, method="rtrl")}[what]
    d = duel(ref, dg, repeats=7)
    return d.med_a / T, d.med_b / T, T


#: dyngraph functions whose cumulative time shows the phases of a call
PHASES = ("to_internal", "from_internal", "forward", "_forward_recurrent", "hoist",
          "compile_step", "loss_and_adjoint", "error_vector", "backward",
          "_backward_recurrent", "compile_backward", "_to_sources", "param_grad",
          "output_sensitivities", "gradient", "run", "block")


def phases(stats, calls):
    """Per-call cumulative ms of the dyngraph functions named in PHASES (nested: a phase
    includes the phases it calls)."""
    rows = []
    for (file, line, func), (_, nc, _, ct, _) in stats.stats.items():
        if "dyngraph" in file and func in PHASES:
            rows.append((ct / calls * 1e3, f"{os.path.basename(file)}:{line}({func})", nc))
    return sorted(rows, reverse=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["sim", "bptt", "rtrl", "jacobian"])
    ap.add_argument("net", choices=sorted(DEFAULTS) + sorted(PYRENN_NETS))
    ap.add_argument("--H", type=int)
    ap.add_argument("--T", type=int)
    ap.add_argument("--Q", type=int)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--overhead", action="store_true",
                    help="per-step fixed cost at size 1 instead of a profile")
    args = ap.parse_args(argv)
    if args.overhead:
        ref, dg, T = overhead(args.what, args.net, args.T)
        print(f"{args.what} {args.net} T={T}, all sizes 1: reference {ref * 1e6:.2f} us/step, "
              f"dyngraph {dg * 1e6:.2f} us/step")
        return
    if args.net in PYRENN_NETS:
        fn, label = pyrenn_case(args.net, args.T)
    else:
        fn, label = reference_case(args.what, args.net, args.H, args.T, args.Q)
    fn()
    t0 = time.perf_counter()
    for _ in range(args.calls):
        fn()
    plain = (time.perf_counter() - t0) / args.calls
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.calls):
        fn()
    prof.disable()
    stats = pstats.Stats(prof)
    print(f"# {label}: {plain * 1e3:.2f} ms per call without the profiler")
    print("# phases (cumulative ms per call under cProfile, nested):")
    for ms, where, nc in phases(stats, args.calls):
        print(f"#   {ms:9.2f}  {where}  ({nc} calls)")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
