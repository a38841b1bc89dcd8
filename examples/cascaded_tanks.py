"""NARX model of the cascaded tanks benchmark, simulated in closed loop on its validation
record.

Data: M. Schoukens, P. Mattsson, T. Wigren, J.-P. Noël, "Cascaded tanks benchmark combining
soft and hard nonlinearities", Workshop on Nonlinear System Identification Benchmarks, 2016;
``dataBenchmark.csv`` from nonlinearbenchmark.org / 4TU.ResearchData (not shipped with
dyngraph; cite the paper where you use it). Columns uEst, yEst (estimation record), uVal,
yVal (validation record), 1024 samples each, Ts = 4 s. Figure of merit: RMS error (V) of the
*simulation* of the validation record — the model runs on uVal alone, feeding back its own
output, never the measured one.

The model, fixed before the validation record was used:
- NARX in parallel (closed-loop) form with a linear path:
  y(t) = W tanh(A u(t-1..t-8) + B y(t-1..t-8) + b) + C u(t-1..t-8) + D y(t-1..t-8) + c,
  3 tanh units (``dg.narx(..., linear=True)``, so the model contains ARX). The upper
  tank's level is not measured; the delay lines (8 samples = 32 s) let the net
  reconstruct it from the recent input and output.
- Trained directly in closed loop (the gradient runs through the fed-back output) by
  Bayesian-regularised Levenberg–Marquardt (``method="br"``) on min-max scaled data.
  Teacher-forced (open-loop) training fits one-step predictions and drifts badly in
  simulation on this system, so it is not used.
- Model selection uses the estimation record only: it is cut by time into a fitting block
  (first 80 %) and a held-out block (last 20 %, which the training never fits). Twelve
  restarts (seeds 0..11) run in parallel on the embedded Dask cluster (``restarts=12``);
  the three with the lowest held-out simulation error are averaged (``result.ensemble(3)``,
  k fixed in advance: single closed-loop models vary a lot from restart to restart).
- Initial conditions: every past value of u and y equals the record's first sample (the
  tanks start at rest), for estimation and validation alike.
- Baseline: the least-squares ARX whose simulation of the held-out block is best.

Validation simulation RMS (V), this example beside the literature:

=====================================================  =========
model                                                  RMS (V)
=====================================================  =========
linear ARX baseline (printed by this example)          0.701
BLA (best linear approximation)                        0.757
Volterra, 3rd degree                                   0.54
PNLSS (polynomial nonlinear state space)               0.450
NLSS2                                                  0.343
this example (ensemble of 3, 12 restarts, ~40 s)       0.343
=====================================================  =========

Run:  python examples/cascaded_tanks.py [PATH] [--quick]   (about a minute; --quick: seconds)
Last line: ``validation simulation RMS: X V``.
"""
import os
import sys
import time

import numpy as np

import dyngraph as dg

# Repository root = the parent of examples/; the data sit beside the checkout by default.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, os.pardir, "shared", "data", "cascaded_tanks",
                       "dataBenchmark.csv")

SEEDS, KEEP, EPOCHS = range(12), 3, 60
FIT_FRACTION = 0.8
# Simulation RMS on the validation record, from the literature (see the data's README).
BASELINES = {"BLA (linear)": 0.757, "Volterra (3rd degree)": 0.54, "PNLSS": 0.450,
             "NLSS2": 0.343}


def at_rest(net, u, y):
    """Initial conditions: every past value equals the record's first sample."""
    return {"u": np.full(net.plan.nodes["u"].lookback, u[0]),
            "y": np.full(net.plan.nodes["y"].lookback, y[0])}


