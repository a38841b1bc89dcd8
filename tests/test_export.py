"""Model export: ``net.export("m.py")`` (a standalone numpy module) and ``net.export("m.onnx")``
(run with onnxruntime), each checked against ``net.simulate`` on every catalog spec with
random weights and inputs, plus the features no catalog spec uses, scaling, the errors and
the CLI."""
from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.cli import main
from dyngraph.io.export_numpy import RANDOM_TRANSFERS, RUNTIME_TRANSFERS, ExportError
from dyngraph.kinds.transfers import TRANSFERS
from dyngraph.training.scaling import fit_scaling

from conftest import SPECS, spec_id

Q, T = 2, 30
_ids = itertools.count()


def random_net(source, seed=0):
    """A net from a spec file or text with random learnable weights in [-0.8, 0.8]."""
    net = dg.load(source, seed=seed) if isinstance(source, Path) else dg.loads(source)
    rng = np.random.default_rng(seed + 100)
    net.params = rng.uniform(-0.8, 0.8, net.n_params)
    return net


def exportable_net(spec, seed):
    """random_net, for a spec the exporters support; a spec with backward layers must be
    refused with a clear ExportError (checked), and the test is then skipped."""
    net = random_net(spec, seed=seed)
    if net.plan.backward:
        for suffix in (".py", ".onnx"):
            with pytest.raises(ExportError, match="direction: backward"):
                net.export(Path(f"/nonexistent/{net.name}{suffix}"))
        pytest.skip("export refuses backward layers (checked above)")
    return net


def random_inputs(net, seed=1, Q=Q, T=T):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((Q, T, n)) for k, n in net.inputs.items()}


def import_exported(path):
    """Import an exported module under a fresh name (not left in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"_exported_{next(_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(a, b, tol):
    """|a - b| <= tol * max(1, |b|) elementwise scale (recurrent nets may grow)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(b)))
    assert err <= tol, err


def close_outputs(got, want, tol):
    if isinstance(want, dict):
        assert sorted(got) == sorted(want)
        for k in want:
            close(got[k], want[k], tol)
    else:
        close(got, want, tol)


def export_py(net, tmp_path):
    path = tmp_path / f"{net.name}.py"
    assert net.export(path) == str(path)
    return path


