"""The compiled backend computes what the numpy engines compute, to 1e-12, on every spec.

Both backends run side by side in one process on the same weights and data: simulation,
BPTT (whole and truncated, with the gradient of the initial values), the RTRL gradient and
the RTRL Jacobian (whose forward pass the backend runs). The generated element rules are
checked against the transfer table, and the backend choice against its documented rules.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, fd_reference, random_data, spec_id
from dyngraph.engines import backend as backend_mod
from dyngraph.kinds.transfers import TRANSFERS

numba = pytest.importorskip("numba")

from dyngraph.engines.compiled import generate  # noqa: E402
from dyngraph.engines.compiled.program import Emitter, Ref  # noqa: E402

RTOL = 1e-12


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return np.abs(a - b).max(initial=0.0) <= RTOL * scale


def _targets(net, Q, T, seed=1):
    rng = np.random.default_rng(seed)
    return {o: rng.standard_normal((Q, T, n)) for o, n in net.outputs.items()}


def _initial(net, Q, seed=2):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((Q, node.lookback, node.size))
            for name, node in net.plan.nodes.items() if node.lookback}


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_compiled_equals_numpy_on_every_spec(path):
    net = dg.load(path)
    Q, T = 3, 25
    X = random_data(net, Q=Q, T=T) or None
    Y = _targets(net, Q, T)
    init = _initial(net, Q)
    if X is None:
        pytest.skip("no inputs")
    runs = {b: net.simulate(X, initial=init, return_state=True, backend=b)
            for b in ("numpy", "compiled")}
    (y0, s0), (y1, s1) = runs["numpy"], runs["compiled"]
    for o in net.outputs:
        out0, out1 = (y0[o], y1[o]) if isinstance(y0, dict) else (y0, y1)
        assert close(out0, out1)
    for k in s0:
        assert close(s0[k], s1[k])
    # Truncated BPTT is refused for backward layers (tests/test_bidirectional.py).
    for kw in ({}, {"truncate": (5, 8)}) if not net.plan.backward else ({},):
        g = {b: net.gradient(X, Y, initial=init, backend=b,
                             initial_grad=not kw, **kw) for b in ("numpy", "compiled")}
        assert np.isclose(g["numpy"][0], g["compiled"][0], rtol=RTOL)
        assert close(g["numpy"][1], g["compiled"][1])
        if not kw:
            for k in g["numpy"][2]:
                assert close(g["numpy"][2][k], g["compiled"][2][k])
    r = {b: net.gradient(X, Y, initial=init, method="rtrl", backend=b)
         for b in ("numpy", "compiled")}
    assert close(r["numpy"][1], r["compiled"][1])
    e0, J0 = net.jacobian(X, Y, initial=init, backend="numpy")
    e1, J1 = net.jacobian(X, Y, initial=init, backend="compiled")
    assert close(e0, e1) and close(J0, J1)


#: Recurrent links with two taps: each tap's weight block is a column slice of a wider
#: matrix, so the interpreter's products see strided operands.
TWO_TAPS = """
inputs: {u: 2}
layers:
  h: {size: 8, transfer: tanh, from: {u: 0, h: [1, 2], y: 1}}
  y: {size: 8, transfer: sigmoid, from: {h: 0, y: [1, 3]}}
