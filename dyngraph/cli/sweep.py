"""The ``sweep`` subcommand: train a preset over a grid of configurations (dg.sweep).

dyngraph sweep PRESET --grid KEY=V1,V2 [--grid KEY=...] --data FILE [--divide | --val]
[--restarts N] [--scheduler ADDRESS] [-o MODEL] trains every cell of the grid (the product
of the --grid lists; keys are the preset's arguments and the training options) with N
restarts each, every run at once on Dask; prints one line per finished cell, then the
table ranked by validation loss (training loss without validation data), and saves the
chosen cell's model with -o.

A --grid value is a comma-separated list; a list value is written in brackets:
``--grid hidden=[5],[10,5]`` (one and two hidden layers), ``--grid input_delays=1:2,1:5``,
``--grid method=lm,br``. The data columns are named by the preset's ports: ``u`` and ``y``,
or the names given by --inputs and --outputs (``--inputs uEst --outputs yEst``).
"""
from __future__ import annotations

import functools
import math

import yaml

from .common import CommandError
from .train import _check_output_dir, _records, add_data_options, add_training_options, \
    training_options
from ..model.presets import PRESETS
from ..training.sweep import SELECT, build_cell, expand_grid, grid_keys, sweep

__all__ = ["add_commands", "parse_grid"]


def add_commands(subparsers) -> None:
    """Add ``sweep`` to the CLI's subparsers."""
    p = subparsers.add_parser("sweep", help="train a preset over a grid of configurations",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("preset", help=f"the preset: {', '.join(PRESETS)}")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="values of one preset argument or training option (repeatable); "
                        "lists in brackets: hidden=[5],[10,5]")
    p.add_argument("--inputs", metavar="NAME[:SIZE],...",
                   help="the preset's input ports, i.e. the input columns (default: u)")
    p.add_argument("--outputs", metavar="NAME[:SIZE],...",
                   help="the preset's output ports, i.e. the target columns (default: y)")
    add_data_options(p)
    p.add_argument("-o", "--output", help="model directory for the chosen cell's model")
    add_training_options(p, "restarts per cell, seeds S..S+N-1 (--seed S, default 0; "
                            "default 1 restart)", runs="where every run goes")
    p.add_argument("--select", choices=SELECT, default="val",
                   help="rank cells by their best run (val, default) or by the median over "
                        "their restarts")
    p.set_defaults(func=cmd_sweep)


# --------------------------------------------------------------------------- parsing
def _scalar(text: str):
    """One grid leaf: an int, a float, true/false, null, else the text itself."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None, "none": None}.get(text.lower(), text)


def _leaves(node):
    return [_leaves(v) for v in node] if isinstance(node, list) else _scalar(node)


def parse_grid(items) -> dict:
    """``["hidden=[5],[10]", "method=lm,br"]`` -> ``{"hidden": [[5], [10]], "method":
    ["lm", "br"]}``. Values are read as YAML flow lists of plain strings (no YAML typing:
    ``1:2`` stays a delay range), then numbers and true/false/null are converted."""
    grid = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key or not text.strip():
            raise CommandError(f"--grid '{item}': expected KEY=V1,V2,..., e.g. "
                               f"hidden=[5],[10] or input_delays=1:2,1:5")
        if key in grid:
            raise CommandError(f"--grid: '{key}' is given twice; list its values once")
        try:
            values = yaml.load(f"[{text}]", Loader=yaml.BaseLoader)
        except yaml.YAMLError:
            values = None
        if not isinstance(values, list) or any(v in ("", []) for v in values):
            raise CommandError(f"--grid '{item}': cannot read the values; write them "
                               f"comma-separated, lists in brackets: hidden=[5],[10,5]")
        grid[key] = _leaves(values)
    return grid


def _ports(option, text):
    """--inputs 'uEst' / 'u:2,v' -> {'uEst': 1} / {'u': 2, 'v': 1}."""
    ports = {}
    for part in text.split(","):
        name, _, size = part.strip().partition(":")
        if not name or (size and not size.isdigit()) or (size and int(size) < 1):
            raise CommandError(f"{option}: expected NAME[:SIZE],... e.g. uEst or u:2,v; "
                               f"got '{text}'")
        ports[name] = int(size) if size else 1
    return ports


# --------------------------------------------------------------------------- sweep
def cmd_sweep(args) -> int:
    """Train a preset over the grid and print the ranked table; save the chosen model."""
    if args.preset not in PRESETS:
        raise CommandError(f"dyngraph sweep: unknown preset '{args.preset}'; choose from "
                           f"{', '.join(PRESETS)}")
    preset = PRESETS[args.preset]
    fixed = {}
    for option, key in (("--inputs", "inputs"), ("--outputs", "outputs")):
        text = getattr(args, key)
        if text is not None:
            fixed[key] = _ports(option, text)
    builder = functools.partial(preset, **fixed) if fixed else preset
    grid = parse_grid(args.grid)
    if not grid:
        raise CommandError(f"dyngraph sweep: give at least one --grid KEY=V1,V2; valid keys: "
                           f"{grid_keys(builder)}")
    methods = [str(m) for m in grid["method"]] if "method" in grid else None
    options = training_options(args, methods)
    for key in grid:
        if key in fixed or key in options:
            raise CommandError(f"dyngraph sweep: --{key} and --grid {key}=... both given")
    if args.output is not None:
        _check_output_dir(args.output)
    try:
        cells = expand_grid(builder, grid, options)
        first = build_cell(builder, 0, cells[0][0], {k: cells[0][0].get(k, cells[0][1].get(k))
                                                     for k in grid})
    except ValueError as err:
        raise CommandError(f"dyngraph sweep: {str(err).replace('sweep: ', '', 1)}") from None
    inputs, targets = _records(first, args.data)
    val = _records(first, args.val) if args.val else None
    count = {"done": 0}

    def finished(i, config, result):
        count["done"] += 1
        if args.quiet:
            return
        words = "validation" if math.isfinite(result.val_loss) else "training"
        score = result.val_loss if words == "validation" else result.loss
        shown = ", ".join(f"{k}={v}" for k, v in config.items())
        print(f"cell {i} ({shown}) done, {count['done']} of {len(cells)}: best {words} loss "
              f"{score:.6g} of {len(result.runs)} run(s), {result.stop_reason}", flush=True)

    try:
        result = sweep(builder, grid, inputs, targets, restarts=args.restarts or 1,
                       seed=args.seed or 0, cluster=args.scheduler, select=args.select,
                       on_cell=finished, val=val, **options)
    except (ValueError, TypeError) as err:       # DataError is a ValueError
        raise CommandError(f"dyngraph sweep: {str(err).replace('sweep: ', '', 1)}") from None
    print(result)
    if args.output is not None:
        try:
            result.best_net.save(args.output)
        except (OSError, ValueError) as err:
            raise CommandError(f"{args.output}: cannot save the model: {err}") from None
        print(f"saved cell {result.chosen} to {args.output}")
    return 0
