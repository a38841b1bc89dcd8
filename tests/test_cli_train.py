"""CLI train / simulate / plot on a saved model, in a temporary directory."""
import os

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.cli import main

SPECS = os.path.join(os.path.dirname(__file__), os.pardir, "specs")


def plant(u):
    y = np.zeros_like(u)
    for t in range(1, len(u)):
        y[t] = 0.6 * y[t - 1] / (1 + y[t - 1] ** 2) + 0.4 * np.tanh(u[t - 1])
    return y


@pytest.fixture
def record(tmp_path):
    u = np.random.default_rng(0).uniform(-1, 1, 150)
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.c_[u, plant(u)], delimiter=",", header="u,y", comments="")
    return path, u, plant(u)


def test_train_then_simulate_reproduces_the_saved_model(tmp_path, record, capsys):
    path, u, y = record
    spec = os.path.join(SPECS, "narx_parallel.yaml")
    model = tmp_path / "model"
    assert main(["train", spec, "--data", str(path), "--epochs", "4", "--print-every", "1",
                 "-o", str(model)]) == 0
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.startswith("epoch")]
    assert len(lines) == 5                                            # rows 0..4
    assert out.out.strip().splitlines()[-1].startswith("stop: max epochs")
    net = dg.load(str(model))
    first = float(lines[0].split()[3])
    last = float(lines[-1].split()[3])
    assert last < first                                               # LM lowered the loss
    out = tmp_path / "out.csv"
    assert main(["simulate", str(model), "--data", str(path), "-o", str(out)]) == 0
    got = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, net.simulate(u), rtol=0, atol=1e-12)


def test_plot_writes_the_five_views(tmp_path, record, capsys):
    pytest.importorskip("matplotlib")
    path, u, y = record
    model = tmp_path / "model"
    main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
          "--epochs", "2", "--quiet", "-o", str(model)])
    assert main(["plot", str(model), "--data", str(path), "-o", str(tmp_path / "plots")]) == 0
    names = sorted(os.listdir(tmp_path / "plots"))
    assert names == sorted(["performance.png", "response.png", "error_autocorrelation.png",
                            "input_error_crosscorrelation.png", "error_histogram.png"])
    for name in names:
        with open(tmp_path / "plots" / name, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("text, needle", [
    ("u,y\n1,2\nnan,3\n", "'u'"),            # NaN in an input names the column
    ("x,y\n1,2\n2,3\n", "'u'"),              # the input column is missing
])
def test_bad_data_exits_2_naming_the_problem(tmp_path, capsys, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_divide_must_be_three_fractions(tmp_path, record, capsys):
    path, _, _ = record
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "--divide", "0.5,0.6", "-o", str(tmp_path / "m")])
    assert code == 2 and "--divide" in capsys.readouterr().err


def test_shape_mismatch_in_an_npz_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, u=np.zeros((50, 1)), y=np.zeros((40, 1)))
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "T=40" in err and "T=50" in err and "Traceback" not in err


@pytest.mark.parametrize("divide", ["0,0.5,0.5", "0.5,0.6", "a,b,c", "0.7,0.3,0,0"])
def test_divide_without_a_training_block_or_not_summing_to_one_exits_2(tmp_path, record,
                                                                         capsys, divide):
    path, _, _ = record
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "--divide", divide, "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "--divide" in err and "Traceback" not in err


def test_an_output_that_cannot_be_a_model_directory_is_refused_before_training(
        tmp_path, record, capsys):
    path, _, _ = record
    occupied = tmp_path / "afile"
    occupied.write_text("not a model")
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "-o", str(occupied)])
    captured = capsys.readouterr()
    assert code == 2 and "afile" in captured.err and "not a directory" in captured.err
    assert "epoch" not in captured.out                     # refused before any training
    assert occupied.read_text() == "not a model"


