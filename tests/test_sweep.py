"""dg.sweep: a grid of configurations x restarts; a cell is exactly dg.train(restarts=) of its
net, whatever runs it; the table ranks cells by validation loss (never test data); errors
name the key or the cell; the CLI."""
from __future__ import annotations

import doctest
import sys

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.training import sweep as sweep_module

distributed = pytest.importorskip("distributed")

GRID = {"hidden": [[2], [3]], "method": ["lm", "adam"]}
KW = dict(epochs=4, divide=(0.8, 0.2))


@pytest.fixture(scope="module")
def record():
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, 160)
    return u, np.tanh(np.convolve(u, [0.0, 0.6, 0.3])[:160])


@pytest.fixture(scope="module")
def seq(record):
    u, y = record
    return dg.sweep(dg.narx, GRID, u, y, restarts=2, seed=5, cluster="sequential", **KW)


def same_runs(a, b):
    assert a.seeds == b.seeds and a.chosen == b.chosen and a.criterion == b.criterion
    for ra, rb in zip(a.runs, b.runs):
        np.testing.assert_array_equal(ra.params, rb.params)
        np.testing.assert_array_equal(ra.history["loss"], rb.history["loss"])
        assert ra.stop_reason == rb.stop_reason


def test_a_cell_is_dg_train_with_restarts_on_two_workers_or_none(record, seq):
    from dyngraph.training.restarts import forked_cluster
    u, y = record
    cluster = forked_cluster(2)
    client = distributed.Client(cluster)
    try:
        finished = []
        par = dg.sweep(dg.narx, GRID, u, y, restarts=2, seed=5, cluster=client,
                       on_cell=lambda i, config, res: finished.append(i), **KW)
    finally:
        client.close()
        cluster.close()
    assert sorted(finished) == [0, 1, 2, 3]
    assert seq.configs == par.configs == [
        {"hidden": [2], "method": "lm"}, {"hidden": [2], "method": "adam"},
        {"hidden": [3], "method": "lm"}, {"hidden": [3], "method": "adam"}]
    for config, a, b in zip(seq.configs, seq.cells, par.cells):
        one = dg.train(dg.narx(hidden=config["hidden"]), u, y, restarts=2, seed=5,
                       cluster="sequential", method=config["method"], **KW)
        same_runs(one, a)
        same_runs(one, b)
    assert seq.chosen == par.chosen and seq.seeds == [5, 6]


def test_table_rows_columns_and_ranking(seq):
    pytest.importorskip("pandas")
    t = seq.table
    assert len(t) == 4
    assert list(t.columns) == ["hidden", "method", "n_params", "best_val", "median_val",
                               "train_loss", "epochs", "stop", "time_s"]
    assert t.index.name == "cell"
    assert list(t["best_val"]) == sorted(t["best_val"])           # best first
    assert t.index[0] == seq.chosen
    for i, res in enumerate(seq.cells):                           # the numbers are the runs'
        row = t.loc[i]
        vals = [r.val_loss for r in res.runs]
        assert row["best_val"] == min(vals) == res.val_loss
        assert row["median_val"] == np.median(vals)
        assert row["train_loss"] == res.loss
        assert row["n_params"] == res.net.n_params
        assert row["epochs"] == 4 and row["stop"] == res.stop_reason
    assert dg.narx(hidden=[3]).n_params == t.loc[2, "n_params"]
    # Selection by validation loss: the chosen cell has the lowest best validation loss.
    assert seq.criterion == "val_loss"
    assert seq.best is seq.cells[seq.chosen] and seq.best_net is seq.best.net
    assert seq.best.val_loss == min(r.val_loss for c in seq.cells for r in c.runs)
    text = str(seq)
    assert "ranked by the best run's validation loss" in text and "median_val" in text
    assert repr(seq) == text and len(text.splitlines()) == 1 + 2 + 4


