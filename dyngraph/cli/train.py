"""The ``train`` and ``plot`` subcommands (added to the CLI by :mod:`dyngraph.cli`).

dyngraph train SPEC --data FILE -o MODEL reads the inputs (columns named by the net's
inputs) and the targets (columns named by its outputs; an empty cell = no target) from one
CSV or NPZ file, trains (a live progress bar on a terminal, a line every --print-every
epochs otherwise), prints the stop reason and saves the model directory. Ctrl-C stops the
training and saves the best weights so far. dyngraph plot MODEL --data FILE -o DIR writes
the five diagnostic views (performance, response, error autocorrelation, input–error
cross-correlation, error histogram).

Every problem with the user's input — the spec, the data files, the options, the output
path — is reported on stderr with exit code 2 before any training starts where it can be
checked up front, and never as a traceback.
"""
from __future__ import annotations

import math
import os

from .common import CommandError, load_net
from ..io.data_files import read_data
from ..engines.records import DataError
from ..training.prepare import feedback_inputs, fill_feedback
from ..training.restarts import train_restarts
from ..training.train import train

__all__ = ["add_commands"]

METHODS = ("lm", "br", "adam", "sgd", "lbfgs", "bfgs")
META_FILE = "meta.json"      # what marks a directory as a saved model (dyngraph.store)