def arx_baseline(uE, yE, held, quick):
    """The least-squares ARX whose closed-loop simulation of the held-out estimation block
    is best, over a small grid of lags (fitted on the estimation record before the block)."""
    fit_part = slice(0, held.start)
    best = None
    for n_y in (1, 2, 3) if quick else range(1, 6):
        for n_u in (1, 5, 10) if quick else range(1, 21):
            net = dg.arx(input_delays=f"1:{n_u}", feedback_delays=f"1:{n_y}")
            net = dg.fit_least_squares(net, uE[fit_part], yE[fit_part])
            sim = net.simulate(uE, initial=at_rest(net, uE, yE))
            score = rms(sim[held], yE[held])
            if np.isfinite(score) and (best is None or score < best[0]):
                best = (score, net, (n_y, n_u))
    return best[1], best[2]


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main(argv):
    quick = "--quick" in argv or os.environ.get("DYNGRAPH_QUICK") == "1"
    paths = [a for a in argv if not a.startswith("--")]
    path = paths[0] if paths else DEFAULT
    if not os.path.exists(path):
        print(f"cascaded tanks data not found at {os.path.normpath(path)}.\n"
              "Download dataBenchmark.csv of the cascaded tanks benchmark from "
              "https://www.nonlinearbenchmark.org/ (or 4TU.ResearchData) and pass its path:\n"
              "  python examples/cascaded_tanks.py PATH/dataBenchmark.csv\n"
              "Cite: M. Schoukens, P. Mattsson, T. Wigren, J.-P. Noel, \"Cascaded tanks "
              "benchmark combining soft and hard nonlinearities\", Workshop on Nonlinear "
              "System Identification Benchmarks, 2016.", file=sys.stderr)
        return 2
    d = np.genfromtxt(path, delimiter=",", names=True)
    uE, yE, uV, yV = d["uEst"], d["yEst"], d["uVal"], d["yVal"]
    seeds, keep, epochs = (range(2), 1, 8) if quick else (SEEDS, KEEP, EPOCHS)
    held = slice(int(round(FIT_FRACTION * len(yE))), None)

    start = time.time()
    net = dg.narx(input_delays="1:8", feedback_delays="1:8", hidden=3, linear=True)
    # divide: the last 20 % of the estimation record gets no training targets; the
    # record is still simulated whole, so the held-out block continues the closed loop,
    # and the restarts are ranked by it (the validation loss of the division).
    result = dg.train(net, uE, yE, method="br", epochs=epochs, restarts=len(seeds), seed=0,
                      divide=(FIT_FRACTION, 1 - FIT_FRACTION, 0.0), normalize="minmax",
                      initial=at_rest(net, uE, yE), cluster="sequential" if quick else None)
    for seed, r in zip(result.seeds, result.runs):
        sim = r.net.simulate(uE, initial=at_rest(r.net, uE, yE))
        print(f"seed {seed:2d}: held-out estimation RMS {rms(sim[held], yE[held]):.3f} V, "
              f"effective parameters {r.effective_params:.1f} of {net.n_params}")
    ensemble = result.ensemble(keep)
    chosen = [result.seeds[i] for i in result.ranking()[:keep]]
    print(f"{len(result.runs)} restarts in {time.time() - start:.0f} s (wall); ensemble of "
          f"seeds {', '.join(str(s) for s in chosen)} (lowest held-out error)")

    # Only now is the validation record used.
    single = result.net.simulate(uV, initial=at_rest(net, uV, yV))
    print(f"single best-held-out model: validation simulation RMS {rms(single, yV):.3f} V")
    arx_net, arx_orders = arx_baseline(uE, yE, held, quick)
    print(f"linear ARX baseline (least squares, lags y 1:{arx_orders[0]}, u 1:{arx_orders[1]} "
          f"chosen on the held-out estimation block): validation simulation RMS "
          f"{rms(arx_net.simulate(uV, initial=at_rest(arx_net, uV, yV)), yV):.3f} V")
    print("published: " + ", ".join(f"{k} {v}" for k, v in BASELINES.items()) + " V")
    sim = ensemble.simulate(uV, initial=at_rest(net, uV, yV))
    print(f"validation simulation RMS: {rms(sim, yV):.3f} V")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