def test_training_loss_without_validation_and_median_selection(record):
    pytest.importorskip("pandas")
    u, y = record
    s = dg.sweep(dg.narx, {"hidden": [[1], [2], [3]]}, u, y, restarts=3, epochs=3,
                 cluster="sequential", select="median")
    assert s.criterion == "loss" and s.select == "median"
    assert "best_loss" in s.table.columns and "best_val" not in s.table.columns
    medians = [np.median([r.loss for r in c.runs]) for c in s.cells]
    assert list(s.table.index) == list(np.argsort(medians, kind="stable"))
    assert s.chosen == int(np.argmin(medians))


def test_custom_builder_and_table_without_pandas(record, monkeypatch):
    u, y = record
    made = []

    def build(width, delays="1:2"):
        made.append(width)
        return dg.narx(hidden=[width], input_delays=delays)

    monkeypatch.setitem(sys.modules, "pandas", None)              # import pandas fails
    s = dg.sweep(build, {"width": [1, 2]}, u, y, epochs=2, cluster="sequential")
    assert made == [1, 2]
    t = s.table
    assert isinstance(t, sweep_module.Table) and len(t) == 2
    assert t.columns[:3] == ["cell", "width", "n_params"]
    assert t[0]["cell"] == s.chosen and sorted(t["cell"]) == [0, 1]
    lines = str(t).splitlines()
    assert lines[0].split()[:3] == ["cell", "width", "n_params"] and len(lines) == 3


def test_grid_errors_name_the_keys(record):
    u, y = record
    bad = lambda grid, **kw: dg.sweep(dg.narx, grid, u, y, cluster="sequential", **kw)
    with pytest.raises(ValueError, match="unknown grid key 'hiden'") as err:
        bad({"hiden": [[2]]})
    assert "input_delays" in str(err.value) and "method" in str(err.value)
    assert "seed" not in str(err.value)                          # not a sweepable argument
    with pytest.raises(ValueError, match=r"grid\['hidden'\] is an empty list"):
        bad({"hidden": []})
    with pytest.raises(ValueError, match="non-empty dict"):
        bad({})
    with pytest.raises(ValueError, match=r"must be a list of values.*\['1:2'\]"):
        bad({"input_delays": "1:2"})
    with pytest.raises(ValueError, match="'seed' cannot be a grid key"):
        bad({"seed": [1, 2]})
    with pytest.raises(ValueError, match="'divide' cannot be a grid key"):
        bad({"divide": [(0.8, 0.2)]})
    with pytest.raises(ValueError, match="both a grid key and a fixed"):
        bad({"epochs": [1, 2]}, epochs=3)
    with pytest.raises(ValueError, match="test data never selects"):
        bad({"hidden": [[2]]}, select="test")
    with pytest.raises(TypeError, match="unexpected keyword argument.*epoch"):
        bad({"hidden": [[2]]}, epoch=3)
    with pytest.raises(ValueError, match="callback"):
        dg.sweep(dg.narx, {"hidden": [[2]]}, u, y, callback=lambda row: None)


def test_a_failing_cell_is_named(record):
    u, y = record
    with pytest.raises(ValueError, match=r"cell 1 \(input_delays='2:1'\): narx: "
                                         r"input_delays: delay range"):
        dg.sweep(dg.narx, {"input_delays": ["1:2", "2:1"]}, u, y, cluster="sequential")
    with pytest.raises(TypeError, match=r"cell 1 \(method='lm', lr=0.1\), seed 0: .*no "
                                        r"option 'lr'"):
        dg.sweep(dg.narx, {"method": ["adam", "lm"], "lr": [0.1]}, u, y, epochs=1,
                 cluster="sequential")
    with pytest.raises(ValueError, match="cell 0.*not a net"):
        dg.sweep(lambda hidden: hidden, {"hidden": [1]}, u, y, cluster="sequential")


def test_docstring_examples_run():
    assert doctest.testmod(sweep_module).failed == 0


# --------------------------------------------------------------------------- the CLI
@pytest.fixture
def data_file(tmp_path, record):
    u, y = record
    path = tmp_path / "rec.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="uEst,yEst", comments="")
    return path