def test_validation_file_gives_a_validation_loss_per_epoch(tmp_path, record, capsys):
    path, u, y = record
    val = tmp_path / "val.csv"
    u2 = np.random.default_rng(5).uniform(-1, 1, 80)
    np.savetxt(val, np.c_[u2, plant(u2)], delimiter=",", header="u,y", comments="")
    code = main(["train", os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                 "--val", str(val), "--epochs", "3", "--print-every", "1",
                 "-o", str(tmp_path / "m")])
    out = capsys.readouterr()
    assert code == 0
    rows = [line.split() for line in out.err.splitlines() if line.startswith("epoch")]
    assert len(rows) == 4 and all(r[4] == "val" and float(r[5]) > 0 for r in rows)
    assert "validation loss" in out.out.strip().splitlines()[-1]


def test_progress_every_n_epochs_and_no_val_column_without_validation(tmp_path, capsys):
    path = tmp_path / "d.csv"
    u = np.random.default_rng(0).standard_normal(80)
    np.savetxt(path, np.c_[u, np.tanh(u)], delimiter=",", header="u,y", comments="")
    spec = os.path.join(SPECS, "narx_parallel.yaml")
    assert main(["train", spec, "--data", str(path), "--method", "adam", "--epochs", "25",
                 "--print-every", "10", "-o", str(tmp_path / "m")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]
    assert [int(line.split()[1]) for line in err] == [0, 10, 20, 25]
    assert not any(" val " in line for line in err)


def test_ctrl_c_saves_the_best_weights_so_far(tmp_path):
    """A real SIGINT to a running `dyngraph train`: the model is saved, loadable, and says
    it was interrupted."""
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "d.csv"
    u = np.random.default_rng(0).standard_normal(300)
    np.savetxt(path, np.c_[u, np.tanh(np.convolve(u, [0.5, 0.3], "same"))], delimiter=",",
               header="u,y", comments="")
    model = tmp_path / "m"
    proc = subprocess.Popen([sys.executable, "-m", "dyngraph", "train",
                             os.path.join(SPECS, "narx_parallel.yaml"), "--data", str(path),
                             "--method", "adam", "--epochs", "1000000", "--print-every", "1",
                             "-o", str(model)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            # Under a shell's background job SIGINT is ignored, and a Python
                            # started so never raises KeyboardInterrupt: the child gets the
                            # default disposition, as in a terminal.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    import threading
    err = []
    try:
        for line in proc.stderr:             # wait until training is under way
            if line.startswith("epoch") and int(line.split()[1]) >= 3:
                break
        # Keep reading its progress lines, as a terminal would: a child blocked on a full
        # pipe is not what a user's Ctrl-C meets.
        drain = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
        drain.start()
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            drain.join(5)
            pytest.fail("train went on after SIGINT; its last lines:\n" + "".join(err[-15:]))
        out = proc.stdout.read()
        drain.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + "".join(err[-15:])
    assert "stop: interrupted" in out
    import dyngraph as dg
    net = dg.load(model)
    assert net.meta["training"]["stop_reason"] == "interrupted"


def test_plot_onto_an_existing_file_and_of_a_series_parallel_model(tmp_path, capsys):
    u = np.random.default_rng(0).standard_normal(80)
    y = np.tanh(np.convolve(u, [0.0, 0.5, 0.3])[:80])
    path = tmp_path / "d.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="u,y", comments="")
    model = tmp_path / "m"
    assert main(["train", os.path.join(SPECS, "narx_series_parallel.yaml"), "--data",
                 str(path), "--epochs", "2", "--quiet", "-o", str(model)]) == 0
    busy = tmp_path / "busy.png"
    busy.write_text("not a folder")
    assert main(["plot", str(model), "--data", str(path), "-o", str(busy)]) == 2
    assert "cannot write the plots" in capsys.readouterr().err
    assert busy.read_text() == "not a folder"                      # nothing lost
    pytest.importorskip("matplotlib")
    assert main(["plot", str(model), "--data", str(path), "-o", str(tmp_path / "p")]) == 0
    assert len(os.listdir(tmp_path / "p")) == 5


def test_train_help_reads_as_text(capsys):
    try:
        code = main(["train", "--help"])
    except SystemExit as stop:
        code = stop.code
    assert code in (0, None)
    out = capsys.readouterr().out
    assert "``" not in out and "Levenberg-Marquardt" in out and "Ctrl-C" in out
