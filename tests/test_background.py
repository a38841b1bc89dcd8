"""Compiles in another process (dyngraph.engines.compiled.background): under the automatic
choice a cold component stays on numpy while a real second Python process compiles its
programs, and runs them once that process is done; a process that cannot compile leaves the
compile to the foreground."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import dyngraph as dg
from conftest import random_data

pytest.importorskip("numba")

from dyngraph.engines.compiled import background, recursion, specialise  # noqa: E402
from dyngraph.engines.compiled import CompiledBackend, run as compiled_run  # noqa: E402


@pytest.fixture
def fresh(monkeypatch):
    """An empty queue and record of background compiles for this test alone."""
    monkeypatch.setattr(background, "_QUEUE", {})
    monkeypatch.setattr(background, "_BATCH", None)
    monkeypatch.setattr(background, "_DONE", set())
    monkeypatch.setattr(background, "_FAILED", set())
    monkeypatch.setattr(background, "GRACE", 0.0)
    monkeypatch.delenv("DYNGRAPH_CACHE", raising=False)
    yield
    background.wait(60)


def _targets(net, Q, T, seed=1):
    rng = np.random.default_rng(seed)
    return {o: rng.standard_normal((Q, T, n)) for o, n in net.outputs.items()}


def _counting(monkeypatch):
    calls = []
    real = specialise.Runner.__call__

    def counting(self, prog, *args):
        calls.append(prog.shape[0])
        return real(self, prog, *args)
    monkeypatch.setattr(specialise.Runner, "__call__", counting)
    return calls


def test_a_process_states_its_end(fresh):
    background.start("ok", "x = 1")
    background.start("bad", "raise SystemExit(3)")
    assert background.state("ok") == "running"          # one process takes both
    assert background.wait(60)
    # (one process: the failure of one statement fails the batch; each then compiles in
    # the foreground)
    assert background.state("ok") == background.state("bad") == "failed"
    assert background.start("bad", "x = 1") is False   # failed once: not again
    background.start("fine", "x = 1")
    assert background.wait(60) and background.state("fine") == "done"
    assert background.state("never") == "none"


def test_no_process_without_a_disk_cache(fresh, monkeypatch):
    monkeypatch.setenv("DYNGRAPH_CACHE", "off")
    assert background.start("k", "x = 1") is False


def test_a_python_that_cannot_start_leaves_it_to_the_foreground(fresh, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert background.start("k", "x = 1") is True       # (queued)
    assert background.state("k") == "failed"


def test_cold_component_compiles_in_another_process(fresh, monkeypatch):
    """Nothing compiled on this machine (as the engines see it): the component runs on numpy
    past WARM_STEPS while another process compiles its forward and backward programs,
    then runs both; the numbers are numpy's to rounding all along."""
    monkeypatch.setattr(specialise, "will_compile", lambda d: True)
    monkeypatch.setattr(specialise, "_LOADED", {})
    monkeypatch.setattr(compiled_run, "WARM_STEPS", 25)
    calls = _counting(monkeypatch)
    net = dg.load("specs/lstm.yaml")
    X, Y = random_data(net, Q=2, T=5), _targets(net, 2, 5)
    want = net.gradient(X, Y, backend="numpy")[1]
    auto = CompiledBackend(lazy=True, background=True)
    for k in range(4):                                  # 10 .. 40 sequence-steps
        g = net.gradient(X, Y, backend=auto)[1]
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)
    assert not calls                                    # numpy, until the process is done
    keys = [k for k in (background._BATCH or (None, ()))[1]] + list(background._QUEUE)
    assert len(keys) == 2 and all(k[0] == "program" for k in keys), keys
    assert background.wait(120)
    assert all(background.state(k) == "done" for k in keys)
    g = net.gradient(X, Y, backend=auto)[1]
    assert len(calls) == 2                              # forward and backward, compiled
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)


def test_the_rtrl_recursion_waits_for_its_compile(fresh, monkeypatch):
    """A lazy recursion declines while step_chunk is not on disk and another process
    compiles it; then it takes the batch."""
    state = {"cold": True}
    monkeypatch.setattr(recursion, "will_compile", lambda d: state["cold"])
    r = recursion.Recursion(lazy=True)
    assert r.takes(1) is False
    assert background.state("recursion") == "running"
    assert background.wait(120) and background.state("recursion") == "done"
    state["cold"] = False           # (what the disk shows once that process is done)
    assert r.takes(1) is True
    assert recursion.Recursion().takes(1) is True       # not lazy: compiles at first use
