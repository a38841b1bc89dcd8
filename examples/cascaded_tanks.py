"""NARX model of the cascaded tanks benchmark, simulated in closed loop on its validation
record.

Data: M. Schoukens, P. Mattsson, T. Wigren, J.-P. Noël, "Cascaded tanks benchmark combining
soft and hard nonlinearities", Workshop on Nonlinear System Identification Benchmarks, 2016;
``dataBenchmark.csv`` from nonlinearbenchmark.org / 4TU.ResearchData (not shipped with
dyngraph). Figure of merit: RMS error (V) of the *simulation* on the validation record.

Method (everything chosen without looking at the validation record):
- NARX in parallel (closed-loop) form, y(t) = f(u(t-1..), y(t-1..)), one tanh layer;
  trained directly in closed loop with Levenberg–Marquardt on min-max scaled data.
  (Teacher-forced, open-loop training drifts badly in simulation on this system.)
- The estimation record is split by time: the first 80 % is fitted, the last 20 % is
  held out; training stops early on the held-out simulation error.
- A small grid of sizes and delays and a fixed set of seeds, all decided in advance. Each
  model is ranked by its estimation error: the RMS of its closed-loop simulation of the
  whole estimation record. The three best are averaged (an ensemble: single closed-loop
  models are erratic from one restart to the next).
- Initial conditions: the past of u and y is set to the first measured sample of each
  record (the tanks start at rest), both for estimation and for validation.

Run from the repository root:  python examples/cascaded_tanks.py [PATH] [--quick]
Last line: ``validation simulation RMS: X V``.
"""
import os
import sys
import time

import numpy as np

import dyngraph as dg

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
DEFAULT = os.path.join(ROOT, os.pardir, "shared", "data", "cascaded_tanks", "dataBenchmark.csv")

GRID = [(5, "1:3", "1:2"), (4, "1:3", "1:2"), (6, "1:3", "1:2")]   # (hidden, u delays, y delays)
SEEDS = range(8)
BASELINES = {"BLA (linear)": 0.757, "Volterra (3rd degree)": 0.54, "NLSS2": 0.343}


def spec(hidden, du, dy):
    return f"""
name: tanks_narx
inputs: {{u: 1}}
layers:
  h: {{size: {hidden}, transfer: tanh, from: {{u: "{du}", y: "{dy}"}}}}
  y: {{size: 1, from: h}}
outputs: [y]
"""


def at_rest(net, u, y):
    """Initial conditions: every past value equals the record's first sample."""
    return {"u": np.full(net.plan.nodes["u"].lookback, u[0]),
            "y": np.full(net.plan.nodes["y"].lookback, y[0])}


def main(argv):
    quick = "--quick" in argv
    paths = [a for a in argv if not a.startswith("--")]
    path = paths[0] if paths else DEFAULT
    if not os.path.exists(path):
        print(f"cascaded tanks data not found at {path}.\nDownload dataBenchmark.csv from "
              "https://www.nonlinearbenchmark.org/ (Schoukens et al. 2016) and pass its path.",
              file=sys.stderr)
        return 2
    d = np.genfromtxt(path, delimiter=",", names=True)
    uE, yE, uV, yV = d["uEst"], d["yEst"], d["uVal"], d["yVal"]
    grid, seeds, epochs = (GRID[:1], range(2), 20) if quick else (GRID, SEEDS, 100)

    start = time.time()
    fits = []
    for hidden, du, dy in grid:
        for seed in seeds:
            net = dg.loads(spec(hidden, du, dy), seed=seed)
            r = dg.train(net, uE, yE, method="lm", epochs=epochs, divide=(0.8, 0.2, 0.0),
                         normalize="minmax", initial=at_rest(net, uE, yE))
            est = r.net.simulate(uE, initial=at_rest(r.net, uE, yE))
            fits.append((np.sqrt(np.mean((est - yE) ** 2)), hidden, du, dy, seed, r.net))
    fits.sort(key=lambda f: f[0])
    chosen = fits[:3]
    for est_rms, hidden, du, dy, seed, _ in chosen:
        print(f"chosen: hidden {hidden}, u {du}, y {dy}, seed {seed}; estimation simulation "
              f"RMS {est_rms:.3f} V")
    sims = [net.simulate(uV, initial=at_rest(net, uV, yV)) for *_, net in chosen]
    single = np.sqrt(np.mean((sims[0] - yV) ** 2))
    rms = np.sqrt(np.mean((np.mean(sims, axis=0) - yV) ** 2))
    print(f"{len(fits)} models trained in {time.time() - start:.0f} s; best single model "
          f"{single:.3f} V")
    print("published: " + ", ".join(f"{k} {v}" for k, v in BASELINES.items()))
    print(f"validation simulation RMS: {rms:.3f} V")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
