"""Sub-sequence (multiple-shooting) training: ``train(..., windows=L)``."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.language.writer import spec_to_yaml
from dyngraph.training.windows import cut_windows, window_starts


def plant(u):
    y = np.zeros_like(u)
    for t in range(2, len(u)):
        y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + 0.6 * np.tanh(u[t - 1])
    return y


@pytest.fixture
def record():
    u = np.random.default_rng(3).uniform(-2, 2, 160)
    return u, plant(u)


def parallel_net(seed=0):
    return dg.narx(input_delays="1:2", feedback_delays="1:2", hidden=[3], seed=seed)


def hand_window_loss(net, u, y, length, step, start=0, stop=None):
    """MSE of every window simulated on its own from the measured past, written out."""
    stop = len(y) if stop is None else stop
    errors = []
    s = start + 2
    while s + length <= stop:
        sim = net.simulate(u[s:s + length],
                           initial={"u": u[s - 2:s, None], "y": y[s - 2:s, None]})
        errors.append(np.ravel(sim) - y[s:s + length])
        s += step
    return float(np.mean(np.concatenate(errors) ** 2)), len(errors)


def test_window_starts_and_cut_by_hand():
    assert window_starts(0, 20, 2, 8, 4) == [2, 6, 10]
    assert window_starts(5, 20, 3, 8, 8) == [8]
    net = parallel_net()
    u = np.arange(30.0).reshape(30, 1, 1)
    Xw, Yw, init = cut_windows(net, {"u": u}, {"y": 100 + u}, length=6, step=4)
    starts = window_starts(0, 30, 2, 6, 4)
    assert Xw["u"].shape == (6, len(starts), 1)
    for w, s in enumerate(starts):
        np.testing.assert_array_equal(Xw["u"][:, w, 0], np.arange(s, s + 6))
        np.testing.assert_array_equal(Yw["y"][:, w, 0], 100 + np.arange(s, s + 6))
        np.testing.assert_array_equal(init["u"][w, :, 0], [s - 2, s - 1])
        np.testing.assert_array_equal(init["y"][w, :, 0], [100 + s - 2, 100 + s - 1])


def test_cut_keeps_batched_sequences_apart():
    net = parallel_net()
    u = np.stack([np.arange(12.0), -np.arange(12.0)], axis=1)[:, :, None]   # (T, Q=2, 1)
    Xw, Yw, init = cut_windows(net, {"u": u}, {"y": u}, length=4, step=4)
    # window-major: (w0 q0, w0 q1, w1 q0, w1 q1)
    np.testing.assert_array_equal(Xw["u"][0, :, 0], [2, -2, 6, -6])
    np.testing.assert_array_equal(init["y"][:, 1, 0], [1, -1, 5, -5])


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_window_loss_equals_hand_computation(record, backend):
    u, y = record
    net = parallel_net(seed=2)
    want, count = hand_window_loss(net, u, y, length=30, step=12)
    assert count > 5
    r = dg.train(net, u, y, method="lm", epochs=0, windows=(30, 12), backend=backend)
    assert r.history["loss"][0] == pytest.approx(want, rel=1e-12)


def test_windows_within_training_block_and_whole_record_validation(record):
    u, y = record
    net = parallel_net(seed=1)
    r = dg.train(net, u, y, method="lm", epochs=0, windows=20, divide=(0.75, 0.25),
                 initial={"u": np.zeros(2), "y": np.zeros(2)})
    want, _ = hand_window_loss(net, u, y, 20, 10, 0, 120)
    assert r.history["loss"][0] == pytest.approx(want, rel=1e-12)
    sim = np.ravel(net.simulate(u))                  # from rest, like `initial` above
    val = float(np.mean((sim[120:] - y[120:]) ** 2))
    assert r.history["val_loss"][0] == pytest.approx(val, rel=1e-12)
    assert r.net.meta["training"]["windows"] == [20, 10]


def test_window_training_fits_the_plant(record):
    u, y = record
    net = parallel_net(seed=0)
    before = np.sqrt(np.mean((np.ravel(net.simulate(u)) - y) ** 2))
    r = dg.train(net, u, y, method="lm", epochs=40, windows=(25, 10))
    after = np.sqrt(np.mean((np.ravel(r.net.simulate(u)) - y) ** 2))
    assert after < 0.1 * before
    assert after < 0.05


def test_series_parallel_net_takes_windows_from_plain_record(record):
    u, y = record
    net = parallel_net(seed=4).openloop()
    r = dg.train(net, u, y, method="lm", epochs=0, windows=(40, 40))
    # Open loop, every window's prediction is the one-step prediction of the whole record.
    pred = np.ravel(net.simulate({"u": u, "y_meas": y})["y"])
    starts = window_starts(0, len(y), 2, 40, 40)
    want = np.mean(np.concatenate([(pred - y)[s:s + 40] for s in starts]) ** 2)
    assert r.history["loss"][0] == pytest.approx(want, rel=1e-12)


def test_window_errors(record):
    u, y = record
    net = parallel_net()
    with pytest.raises(dg.DataError, match="no window of 500 steps"):
        dg.train(net, u, y, epochs=1, windows=500)
    with pytest.raises(ValueError, match="windows must be a length"):
        dg.train(net, u, y, epochs=1, windows="long")
    with pytest.raises(ValueError, match="integers >= 1"):
        dg.train(net, u, y, epochs=1, windows=(10, 0))
    with pytest.raises(ValueError, match="with windows= give none"):
        dg.train(net, u, y, epochs=1, windows=10, weights=np.ones(len(y)))
    y_nan = y.copy()
    y_nan[50] = np.nan
    with pytest.raises(dg.DataError, match="initial states of 'y'"):
        dg.train(net, u, y_nan, epochs=1, windows=(10, 1))


def test_cli_train_with_windows(tmp_path, record, capsys):
    from dyngraph.cli import main
    u, y = record
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="u,y", comments="")
    spec = tmp_path / "narx.yaml"
    spec.write_text(spec_to_yaml(parallel_net().spec))
    model = tmp_path / "m"
    assert main(["train", str(spec), "--data", str(path), "--epochs", "0", "--seed", "0",
                 "--windows", "30,12", "--quiet", "-o", str(model)]) == 0
    saved = dg.load(str(model))
    assert saved.meta["training"]["windows"] == [30, 12]
    want, _ = hand_window_loss(parallel_net(seed=0), u, y, 30, 12)
    assert saved.meta["training"]["history"]["loss"][0] == pytest.approx(want, rel=1e-12)
    assert main(["train", str(spec), "--data", str(path), "--windows", "30,x",
                 "-o", str(tmp_path / "n")]) == 2
    assert "--windows" in capsys.readouterr().err
