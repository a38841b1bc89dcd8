"""Focused gamma memory network against a focused TDNN with the same number of taps.

A gamma memory of order K (de Vries & Principe 1992; seed 004) is a cascade of K leaky
integrators, x_k(t) = (1-μ) x_k(t-1) + μ x_{k-1}(t-1): K+1 taps, like a delay line 0..K, but
with a memory depth of about K/μ that training can stretch, since μ is learned (the engines
differentiate through the gamma recursion). With μ = 1 it is exactly the delay line.

The task needs memory beyond K steps: the target is a squashed, exponentially weighted sum
of the past input, y(t) = tanh(0.3 Σ_j 0.85^j u(t-j)), i.e. the input seen through a slow
first-order system. Both nets have one tanh layer of 6 units reading 5 taps of the input
(TDL 0:4 or gamma memory of order 4) and are trained by Levenberg–Marquardt.

Run from the repository root:  python examples/gamma_memory.py [--quick]
Last line: both test errors and the learned μ.
"""
import os
import sys

import numpy as np
from scipy.signal import lfilter

import dyngraph as dg

TDNN = """
name: ftdnn
inputs: {u: 1}
layers:
  h: {size: 6, transfer: tanh, from: {u: "0:4"}}
  y: {size: 1, from: h}
outputs: [y]
"""

GAMMA = """
name: gamma_ftdnn
inputs: {u: 1}
memories:
  g: {kind: gamma, from: u, order: 4, mu: 0.8}     # mu is learned
layers:
  h: {size: 6, transfer: tanh, from: g}
  y: {size: 1, from: h}
outputs: [y]
"""


def plant(u):
    return np.tanh(0.3 * lfilter([1.0], [1.0, -0.85], u))


def main(argv):
    quick = "--quick" in argv or os.environ.get("DYNGRAPH_QUICK") == "1"
    rng = np.random.default_rng(0)
    T, epochs = (300, 15) if quick else (2000, 100)
    u, u_test = rng.standard_normal(T), rng.standard_normal(1000)
    y, y_test = plant(u), plant(u_test)
    err = {}
    for name, spec in [("TDNN 0:4", TDNN), ("gamma K=4", GAMMA)]:
        r = dg.train(dg.loads(spec, seed=1), u, y, method="lm", epochs=epochs)
        err[name] = np.sqrt(np.mean((r.net.simulate(u_test) - y_test) ** 2))
        if "gamma" in name:
            mu = float(r.net.get("g.mu")[0])
        print(f"{name}: {r.stop_reason} after {len(r.history['loss']) - 1} epochs")
    print(f"test RMS: TDNN {err['TDNN 0:4']:.2e}, gamma {err['gamma K=4']:.2e} "
          f"(learned mu {mu:.3f}, memory depth K/mu = {4 / mu:.1f} steps)")


if __name__ == "__main__":
    main(sys.argv[1:])
