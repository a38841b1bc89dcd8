"""Quick start: load the parallel NARX spec, draw it, simulate a plant, train, check.

Run from the repository root:  python examples/quickstart.py [--out DIR]
Writes narx.svg / narx_t4.svg (or .dot when Graphviz is absent) into DIR (default
./quickstart_out/, which git ignores).
The last line is the closed-loop RMS error of the trained model on fresh data.
"""
import argparse
import os
import shutil
import sys

import numpy as np

import dyngraph as dg

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, os.pardir, "specs", "narx_parallel.yaml")


def plant(u):
    """A Narendra-style plant: y(t) = 0.6 y(t-1)/(1 + y(t-1)^2) + 0.4 tanh(u(t-1))."""
    y = np.zeros_like(u)
    for t in range(1, len(u)):
        y[t] = 0.6 * y[t - 1] / (1 + y[t - 1] ** 2) + 0.4 * np.tanh(u[t - 1])
    return y


def main(out="quickstart_out"):
    os.makedirs(out, exist_ok=True)
    net = dg.load(SPEC, seed=1)
    print("order:", " -> ".join(net.order), f"({net.n_params} parameters)")
    ext = ".svg" if shutil.which("dot") else ".dot"
    net.render(os.path.join(out, "narx" + ext))
    net.render(os.path.join(out, "narx_t4" + ext), unroll=4)
    print("diagrams written to", out)

    rng = np.random.default_rng(0)
    u = rng.uniform(-2, 2, size=(400, 1))
    y = plant(u)
    loss, g = net.gradient(u, y, method="bptt")
    _, g_rtrl = net.gradient(u, y, method="rtrl")
    print(f"initial mse {loss:.4f}; |BPTT - RTRL| = {np.abs(g - g_rtrl).max():.1e}")

    result = dg.train(net, u, y, method="lm", epochs=30)
    print(f"LM: {result.history['epoch'][-1]} epochs, stop: {result.stop_reason}")
    u_new = rng.uniform(-2, 2, size=(300, 1))
    rms = np.sqrt(np.mean((result.net.simulate(u_new) - plant(u_new)) ** 2))
    print(f"closed-loop simulation RMS on fresh data: {rms:.4f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="quickstart_out", help="folder for the diagrams")
    ap.add_argument("--quick", action="store_true",
                    help="accepted for symmetry with the other examples (already quick)")
    sys.exit(main(ap.parse_args().out))
