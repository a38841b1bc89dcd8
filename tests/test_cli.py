"""Tests of the command line (dyngraph.cli, run in-process through ``main``) and of the data
files it reads and writes (dyngraph.io_data)."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.engines import rtrl
from dyngraph.cli import main
from dyngraph.engines.records import DataError
from dyngraph.io.data_files import column_names, read_data, write_data
from dyngraph.viz.render import to_dot

from conftest import SPECS, SPEC_DIR, spec_id

MALFORMED = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))
EXPECT_RE = re.compile(r"# expect: (\d+):(\d+): ")
HAVE_DOT = shutil.which("dot") is not None

HARDLIM_LEARNABLE = """\
inputs: {u: 2}
layers:
  h: {size: 3, transfer: hardlim, from: {u: 0, h: 1}}
  y: {size: 1, transfer: tanh, from: {h: 0, u: 0}}
outputs: [y]
"""


def run(capsys, *argv):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def write_csv(path, columns):
    """columns: dict header -> 1-D sequence (None or '' = empty cell)."""
    names = list(columns)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*columns.values()):
            w.writerow(["" if x is None else (x if isinstance(x, str) else repr(float(x)))
                        for x in row])


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], np.array(rows[1:], dtype=float)
    return {h: body[:, j] for j, h in enumerate(header)}


def _independent_fixed_count(spec, sizes):
    """Fixed parameter scalars, counted from the spec: fixed full (S*k*n) and diagonal (S*k)
    weights, fixed biases (S), fixed gamma mu (1); identity links have no parameters."""
    count = 0
    for layer in spec.layers:
        S = sizes[layer.name]
        for link in layer.links:
            if not link.learn and link.weight == "full":
                count += S * len(link.delays) * sizes[link.source]
            elif not link.learn and link.weight == "diagonal":
                count += S * len(link.delays)
        if layer.bias.enabled and not layer.bias.learn:
            count += S
    count += sum(1 for m in spec.memories if m.kind == "gamma" and not m.learn)
    return count


# --------------------------------------------------------------------------- validate
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_validate_every_spec(capsys, spec):
    code, out, err = run(capsys, "validate", spec)
    net = dg.load(spec)
    assert code == 0 and err == ""
    assert "order: " + " -> ".join(net.order) in out
    fixed = _independent_fixed_count(net.spec, net.sizes)
    assert f"parameters: {net.n_params} learnable, {fixed} fixed" in out
    for name in net.order:
        assert re.search(rf"^  {re.escape(name)} +\S+ +{net.sizes[name]}\b", out, re.M), name
    assert "inputs: " + ", ".join(f"{n} ({s})" for n, s in net.inputs.items()) in out
    assert "outputs: " + ", ".join(f"{n} ({s})" for n, s in net.outputs.items()) in out


@pytest.mark.parametrize("name, recurrent", [
    ("narx_parallel", "{h, y}"), ("gamma_ftdnn", "{g}"), ("iir", "{y}"),
    ("ftdnn", None), ("narx_series_parallel", None),
])
def test_validate_reports_recurrent_components(capsys, name, recurrent):
    code, out, _ = run(capsys, "validate", SPEC_DIR / f"{name}.yaml")
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("recurrent components"))
    if recurrent is None:
        assert "none" in line
    else:
        assert line.endswith(recurrent)


@pytest.mark.parametrize("path", MALFORMED, ids=spec_id)
def test_validate_malformed(capsys, path):
    code, out, err = run(capsys, "validate", path)
    expected = [f"{path}:{m.group(1)}:{m.group(2)}: "
                for m in EXPECT_RE.finditer(path.read_text(encoding="utf-8"))]
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == len(expected)
    for line, prefix in zip(sorted(lines), sorted(expected)):
        assert line.startswith(prefix), (line, prefix)


def test_validate_unreadable_inputs(capsys, tmp_path):
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "validate", missing)
    assert code == 2 and out == "" and str(missing) in err and "No such file" in err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"inputs: {u: 1}\n\xff\xfe\x00")
    code, _, err = run(capsys, "validate", binary)
    assert code == 2 and f"{binary}:" in err and "UTF-8" in err


def test_usage_errors(capsys):
    assert run(capsys)[0] == 2                                   # no command
    code, _, err = run(capsys, "render", SPEC_DIR / "fir.yaml", "-o", "x.svg", "--unroll", "0")
    assert code == 2 and "positive integer" in err
    assert run(capsys, "simulate", SPEC_DIR / "fir.yaml")[0] == 2  # --data, -o missing
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "gradcheck" in out


# --------------------------------------------------------------------------- render
def test_render_dot_text(capsys, tmp_path):
    out = tmp_path / "narx.dot"
    code, stdout, _ = run(capsys, "render", SPEC_DIR / "narx_parallel.yaml", "-o", out,
                          "--unroll", 3)
    assert code == 0 and str(out) in stdout
    net = dg.load(SPEC_DIR / "narx_parallel.yaml")
    assert out.read_text(encoding="utf-8") == to_dot(net, unroll=3).to_string()


@pytest.mark.skipif(not HAVE_DOT, reason="graphviz 'dot' is not installed")
def test_render_svg(capsys, tmp_path):
    out = tmp_path / "lstm.svg"
    code, _, _ = run(capsys, "render", SPEC_DIR / "lstm.yaml", "-o", out)
    assert code == 0
    assert out.read_bytes().lstrip()[:5] in (b"<?xml", b"<svg ")


def test_render_bad_extension_and_spec(capsys, tmp_path):
    code, _, err = run(capsys, "render", SPEC_DIR / "fir.yaml", "-o", tmp_path / "fir.txt")
    assert code == 2 and "'.txt'" in err
    bad = MALFORMED[0]
    code, _, err = run(capsys, "render", bad, "-o", tmp_path / "x.dot")
    assert code == 2 and f"{bad}:" in err
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- simulate
def test_simulate_csv_to_csv_single_input(capsys, tmp_path):
    rng = np.random.default_rng(1)
    u = rng.standard_normal(15)
    data = tmp_path / "in.csv"
    write_csv(data, {"t": np.arange(15), "u": u, "target": rng.standard_normal(15)})
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, "simulate", SPEC_DIR / "narx_parallel.yaml", "--data", data,
                       "-o", out, "--seed", 3)
    assert code == 0, err
    got = read_csv(out)
    assert list(got) == ["y"]
    want = dg.load(SPEC_DIR / "narx_parallel.yaml", seed=3).simulate(u)
    np.testing.assert_allclose(got["y"], want, rtol=1e-14, atol=1e-300)
    other_seed = dg.load(SPEC_DIR / "narx_parallel.yaml", seed=4).simulate(u)
    assert not np.allclose(got["y"], other_seed)                # --seed is honoured


def test_simulate_csv_vector_signals(capsys, tmp_path):
    """jordan: a size-2 input x -> columns x[0], x[1]; a size-2 softmax output y."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 2))
    data = tmp_path / "in.csv"
    write_csv(data, {"x[1]": x[:, 1], "x[0]": x[:, 0]})        # column order is free
    out = tmp_path / "out.csv"
    code, _, err = run(capsys, "simulate", SPEC_DIR / "jordan.yaml", "--data", data, "-o", out)
    assert code == 0, err
    got = read_csv(out)
    assert list(got) == ["y[0]", "y[1]"]
    want = dg.load(SPEC_DIR / "jordan.yaml").simulate(x)
    np.testing.assert_allclose(np.column_stack([got["y[0]"], got["y[1]"]]), want, rtol=1e-14)