def add_commands(subparsers) -> None:
    """Add ``train`` and ``plot`` to the CLI's subparsers."""
    p = subparsers.add_parser("train", help="train a spec (or a saved model) on recorded data",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    add_data_options(p)
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    add_training_options(p, "N trainings from seeds S..S+N-1 (--seed S, default 0) in "
                            "parallel on Dask; the model with the lowest validation loss is "
                            "saved")
    p.add_argument("--print-every", type=int, default=10, metavar="N",
                   help="without a terminal, a progress line every N epochs (10)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("plot", help="diagnostic plots of a model on data")
    p.add_argument("model", help="saved model directory (or a spec)")
    p.add_argument("--data", required=True, help="CSV or NPZ with input and target columns")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG files")
    p.set_defaults(func=cmd_plot)


def add_data_options(p) -> None:
    """--data and --val | --divide (shared by train and sweep)."""
    p.add_argument("--data", required=True,
                   help="CSV or NPZ with the input columns and the target columns (named "
                        "by the net's outputs)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--val", metavar="FILE",
                       help="separate validation record (same columns)")
    group.add_argument("--divide", metavar="TR,VA[,TE]",
                       help="block division of the record along time, e.g. 0.7,0.15,0.15")


def add_training_options(p, restarts_help: str, runs: str = "with --restarts") -> None:
    """The training options shared by train and sweep (--method ... --scheduler)."""
    p.add_argument("--method", choices=METHODS, metavar="METHOD",
                   help="lm: Levenberg-Marquardt (default; small nets, squared errors); br: "
                        "Bayesian regularisation (LM with weight decay chosen from the data); "
                        "adam, sgd: gradient steps (--lr); lbfgs, bfgs: scipy quasi-Newton")
    p.add_argument("--epochs", type=int, help="maximum epochs (100)")
    p.add_argument("--normalize", choices=("minmax", "standard"),
                   help="fit input/output scaling on the training data and store it")
    p.add_argument("--seed", type=int, help="re-initialise the weights with this seed")
    p.add_argument("--lr", type=float, help="learning rate (adam, sgd)")
    p.add_argument("--windows", metavar="L[,STEP]",
                   help="sub-sequence (simulation-error) training: windows of L steps, STEP "
                        "apart (default L/2), each started from the measured past")
    p.add_argument("--encoder", metavar="P[,H]",
                   help="with --windows: estimate each window's unmeasured initial state "
                        "(a state-space model's x) from the P measured steps before it, "
                        "with an H-unit tanh encoder trained alongside (SUBNET; H 16)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--restarts", type=int, metavar="N", help=restarts_help)
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help=f"{runs}: a Dask scheduler, e.g. tcp://host:8786 (default: "
                        "a local cluster, one process per core; 'sequential': in this process)")


def training_options(args, methods=None) -> dict:
    """The training keywords given on the command line (train's defaults for the others),
    checked: method, epochs, divide, normalize, lr (``methods``: the sweep's grid of
    methods, which --lr must fit)."""
    if args.epochs is not None and args.epochs < 0:
        raise CommandError(f"--epochs must be >= 0, got {args.epochs}")
    if args.restarts is not None and args.restarts < 1:
        raise CommandError(f"--restarts must be >= 1, got {args.restarts}")
    given = {"method": args.method, "epochs": args.epochs, "normalize": args.normalize,
             "divide": _fractions(args.divide) if args.divide else None}
    options = {k: v for k, v in given.items() if v is not None}
    if getattr(args, "windows", None):
        options["windows"] = _windows(args.windows)
    if getattr(args, "encoder", None):
        parts = _windows(args.encoder, "--encoder", "P or P,H", "10,16")
        options["encoder"] = ({"past": parts[0], "hidden": parts[1]}
                              if isinstance(parts, tuple) else parts)
    if args.lr is not None:
        wrong = [m for m in (methods or [args.method or "lm"]) if m not in ("adam", "sgd")]
        if wrong:
            raise CommandError(f"--lr applies to --method adam or sgd, not {wrong[0]}")
        options["lr"] = args.lr
    return options


# --------------------------------------------------------------------------- checks
def _records(net, path):
    """(inputs, targets) from one data file, as dicts by name (None for no inputs). A
    ``feedback_of`` input without its own column is left out: training takes it from the
    targets (a plain (u, y) record trains a series-parallel net)."""
    targets = read_data(path, net.outputs, allow_nan=True, what="target")
    if not net.inputs:
        return None, targets
    fb = feedback_inputs(net)
    plain = {n: k for n, k in net.inputs.items() if n not in fb}
    inputs = read_data(path, plain, what="input") if plain else {}
    for name in fb:
        try:
            inputs.update(read_data(path, {name: net.inputs[name]}, what="input"))
        except DataError:
            pass                              # filled from the targets by train
    return inputs, targets


def _windows(text, flag="--windows", form="L or L,STEP", example="200,50"):
    """'200' -> 200, '200,50' -> (200, 50); positive integers."""
    try:
        parts = tuple(int(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise CommandError(f"{flag}: expected {form} (integers >= 1), e.g. {example}; "
                           f"got '{text}'")
    return parts[0] if len(parts) == 1 else parts


def _fractions(text):
    """'0.7,0.15,0.15' -> (0.7, 0.15, 0.15); two or three non-negative parts summing to 1,
    the first positive."""
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) not in (2, 3) or not all(math.isfinite(p) and p >= 0 for p in parts) \
            or parts[0] <= 0 or not math.isclose(sum(parts), 1.0, abs_tol=1e-9):
        raise CommandError(f"--divide: expected train,val[,test] fractions summing to 1 with "
                           f"a non-empty training block, e.g. 0.7,0.15,0.15; got '{text}'")
    return parts


def _check_output_dir(path):
    """Refuse, before training, an output that could not be written."""
    full = os.path.abspath(path)
    if os.path.exists(full):
        if not os.path.isdir(full):
            raise CommandError(f"{path}: exists and is not a directory; choose another -o")
        if os.listdir(full) and not os.path.exists(os.path.join(full, META_FILE)):
            raise CommandError(f"{path}: exists and is not a dyngraph model directory; "
                               f"refusing to overwrite it")
    parent = os.path.dirname(full)
    while not os.path.exists(parent):          # save creates missing parents
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"{path}: cannot create the model directory ({parent} is not a "
                           f"writable directory)")


# --------------------------------------------------------------------------- train
def cmd_train(args) -> int:
    """Train a spec or saved model on a data file and save the trained model."""
    if args.print_every < 1:
        raise CommandError(f"--print-every must be >= 1, got {args.print_every}")
    options = training_options(args)
    _check_output_dir(args.output)
    net = load_net(args.spec)
    inputs, targets = _records(net, args.data)
    val = _records(net, args.val) if args.val else None
    if args.scheduler and args.restarts is None:
        raise CommandError("--scheduler applies to --restarts")
    try:
        if args.restarts is None:
            result = train(net, inputs, targets, val=val, seed=args.seed,
                           verbose=False if args.quiet else args.print_every, **options)
        else:
            def finished(k, run):
                if not args.quiet:
                    val_text = (f", validation loss {run.val_loss:.6g}"
                                if math.isfinite(run.val_loss) else "")
                    print(f"run {k} (seed {(args.seed or 0) + k}): {run.stop_reason}, loss "
                          f"{run.loss:.6g}{val_text}", flush=True)
            many = train_restarts(net, inputs, targets, args.restarts, seed=args.seed,
                                  cluster=args.scheduler, on_run=finished, val=val,
                                  **options)
            print(f"chosen: seed {many.seeds[many.chosen]} of {args.restarts} runs, by "
                  f"{many.criterion.replace('_', ' ')}")
            result = many.best
    except (ValueError, TypeError) as err:       # DataError is a ValueError
        raise CommandError(f"dyngraph train: {err}") from None
    try:
        result.net.save(args.output)
    except (OSError, ValueError) as err:
        raise CommandError(f"{args.output}: cannot save the model: {err}") from None
    extra = ""
    if math.isfinite(result.val_loss):
        extra += f", validation loss {result.val_loss:.6g}"
    if result.effective_params is not None:
        extra += f", effective parameters {result.effective_params:.1f} of {net.n_params}"
    print(f"stop: {result.stop_reason}; best epoch {result.best_epoch}, "
          f"loss {result.loss:.6g}{extra}; saved {args.output}")
    return 0


# --------------------------------------------------------------------------- plot
def cmd_plot(args) -> int:
    """Simulate a model on a data file and write the diagnostic PNGs."""
    try:
        from ..viz import plots
        plots._matplotlib()
    except ImportError as err:
        raise CommandError(f"plot needs matplotlib: pip install 'dyngraph[plot]' ({err})")
    net = load_net(args.model)
    inputs, targets = _records(net, args.data)
    inputs = fill_feedback(net, inputs, targets)     # a series-parallel model, a (u, y) file
    try:
        written = plots.save_all(net, inputs, targets, args.output)
    except OSError as err:
        raise CommandError(f"{args.output}: cannot write the plots: "
                           f"{err.strerror or err}") from None
    for path in written:
        print(f"wrote {path}")
    if not any(p.endswith("performance.png") for p in written):
        print("(no training record in the model: performance.png not written)")
    return 0
