"""Issue 10's hostile and new-user cases: each gets a clear dyngraph error or does the right
thing, and loses nothing the user had."""
from __future__ import annotations

import io

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR
from dyngraph.training import progress

NARX = str(SPEC_DIR / "narx_parallel.yaml")


@pytest.fixture
def net():
    return dg.load(NARX)


@pytest.mark.parametrize("shape", [(0, 1), (0,), (2, 0, 1), (0, 5, 1)])
def test_empty_records_are_data_errors(net, shape):
    with pytest.raises(dg.DataError, match="is empty"):
        net.simulate(np.zeros(shape))
    with pytest.raises(dg.DataError, match="is empty"):
        dg.train(net, np.zeros(shape), np.zeros(shape), epochs=1)


def test_inf_targets_refused_nan_targets_kept(net):
    u = np.ones((10, 1))
    y = np.zeros((10, 1))
    y[3] = np.inf
    with pytest.raises(dg.DataError, match="inf at step 3.*NaN"):
        net.gradient(u, y)
    with pytest.raises(dg.DataError, match="inf at step 3"):
        dg.train(net, u, y, epochs=1)
    y[3] = np.nan
    loss, g = net.gradient(u, y)
    assert np.isfinite(loss) and np.all(np.isfinite(g))


@pytest.mark.parametrize("truncate", [7, (0, 3), (5, 2), (2.5, 4), ("a", 3), (1, 2, 3)])
def test_a_bad_truncation_is_a_clear_error_before_any_work(net, truncate, monkeypatch):
    import dyngraph.model.net as net_mod
    monkeypatch.setattr(net_mod, "forward", lambda *a, **k: pytest.fail("ran the net"))
    with pytest.raises(ValueError, match=r"truncate=\(k1, k2\) takes two whole numbers"):
        net.gradient(np.ones((10, 1)), np.zeros((10, 1)), truncate=truncate)


def test_net_without_inputs_simulates_with_steps():
    nar = dg.loads("layers: {y: {size: 1, transfer: tanh, from: {y: 1}}}\noutputs: [y]")
    w, b = nar.get("y.W[y]")[0, 0], nar.get("y.b")[0]
    y = nar.simulate(steps=4, initial={"y": [[0.5]]})
    want, prev = [], 0.5
    for _ in range(4):                       # a hand-written loop of the same recurrence
        prev = np.tanh(w * prev + b)
        want.append(prev)
    np.testing.assert_allclose(y[:, 0], want, rtol=1e-14)
    assert nar.simulate(steps=3, initial={"y": np.ones((2, 1, 1))}).shape == (2, 3, 1)
    with pytest.raises(dg.DataError, match="steps=T"):
        nar.simulate()
    with pytest.raises(dg.DataError, match="steps= is for a net without inputs"):
        dg.load(NARX).simulate(np.ones((3, 1)), steps=3)


def test_spec_too_big_for_memory_is_a_positioned_spec_error():
    with pytest.raises(dg.SpecError) as info:
        dg.loads("inputs: {u: 100000}\nlayers: {y: {size: 100000, from: u}}\noutputs: [y]",
                 file="big.yaml")
    (p,) = info.value.problems
    assert (p.where.file, p.where.line) == ("big.yaml", 2)
    assert "10,000,100,000 weights and biases" in p.message and "limit" in p.message


def test_diverging_adam_says_so(net):
    rng = np.random.default_rng(0)
    r = dg.train(net, rng.standard_normal((100, 1)), rng.standard_normal((100, 1)),
                 method="adam", epochs=50, lr=1e6)
    assert r.stop_reason.startswith("diverged") and "smaller step" in r.stop_reason
    assert np.all(np.isfinite(r.net.params))


def test_keyboard_interrupt_returns_best_so_far(net):
    rng = np.random.default_rng(1)
    u = rng.standard_normal((80, 1))
    y = np.tanh(np.convolve(u[:, 0], [0.4, 0.2], "same"))[:, None]

    def ctrl_c(row):
        if row["epoch"] == 4:
            raise KeyboardInterrupt
    r = dg.train(net, u, y, epochs=100, callback=ctrl_c)
    assert r.stop_reason == "interrupted" and list(r.history["epoch"]) == [0, 1, 2, 3, 4]
    assert r.loss == r.history["loss"].min() < r.history["loss"][0]

    with pytest.raises(KeyboardInterrupt):   # not even the first epoch: nothing to return
        _interrupt_before_first_row(net, u, y)


def _interrupt_before_first_row(net, u, y):
    """Ctrl-C while the first epoch is being evaluated."""
    import dyngraph.training.optimizers as opt
    real = opt.Recorder.record

    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt
    opt.Recorder.record = ctrl_c
    try:
        dg.train(net, u, y, epochs=5)
    finally:
        opt.Recorder.record = real


def test_progress_lines_every_n_epochs_without_val_column():
    out = io.StringIO()
    report = progress.reporter(3, epochs=7, stream=out)
    for e in range(6):                                   # stops early at epoch 5
        report({"epoch": e, "loss": 1.0 / (e + 1), "val_loss": float("nan"), "time": 0.1})
    report.close()
    lines = out.getvalue().splitlines()
    assert [int(line.split()[1]) for line in lines] == [0, 3, 5]
    assert all(" val " not in line for line in lines)
    assert progress.reporter(False, 5) is None
    with pytest.raises(ValueError, match="verbose"):
        progress.reporter(-2, 5)