def test_cli_sweep_prints_cells_and_table_and_saves_the_best(tmp_path, data_file, capsys):
    from dyngraph.cli import main
    model = tmp_path / "best"
    assert main(["sweep", "narx", "--inputs", "uEst", "--outputs", "yEst",
                 "--grid", "input_delays=1:1,1:2", "--grid", "hidden=[2],[1,1]",
                 "--data", str(data_file), "--divide", "0.8,0.2", "--epochs", "3",
                 "--restarts", "2", "--seed", "3", "--scheduler", "sequential",
                 "-o", str(model)]) == 0
    out = capsys.readouterr().out.splitlines()
    done = [line for line in out if " done, " in line]
    assert len(done) == 4 and "(input_delays=1:1, hidden=[2]) done, 1 of 4" in done[0]
    assert any("ranked by the best run's validation loss" in line for line in out)
    header = next(line for line in out if "n_params" in line).split()
    assert header[:4] == ["input_delays", "hidden", "n_params", "best_val"]
    chosen = int(out[-1].split()[2])
    assert out[-1] == f"saved cell {chosen} to {model}"
    saved = dg.load(str(model))
    assert saved.inputs == {"uEst": 1} and saved.outputs == {"yEst": 1}
    u, y = np.loadtxt(data_file, delimiter=",", skiprows=1).T
    config = [{"input_delays": d, "hidden": h} for d in ("1:1", "1:2")
              for h in ([2], [1, 1])][chosen]
    again = dg.train(dg.narx(inputs={"uEst": 1}, outputs={"yEst": 1}, **config), u, y,
                     restarts=2, seed=3, cluster="sequential", epochs=3, divide=(0.8, 0.2))
    np.testing.assert_array_equal(saved.params, again.net.params)


def test_cli_grid_of_training_options_without_validation(data_file, capsys):
    from dyngraph.cli import main
    assert main(["sweep", "timedelay", "--inputs", "uEst", "--outputs", "yEst",
                 "--grid", "method=lm,adam", "--grid", "epochs=2", "--data", str(data_file),
                 "--scheduler", "sequential", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert not any(" done, " in line for line in out)               # --quiet
    assert "training loss" in out[0] and "best_loss" in out[1]
    assert len(out) == 1 + 2 + 2                                    # header, 2 cells


@pytest.mark.parametrize("argv, message", [
    (["narxx", "--grid", "hidden=1"], "unknown preset 'narxx'; choose from narx, arx"),
    (["narx", "--grid", "hiden=1"], "unknown grid key 'hiden'; valid keys: builder "
                                    "arguments inputs, outputs, input_delays"),
    (["narx"], "give at least one --grid KEY=V1,V2; valid keys: builder arguments inputs"),
    (["narx", "--grid", "hidden="], "--grid 'hidden=': expected KEY=V1,V2"),
    (["narx", "--grid", "hidden=[1"], "--grid 'hidden=[1': cannot read the values"),
    (["narx", "--grid", "hidden=1", "--grid", "hidden=2"], "'hidden' is given twice"),
    (["narx", "--grid", "input_delays=2:1"], "cell 0 (input_delays='2:1'): narx: "
                                             "input_delays: delay range '2:1' is empty"),
    (["narx", "--grid", "seed=1,2"], "'seed' cannot be a grid key"),
    (["narx", "--grid", "epochs=1", "--epochs", "2"], "--epochs and --grid epochs=..."),
    (["narx", "--grid", "method=lm,adam", "--lr", "0.1"], "--lr applies to --method adam or "
                                                          "sgd, not lm"),
    (["narx", "--grid", "hidden=1", "--inputs", "u:x"], "--inputs: expected NAME[:SIZE]"),
    (["narx", "--grid", "hidden=1"], "missing column 'y' for target 'y'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(data_file, capsys, argv, message):
    from dyngraph.cli import main
    code = main(["sweep", *argv, "--data", str(data_file), "--scheduler", "sequential"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
