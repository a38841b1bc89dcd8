"""Yearly sunspot numbers with a NAR network (tapped delay line 1:k), Weigend's benchmark.

One-step-ahead prediction of the yearly sunspot number from the previous k = 12 years, the
classic split: train 1700–1920, validate 1921–1955, test 1956–1979 (Weigend, Huberman &
Rumelhart 1990). The net is the series-parallel NAR form: the measured series is an input
declared ``feedback_of`` the output. Levenberg–Marquardt on min-max scaled data, early
stopping on the validation years; of a few restarts fixed in advance, the one with the
lowest validation error is kept (the test years are never looked at before the end).

ARV = MSE / σ², with σ² the variance of the whole 1700–1979 series, as in Weigend et al.
(last line); the line before gives the ARV with each block's own variance.
Bayesian regularisation (method="br") was tried too: with 85 weights and 209 training years it
keeps ~65 effective parameters and fits the validation years worse than early stopping.

Run from the repository root:  python examples/sunspots.py [--quick]
Last line: the ARV of each block.
"""
import os
import sys

import numpy as np

import dyngraph as dg

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sunspots.csv")

SPEC = """
name: sunspots_nar
description: NAR, one-step-ahead (series-parallel) form
inputs:
  s: {size: 1, feedback_of: y}     # the measured series
layers:
  h: {size: 6, transfer: tanh, from: {s: "1:12"}}
  y: {size: 1, from: h}
outputs: [y]
"""

BLOCKS = {"train": (1700, 1920), "validation": (1921, 1955), "test": (1956, 1979)}


def masked(series, years, block):
    lo, hi = BLOCKS[block]
    return np.where((years >= lo) & (years <= hi), series, np.nan)


def main(argv):
    quick = "--quick" in argv or os.environ.get("DYNGRAPH_QUICK") == "1"
    table = np.genfromtxt(DATA, delimiter=",", names=True)
    years, s = table["year"], table["sunspots"].astype(float)
    restarts = 2 if quick else 6
    epochs = 10 if quick else 100
    best = None
    for seed in range(restarts):
        net = dg.loads(SPEC, seed=seed)
        r = dg.train(net, {"s": s}, masked(s, years, "train"), method="lm", epochs=epochs,
                     val=({"s": s}, masked(s, years, "validation")), normalize="minmax")
        print(f"restart {seed}: validation mse (scaled) {r.val_loss:.5f}, {r.stop_reason}")
        if best is None or r.val_loss < best.val_loss:
            best = r
    pred = best.net.simulate({"s": s})["y"][:, 0]
    var = np.var(s)
    arv, arv_block = {}, {}
    for block in BLOCKS:
        m = ~np.isnan(masked(s, years, block))
        m[:12] = False                 # the first 12 years have no full delay line
        mse = np.mean((pred[m] - s[m]) ** 2)
        arv[block], arv_block[block] = mse / var, mse / np.var(s[m])
    print("ARV with each block's own variance: "
          + "  ".join(f"{b} {v:.3f}" for b, v in arv_block.items()))
    print("ARV " + "  ".join(f"{b} {v:.3f}" for b, v in arv.items())
          + f" (MSE / variance of the whole series, {var:.0f})")


if __name__ == "__main__":
    main(sys.argv[1:])