def test_simulate_npz_to_npz_batched_two_inputs(capsys, tmp_path):
    rng = np.random.default_rng(3)
    inputs = {"u": rng.standard_normal((3, 11, 1)), "y_meas": rng.standard_normal((3, 11, 1))}
    data = tmp_path / "in.npz"
    np.savez(data, **inputs, unrelated=np.zeros(4))
    out = tmp_path / "out.npz"
    spec = SPEC_DIR / "narx_series_parallel.yaml"
    code, _, err = run(capsys, "simulate", spec, "--data", data, "-o", out)
    assert code == 0, err
    with np.load(out) as got:
        assert got.files == ["y"]
        want = dg.load(spec).simulate(inputs)["y"]
        assert got["y"].shape == (3, 11, 1)
        np.testing.assert_allclose(got["y"], want, rtol=1e-14)


@pytest.mark.parametrize("cell", ["", "nan", "inf"])
def test_simulate_nan_input_names_the_column(capsys, tmp_path, cell):
    x = np.ones((5, 3))
    cols = {f"x[{i}]": list(x[:, i]) for i in range(3)}
    cols["x[1]"][3] = cell
    data = tmp_path / "in.csv"
    write_csv(data, cols)
    out = tmp_path / "out.csv"
    code, stdout, err = run(capsys, "simulate", SPEC_DIR / "lstm.yaml", "--data", data,
                            "-o", out)
    assert code == 2 and stdout == ""
    assert "'x[1]'" in err and f"{data}:5:" in err             # header is line 1
    assert not out.exists()