# --------------------------------------------------------------------------- numpy module
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_numpy_module_matches_simulate(spec, tmp_path):
    net = exportable_net(spec, seed=3)
    m = import_exported(export_py(net, tmp_path))
    u = random_inputs(net)
    close_outputs(m.simulate(u), net.simulate(u), 1e-12)
    if len(net.inputs) == 1:                 # a bare array, batched and single, like simulate
        (name, n), = net.inputs.items()
        for bare in (u[name], u[name][0]) + ((u[name][0, :, 0],) if n == 1 else ()):
            close_outputs(m.simulate(bare), net.simulate(bare), 1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_numpy_module_steps_and_states(spec, tmp_path):
    net = exportable_net(spec, seed=4)
    m = import_exported(export_py(net, tmp_path))
    u = random_inputs(net, seed=2)
    want = net.simulate(u)
    state, steps = m.initial_state(Q), []
    for t in range(T):
        state, y = m.step(state, {k: v[:, t] for k, v in u.items()})
        steps.append(y)
    close_outputs({k: np.stack([y[k] for y in steps], axis=1) for k in net.outputs},
                  want, 1e-12)
    # Two halves carried by the returned state = the whole run; its state = the net's.
    first, state = m.simulate({k: v[:, :12] for k, v in u.items()}, return_state=True)
    second = m.simulate({k: v[:, 12:] for k, v in u.items()}, state=state)
    close_outputs({k: np.concatenate([first[k], second[k]], axis=1) for k in want},
                  want, 1e-12)
    _, net_state = net.simulate(u, return_state=True)
    _, mod_state = m.simulate(u, return_state=True)
    close_outputs(mod_state, net_state, 1e-12)
    # One unbatched sequence: (n,) steps, (L, n) states, as net.simulate gives them.
    one = {k: v[1] for k, v in u.items()}
    want, net_state = net.simulate(one, return_state=True)
    got, mod_state = m.simulate(one, return_state=True)
    close_outputs(got, want, 1e-12)
    close_outputs(mod_state, net_state, 1e-12)
    state = m.initial_state(1)
    for t in range(5):
        state, y = m.step(state, {k: v[t] for k, v in one.items()})
        close_outputs(y, {k: v[t] for k, v in want.items()}, 1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_numpy_module_stands_alone(spec, tmp_path):
    """No dyngraph import in the source, and it runs in a fresh interpreter where importing
    dyngraph is impossible; its weights are the net's, bit for bit."""
    net = exportable_net(spec, seed=5)
    path = export_py(net, tmp_path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported == {"numpy"}
    assert "dyngraph" not in "".join(
        line for line in path.read_text().splitlines() if "import" in line)
    u = random_inputs(net, seed=6)
    np.savez(tmp_path / "u.npz", **u)
    script = (
        "import sys, importlib.util, numpy as np\n"
        "sys.modules['dyngraph'] = None\n"             # any dyngraph import now fails
        f"spec = importlib.util.spec_from_file_location('model', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"u = dict(np.load({str(tmp_path / 'u.npz')!r}))\n"
        f"np.savez({str(tmp_path / 'y.npz')!r}, **m.simulate(u))\n")
    subprocess.run([sys.executable, "-I", "-c", script], check=True, cwd=tmp_path)
    with np.load(tmp_path / "y.npz") as y:
        close_outputs(dict(y), net.simulate(u), 1e-12)
    m = import_exported(path)
    for node in m.NODES:
        for src, _, weight, W in node.get("links", ()):
            if W is not None:
                assert np.array_equal(W, net.get(f"{node['name']}.W[{src}]"))
        if node.get("bias") is not None:
            assert np.array_equal(node["bias"], net.get(f"{node['name']}.b"))


# --------------------------------------------------------------------------- features
TRANSFER_SPEC = """\
inputs: {{u: 2}}
layers:
  h: {{size: 3, transfer: {t}, from: {{u: "0:1", h: 1}}}}
  y: {{size: 3, transfer: {t}, from: {{h: 0, u: 2}}}}
outputs: [y]
"""

#: Everything no catalog spec uses: a tdl memory, a gamma memory on a vector, diagonal and
#: identity links over several delays, a product net with a bias, two inputs, two outputs.
FEATURES_SPEC = """\
inputs: {u: 2, v: 3}
memories:
  m: {kind: tdl, from: u, delays: "0:2"}
  g: {kind: gamma, from: v, order: 2, mu: 0.3}
layers:
  a: {size: 3, transfer: relu, from: {m: 0, g: 1, y: 1}}
  d: {size: 3, bias: false, from: {a: {delays: "0:2", weight: diagonal}, v: {delays: "1:3", weight: identity}}}
  p: {size: 3, net: prod, transfer: softplus, from: {d: 0, a: 1, v: 0}}
  y: {size: 2, transfer: satlins, from: {p: 0, y: "1:2"}}
  z: {kind: sum, from: {p: 2}, transfer: softmax}
outputs: [y, z]
"""


def _check_both(net, tmp_path, u):
    m = import_exported(export_py(net, tmp_path))
    want = net.simulate(u)
    close_outputs(m.simulate(u), want, 1e-12)
    ort = pytest.importorskip("onnxruntime")
    _check_onnx(net, tmp_path, u, want, ort)


def _check_onnx(net, tmp_path, u, want, ort):
    path = tmp_path / f"{net.name}.onnx"
    net.export(path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(net.inputs)
    assert [o.name for o in sess.get_outputs()] == list(net.outputs)
    got = dict(zip(net.outputs, sess.run(None, u)))
    close_outputs(got, want, 1e-9)


def test_the_interpreter_knows_every_transfer():
    assert set(RUNTIME_TRANSFERS) | set(RANDOM_TRANSFERS) == set(TRANSFERS)
    assert not set(RUNTIME_TRANSFERS) & set(RANDOM_TRANSFERS)


@pytest.mark.parametrize("transfer", sorted(set(TRANSFERS) - set(RANDOM_TRANSFERS)))
def test_every_transfer_exports(transfer, tmp_path):
    net = random_net(TRANSFER_SPEC.format(t=transfer), seed=7)
    _check_both(net, tmp_path, {"u": 2.0 * random_inputs(net, seed=8)["u"]})


def test_argmax_exports_the_first_of_tied_maxima(tmp_path):
    net = random_net(TRANSFER_SPEC.format(t="argmax"), seed=7)
    for block in net.block_names:       # y(t) = argmax of n = (u_1(t-2), u_2(t-2), 0)
        net.set(block, np.zeros_like(net.get(block)))
    net.set("y.W[u]", np.eye(3, 2))
    u = {"u": np.array([[[1.0, 1.0], [2.0, -1.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])}
    _check_both(net, tmp_path, u)
    np.testing.assert_array_equal(net.simulate(u)["y"][0, 2:], [[1, 0, 0], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("suffix", [".py", ".onnx"])
def test_a_sampling_net_is_refused_by_name(suffix, tmp_path):
    net = random_net(TRANSFER_SPEC.format(t="sample"), seed=7)
    with pytest.raises(ExportError, match="node 'h': transfer 'sample' draws"):
        net.export(tmp_path / f"m{suffix}")


def test_features_no_catalog_spec_uses(tmp_path):
    net = random_net(FEATURES_SPEC, seed=9)
    kinds = {d["kind"] for _, d in net.graph.nodes(data=True)}
    assert {"tdl", "gamma"} <= kinds
    _check_both(net, tmp_path, random_inputs(net, seed=10))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.stem in ("narx_parallel", "gru")],
                         ids=spec_id)
def test_a_scaled_net_works_in_original_units(spec, tmp_path):
    net = random_net(spec, seed=11)
    u = {k: 5.0 + 3.0 * v for k, v in random_inputs(net, seed=12).items()}
    X = {k: np.swapaxes(v, 0, 1) for k, v in u.items()}
    Y = {o: np.random.default_rng(13).normal(2.0, 4.0, (T, Q, n))
         for o, n in net.outputs.items()}
    net.meta["scaling"] = fit_scaling(net, X, Y, "minmax")
    want = net.simulate(u)
    plain = net.copy()
    plain.meta.pop("scaling")
    assert np.max(np.abs(plain.simulate(u)["y"] - want["y"])) > 1e-3   # scaling matters
    _check_both(net, tmp_path, u)
    # The state is the net's (input and output nodes in original units): a run from the
    # default state in two halves, and step by step, equals the whole run.
    m = import_exported(tmp_path / f"{net.name}.py")
    first = {k: v[:, :10] for k, v in u.items()}
    _, net_state = net.simulate(first, return_state=True)
    y1, state = m.simulate(first, return_state=True)
    close_outputs(state, net_state, 1e-12)
    y2 = m.simulate({k: v[:, 10:] for k, v in u.items()}, state=net_state)
    close_outputs({k: np.concatenate([y1[k], y2[k]], axis=1) for k in want}, want, 1e-12)
    state, steps = m.initial_state(Q), []
    for t in range(T):
        state, y = m.step(state, {k: v[:, t] for k, v in u.items()})
        steps.append(y["y"])
    close(np.stack(steps, axis=1), want["y"], 1e-12)


def test_a_net_without_inputs(tmp_path):
    net = random_net("layers:\n  y: {size: 2, transfer: tanh, from: {y: 1}}\noutputs: [y]")
    m = import_exported(export_py(net, tmp_path))
    state = {"y": np.random.default_rng(0).normal(size=(3, 1, 2))}
    close(m.simulate(steps=8, state=state)["y"], net.simulate(steps=8, initial=state), 1e-12)
    close(m.simulate(steps=8, state={"y": state["y"][0]})["y"],
          net.simulate(steps=8, initial={"y": state["y"][0]}), 1e-12)
    s, y = m.step({"y": state["y"]})
    close(y["y"], net.simulate(steps=1, initial=state)[:, 0], 1e-12)
    pytest.importorskip("onnx")
    with pytest.raises(ExportError, match="has no inputs.*export to .py"):
        net.export(tmp_path / "auto.onnx")
    assert not (tmp_path / "auto.onnx").exists()


def test_export_refuses(tmp_path):
    net = random_net(next(s for s in SPECS if s.stem == "layer_recurrent"))
    with pytest.raises(ValueError, match=r"suffix '\.txt'.*\.py.*\.onnx"):
        net.export(tmp_path / "m.txt")
    block = net.param_names[0]
    net.set(block, np.full(net.get(block).shape, np.nan))
    with pytest.raises(ExportError, match=re.escape(f"'{block}'") + ".*NaN"):
        net.export(tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_onnx_matches_simulate(spec, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    net = exportable_net(spec, seed=14)
    u = random_inputs(net, seed=15)
    _check_onnx(net, tmp_path, u, net.simulate(u), ort)
    # Q and T are free: another batch size and length through the same file.
    u = random_inputs(net, seed=16, Q=3, T=7)
    sess = ort.InferenceSession(str(tmp_path / f"{net.name}.onnx"),
                                providers=["CPUExecutionProvider"])
    close_outputs(dict(zip(net.outputs, sess.run(None, u))), net.simulate(u), 1e-9)


# --------------------------------------------------------------------------- CLI
def test_cli_export_round_trip(tmp_path, capsys):
    net = random_net(next(s for s in SPECS if s.stem == "lstm"), seed=17)
    net.save(tmp_path / "model")
    u = random_inputs(net, seed=18)
    want = dg.load(tmp_path / "model").simulate(u)
    out = tmp_path / "model.py"
    assert main(["export", str(tmp_path / "model"), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    close_outputs(import_exported(out).simulate(u), want, 1e-12)
    # An existing file is refused without --force (and left as it was).
    before = out.read_text()
    assert main(["export", str(tmp_path / "model"), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == before
    assert main(["export", str(tmp_path / "model"), "-o", str(out), "--force"]) == 0
    assert main(["export", str(tmp_path / "model"), "-o", str(tmp_path / "m.txt")]) == 2
    assert "unknown export format '.txt'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.py")]) == 2
    # A spec is accepted too, with its seeded initial weights.
    spec = next(s for s in SPECS if s.stem == "iir")
    assert main(["export", str(spec), "-o", str(tmp_path / "iir.py"), "--seed", "2"]) == 0
    x = u["x"][0, :, 0]                      # one flat (T,) record
    close_outputs(import_exported(tmp_path / "iir.py").simulate(x),
                  dg.load(spec, seed=2).simulate(x), 1e-12)


def test_cli_export_onnx(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    net = random_net(next(s for s in SPECS if s.stem == "narx_series_parallel"), seed=19)
    net.save(tmp_path / "model")
    out = tmp_path / "model.onnx"
    assert main(["export", str(tmp_path / "model"), "-o", str(out)]) == 0
    assert "ONNX model" in capsys.readouterr().out
    u = random_inputs(net, seed=20)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    close_outputs(dict(zip(net.outputs, sess.run(None, u))), net.simulate(u), 1e-9)
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["format"] == 1
