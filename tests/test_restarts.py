"""Restarts on Dask: run k is exactly train(seed=S+k), whatever runs it; selection by
validation loss; ensembles average their members."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR

distributed = pytest.importorskip("distributed")

NET = SPEC_DIR / "narx_parallel.yaml"


@pytest.fixture(scope="module")
def client():
    from dyngraph.training.restarts import forked_cluster
    cluster = forked_cluster(2)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def record():
    rng = np.random.default_rng(0)
    u = rng.standard_normal(200)
    return u, np.tanh(np.convolve(u, [0.0, 0.5, 0.3])[:200])


def test_restarts_reproduce_sequential_runs_bit_for_bit(client, record):
    u, y = record
    net = dg.load(NET)
    seq = [dg.train(net, u, y, epochs=6, seed=10 + k, divide=(0.8, 0.2)) for k in range(4)]
    par = dg.train(net, u, y, epochs=6, seed=10, divide=(0.8, 0.2), restarts=4, cluster=client)
    assert par.seeds == [10, 11, 12, 13]
    for a, b in zip(seq, par.runs):
        np.testing.assert_array_equal(a.params, b.params)
        np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
        assert a.stop_reason == b.stop_reason
    # Chosen by validation loss, never by test data.
    vals = [r.val_loss for r in par.runs]
    assert par.criterion == "val_loss" and par.chosen == int(np.argmin(vals))
    np.testing.assert_array_equal(par.net.params, par.runs[par.chosen].params)
    assert par.loss == par.runs[par.chosen].loss


def test_a_training_run_takes_the_same_backend_in_any_process(client, record):
    """Under the automatic choice a training run loads the compiled backend at once: in
    this process, after the automatic choice has loaded it here (the Dask workers were
    forked before, their own count still at zero), the runs still equal the workers' bit
    for bit."""
    from dyngraph.engines import backend as backend_mod
    u, y = record
    net = dg.load(NET)
    dg.train(net, u, y, epochs=2, seed=1, backend="compiled")  # (its programs on disk)
    par = dg.train(net, u, y, epochs=4, seed=20, restarts=2, cluster=client)
    assert backend_mod.resolve().load() is not None        # this process: loaded
    seq = [dg.train(net, u, y, epochs=4, seed=20 + k) for k in range(2)]
    for a, b in zip(seq, par.runs):
        np.testing.assert_array_equal(a.params, b.params)


def test_sequential_cluster_and_training_loss_selection(record):
    u, y = record
    r = dg.train(dg.load(NET), u, y, epochs=3, restarts=3, cluster="sequential")
    assert r.criterion == "loss" and r.seeds == [0, 1, 2]
    assert r.chosen == int(np.argmin([run.loss for run in r.runs]))


def test_ensemble_averages_the_best_members(record):
    u, y = record
    r = dg.train(dg.load(NET), u, y, epochs=3, restarts=3, cluster="sequential")
    ens = r.ensemble(2)
    best = r.ranking()[:2]
    want = np.mean([r.runs[i].net.simulate(u) for i in best], axis=0)
    np.testing.assert_allclose(ens.simulate(u), want, rtol=1e-14)
    with pytest.raises(ValueError, match="ensemble"):
        r.ensemble(4)


def test_bad_restart_arguments(record):
    u, y = record
    with pytest.raises(ValueError, match="restarts"):
        dg.train(dg.load(NET), u, y, restarts=0, cluster="sequential")
    with pytest.raises(ValueError, match="cluster="):
        dg.train(dg.load(NET), u, y, cluster="sequential")
    with pytest.raises(ValueError, match="callback"):
        dg.train(dg.load(NET), u, y, restarts=2, callback=lambda row: None)


def test_cli_restarts_one_line_per_run(tmp_path, record, capsys):
    from dyngraph.cli import main
    u, y = record
    path = tmp_path / "d.csv"
    np.savetxt(path, np.c_[u, y], delimiter=",", header="u,y", comments="")
    model = tmp_path / "m"
    assert main(["train", str(NET), "--data", str(path), "--epochs", "3", "--restarts", "3",
                 "--divide", "0.8,0.2", "--scheduler", "sequential", "-o", str(model)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[1] for line in out if line.startswith("run ")) == ["0", "1", "2"]
    assert any(line.startswith("chosen: seed") for line in out)
    assert dg.load(model).n_params == dg.load(NET).n_params


def _distributed_log_level():
    import logging
    return logging.getLogger("distributed").getEffectiveLevel()


def test_forked_workers_log_nothing_below_warning_and_the_parent_keeps_its_level(client):
    """A worker forked while the parent writes a log line can hang on that stream's lock:
    the workers are forked with Dask's INFO lines off, and keep them off; this process's
    level is what it was."""
    import logging
    from dyngraph.training.restarts import forked_cluster
    levels = client.run(_distributed_log_level)
    assert len(levels) == 2 and all(v >= logging.WARNING for v in levels.values())
    log = logging.getLogger("distributed")
    before = log.level
    log.setLevel(logging.DEBUG)
    try:
        cluster = forked_cluster(1)
        try:
            assert log.level == logging.DEBUG
            with distributed.Client(cluster) as c:
                assert set(c.run(_distributed_log_level).values()) == {logging.WARNING}
        finally:
            cluster.close()
    finally:
        log.setLevel(before)
