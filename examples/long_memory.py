"""Why gates: an Elman net against an LSTM and a GRU built from gates, on the adding problem.

The vanishing-gradient story of the lecture notes (seed 000, 004): in y[n] = b x[n] + a y[n-1]
the gradient of an error m steps later carries a^m. The adding problem (Hochreiter &
Schmidhuber 1997) needs memory across the whole sequence: each step brings a value in [0, 1]
and a marker; two steps are marked (one in each half) and the target, given only at the last
step, is the sum of the two marked values. All three nets are trained the same way — Adam on
the BPTT gradient, same data, same epochs. The Elman net stays at the level of guessing the
mean; the gated nets, whose cell state is a constant error carousel, learn the task.

The LSTM and GRU are the catalog's specs/lstm.yaml and specs/gru.yaml with two inputs.

Run from the repository root:  python examples/long_memory.py [--quick]
Last line: each net's accuracy (|error| < 0.1) on fresh sequences.
"""
import os
import sys

import numpy as np

import dyngraph as dg

SPECS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "specs")
H = 8

ELMAN = f"""
name: elman
inputs: {{x: 2}}
layers:
  h: {{size: {H}, transfer: tanh, from: {{x: 0, h: 1}}}}
  y: {{size: 1, from: h}}
outputs: [y]
"""


def catalog(name):
    with open(os.path.join(SPECS, name)) as fh:
        return fh.read().replace("x: 3", "x: 2")     # two inputs: value and marker


def adding_problem(Q, T, seed):
    """x (Q, T, 2) = [value, marker]; targets (Q, T, 1), NaN except the last step."""
    rng = np.random.default_rng(seed)
    value = rng.uniform(0, 1, (Q, T))
    marker = np.zeros((Q, T))
    rows = np.arange(Q)
    first, second = rng.integers(0, T // 2, Q), rng.integers(T // 2, T, Q)
    marker[rows, first] = marker[rows, second] = 1
    total = value[rows, first] + value[rows, second]
    targets = np.full((Q, T, 1), np.nan)
    targets[:, -1, 0] = total
    return np.stack([value, marker], axis=-1), targets, total


def main(argv):
    quick = "--quick" in argv or os.environ.get("DYNGRAPH_QUICK") == "1"
    T, Q, epochs = (20, 64, 20) if quick else (40, 256, 400)
    x, t, _ = adding_problem(Q, T, seed=0)
    x_test, _, total = adding_problem(1000, T, seed=1)
    print(f"adding problem, T = {T}; always answering 1 scores "
          f"{np.mean(np.abs(1 - total) < 0.1):.3f}")
    acc = {}
    for name, spec in [("Elman", ELMAN), ("LSTM", catalog("lstm.yaml")),
                       ("GRU", catalog("gru.yaml"))]:
        net = dg.loads(spec, seed=0)
        result = dg.train(net, x, t, method="adam", epochs=epochs, lr=0.01)
        y = result.net.simulate(x_test)[:, -1, 0]
        acc[name] = np.mean(np.abs(y - total) < 0.1)
        print(f"{name:5s} ({net.n_params} parameters): test mse {np.mean((y - total) ** 2):.4f}")
    print("accuracy " + "  ".join(f"{k} {v:.3f}" for k, v in acc.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
