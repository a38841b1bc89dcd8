"""The ``train`` and ``plot`` subcommands (added to the CLI by :mod:`dyngraph.cli`).

``dyngraph train SPEC --data FILE -o MODEL`` reads the inputs (columns named by the net's
inputs) and the targets (columns named by its outputs; an empty cell = no target) from one
CSV or NPZ file, trains, prints one progress line per epoch and the stop reason, and saves
the model directory. ``dyngraph plot MODEL --data FILE -o DIR`` writes the five diagnostic
views (performance, response, error autocorrelation, input–error cross-correlation, error
histogram).
"""
from __future__ import annotations

import math

from .cli import CommandError, load_net
from .io_data import read_data

__all__ = ["add_commands"]

METHODS = ("lm", "br", "adam", "sgd", "lbfgs", "bfgs")


def add_commands(subparsers) -> None:
    """Add ``train`` and ``plot`` to the CLI's subparsers."""
    p = subparsers.add_parser("train", help="train a spec (or a saved model) on recorded data",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    p.add_argument("--data", required=True, help="CSV or NPZ with input and target columns")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.add_argument("--method", choices=METHODS, default="lm")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--val", help="separate validation file (same columns)")
    p.add_argument("--divide", help="train,val,test fractions of the record by time blocks, "
                                    "e.g. 0.7,0.15,0.15")
    p.add_argument("--normalize", choices=("minmax", "standard"))
    p.add_argument("--seed", type=int, help="re-initialise the weights with this seed")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("plot", help="diagnostic plots of a model on data")
    p.add_argument("model", help="saved model directory (or a spec)")
    p.add_argument("--data", required=True, help="CSV or NPZ with input and target columns")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG files")
    p.set_defaults(func=cmd_plot)


def _records(net, path):
    """(inputs, targets) from one data file, as dicts by name (None for no inputs)."""
    inputs = read_data(path, net.inputs) if net.inputs else None
    targets = read_data(path, net.outputs, allow_nan=True, what="target")
    return inputs, targets


def _fractions(text):
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or not math.isclose(sum(parts), 1.0):
        raise CommandError(f"--divide: expected three fractions summing to 1, e.g. "
                           f"0.7,0.15,0.15; got '{text}'")
    return parts


def _progress(row) -> bool:
    step = row.get("mu", row.get("step", math.nan))
    val = row.get("val_loss", math.nan)
    print(f"epoch {int(row['epoch']):5d}  loss {row['loss']:.6g}  "
          f"val {val:.6g}  {'mu' if 'mu' in row else 'step'} {step:.3g}  "
          f"{row['time']:.2f}s", flush=True)
    return False


def cmd_train(args) -> int:
    import dyngraph as dg
    net = load_net(args.spec)
    inputs, targets = _records(net, args.data)
    val = None
    if args.val:
        val = _records(net, args.val)
    if args.epochs < 0:
        raise CommandError("--epochs must be >= 0")
    result = dg.train(net, inputs, targets, method=args.method, epochs=args.epochs,
                      val=val, divide=_fractions(args.divide) if args.divide else None,
                      normalize=args.normalize, seed=args.seed,
                      callback=None if args.quiet else _progress)
    result.net.save(args.output)
    print(f"stop: {result.stop_reason}; best epoch {result.best_epoch}, "
          f"loss {result.loss:.6g}; saved {args.output}")
    return 0


def cmd_plot(args) -> int:
    try:
        from . import plots
        plots._matplotlib()
    except ImportError as err:
        raise CommandError(f"plot needs matplotlib: pip install 'dyngraph[plot]' ({err})")
    net = load_net(args.model)
    inputs, targets = _records(net, args.data)
    if inputs is not None and len(inputs) == 1 and len(net.inputs) == 1:
        inputs = next(iter(inputs.values()))
    if len(targets) == 1:
        targets = next(iter(targets.values()))
    for path in plots.save_all(net, inputs, targets, args.output):
        print(f"wrote {path}")
    return 0
