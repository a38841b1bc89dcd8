"""A program's own step function (engines/compiled/specialise.py) computes what the
interpreter computes, on every catalog spec, and takes over only once a program is hot."""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, random_data, spec_id

pytest.importorskip("numba")

from dyngraph.engines.compiled import specialise, vm  # noqa: E402
from dyngraph.engines.compiled.program import Emitter  # noqa: E402

RTOL = 1e-12


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return np.abs(a - b).max(initial=0.0) <= RTOL * scale


def _targets(net, Q, T, seed=1):
    rng = np.random.default_rng(seed)
    return {o: rng.standard_normal((Q, T, n)) for o, n in net.outputs.items()}


@pytest.fixture
def at_once(monkeypatch):
    """Every program gets its own step function at its first run; the runners used."""
    monkeypatch.setattr(specialise, "HOT", -1.0)
    made = []
    real = specialise.Runner.__init__

    def init(self, prog, lazy=False):
        real(self, prog, lazy)
        made.append(self)
    monkeypatch.setattr(specialise.Runner, "__init__", init)
    return made


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_step_functions_equal_the_numpy_engines_on_every_spec(path, at_once):
    net = dg.load(path, seed=5)
    Q, T = 2, 20
    X = random_data(net, Q=Q, T=T) or None
    if X is None:
        pytest.skip("no inputs")
    Y = _targets(net, Q, T)
    want = net.simulate(X, backend="numpy")
    got = net.simulate(X, backend="compiled")
    for o in net.outputs:
        a, b = (want[o], got[o]) if isinstance(want, dict) else (want, got)
        assert close(a, b)
    for kw in ({}, {"truncate": (5, 8)}) if not net.plan.backward else ({},):
        g0 = net.gradient(X, Y, backend="numpy", **kw)[1]
        assert close(g0, net.gradient(X, Y, backend="compiled", **kw)[1])
    e0, J0 = net.jacobian(X, Y, backend="numpy")
    e1, J1 = net.jacobian(X, Y, backend="compiled")
    assert close(e0, e1) and close(J0, J1)
    if any(c.recurrent and not c.backward for c in net.plan.components):
        assert at_once and all(r.fn is not None for r in at_once)  # none left interpreted


def test_a_program_moves_to_its_step_function_once_hot(monkeypatch, tmp_path):
    """Runs on the interpreter while it has spent less than HOT seconds there; then on its
    own function (the same numbers to rounding), which a later runner (another process)
    loads from the disk cache at once; never with DYNGRAPH_SPECIALISE=off."""
    monkeypatch.setattr(specialise, "_directory", lambda: (tmp_path, True))
    monkeypatch.setattr(specialise, "_LOADED", {})
    monkeypatch.setattr(specialise, "EAGER", 0)     # (see the next test)
    T, Q, w = 6, 2, 3
    rng = np.random.default_rng(0)
    Xv, b = rng.standard_normal((T, Q, w)), rng.standard_normal(w)

    def program():
        em = Emitter(T, Q)
        x, n = em.rows(Xv.copy()), em.alloc(w)
        em.copy(n, em.param_row(b), w)
        em.add(n, x, w)
        em.transfer(x, n, "tanh", w)
        em.layout()
        return em, em.program()
    monkeypatch.setattr(specialise, "HOT", 1e9)
    em, prog = program()
    r = specialise.Runner(prog)
    r(prog, em.ws, Q, 0, T, 1, 0)
    assert r.fn is None and r.spent > 0
    interpreted = em.ws.copy()
    monkeypatch.setattr(specialise, "HOT", 0.0)
    r(prog, em.ws, Q, 0, T, 1, 0)                   # this run still interpreted ...
    assert r.fn is not None and r.fn is not vm.run and r.fn is not vm.run_forward
    em2, _ = program()
    r(prog, em2.ws, Q, 0, T, 1, 0)                  # ... the next one not
    assert close(em2.ws, interpreted)
    assert specialise.Runner(prog).fn is r.fn       # compiled: at once for the next runner
    specialise._LOADED.clear()                      # as in a new process: from the disk
    again = specialise.Runner(prog)
    assert again.fn is not None and again.fn is not r.fn
    em3, _ = program()
    again(prog, em3.ws, Q, 0, T, 1, 0)
    np.testing.assert_array_equal(em3.ws, em2.ws)
    monkeypatch.setenv("DYNGRAPH_SPECIALISE", "off")
    off = specialise.Runner(prog)
    off(prog, em.ws, Q, 0, T, 1, 0)
    assert off.fn is None


def test_the_source_has_small_fields_as_literals_and_columns_from_the_program():
    T, Q = 4, 1
    em = Emitter(T, Q)
    x, big = em.rows(np.zeros((T, Q, 40))), em.alloc(40)
    em.transfer(big, x, "tanh", 40)                     # 40 elements: read at run time
    em.transfer(big.cols(0), x.cols(0), "sigmoid", 2)   # 2: a literal
    em.layout()
    text = specialise.source(em.program())
    assert "ops.transfer(ws, Q, t, prog[0, 1], prog[0, 3], 1, " in text
    assert "ops.transfer(ws, Q, t, 2, 0, 2, " in text
    assert "prog[1, 7], prog[1, 11], prog[1, 15], prog[1, 19]" in text
    assert "@njit(cache=True)" in text and "if t - 0 >= tmin:" in text


def test_while_the_interpreter_is_not_compiled_a_first_program_compiles_its_own(
        monkeypatch, tmp_path):
    """A first use on a fresh machine compiles the program's own function and the few
    operations it uses rather than the whole interpreter — for a process's first EAGER
    programs only."""
    monkeypatch.setattr(specialise, "_directory", lambda: (tmp_path, True))
    monkeypatch.setattr(specialise, "_LOADED", {})
    monkeypatch.setattr(specialise, "HOT", 1e9)
    monkeypatch.setattr(specialise, "_EAGERLY", [0])
    monkeypatch.setattr(specialise, "EAGER", 1)
    monkeypatch.setattr(specialise, "will_compile", lambda d: d in (vm.run, vm.run_forward))
    progs = []
    for w in (2, 3):
        em = Emitter(3, 1)
        x = em.rows(np.zeros((3, 1, w)))
        em.transfer(x, x, "tanh", w)
        em.layout()
        progs.append(em.program())
    assert specialise.Runner(progs[0]).fn is not None
    assert specialise.Runner(progs[1]).fn is None        # past EAGER: the interpreter