def test_simulate_nan_in_npz(capsys, tmp_path):
    u = np.zeros((2, 6, 1))
    u[1, 4, 0] = np.nan
    data = tmp_path / "in.npz"
    np.savez(data, u=u)
    code, _, err = run(capsys, "simulate", SPEC_DIR / "fir.yaml", "--data", data,
                       "-o", tmp_path / "o.npz")
    # fir's input is x, so the missing key is reported first
    assert code == 2 and "missing key 'x'" in err and "'u'" in err
    np.savez(data, x=u)
    code, _, err = run(capsys, "simulate", SPEC_DIR / "fir.yaml", "--data", data,
                       "-o", tmp_path / "o.npz")
    assert code == 2 and "'x'" in err and "nan at index (1, 4, 0)" in err


def test_simulate_bad_data(capsys, tmp_path):
    spec = SPEC_DIR / "lstm.yaml"
    data = tmp_path / "in.csv"
    write_csv(data, {"x[0]": [1.0, 2.0], "x[2]": [1.0, 2.0]})
    code, _, err = run(capsys, "simulate", spec, "--data", data, "-o", tmp_path / "o.csv")
    assert code == 2 and "missing column 'x[1]'" in err
    data.write_text("x[0],x[1],x[2]\n1,2,three\n")
    code, _, err = run(capsys, "simulate", spec, "--data", data, "-o", tmp_path / "o.csv")
    assert code == 2 and f"{data}:2:" in err and "'three' is not a number" in err
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.zeros((4, 2)))                            # x has size 3
    code, _, err = run(capsys, "simulate", spec, "--data", npz, "-o", tmp_path / "o.csv")
    assert code == 2 and "shape (4, 2)" in err
    np.savez(npz, x=np.zeros((2, 4, 3)))                         # 2 sequences -> not CSV
    code, _, err = run(capsys, "simulate", spec, "--data", npz, "-o", tmp_path / "o.csv")
    assert code == 2 and ".npz" in err
    code, _, err = run(capsys, "simulate", spec, "--data", tmp_path / "none.csv",
                       "-o", tmp_path / "o.csv")
    assert code == 2 and "none.csv" in err
    code, _, err = run(capsys, "simulate", spec, "--data", npz, "-o", tmp_path / "o.json")
    assert code == 2 and "'.json'" in err
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "in.npz"]


def test_simulate_and_validate_a_saved_model(capsys, tmp_path):
    net = dg.load(SPEC_DIR / "narx_parallel.yaml", seed=5)
    net.set("y.b", [0.25])                                       # not what a seed gives
    model = tmp_path / "model"
    net.save(model)
    code, out, err = run(capsys, "validate", model)
    assert code == 0 and "order: u -> h -> y" in out, err
    u = np.random.default_rng(6).standard_normal(10)
    data, result = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(data, {"u": u})
    code, _, err = run(capsys, "simulate", model, "--data", data, "-o", result)
    assert code == 0, err
    np.testing.assert_allclose(read_csv(result)["y"], net.simulate(u), rtol=1e-14)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "validate", empty)
    assert code == 2 and str(empty) in err and err.count(str(empty)) == 1


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name", ["iir", "narx_parallel", "gamma_ftdnn", "jordan", "lstm"])
def test_gradcheck_passes(capsys, name):
    code, out, err = run(capsys, "gradcheck", SPEC_DIR / f"{name}.yaml",
                         "--T", 6, "--Q", 2, "--seed", 1)
    assert code == 0, out + err
    assert "result: ok" in out
    for row in ("bptt.v", "rtrl.v", "fd"):
        assert re.search(rf"^  {re.escape(row)} +-?\d", out, re.M), row
    if name == "jordan":
        assert "loss cross_entropy" in out                     # softmax output