outputs: [y]
"""


def test_strided_products_of_a_large_batch():
    """Strided weight blocks (two taps) and a batch well above the automatic choice's
    limit, forced compiled: the same numbers as numpy."""
    net = dg.loads(TWO_TAPS)
    net.params = np.random.default_rng(0).uniform(-0.5, 0.5, net.n_params)
    Q, T = 129, 6
    X = random_data(net, Q=Q, T=T)
    Y = _targets(net, Q, T)
    y0, y1 = (net.simulate(X, backend=b)["y"] for b in ("numpy", "compiled"))
    assert close(y0, y1) and np.abs(y0).max() > 0
    for method in ("bptt", "rtrl"):
        g0, g1 = (net.gradient(X, Y, method=method, backend=b)[1]
                  for b in ("numpy", "compiled"))
        assert close(g0, g1)


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_compiled_bptt_matches_finite_differences(path):
    net = dg.load(path)
    X = random_data(net, Q=2, T=8, seed=3)
    if not X:
        pytest.skip("no inputs")
    Y = _targets(net, 2, 8)
    _, g = net.gradient(X, Y, loss="sse", backend="compiled")
    theta = net.params
    ref, RX, rinit = fd_reference(net, X)
    rng = np.random.default_rng(4)
    for i in rng.choice(len(theta), size=min(6, len(theta)), replace=False):
        h = 1e-6
        vals = []
        for s in (1, -1):
            work = ref.copy()
            t = theta.copy()
            t[i] += s * h
            work.params = t
            vals.append(work.gradient(RX, Y, loss="sse", initial=rinit, backend="numpy")[0])
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(fd - g[i]) <= 1e-5 * max(1.0, abs(fd)), (i, fd, g[i])


def test_compiled_forward_really_runs_compiled(monkeypatch):
    """The compiled side is not a silent fallback: it steps the recurrent components."""
    from dyngraph.engines.compiled import specialise, vm
    net = dg.load("specs/lstm.yaml")
    calls = []
    real = specialise.Runner.__call__

    def counting(self, prog, *args):
        calls.append((self.interpreter, prog.shape[0]))
        return real(self, prog, *args)
    monkeypatch.setattr(specialise.Runner, "__call__", counting)
    X = random_data(net, Q=1, T=5)
    net.gradient(X, _targets(net, 1, 5), backend="compiled")
    # forward (forward operations only: the smaller interpreter, when it is the
    # interpreter that runs it) and backward
    assert [c[0] for c in calls] == [vm.run_forward, vm.run] and all(k > 10 for _, k in calls)


@pytest.mark.parametrize("what,Q,compiled", [
    ("gradient", 16, True), ("gradient", 17, False),
    ("simulate", 128, True), ("simulate", 129, False)])
def test_automatic_choice_follows_the_measured_batch_limits(monkeypatch, what, Q, compiled):
    """Automatic: gradients on the compiled side up to Q = 16, simulations up to Q = 128
    (where it was measured faster, backend.AUTO_MAX_Q*), numpy above; named, every batch."""
    from dyngraph.engines.compiled import run as compiled_run, specialise
    monkeypatch.delenv("DYNGRAPH_BACKEND", raising=False)
    monkeypatch.setattr(compiled_run, "WARM_STEPS", 0)   # (a fresh machine: compile at once)
    monkeypatch.setattr(backend_mod, "LOAD_STEPS", 0)    # (a long run: loaded at once)
    net = dg.load("specs/lstm.yaml")
    calls = []
    real = specialise.Runner.__call__

    def counting(self, prog, *args):
        calls.append(prog.shape[0])
        return real(self, prog, *args)
    monkeypatch.setattr(specialise.Runner, "__call__", counting)
    X = random_data(net, Q=Q, T=3)
    run = {"gradient": lambda b: net.gradient(X, _targets(net, Q, 3), backend=b),
           "simulate": lambda b: net.simulate(X, backend=b)}[what]
    run(None)
    assert bool(calls) is compiled
    calls.clear()
    run("compiled")
    assert calls


def test_cold_programs_run_on_numpy_until_warm(monkeypatch):
    """Lazy, compiling in the foreground, on a machine where nothing is compiled yet: a
    component runs on numpy (forward and backward together) until it has run WARM_STEPS
    sequence-steps, then compiles its programs and runs them; a named backend compiles at
    once. (The automatic choice compiles in another process: tests/test_background.py.)"""
    from dyngraph.engines.compiled import CompiledBackend, run as compiled_run, specialise
    monkeypatch.delenv("DYNGRAPH_BACKEND", raising=False)
    real_runner = specialise.runner
    monkeypatch.setattr(specialise, "will_compile", lambda d: True)      # nothing on disk
    monkeypatch.setattr(specialise, "runner", lambda prog, compile=True, ident=None:
                        real_runner(prog) if compile else None)
    monkeypatch.setattr(compiled_run, "WARM_STEPS", 25)
    calls = []
    real_call = specialise.Runner.__call__

    def counting(self, prog, *args):
        calls.append(prog.shape[0])
        return real_call(self, prog, *args)
    monkeypatch.setattr(specialise.Runner, "__call__", counting)
    net = dg.load("specs/lstm.yaml")
    X, Y = random_data(net, Q=2, T=5), _targets(net, 2, 5)
    want = net.gradient(X, Y, backend="numpy")[1]
    lazy = CompiledBackend(lazy=True)
    for k in range(3):                                  # 10, 20, 30 sequence-steps
        g = net.gradient(X, Y, backend=lazy)[1]
        assert close(g, want)
        assert len(calls) == (0 if k < 2 else 2), k     # then forward and backward
    calls.clear()
    net.gradient(X, Y, backend="compiled")
    assert len(calls) == 2


def test_softmax_inside_a_loop_falls_back_to_numpy():
    text = ("inputs: {u: 2}\nlayers:\n  h: {size: 3, transfer: softmax, from: {u: 0, h: 1}}\n"
            "outputs: [h]\n")
    net = dg.loads(text)
    X = random_data(net, Q=2, T=10)
    Y = _targets(net, 2, 10)
    assert close(net.gradient(X, Y, backend="numpy")[1], net.gradient(X, Y, backend="compiled")[1])


# --------------------------------------------------------------------------- the rules

def test_generated_rules_are_current():
    from pathlib import Path
    path = Path(generate.__file__).with_name("_rules.py")
    assert path.read_text(encoding="utf-8") == generate.rules_source(), (
        "engines/compiled/_rules.py is stale: python -m dyngraph.engines.compiled.generate")


@pytest.mark.parametrize("name", [n for n, t in TRANSFERS.items() if t.scalar is not None])
def test_compiled_transfer_rules_equal_the_table(name):
    """Each transfer's element rule, run by the interpreter, equals its numpy rule."""
    T, Q, w = 4, 3, 5
    rng = np.random.default_rng(0)
    N = rng.standard_normal((T, Q, w)) * 3
    G = rng.standard_normal((T, Q, w))
    em = Emitter(T, Q)
    n, g = em.rows(N), em.rows(G)
    a, d = em.alloc(w), em.alloc(w)
    em.transfer(a, n, name, w)
    em.deriv(d, g, n, a, name, w)
    em.run(0, T, 1, -(1 << 60))
    rule = TRANSFERS[name]
    A = rule.f(N)
    assert np.allclose(em.array(a), A, rtol=1e-14, atol=1e-15)
    assert np.allclose(em.array(d), rule.vjp(N, A, G), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- the choice

def test_backend_choice(monkeypatch):
    monkeypatch.delenv("DYNGRAPH_BACKEND", raising=False)
    assert backend_mod.resolve() is not None                # compiled when numba is here
    assert backend_mod.resolve("numpy") is None
    monkeypatch.setenv("DYNGRAPH_BACKEND", "numpy")
    assert backend_mod.resolve() is None
    assert backend_mod.resolve("compiled").name == "compiled"   # an explicit choice wins
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        backend_mod.resolve("fast")


def test_automatic_choice_stays_on_numpy_until_load_steps(monkeypatch):
    """The automatic choice leaves every component to numpy until the process has stepped
    LOAD_STEPS node-steps, then loads the compiled backend and runs on it: the same
    numbers to 1e-12 on either side of the switch."""
    from dyngraph.engines.compiled import run as compiled_run, specialise
    monkeypatch.setattr(compiled_run, "WARM_STEPS", 0)   # (programs are not cold here)
    monkeypatch.setattr(backend_mod, "LOAD_STEPS", 25 * 9)    # (9 nodes step in time)
    calls = []
    real = specialise.Runner.__call__

    def counting(self, prog, *args):
        calls.append(prog.shape[0])
        return real(self, prog, *args)
    monkeypatch.setattr(specialise.Runner, "__call__", counting)
    net = dg.load("specs/lstm.yaml")
    X, Y = random_data(net, Q=2, T=5), _targets(net, 2, 5)
    want = net.gradient(X, Y, backend="numpy")[1]
    auto = backend_mod.Automatic()
    big = random_data(net, Q=backend_mod.AUTO_MAX_Q + 1, T=5)
    net.gradient(big, _targets(net, backend_mod.AUTO_MAX_Q + 1, 5), backend=auto)
    assert auto.steps == 0 and not calls        # a batch numpy keeps anyway: not counted
    for k in range(3):                                  # 10, 20, 30 sequence-steps
        calls.clear()
        g = net.gradient(X, Y, backend=auto)[1]
        assert close(g, want)
        assert (auto.compiled is not None) is (k == 2)
        assert bool(calls) is (k == 2)
    assert auto.steps == 30 * 9
    assert backend_mod.loaded(auto) is auto.compiled    # an online learner: at once
    assert backend_mod.loaded(None) is None


@pytest.mark.parametrize("failure", [ImportError, KeyboardInterrupt])
def test_automatic_choice_stays_on_numpy_when_the_load_fails(monkeypatch, failure):
    """A compiled backend that cannot be imported (a broken numba), or whose import a
    Ctrl-C cut short: numpy from then on, the same numbers; the interrupt reaches the
    caller."""
    import sys
    import types

    class Broken(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):       # (what the import system and pytest probe)
                raise AttributeError(name)
            raise failure("the compiled backend cannot be imported")
    monkeypatch.setitem(sys.modules, "dyngraph.engines.compiled", Broken("compiled"))
    monkeypatch.setattr(backend_mod, "LOAD_STEPS", 0)
    net = dg.load("specs/layer_recurrent.yaml")
    X = random_data(net, Q=1, T=4)
    auto = backend_mod.Automatic()
    if failure is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            net.simulate(X, backend=auto)
    got, want = net.simulate(X, backend=auto), net.simulate(X, backend="numpy")
    assert all(close(got[k], want[k]) for k in want)
    assert auto.failed and auto.compiled is None and auto.load() is None
    if failure is ImportError:          # named explicitly: a clear error, not a traceback
        backend_mod._compiled.cache_clear()
        try:
            with pytest.raises(ValueError, match="needs a numba that imports"):
                backend_mod.resolve("compiled")
        finally:
            backend_mod._compiled.cache_clear()


def test_a_short_run_under_the_automatic_choice_imports_no_numba():
    """A short run (a simulation, a gradient) never pays the compiled backend's load
    (numba's import and first cached call, ~0.3 s): it stays on numpy. Nor scipy's import
    (~0.2 s), which only the Jacobian, the training loops and lag selection use."""
    import os
    import subprocess
    import sys
    code = ("import sys, numpy as np, dyngraph as dg; net = dg.load('specs/lstm.yaml'); "
            "net.simulate(np.ones((50, 3))); net.gradient(np.ones((50, 3)), np.ones((50, 1))); "
            "print(sorted(m for m in ('numba', 'dyngraph.engines.compiled', 'scipy') "
            "if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "DYNGRAPH_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]", out.stderr


def test_train_same_path_on_both_backends():
    net = dg.load("specs/narx_parallel.yaml")
    rng = np.random.default_rng(0)
    u = rng.standard_normal((1, 60, 1))
    y = np.tanh(np.cumsum(u, axis=1) * 0.1)
    runs = [dg.train(net, u, y, method="lm", epochs=5, backend=b) for b in ("numpy", "compiled")]
    assert close(runs[0].net.params, runs[1].net.params) or np.allclose(
        runs[0].net.params, runs[1].net.params, rtol=1e-9, atol=1e-12)


def test_compiled_rtrl_recursion_is_used_and_agrees(monkeypatch):
    """The RTRL Jacobian's recursion runs in the compiled kernel (not just its forward
    pass), chunk after chunk, and gives the numpy loop's numbers."""
    from dyngraph.engines.compiled.recursion import Recursion
    from dyngraph.engines import rtrl
    calls = []
    original = Recursion.step

    def counted(*args):
        calls.append(args[0])
        return original(*args)

    monkeypatch.setattr(Recursion, "step", staticmethod(counted))
    monkeypatch.setattr(rtrl, "_CHUNK_ELEMENTS", 2_000)       # several chunks
    net = dg.narx(input_delays="1:3", feedback_delays="1:2", hidden=[4, 3], seed=1)
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal((2, 2, 120, 1))
    e0, J0 = net.jacobian(u, y, backend="numpy")
    assert not calls
    e1, J1 = net.jacobian(u, y, backend="compiled")
    assert len(calls) > 1 and sum(calls) == 120
    assert close(e0, e1) and close(J0, J1)
    g0 = net.gradient(u, y, method="rtrl", backend="numpy")[1]
    g1 = net.gradient(u, y, method="rtrl", backend="compiled")[1]
    assert close(g0, g1)


def test_kept_programs_run_again_on_new_weights_and_data():
    """The second call with the same shapes runs the kept programs (no emission) on the new
    arrays: still the numpy engines' numbers, for new weights, data and truncation."""
    from dyngraph.engines.compiled import CompiledBackend
    backend = CompiledBackend()
    net = dg.load("specs/lstm.yaml", seed=1)
    rng = np.random.default_rng(7)
    for call in range(3):
        net.params = rng.uniform(-0.5, 0.5, net.n_params)
        X = random_data(net, Q=2, T=9, seed=call)
        Y = _targets(net, 2, 9, seed=call)
        before, kept = backend.replays, len(backend._templates)
        for kw in ({}, {"truncate": (2, 4)}):
            _, g0 = net.gradient(X, Y, backend="numpy", **kw)
            _, g1 = net.gradient(X, Y, backend=backend, **kw)
            assert close(g0, g1)
        assert close(net.simulate(X, backend="numpy")["y"], net.simulate(X, backend=backend)["y"])
        if call:                    # nothing emitted any more: every program ran again
            assert backend.replays > before and len(backend._templates) == kept


def test_a_kept_program_is_not_run_for_another_plan_at_the_same_address():
    from dyngraph.engines.compiled import CompiledBackend
    backend = CompiledBackend()
    a, b = dg.load("specs/layer_recurrent.yaml", seed=1), dg.load("specs/iir.yaml", seed=1)
    Xa = random_data(a, Q=1, T=5)
    a.simulate(Xa, backend=backend)
    # Pretend b's plan sits where a's was: the kept entries point at a's plan, not b's.
    for key in list(backend._templates):
        backend._templates[(id(b.plan),) + key[1:]] = backend._templates.pop(key)
    before = backend.replays
    Xb = random_data(b, Q=1, T=5)
    assert close(b.simulate(Xb, backend="numpy")["y"], b.simulate(Xb, backend=backend)["y"])
    assert backend.replays == before


def test_simulate_runs_on_a_spare_workspace_and_keeps_nothing_of_it():
    """simulate asks for values only: its forward workspace goes back to the pool of spare
    ones, and what it returned is a copy (the next call reusing the workspace leaves it)."""
    from dyngraph.engines.compiled import CompiledBackend, program
    backend = CompiledBackend()
    net = dg.load("specs/lstm.yaml", seed=3)
    X1, X2 = random_data(net, Q=1, T=37, seed=1), random_data(net, Q=1, T=37, seed=2)
    want1 = net.simulate(X1, backend="numpy")["y"]
    program._SPARES.clear()
    y1 = net.simulate(X1, backend=backend)["y"]
    assert sum(len(p) for p in program._SPARES.values()) == 1
    y2 = net.simulate(X2, backend=backend)["y"]
    assert close(y1, want1) and close(y2, net.simulate(X2, backend="numpy")["y"])
    assert not close(y1, y2)


def test_the_forward_interpreter_takes_exactly_the_forward_programs():
    """runner picks run_forward for a program of forward operations only, run otherwise —
    and the two give the same numbers on a forward program."""
    from dyngraph.engines.compiled import vm
    from dyngraph.engines.compiled.program import Emitter
    em = Emitter(T=6, Q=2)
    rng = np.random.default_rng(0)
    x = em.rows(np.zeros((7, 2, 3)), 1)
    n = em.const(rng.standard_normal((6, 2, 3)))
    W = em.param(rng.standard_normal((3, 3)))
    em.copy(x, n, 3)
    em.matvec(x, W, x.shift(-1), 3, 3)
    em.transfer(x, x, "tanh", 3)
    em.layout()
    prog = em.program()
    assert vm.runner(prog) is vm.run_forward
    ws0 = em.ws.copy()
    ws1 = em.ws.copy()
    vm.run_forward(prog, ws0, 2, 0, 6, 1, -(1 << 60))
    vm.run(prog, ws1, 2, 0, 6, 1, -(1 << 60))
    assert np.array_equal(ws0, ws1) and np.abs(ws0).max() > 0
    em.deriv(x, x, x, x, "tanh", 3)
    assert vm.runner(em.program()) is vm.run


#: An Elman net whose recurrent layer reads a narrow input (3 wide, stepped in the loop) and
#: a wide one (2 taps of 6: 12 wide, hoisted).
NARROW_AND_WIDE = """
inputs: {u: 3, w: 6}
layers:
  h: {size: 5, transfer: tanh, from: {u: 0, w: [0, 1], h: 1}}
  y: {size: 2, from: {h: 0}}
outputs: [y]
"""


def _values_template(backend):
    (entry,) = [e for k, e in backend._templates.items() if k[2] == "values"]
    return entry[1]


def test_simulate_steps_narrow_links_from_outside_and_hoists_wide_ones(tmp_path):
    """A simulation reads a link from outside the recurrent component row by row in the
    compiled loop when it is at most STEP_MAX_WIDTH wide (the source is then only read,
    never copied back), and hoists a wider one; the numbers stay numpy's."""
    from dyngraph.engines.compiled import CompiledBackend
    from dyngraph.engines.compiled.run import STEP_MAX_WIDTH
    assert 3 <= STEP_MAX_WIDTH < 12
    spec = tmp_path / "narrow.yaml"
    spec.write_text(NARROW_AND_WIDE)
    net = dg.load(spec, seed=4)
    backend = CompiledBackend()
    X = random_data(net, Q=2, T=11)
    assert close(net.simulate(X, backend="numpy")["y"], net.simulate(X, backend=backend)["y"])
    tpl = _values_template(backend)
    names = dict(zip(tpl.names, tpl.writes))
    assert names[("A", "u")] is False                       # stepped, read only
    assert ("A", "w") not in names                          # hoisted: its product is H
    assert any(n is not None and n[0] == "H" for n in tpl.names)
    before = backend.replays
    X2 = random_data(net, Q=2, T=11, seed=5)
    assert close(net.simulate(X2, backend="numpy")["y"],
                 net.simulate(X2, backend=backend)["y"])
    assert backend.replays == before + 1


def test_a_source_not_c_contiguous_is_hoisted_instead():
    """A stepped link needs its source's buffer as rows of the workspace; a source array
    that is not C-contiguous makes the simulation hoist every outside link (same numbers)."""
    from dyngraph.engines import simulate as sim
    from dyngraph.engines.compiled import CompiledBackend
    net = dg.load("specs/lstm.yaml", seed=2)
    plan, P = net.plan, net._values
    X, _ = net._inputs(random_data(net, Q=2, T=9))
    want = sim.forward(plan, P, X).A
    comp = next(c for c in plan.components if c.recurrent)
    A = sim._allocate(plan, X, None, 9, 2)
    A["x"] = np.asfortranarray(A["x"])
    backend = CompiledBackend()
    assert backend.forward_component(plan, P, A, None, comp, 9)
    assert [k[2] for k in backend._templates] == ["values-hoisted"]
    for name in sim.read_after(plan, comp):
        assert close(A[name], want[name])


@pytest.mark.parametrize("Q", [1, 3])
@pytest.mark.parametrize("n, by_columns", [(2, True), (2, False), (5, True)])
def test_the_taps_of_a_link_join_in_one_product(Q, n, by_columns, monkeypatch):
    """Products over a link's evenly spaced taps (same X, W's next columns, Y's rows a
    fixed step further) become one matvec_taps operation with the same numbers as one
    matvec per tap; another X, W's columns not going on, or a mark keeps them apart.
    Over n ≤ BY_COLUMNS columns the same holds for the transposed form (matvec_t_taps over
    Wᵀ), unless the emitter is told not to copy parameters."""
    from dyngraph.engines.compiled import vm
    from dyngraph.engines.compiled.program import BY_COLUMNS
    T, S, K = 9, 4, 3
    t = "_t" if by_columns and n <= BY_COLUMNS else ""
    rng = np.random.default_rng(3)
    src = rng.standard_normal((T + K, Q, n))
    Wv = rng.standard_normal((S, K * n))

    def emit(join):
        monkeypatch.setattr(Emitter, "_join_tap",
                            Emitter._join_tap if join else lambda *a, **k: False)
        em = Emitter(T, Q, by_columns=by_columns)
        y, W = em.rows(src.copy(), K), em.param(Wv)
        x, other = em.alloc(S), em.alloc(S)
        for j in range(K):                                  # delays 1, 2, 3
            em.matvec(x, W.cols(j * n), y.shift(-(j + 1)), S, n)
        em.matvec(other, W, y.shift(-1), S, n)              # another X
        em.matvec(other, W, y.shift(-3), S, n)              # W does not go on: apart
        em.run(0, T, 1, -(1 << 60))
        ops = [int(r[0]) for r in em._prog]
        return ops, em.array(x).copy(), em.array(other).copy()

    ops, x1, o1 = emit(True)
    one = vm.OPS["matvec_t_taps" if t else "matvec"]
    assert ops == [vm.OPS[f"matvec{t}_taps"], one, one]
    ops0, x0, o0 = emit(False)
    assert ops0 == [one] * 5
    want = sum(src[K - j - 1:K - j - 1 + T] @ Wv[:, j * n:(j + 1) * n].T for j in range(K))
    assert np.allclose(x1, want, rtol=1e-14, atol=1e-14) and close(x1, x0)
    assert np.array_equal(o1, o0)
    assert np.allclose(o1, src[K - 1:K - 1 + T] @ Wv[:, :n].T + src[K - 3:K - 3 + T]
                       @ Wv[:, :n].T, rtol=1e-14, atol=1e-14)
    em = Emitter(T, Q, by_columns=by_columns)
    y, W, x = em.rows(src.copy(), K), em.param(Wv), em.alloc(S)
    em.matvec(x, W, y.shift(-1), S, n)
    em.mark()
    em.matvec(x, W.cols(n), y.shift(-2), S, n)
    assert len(em._rows) == 2                               # a mark seals what is before it


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_layers_reading_the_same_sources_share_one_product(name, monkeypatch):
    """In a simulation, layers that read the same sources at the same delays (an LSTM's
    four gates, a GRU's two) take their net inputs from one product per link and tap over
    their stacked weights — bit for bit the simulation without it; a gradient's forward
    pass (which keeps caches) is left as it was."""
    from dyngraph.engines.compiled import program, run, vm
    products = {vm.OPS[k] for k in ("matvec", "matvec_taps", "matvec_t", "matvec_t_taps")}
    runs = []
    real = program.Emitter.run

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        runs.append([int(r[0]) for r in self._prog])
        return out
    monkeypatch.setattr(program.Emitter, "run", spy)
    X = random_data(dg.load(f"specs/{name}.yaml"), Q=2, T=9)
    fused_net, plain_net = dg.load(f"specs/{name}.yaml"), dg.load(f"specs/{name}.yaml")
    assert fused_net.plan is not plain_net.plan         # no template shared between them
    fused = fused_net.simulate(X, backend="compiled")
    fused_ops = runs[-1]
    real_groups = run._fusion_groups
    monkeypatch.setattr(run, "_fusion_groups", lambda *a: {})
    plain = plain_net.simulate(X, backend="compiled")
    plain_ops = runs[-1]
    gates = {"lstm": 4, "gru": 2}[name]
    n_fused = sum(op in products for op in fused_ops)
    n_plain = sum(op in products for op in plain_ops)
    assert n_plain - n_fused == 2 * (gates - 1)         # one input and one recurrent product
    for k in fused:
        np.testing.assert_array_equal(fused[k], plain[k])
    gradient_ops = []
    for fusion in (False, True):
        if fusion:
            monkeypatch.setattr(run, "_fusion_groups", real_groups)
        runs.clear()
        net = dg.load(f"specs/{name}.yaml")
        net.gradient(X, _targets(net, 2, 9), backend="compiled")
        gradient_ops.append(runs[0])
    assert gradient_ops[0] == gradient_ops[1]


@pytest.mark.parametrize("Q", [1, 3])
def test_products_over_a_few_columns_run_over_the_transpose(Q):
    """X += W[:, c:c+n] y and X += W[:, c:c+n]ᵀ y over n ≤ BY_COLUMNS columns run over one
    transposed copy of W (each the other form of product), which every layout fills again
    from the parameter's current value; past BY_COLUMNS, or when told not to copy, over W
    itself."""
    from dyngraph.engines.compiled import program, vm
    T, S, m = 5, 6, program.BY_COLUMNS + 1
    rng = np.random.default_rng(8)
    Wv = rng.standard_normal((S, 2 + m))
    y2, ym, g = (rng.standard_normal((T, Q, k)) for k in (2, m, S))

    def emit(by_columns, Wv):
        em = Emitter(T, Q, by_columns=by_columns)
        W = em.param(Wv)
        Y2, Ym, G = em.const(y2), em.const(ym), em.const(g)
        xf, xm, xb = em.alloc(S), em.alloc(S), em.alloc(2)
        em.matvec(xf, W, Y2, S, 2)              # two columns: over Wᵀ
        em.matvec(xm, W.cols(2), Ym, S, m)      # five: over W
        em.matvec_t(xb, W, G, S, 2)             # the transposed product of two columns
        em.run(0, T, 1, 0)
        return ([int(r[0]) for r in em._prog], em.n_buffers,
                [em.array(x).copy() for x in (xf, xm, xb)])

    ops, n_buffers, got = emit(True, Wv)
    assert ops == [vm.OPS["matvec_t_taps"], vm.OPS["matvec"], vm.OPS["matvec"]]
    ops0, n_buffers0, got0 = emit(False, Wv)
    assert ops0 == [vm.OPS["matvec"], vm.OPS["matvec"], vm.OPS["matvec_t"]]
    assert n_buffers == n_buffers0 + 1                   # one copy, for both products
    want = [y2 @ Wv[:, :2].T, ym @ Wv[:, 2:].T, g @ Wv[:, :2]]
    for a, b, w in zip(got, got0, want):
        assert np.allclose(a, w, rtol=1e-14, atol=1e-14) and close(a, b)
    # a template run again on new weights transposes them again
    names = {id(Wv): ("P", "W"), id(y2): ("D", "y2"), id(ym): ("D", "ym"), id(g): ("D", "g")}
    em = Emitter(T, Q, names=names)
    W = em.param(Wv)
    x = em.alloc(S)
    em.matvec(x, W, em.const(y2), S, 2)
    em.run(0, T, 1, 0)
    tpl = em.template()
    W2 = rng.standard_normal(Wv.shape)
    again = Emitter.replay(T, Q, tpl, {"P": {"W": W2}, "D": {"y2": y2, "ym": ym, "g": g}})
    again.run(0, T, 1, 0)
    assert np.allclose(again.array(Ref(x.buf, 0, 0, S)), y2 @ W2[:, :2].T, rtol=1e-14,
                       atol=1e-14)


@pytest.mark.parametrize("Q", [1, 3])
@pytest.mark.parametrize("n", [2, 5])
def test_a_bias_row_copy_joins_the_product_after_it(Q, n):
    """``copy(X, V)`` followed by a product into X becomes one product that starts X from
    V (code 1), on a workspace full of NaN: V a bias row (taps joined after it as before)
    or a hoisted part (a moving row: when taps follow, the copy comes back); a guarded
    product or a mark between them keeps the copy. Both forms of the product (n ≤
    BY_COLUMNS: over Wᵀ, whose copy the layout fills)."""
    from dyngraph.engines.compiled import program, vm
    T, S, K = 7, 4, 3
    t = "_t" if n <= program.BY_COLUMNS else ""
    rng = np.random.default_rng(5)
    src = rng.standard_normal((T + K, Q, n))
    Wv, b = rng.standard_normal((S, K * n)), rng.standard_normal(S)
    em = Emitter(T, Q)
    y, W, bias = em.rows(src.copy(), K), em.param(Wv), em.param_row(b)
    x, one, kept, sealed = em.alloc(S), em.alloc(S), em.alloc(S), em.alloc(S)
    em.copy(x, bias, S)
    for j in range(K):
        em.matvec(x, W.cols(j * n), y.shift(-(j + 1)), S, n)
    em.copy(one, bias, S)
    em.matvec(one, W, y.shift(-1), S, n)
    em.copy(kept, bias, S)
    em.matvec(kept, W, y.shift(-2), S, n, guard=2)          # guarded: the copy stays
    em.copy(sealed, bias, S)
    em.mark()
    em.matvec(sealed, W, y.shift(-1), S, n)
    Hv = rng.standard_normal((T, Q, S))                     # a hoisted part: a moving row
    H = em.const(Hv)
    h1, hK = em.alloc(S), em.alloc(S)
    em.copy(h1, H, S)
    em.matvec(h1, W, y.shift(-1), S, n)
    em.copy(hK, H, S)
    for j in range(K):                                      # taps: the copy comes back
        em.matvec(hK, W.cols(j * n), y.shift(-(j + 1)), S, n)
    ops = [int(r[0]) for r in em._rows]
    taps, one_ = vm.OPS[f"matvec{t}_taps"], vm.OPS["matvec_t_taps" if t else "matvec"]
    copy = vm.OPS["copy"]
    if t:   # the taps form starts from a parameter row only: h1 keeps its copy of H
        assert ops == [taps, one_, copy, one_, copy, one_, copy, one_, copy, taps]
        assert [int(r[4]) for r in em._rows] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    else:
        assert ops == [taps, one_, copy, one_, copy, one_, one_, copy, taps]
        assert [int(r[4]) for r in em._rows] == [1, 1, 0, 0, 0, 0, 1, 0, 0]
    assert em._clean == {x.buf, one.buf, kept.buf, sealed.buf, h1.buf, hK.buf}
    size = (math.prod(src.shape) + math.prod(Wv.shape) * (2 if t else 1) + S
            + 6 * T * Q * S + math.prod(Hv.shape))
    program._SPARES.pop(size, None)
    program._give_spare(np.full(size, np.nan))
    em.layout(spare=True)
    assert em.ws.size == size
    prog = em.program()
    vm.runner(prog)(prog, em.ws, Q, 0, T, 1, 0)           # the guard skips t = 0, 1
    want = b + sum(src[K - j - 1:K - j - 1 + T] @ Wv[:, j * n:(j + 1) * n].T for j in range(K))
    assert np.allclose(em.array(x), want, rtol=1e-14, atol=1e-14)
    first = b + src[K - 1:K - 1 + T] @ Wv[:, :n].T
    assert np.allclose(em.array(one), first, rtol=1e-14, atol=1e-14)
    assert np.allclose(em.array(sealed), first, rtol=1e-14, atol=1e-14)
    guarded = np.broadcast_to(b, (T, Q, S)).copy()
    guarded[2:] += src[K - 2 + 2:K - 2 + T] @ Wv[:, :n].T
    assert np.allclose(em.array(kept), guarded, rtol=1e-14, atol=1e-14)
    assert np.allclose(em.array(h1), first - b + Hv, rtol=1e-14, atol=1e-14)
    assert np.allclose(em.array(hK), want - b + Hv, rtol=1e-14, atol=1e-14)


def test_a_copy_then_an_add_is_one_add_and_lstm_cells_copy_nothing():
    """``copy(X, V)`` then ``add(X, Y)`` is one add (X = V + Y), and then ``addmul`` one
    addmul (X = V + Y Z); an add reading X's own row keeps the copy. An LSTM from gates
    then steps without a single copy."""
    from dyngraph.engines.compiled import CompiledBackend, vm
    T, Q, w = 6, 2, 3
    rng = np.random.default_rng(1)
    Vv, Yv = rng.standard_normal((T + 1, Q, w)), rng.standard_normal((T, Q, w))
    em = Emitter(T, Q)
    V, Y = em.rows(Vv.copy(), 1), em.rows(Yv.copy())
    x, own, fma = em.alloc(w), em.alloc(w), em.alloc(w)
    em.copy(x, V.shift(-1), w)
    em.add(x, Y, w)
    em.copy(own, V, w)
    em.add(own, own, w)
    em.copy(fma, V, w)
    em.addmul(fma, Y, x, w)
    assert [int(r[0]) for r in em._rows] == [vm.OPS["add"], vm.OPS["copy"], vm.OPS["add"],
                                             vm.OPS["addmul"]]
    em.run(0, T, 1, 0)
    assert np.allclose(em.array(x), Vv[:T] + Yv, rtol=1e-15, atol=0)
    assert np.allclose(em.array(own), 2 * Vv[1:], rtol=1e-15, atol=0)
    assert np.allclose(em.array(fma), Vv[1:] + Yv * (Vv[:T] + Yv), rtol=1e-14, atol=1e-15)
    backend = CompiledBackend()
    net = dg.load("specs/lstm.yaml", seed=3)
    X = random_data(net, Q=2, T=8)
    assert close(net.simulate(X, backend="numpy")["y"], net.simulate(X, backend=backend)["y"])
    ops = [int(r[0]) for r in _values_template(backend).program]
    assert vm.OPS["copy"] not in ops and vm.OPS["add"] in ops


def test_elementwise_operations_on_whole_rows_and_on_column_ranges():
    """Operations on whole rows run the Q sequences' rows as one segment; on a column
    range, or with a parameter row, sequence by sequence: the same numbers either way."""
    T, Q, w = 4, 3, 5
    rng = np.random.default_rng(2)
    Yv, Zv, b = (rng.standard_normal((T, Q, w)), rng.standard_normal((T, Q, w)),
                 rng.standard_normal(w))
    em = Emitter(T, Q)
    Y, Z, B = em.rows(Yv.copy()), em.rows(Zv.copy()), em.param_row(b)
    whole, part, f, fp, m = (em.alloc(w) for _ in range(5))
    em.copy(whole, Y, w)
    em.addmul(whole, Y, Z, w)                       # X = Y + Y Z, whole rows
    em.copy(part.cols(1), Y.cols(1), w - 2)         # columns 1..3 only
    em.add(part.cols(1), Z.cols(2), w - 2)
    em.transfer(f, Y, "tanh", w)
    em.transfer(fp.cols(2), Z.cols(2), "tanh", w - 2)
    em.copy(m, B, w)                                # a parameter row: stride 0
    em.mul(m, Y, w)
    em.run(0, T, 1, 0)
    assert np.allclose(em.array(whole), Yv + Yv * Zv, rtol=1e-15, atol=1e-15)
    want = np.zeros((T, Q, w))
    want[..., 1:w - 1] = Yv[..., 1:w - 1] + Zv[..., 2:w]
    assert np.allclose(em.array(part), want, rtol=1e-15, atol=0)
    assert np.allclose(em.array(f), np.tanh(Yv), rtol=1e-14, atol=0)
    want = np.zeros((T, Q, w))
    want[..., 2:] = np.tanh(Zv[..., 2:])
    assert np.allclose(em.array(fp), want, rtol=1e-14, atol=0)
    assert np.allclose(em.array(m), b * Yv, rtol=1e-15, atol=0)


def test_own_buffers_set_before_read_are_not_zeroed():
    """An own buffer whose first operation assigns its row (copy of a bias row, a transfer)
    is left as the workspace had it, and the results are right even on a workspace full of
    NaN; one added into first, or read at another step, is zeroed."""
    from dyngraph.engines.compiled import program, vm
    T, Q, w = 5, 2, 3
    rng = np.random.default_rng(0)
    Xv, b = rng.standard_normal((T, Q, w)), rng.standard_normal(w)
    em = Emitter(T, Q)
    x = em.rows(Xv.copy())
    set_first, add_first, shifted = em.alloc(w), em.alloc(w), em.alloc(w)
    em.copy(set_first, em.param_row(b), w)      # n = b, then n += x
    em.add(set_first, x, w)
    em.add(add_first, x, w)                     # relies on zero rows
    em.transfer(shifted, x, "tanh", w)
    em.add(shifted, shifted.shift(-1), w, guard=1)   # reads the step before
    assert em._clean == {set_first.buf}
    size = math.prod(Xv.shape) + 3 * T * Q * w + w
    program._SPARES.pop(size, None)
    program._give_spare(np.full(size, np.nan))
    em.layout(spare=True)
    assert em.ws.size == size
    prog = em.program()
    vm.runner(prog)(prog, em.ws, Q, 0, T, 1, 0)
    assert np.isnan(em.ws).sum() == 0
    assert np.allclose(em.array(set_first), Xv + b)
    assert np.allclose(em.array(add_first), Xv)
    assert np.allclose(em.array(shifted), np.cumsum(np.tanh(Xv), axis=0))


def test_own_buffers_covered_side_by_side_are_not_zeroed_and_one_transfer_widens():
    """Adjacent transfers of one kind into a buffer's next columns become one operation;
    a buffer whose columns its first operations assign side by side before any read is
    clean, one read before it is covered is not; a product that starts from its bias row
    assigns its row."""
    from dyngraph.engines.compiled import vm
    T, Q, w = 4, 2, 3
    rng = np.random.default_rng(0)
    Xv, b = rng.standard_normal((T, Q, 3 * w)), rng.standard_normal(w)
    em = Emitter(T, Q)
    x = em.rows(Xv.copy())
    gates, early = em.alloc(3 * w), em.alloc(2 * w)
    for k, name in enumerate(("sigmoid", "sigmoid", "tanh")):
        em.transfer(gates.cols(k * w), x.cols(k * w), name, w)
    em.transfer(early, x, "tanh", w)
    em.add(x.cols(w), early, w)                 # reads early before its second half is set
    em.transfer(early.cols(w), x.cols(w), "tanh", w)
    prod = em.alloc(w)
    em.copy(prod, em.param_row(b), w)
    em.matvec(prod, em.param(rng.standard_normal((w, 3 * w))), x, w, 3 * w)
    ops = [(r[0], r[1], r[4]) for r in em._rows]
    sig, tanh = generate.CODES["sigmoid"], generate.CODES["tanh"]
    assert ops[:2] == [(vm.OPS["transfer"], 2 * w, sig), (vm.OPS["transfer"], w, tanh)]
    assert em._clean == {gates.buf, prod.buf}


def test_gradients_keep_nothing_of_the_workspace_and_read_nothing_they_did_not_set(
        monkeypatch):
    """The backward sweep's deltas live in a spare workspace that goes back to the pool
    after the parameter gradients are formed, and records no operation reads (the net-input
    caches of tanh and sigmoid layers) are not copied in: on workspaces full of NaN, two
    gradients in a row (whole and truncated) equal numpy's, the first unchanged by the
    second."""
    from dyngraph.engines.compiled import program
    monkeypatch.setattr(program, "_take_spare", lambda n: np.full(n, np.nan))
    for spec in ("specs/lstm.yaml", "specs/narx_parallel.yaml", "specs/gru.yaml"):
        net = dg.load(spec, seed=4)
        X1, X2 = random_data(net, Q=2, T=30, seed=1), random_data(net, Q=2, T=30, seed=2)
        Y1, Y2 = _targets(net, 2, 30, seed=3), _targets(net, 2, 30, seed=5)
        for truncate in (None, (7, 10)):
            got1 = net.gradient(X1, Y1, truncate=truncate, backend="compiled")[1]
            kept = got1.copy()
            got2 = net.gradient(X2, Y2, truncate=truncate, backend="compiled")[1]
            np.testing.assert_array_equal(got1, kept)
            assert close(got1, net.gradient(X1, Y1, truncate=truncate, backend="numpy")[1])
            assert close(got2, net.gradient(X2, Y2, truncate=truncate, backend="numpy")[1])