def test_train_verbose_prints_on_stderr(net, capsys):
    rng = np.random.default_rng(2)
    dg.train(net, rng.standard_normal((40, 1)), rng.standard_normal((40, 1)), epochs=4,
             verbose=2)
    err = capsys.readouterr().err.splitlines()
    assert [int(line.split()[1]) for line in err if line.startswith("epoch")][:2] == [0, 2]
    assert err[-1].startswith("stop: ") and "best epoch" in err[-1]


# --------------------------------------------------------------------------- the model store

def test_save_removes_what_killed_saves_left(tmp_path, net):
    path = tmp_path / "m"
    net.save(path)
    for junk in (".m.tmp-abc", ".m.old-def"):      # as a kill -9 between steps leaves them
        (tmp_path / junk).mkdir()
        (tmp_path / junk / "weights.npz").write_bytes(b"x")
    net.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_interrupted_save_points_to_the_complete_old_model(tmp_path, net):
    net.save(tmp_path / "m")
    (tmp_path / "m").rename(tmp_path / ".m.old-xyz")      # killed between the two renames
    with pytest.raises(dg.ModelError, match=r"interrupted.*\.m\.old-xyz"):
        dg.load(tmp_path / "m")


@pytest.mark.parametrize("value", ["true", "1.0", "\"1\""])
def test_meta_format_must_be_the_integer_one(tmp_path, net, value):
    import json
    net.save(tmp_path / "m")
    meta = tmp_path / "m" / "meta.json"
    doc = json.loads(meta.read_text())
    meta.write_text(meta.read_text().replace(f'"format": {doc["format"]}',
                                             f'"format": {value}'))
    with pytest.raises(dg.ModelError, match="model format"):
        dg.load(tmp_path / "m")


def test_symlinked_spec_refused_without_quoting_it(tmp_path, net):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET first line\n")
    net.save(tmp_path / "m")
    (tmp_path / "m" / "spec.yaml").unlink()
    (tmp_path / "m" / "spec.yaml").symlink_to(secret)
    with pytest.raises(dg.ModelError) as info:
        dg.load(tmp_path / "m")
    assert "symbolic link" in str(info.value) and "TOP-SECRET" not in str(info.value)


# --------------------------------------------------------------------------- streaming

@pytest.mark.parametrize("path", sorted(SPEC_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_chunked_simulation_equals_one_call(path):
    from conftest import random_data
    net = dg.load(path)
    X = random_data(net, Q=2, T=50, seed=4)
    if not X:
        pytest.skip("no inputs")
    whole, s_whole = net.simulate(X, return_state=True, chunk=50)
    if net.plan.backward:           # each step depends on the later ones: no chunks
        with pytest.raises(dg.DataError, match="one piece"):
            net.simulate(X, chunk=7)
        return
    for chunk in (1, 7, 49):
        part, s_part = net.simulate(X, return_state=True, chunk=chunk)
        for o in net.outputs:
            a, b = (whole[o], part[o]) if isinstance(whole, dict) else (whole, part)
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
        for k in s_whole:
            np.testing.assert_allclose(s_part[k], s_whole[k], rtol=1e-12, atol=1e-13)


def test_long_record_memory_is_bounded(net):
    """T = 200,000 steps: peak memory is a small multiple of the output, not O(T) caches."""
    import tracemalloc
    u = np.random.default_rng(0).standard_normal((200_000, 1))
    net.simulate(u[:100])                    # warm: loading compiled code allocates too
    tracemalloc.start()
    y = net.simulate(u)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert y.shape == (200_000,) or y.shape == (200_000, 1)
    # One call over all T would hold ~64 MB of caches here; chunks hold a few MB.
    assert peak <= 3 * y.nbytes + (8 << 20), peak
    with pytest.raises(dg.DataError, match="chunk"):
        net.simulate(u[:10], chunk=0)


# --------------------------------------------------------------------------- notebooks, frames

def test_data_frames_in_and_out_keep_the_time_index():
    pd = pytest.importorskip("pandas")
    net = dg.load(SPEC_DIR / "narx_series_parallel.yaml")
    rng = np.random.default_rng(0)
    idx = pd.date_range("2026-01-01", periods=40, freq="s")
    df = pd.DataFrame({"u": rng.standard_normal(40), "y_meas": rng.standard_normal(40),
                       "y": rng.standard_normal(40), "other": 0.0}, index=idx)
    out = net.simulate(df)
    assert list(out.columns) == ["y"] and out.index.equals(idx)
    want = net.simulate({"u": df["u"].to_numpy(), "y_meas": df["y_meas"].to_numpy()})
    np.testing.assert_array_equal(out["y"].to_numpy(), np.ravel(want["y"]))
    loss, g = net.gradient(df, df)
    assert np.isclose(loss, net.gradient({"u": df[["u"]].to_numpy(),
                                          "y_meas": df[["y_meas"]].to_numpy()},
                                         df[["y"]].to_numpy())[0])
    with pytest.raises(dg.DataError, match="no column 'y_meas'"):
        net.simulate(df[["u"]])


def test_notebook_views():
    net = dg.load(SPEC_DIR / "lstm.yaml")
    page = net._repr_html_()
    for name in net.order:
        assert f"<td>{name}</td>" in page
    assert f"{net.n_params} learnable parameters" in page
    import shutil
    if shutil.which("dot"):
        assert "<svg" in page
    r = dg.train(dg.load(SPEC_DIR / "fir.yaml"), np.random.default_rng(0).standard_normal(40),
                 np.random.default_rng(1).standard_normal(40), epochs=2)
    text = repr(r)
    assert text.startswith("TrainResult(method='lm'") and "array(" not in text