def test_gradcheck_step_functions(capsys, tmp_path):
    spec = tmp_path / "steps.yaml"
    spec.write_text(HARDLIM_LEARNABLE)
    code, out, _ = run(capsys, "gradcheck", spec, "--T", 5, "--Q", 2)
    assert code == 0 and "zero almost everywhere" in out and "skipped" in out
    code, out, _ = run(capsys, "gradcheck", SPEC_DIR / "parity.yaml", "--T", 5)
    assert code == 0 and "no learnable parameters" in out


def test_gradcheck_detects_a_mismatch(capsys, monkeypatch):
    real = rtrl.gradient

    def wrong(*args, **kwargs):
        g = real(*args, **kwargs)
        g = np.array(g, dtype=float)
        g[0] += 1e-3 * max(1.0, np.abs(g).max())
        return g

    monkeypatch.setattr(rtrl, "gradient", wrong)
    code, out, _ = run(capsys, "gradcheck", SPEC_DIR / "iir.yaml", "--T", 6, "--Q", 1)
    assert code == 1 and "MISMATCH" in out


# --------------------------------------------------------------------------- plug-ins
def test_column_names():
    assert column_names("u", 1) == ["u"]
    assert column_names("y", 3) == ["y[0]", "y[1]", "y[2]"]


def test_read_write_roundtrip(tmp_path):
    rng = np.random.default_rng(4)
    arrays = {"y": rng.standard_normal((7, 1)), "z": rng.standard_normal((7, 3))}
    write_data(tmp_path / "a.csv", arrays)
    back = read_data(tmp_path / "a.csv", {"y": 1, "z": 3})
    for k in arrays:
        np.testing.assert_array_equal(back[k], arrays[k])      # repr round-trips exactly
    batched = {"y": rng.standard_normal((2, 7, 1))}
    write_data(tmp_path / "a.npz", batched)
    np.testing.assert_array_equal(read_data(tmp_path / "a.npz", {"y": 1})["y"], batched["y"])


def test_read_targets_allows_nan(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("u[0],y,z\n1,0.5,\n2,,3\n")               # u[0] stands for size-1 u
    got = read_data(path, {"u": 1, "y": 1}, allow_nan=True, what="target")
    np.testing.assert_array_equal(got["u"], [[1.0], [2.0]])
    assert got["y"][0, 0] == 0.5 and np.isnan(got["y"][1, 0])
    with pytest.raises(DataError, match=r"d\.csv:3: column 'y' \(input 'y'\) has an empty"):
        read_data(path, {"y": 1})


def test_read_data_refuses(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("u,u\n1,2\n")
    with pytest.raises(DataError, match="appears twice"):
        read_data(dup, {"u": 1})
    empty = tmp_path / "empty.csv"
    empty.write_text("u\n")
    with pytest.raises(DataError, match="no data rows"):
        read_data(empty, {"u": 1})
    obj = tmp_path / "obj.npz"
    np.savez(obj, u=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="obj.npz"):
        read_data(obj, {"u": 1})
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        read_data(junk, {"u": 1})
    with pytest.raises(DataError, match="'.txt'"):
        read_data(tmp_path / "x.txt", {"u": 1})


# --------------------------------------------------------------------------- installed
def test_console_script_and_module():
    spec = str(SPEC_DIR / "narx_parallel.yaml")
    script = shutil.which("dyngraph")
    commands = [[sys.executable, "-m", "dyngraph", "validate", spec]]
    if script is not None:
        commands.append([script, "validate", spec])
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "order: u -> h -> y" in proc.stdout
    if script is None:
        pytest.skip("the 'dyngraph' console script is not on PATH (only -m was tested)")
    proc = subprocess.run([script, "validate", str(MALFORMED[0])], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
