"""The ``dyngraph`` command line: validate, schema, render, simulate, gradcheck, export (here),
train, plot (:mod:`dyngraph.cli.train`) and sweep (:mod:`dyngraph.cli.sweep`).

Exit codes: 0 success; 1 a check failed (``gradcheck`` mismatch); 2 bad input — a spec error
(printed one problem per line in compiler style ``file:line:col: where: message``), an
unreadable file, bad data, an unknown output format. Bad input never prints a traceback.

Another module adds subcommands by defining ``add_commands(subparsers)``; each subcommand
sets ``func`` (``args -> int``) with ``set_defaults`` and may raise :class:`CommandError`,
:class:`~dyngraph.SpecError` or :class:`~dyngraph.DataError`, which :func:`main` reports.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Mapping, Optional, Sequence

import numpy as np

from .._version import __version__

from ..engines.records import DataError
from ..io.data_files import data_format, read_data, write_data
from ..viz.render import RenderError
from ..viz.summary import node_rows
from ..language.schema import schema_path
from ..language.spec import SpecError
from ..language.writer import spec_to_yaml
from . import compile as _compile_commands
from . import sweep as _sweep_commands
from . import train as _train_commands
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CommandError, load_net

__all__ = ["main", "build_parser", "load_net", "CommandError"]

GRAD_TOL_ENGINES = 1e-8      # max|g_bptt - g_rtrl| / max|g|
GRAD_TOL_FD = 1e-5           # |g.v - fd| / max(|fd|, 1e-12)
FD_EPS = 1e-6


_load_net = load_net


def _print_table(rows: Sequence[Sequence[str]], indent: str = "  ") -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _signal_list(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{n} ({s})" for n, s in sizes.items()) or "none"


def _transfers(net) -> List[str]:
    return [getattr(d["spec"], "transfer", None) for _, d in net.graph.nodes(data=True)
            if d["kind"] == "layer"]


# --------------------------------------------------------------------------- validate
def _node_row(net, name: str) -> List[str]:
    row = next(r for r in node_rows(net) if r[0] == name)
    return [row[0], row[1], row[2], row[4]]


def cmd_validate(args) -> int:
    """Check a spec; print its order, sizes, signals, parameters and recurrent parts, or
    (``--expand``) only the spec with its block macros written out, as loadable YAML."""
    net = load_net(args.spec)
    if args.expand:
        sys.stdout.write(spec_to_yaml(net.spec))
        return EXIT_OK
    print(f"{args.spec}: ok, network '{net.name}'")
    print("order: " + " -> ".join(net.order))
    print("nodes:")
    _print_table([["name", "kind", "size", "details"]]
                 + [_node_row(net, n) for n in net.order])
    print(f"inputs: {_signal_list(net.inputs)}")
    print(f"outputs: {_signal_list(net.outputs)}")
    blocks = net.plan.blocks
    fixed = sum(b.size for b in blocks if not b.learn)
    print(f"parameters: {net.n_params} learnable, {fixed} fixed "
          f"({len(blocks)} blocks: {', '.join(net.block_names) or 'none'})")
    recurrent = [c for c in net.plan.components if c.recurrent]
    if recurrent:
        print("recurrent components (stepped through time): "
              + "; ".join("{" + ", ".join(c.nodes) + "}" + (" backward" if c.backward else "")
                          for c in recurrent))
    else:
        print("recurrent components: none (feedforward in time: computed for all steps at once)")
    return EXIT_OK


def cmd_schema(args) -> int:
    """Print the JSON Schema of the spec language (or, with --path, where it is installed)."""
    path = schema_path()
    if args.path:
        print(path)
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return EXIT_OK


# --------------------------------------------------------------------------- render
def cmd_render(args) -> int:
    """Draw the folded (or unrolled) diagram to a file chosen by extension."""
    from ..viz.render import render
    net = load_net(args.spec)
    try:
        render(net, args.output, unroll=args.unroll)
    except RenderError as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"{args.output}: cannot write: {err.strerror or err}") from None
    what = f"unrolled over {args.unroll} steps" if args.unroll else "folded"
    print(f"wrote {args.output} ({what} diagram of '{net.name}')")
    return EXIT_OK


# --------------------------------------------------------------------------- simulate
def cmd_simulate(args) -> int:
    """Run the network on the inputs in a data file and write its outputs."""
    data_format(args.output)                     # refuse a bad -o before any work
    net = load_net(args.spec, seed=args.seed)
    inputs = read_data(args.data, net.inputs, allow_nan=False, what="input")
    outputs = net.simulate(inputs)
    write_data(args.output, outputs)
    shape = next(iter(outputs.values())).shape
    print(f"wrote {', '.join(outputs)} ({'x'.join(map(str, shape))}) to {args.output}")
    return EXIT_OK


# --------------------------------------------------------------------------- gradcheck
def _random_problem(net, rng, T: int, Q: int):
    """Inputs ~ N(0, 1); targets ~ N(0, 1), or random one-hot rows for softmax outputs."""
    inputs = {n: rng.standard_normal((Q, T, s)) for n, s in net.inputs.items()}
    targets, softmax = {}, []
    for name, size in net.outputs.items():
        if getattr(net.graph.nodes[name]["spec"], "transfer", None) == "softmax":
            softmax.append(name)
            targets[name] = np.eye(size)[rng.integers(0, size, (Q, T))]
        else:
            targets[name] = rng.standard_normal((Q, T, size))
    loss = "cross_entropy" if softmax and len(softmax) == len(net.outputs) else "mse"
    return inputs, targets, loss


def _loss_at(net, theta, inputs, targets, loss, initial=None):
    from ..engines.losses import loss_and_adjoint
    trial = net.copy()
    trial.params = theta
    Y = trial.simulate(inputs, initial=initial)
    Y = {k: Y[k] for k in targets}
    internal = lambda d: {k: np.swapaxes(v, 0, 1) for k, v in d.items()}   # (T, Q, n)
    return loss_and_adjoint(internal(Y), internal(targets), loss)[0]


def cmd_gradcheck(args) -> int:
    """Compare BPTT, RTRL and a central finite difference along a random direction."""
    net = load_net(args.spec, seed=args.seed)
    if args.T < 1 or args.Q < 1:
        raise CommandError(f"--T and --Q must be at least 1 (got T={args.T}, Q={args.Q})")
    rng = np.random.default_rng(args.seed)
    inputs, targets, loss = _random_problem(net, rng, args.T, args.Q)
    P = net.n_params
    print(f"gradcheck {args.spec}: network '{net.name}', {P} learnable parameters, "
          f"T={args.T}, Q={args.Q}, loss {loss}, seed {args.seed}")
    if P == 0:
        print("no learnable parameters: nothing to check")
        return EXIT_OK
    steps = sorted({t for t in _transfers(net) if t in ("hardlim", "hardlims")})
    loss_b, g_b = net.gradient(inputs, targets, method="bptt", loss=loss)
    loss_r, g_r = net.gradient(inputs, targets, method="rtrl", loss=loss)
    v = rng.standard_normal(P)
    v /= np.linalg.norm(v)
    theta = net.params
    stops = sorted(f"{l.source} -> {layer.name}" for layer in net.spec.layers
                   for l in layer.links if l.gradient == "stop")
    # The stopped gradient is the true gradient of the detached net (the stopped sources fed
    # their recorded values), so that is the net finite differences must be taken of.
    ref, ref_inputs, ref_initial = net.detach(inputs) if stops else (net, inputs, None)
    fd = (_loss_at(ref, theta + FD_EPS * v, ref_inputs, targets, loss, ref_initial)
          - _loss_at(ref, theta - FD_EPS * v, ref_inputs, targets, loss, ref_initial)
          ) / (2 * FD_EPS)
    gmax = max(np.max(np.abs(g_b)), np.max(np.abs(g_r)))
    engines = float(np.max(np.abs(g_b - g_r)) / gmax) if gmax > 0 else 0.0
    fd_b = abs(g_b @ v - fd) / max(abs(fd), 1e-12)
    fd_r = abs(g_r @ v - fd) / max(abs(fd), 1e-12)
    print(f"loss: bptt {loss_b:.12g}, rtrl {loss_r:.12g}")
    _print_table([
        ["quantity", "value", "tolerance", ""],
        ["bptt.v", f"{g_b @ v: .12e}", "", ""],
        ["rtrl.v", f"{g_r @ v: .12e}", "", ""],
        ["fd", f"{fd: .12e}", "", f"(central, eps {FD_EPS:g})"],
        ["max|g_bptt - g_rtrl| / max|g|", f"{engines: .3e}", f"{GRAD_TOL_ENGINES:g}",
         _verdict(engines <= GRAD_TOL_ENGINES)],
        ["|bptt.v - fd| / |fd|", f"{fd_b: .3e}", f"{GRAD_TOL_FD:g}",
         "skipped" if steps else _verdict(fd_b <= GRAD_TOL_FD)],
        ["|rtrl.v - fd| / |fd|", f"{fd_r: .3e}", f"{GRAD_TOL_FD:g}",
         "skipped" if steps else _verdict(fd_r <= GRAD_TOL_FD)],
    ])
    ok = engines <= GRAD_TOL_ENGINES and abs(loss_b - loss_r) <= 1e-12 * max(1.0, abs(loss_b))
    if stops:
        print(f"note: gradient: stop on {', '.join(stops)}; fd is of the detached net (those "
              f"links fed their sources' recorded values), whose true gradient the stopped "
              f"one is")
    if steps:
        print(f"note: the net uses {', '.join(steps)}, whose derivative is zero almost "
              f"everywhere, so the gradients are zero almost everywhere; only BPTT and RTRL "
              f"are compared")
    else:
        ok = ok and fd_b <= GRAD_TOL_FD and fd_r <= GRAD_TOL_FD
    print("result: " + ("ok" if ok else "MISMATCH"))
    return EXIT_OK if ok else EXIT_FAILED


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISMATCH"


# --------------------------------------------------------------------------- export
def cmd_export(args) -> int:
    """Write a model (saved folder or spec) as a standalone .py (numpy) or .onnx file."""
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in (".py", ".onnx"):
        raise CommandError(f"{out}: unknown export format '{suffix}'; use .py (a numpy "
                           f"module) or .onnx")
    if os.path.isdir(out):
        raise CommandError(f"{out}: is a directory; choose a file name for -o")
    if os.path.exists(out) and not args.force:
        raise CommandError(f"{out}: exists; pass --force to overwrite it")
    net = load_net(args.model, seed=args.seed)
    try:
        net.export(out)
    except OSError as err:
        raise CommandError(f"{out}: cannot write: {err.strerror or err}") from None
    except ValueError as err:                    # ExportError: what the format cannot hold
        raise CommandError(str(err)) from None
    kind = "numpy module" if suffix == ".py" else "ONNX model"
    print(f"wrote {out} ({kind} of '{net.name}', {net.n_params} learnable parameters)")
    return EXIT_OK


# --------------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="dyngraph",
        description="Dynamic neural networks from YAML specs: check, draw, simulate, "
                    "differentiate, train.")
    parser.add_argument("--version", action="version", version=f"dyngraph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a spec and summarise the network")
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    p.add_argument("--expand", action="store_true",
                   help="print the spec with its block macros (kind: lstm, gru) written out "
                        "as layers, as YAML that loads back to the same net")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the spec language's JSON Schema (for editors)")
    p.add_argument("--path", action="store_true",
                   help="print the installed schema file's path instead")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("render", help="draw the network (.svg, .png, .pdf, .dot)")
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    p.add_argument("-o", "--output", required=True, help="output file; extension = format")
    p.add_argument("--unroll", type=_positive_int, metavar="T", default=None,
                   help="draw the computation unrolled over T time steps")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("simulate", help="run the network on data from a CSV/NPZ file")
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    p.add_argument("--data", required=True,
                   help="inputs: CSV (columns u or u[0], u[1], ...) or NPZ (keys = input names)")
    p.add_argument("-o", "--output", required=True, help="outputs: .csv or .npz")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights (spec)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("gradcheck", help="compare BPTT, RTRL and finite differences")
    p.add_argument("spec", help="spec file (.yaml) or saved model directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the data")
    p.add_argument("--T", type=_positive_int, default=20, help="sequence length (20)")
    p.add_argument("--Q", type=_positive_int, default=3, help="number of sequences (3)")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("export", help="write a standalone model: .py (numpy only) or .onnx")
    p.add_argument("model", help="saved model directory (or a spec .yaml)")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .py (numpy module) or .onnx (ONNX model)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initial weights (when MODEL is a spec)")
    p.set_defaults(func=cmd_export)

    _train_commands.add_commands(sub)
    _sweep_commands.add_commands(sub)
    _compile_commands.add_commands(sub)
    return parser


# --------------------------------------------------------------------------- entry point
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:                   # argparse: usage error (2) or --help (0)
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args))
    except CommandError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return err.code
    except SpecError as err:
        for problem in err.problems:
            print(str(problem), file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as err:
        print(f"dyngraph {args.command}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, and keep the interpreter's
        # final flush of stdout from failing again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILED


if __name__ == "__main__":                       # pragma: no cover
    sys.exit(main())
