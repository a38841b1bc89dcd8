"""OnlineRTRL: one step at a time on a stream, against the batch engines.

Stepping T times must give the outputs of ``net.simulate`` over the whole record, and the
per-step sse gradients must add up to the batch sse gradient (RTRL's gradient is a sum over
time of per-step terms). Its memory must not grow with the number of steps. Every test runs
on both backends; the compiled one (every step in one compiled program) must equal the
numpy one to 1e-12 on every catalog spec and on random graphs, and ``run`` (a whole stream,
adapting θ after each step) must equal the loop of ``step`` and SGD updates.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, spec_id
from dyngraph.engines.online import OnlineRTRL

T, Q = 10, 2
BACKENDS = ("numpy", "compiled")
# IIR and Elman are the nets asked for; fir (input history only), gamma (a memory state),
# NARX (output feedback through two delays) and Jordan (a 2-element softmax output) too.
NETS = ["iir", "layer_recurrent", "fir", "gamma_ftdnn", "narx_parallel", "jordan"]


def _problem(net, seed, nan_steps=()):
    rng = np.random.default_rng(seed)
    U = {k: rng.standard_normal((Q, T, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((Q, T, n)) for k, n in net.outputs.items()}
    for q, t in nan_steps:
        for y in Y.values():
            y[q, t] = np.nan
    return U, Y


def _stream(online, U, Y=None):
    """Step through the record; returns outputs (Q, T, n) by name and the per-step g."""
    outs, gs = {}, []
    for t in range(T):
        x = {k: u[:, t] for k, u in U.items()}
        y = None if Y is None else {k: v[:, t] for k, v in Y.items()}
        out, g = online.step(x, y)
        for k, v in out.items():
            assert v.shape == (Q, online.net.outputs[k])
            outs.setdefault(k, []).append(v)
        gs.append(g)
    return {k: np.stack(v, axis=1) for k, v in outs.items()}, gs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NETS)
def test_outputs_equal_simulate(name, backend):
    net = dg.load(f"specs/{name}.yaml", seed=1)
    U, _ = _problem(net, 2)
    outs, gs = _stream(OnlineRTRL(net, Q=Q, backend=backend), U)
    assert all(g is None for g in gs)            # no targets, no gradient
    want = net.simulate(U)
    for o in net.outputs:
        np.testing.assert_allclose(outs[o], want[o], rtol=1e-12, atol=1e-14, err_msg=o)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NETS)
def test_step_gradients_add_up_to_batch_sse(name, backend):
    net = dg.load(f"specs/{name}.yaml", seed=3)
    U, Y = _problem(net, 4, nan_steps=[(0, 2), (1, 7), (0, 9)])
    _, gs = _stream(OnlineRTRL(net, Q=Q, backend=backend), U, Y)
    total = np.sum(gs, axis=0)
    assert total.shape == (net.n_params,)
    for method in ("rtrl", "bptt"):
        _, g = net.gradient(U, Y, method=method, loss="sse")
        np.testing.assert_allclose(total, g, rtol=1e-9, atol=1e-12 * np.abs(g).max(),
                                   err_msg=method)
    # the last step alone is not the whole gradient (the sum above is not trivial)
    assert np.linalg.norm(gs[-1] - total) > 1e-6 * np.linalg.norm(total)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_without_targets_contributes_nothing(backend):
    net = dg.load("specs/layer_recurrent.yaml", seed=5)
    U, Y = _problem(net, 6, nan_steps=[(q, 4) for q in range(Q)])
    online = OnlineRTRL(net, Q=Q, backend=backend)
    total = np.zeros(net.n_params)
    for t in range(T):
        x = {k: u[:, t] for k, u in U.items()}
        y = None if t == 4 else {k: v[:, t] for k, v in Y.items()}
        _, g = online.step(x, y)
        assert (g is None) == (t == 4)
        if g is not None:
            total += g
    _, want = net.gradient(U, Y, loss="sse")
    np.testing.assert_allclose(total, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_parameters_changed_mid_stream_are_used_from_the_next_step(backend):
    """Adaptive filtering changes θ between steps: the outputs are those of θ1 up to step k,
    then of θ2 continuing from the state reached (simulate with initial=state)."""
    net = dg.load("specs/iir.yaml", seed=7)
    U, _ = _problem(net, 8)
    k = 4
    online = OnlineRTRL(net, Q=Q, backend=backend)
    theta1 = net.params
    theta2 = theta1 + 0.05 * np.random.default_rng(9).standard_normal(net.n_params)
    outs = []
    for t in range(T):
        if t == k:
            net.params = theta2
        outs.append(online.step({"x": U["x"][:, t]})[0]["y"])
    got = np.stack(outs, axis=1)
    ref = dg.load("specs/iir.yaml")
    ref.params = theta1
    first, state = ref.simulate({"x": U["x"][:, :k]}, return_state=True)
    ref.params = theta2
    second = ref.simulate({"x": U["x"][:, k:]}, initial=state)
    np.testing.assert_allclose(got, np.concatenate([first["y"], second["y"]], axis=1),
                               rtol=1e-12, atol=1e-14)


def _array_shapes(obj, skip, depth=0, seen=None):
    """Shapes of every numpy array reachable from ``obj`` (its __dict__, dicts, lists,
    tuples), not entering the objects in ``skip`` (the net and its plan)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6 or any(obj is s for s in skip):
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj.shape]
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        items = list(vars(obj).values())
    else:
        return []
    out = []
    for item in items:
        out += _array_shapes(item, skip, depth + 1, seen)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["iir", "layer_recurrent"])
def test_memory_does_not_grow_with_steps(name, backend):
    net = dg.load(f"specs/{name}.yaml", seed=10)
    rng = np.random.default_rng(11)
    online = OnlineRTRL(net, Q=Q, backend=backend)
    skip = (net, net.plan, net._values)

    def run(n_steps):
        for _ in range(n_steps):
            x = {k: rng.standard_normal((Q, n)) for k, n in net.inputs.items()}
            y = {k: rng.standard_normal((Q, n)) for k, n in net.outputs.items()}
            online.step(x, y)
        return sorted(_array_shapes(online, skip))

    after_3 = run(3)
    after_40 = run(37)
    assert after_3, "found no internal buffers to compare"
    assert after_3 == after_40
    assert max(np.prod(s) for s in after_40) < 40 * Q * net.n_params


# -- the compiled online program against the numpy reference -------------------------------

def _compilable(net):
    return all(node.kind is None or node.kind.compilable() for node in net.plan.nodes.values())


def _both_streams(net, U, Y, loss="sse"):
    """Outputs and per-step gradients of both backends over the same stream."""
    got = {}
    for backend in BACKENDS:
        online = OnlineRTRL(net, Q=Q, backend=backend)
        outs, gs = [], []
        for t in range(T):
            out, g = online.step({k: u[:, t] for k, u in U.items()},
                                 {k: v[:, t] for k, v in Y.items()}, loss)
            outs.append(out)
            gs.append(g)
        got[backend] = (online, outs, np.array(gs))
    return got


def _rel(a, b):
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return np.abs(a - b).max(initial=0.0) / scale


@pytest.mark.parametrize("loss", ["sse", "mse"])
@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_compiled_online_equals_numpy_on_every_spec(path, loss):
    net = dg.load(path, seed=21)
    if net.plan.backward:
        for backend in BACKENDS:
            with pytest.raises(ValueError, match="backward layers"):
                OnlineRTRL(net, backend=backend)
        return
    U, Y = _problem(net, 22, nan_steps=[(1, 3)])
    got = _both_streams(net, U, Y, loss)
    online, outs, gs = got["compiled"]
    # Only a kind without a compiled form (the softmax transfer) may fall back to numpy.
    assert online.backend == ("compiled" if _compilable(net) else "numpy")
    _, outs_ref, gs_ref = got["numpy"]
    for a, b in zip(outs, outs_ref):
        for o in net.outputs:
            assert _rel(a[o], b[o]) <= 1e-12, o
    assert _rel(gs, gs_ref) <= 1e-12
    if net.n_params:
        assert np.abs(gs).max() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_adapts_like_the_loop_of_steps_and_updates(backend):
    """run(lr) = step + θ ← θ − lr g after every step, on the numpy reference; the net
    holds the adapted θ afterwards, and a second run continues the stream."""
    lr = 0.05
    name = "narx_parallel"
    U, Y = _problem(dg.load(f"specs/{name}.yaml", seed=1), 30, nan_steps=[(0, 5), (1, 6)])
    ref = dg.load(f"specs/{name}.yaml", seed=1)
    stepper = OnlineRTRL(ref, Q=Q, backend="numpy")
    outs_ref, losses_ref = [], []
    for t in range(T):
        out, g = stepper.step({k: u[:, t] for k, u in U.items()},
                              {k: y[:, t] for k, y in Y.items()})
        outs_ref.append(out["y"])
        e = (Y["y"][:, t] - out["y"]).reshape(-1)
        losses_ref.append(np.nansum(e * e))
        ref.params = ref.params - lr * g
    net = dg.load(f"specs/{name}.yaml", seed=1)
    online = OnlineRTRL(net, Q=Q, backend=backend)
    half = T // 2
    out1, l1 = online.run({k: u[:, :half] for k, u in U.items()},
                          {k: y[:, :half] for k, y in Y.items()}, lr=lr)
    out2, l2 = online.run({k: u[:, half:] for k, u in U.items()},
                          {k: y[:, half:] for k, y in Y.items()}, lr=lr)
    got = np.concatenate([out1["y"], out2["y"]], axis=1)            # (Q, T, n)
    assert _rel(got, np.stack(outs_ref, axis=1)) <= 1e-12
    assert _rel(np.concatenate([l1, l2]), np.array(losses_ref)) <= 1e-12
    assert _rel(net.params, ref.params) <= 1e-12
    assert _rel(net.params, dg.load(f"specs/{name}.yaml", seed=1).params) > 1e-3  # it moved
    assert online.clock == T


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_with_lr_adapts_like_setting_params_yourself(backend):
    """step(lr=) = step, then θ ← θ − lr g by hand (on the numpy reference), to 1e-12;
    a step without targets leaves θ alone, and a bad lr is refused before anything moves."""
    lr = 0.05
    name = "narx_parallel"
    U, Y = _problem(dg.load(f"specs/{name}.yaml", seed=1), 31, nan_steps=[(0, 5)])
    ref = dg.load(f"specs/{name}.yaml", seed=1)
    by_hand = OnlineRTRL(ref, Q=Q, backend="numpy")
    net = dg.load(f"specs/{name}.yaml", seed=1)
    online = OnlineRTRL(net, Q=Q, backend=backend)
    for t in range(T):
        x = {k: u[:, t] for k, u in U.items()}
        y = None if t == 3 else {k: v[:, t] for k, v in Y.items()}
        want, g_want = by_hand.step(x, y)
        if g_want is not None:
            ref.params = ref.params - lr * g_want
        got, g = online.step(x, y, lr=lr)
        assert _rel(got["y"], want["y"]) <= 1e-12
        assert (g is None) == (g_want is None)
        assert _rel(net.params, ref.params) <= 1e-12
    assert _rel(net.params, dg.load(f"specs/{name}.yaml", seed=1).params) > 1e-3  # it moved
    before, clock = net.params, online.clock
    for bad in (float("nan"), "0.1"):
        with pytest.raises(ValueError, match="lr must be a finite number"):
            online.step({k: u[:, 0] for k, u in U.items()}, {k: v[:, 0] for k, v in Y.items()},
                        lr=bad)
    assert np.array_equal(net.params, before) and online.clock == clock


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_with_lr_sees_the_parameters_you_set_between_steps(backend):
    """Between step(lr=) calls the user may set the parameters (``params``, ``set``, a
    ``run``): the next step starts from what was set, exactly as the numpy reference does;
    arrays the user got from the net never change under them."""
    lr = 0.05
    name = "narx_parallel"
    U, Y = _problem(dg.load(f"specs/{name}.yaml", seed=1), 31)
    nets = [dg.load(f"specs/{name}.yaml", seed=1) for _ in range(2)]
    steppers = [OnlineRTRL(nets[0], Q=Q, backend="numpy"),
                OnlineRTRL(nets[1], Q=Q, backend=backend)]
    block = nets[0].block_names[0]
    kept = []
    for t in range(T):
        x = {k: u[:, t] for k, u in U.items()}
        y = {k: v[:, t] for k, v in Y.items()}
        for net in nets:
            if t == 4:
                net.params = net.params * 0.5
            elif t == 7:
                net.set(block, net.get(block) + 0.25)
        if t == 10:
            for s in steppers:          # (Q, T, n): three steps of the Q streams
                s.run({k: u[:, 10:13] for k, u in U.items()},
                      {k: v[:, 10:13] for k, v in Y.items()}, lr=lr)
        (want, _), (got, _) = (s.step(x, y, lr=lr) for s in steppers)
        assert _rel(got["y"], want["y"]) <= 1e-12, t
        assert _rel(nets[1].params, nets[0].params) <= 1e-12, t
        kept.append([(n.params, n.get(block)) for n in nets])
    for (theta_want, value_want), (theta, value) in kept:      # as they were when taken
        assert _rel(theta, theta_want) <= 1e-12 and _rel(value, value_want) <= 1e-12
    assert not np.array_equal(kept[-1][1][0], kept[-2][1][0])   # θ moved every step


def test_a_step_with_targets_for_some_outputs_only_uses_no_earlier_target():
    """Two outputs; a step with a target for one of them after a step with both: the
    compiled step's gradient is the numpy reference's (no target left over)."""
    spec = ("inputs: {u: 1}\nlayers:\n  h: {size: 3, transfer: tanh, from: {u: 0, h: 1}}\n"
            "  a: {size: 1, from: h}\n  b: {size: 2, from: h}\noutputs: [a, b]\n")
    rng = np.random.default_rng(2)
    steppers = [OnlineRTRL(dg.loads(spec, seed=3), backend=b) for b in ("numpy", "compiled")]
    assert steppers[1].backend == "compiled"
    for targets in ({"a": [[0.5]], "b": [[1.0, -1.0]]}, {"a": [[0.2]]}, {"b": [[0.3, 0.1]]},
                    None, {"a": [[-0.4]], "b": [[0.0, 2.0]]}):
        x = {"u": rng.standard_normal((1, 1))}
        (want, g_want), (got, g) = (s.step(x, targets, lr=0.1) for s in steppers)
        assert all(_rel(got[k], want[k]) <= 1e-12 for k in want)
        assert (g is None) == (g_want is None)
        if g is not None:
            assert _rel(g, g_want) <= 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_without_targets_only_simulates(backend):
    net = dg.load("specs/layer_recurrent.yaml", seed=4)
    u = np.random.default_rng(5).standard_normal((T, 1))            # one stream, (T, n)
    theta = net.params
    out, losses = OnlineRTRL(net, backend=backend).run(u, lr=0.1)
    assert out.shape == (T, 1)
    assert _rel(out, net.simulate(u)) <= 1e-12
    assert np.array_equal(net.params, theta) and not losses.any()


def test_compiled_is_the_default_and_the_environment_can_force_numpy(monkeypatch):
    net = dg.load("specs/layer_recurrent.yaml", seed=4)
    monkeypatch.delenv("DYNGRAPH_BACKEND", raising=False)
    assert OnlineRTRL(net, Q=Q).backend == "compiled"
    assert OnlineRTRL(net, Q=64).backend == "numpy"      # large batches: numpy (as the engines)
    monkeypatch.setenv("DYNGRAPH_BACKEND", "numpy")
    assert OnlineRTRL(net, Q=Q).backend == "numpy"


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_stream_data_is_named(backend):
    net = dg.load("specs/layer_recurrent.yaml", seed=4)
    online = OnlineRTRL(net, Q=Q, backend=backend)
    ok = {"u": np.zeros((Q, 1))}
    online.step(ok, {"y": np.zeros((Q, 1))})
    with pytest.raises(ValueError, match=r"input 'u' has NaN or inf at step 1"):
        online.step({"u": np.full((Q, 1), np.nan)})
    with pytest.raises(ValueError, match="loss"):
        online.step(ok, {"y": np.zeros((Q, 1))}, loss="cross_entropy")
    # The refused steps left the stream as it was: the next one equals a clean stream's.
    clean = OnlineRTRL(dg.load("specs/layer_recurrent.yaml", seed=4), Q=Q, backend=backend)
    clean.step(ok, {"y": np.zeros((Q, 1))})
    u1 = {"u": np.linspace(-1, 1, Q).reshape(Q, 1)}
    (got, g), (want, g_want) = online.step(u1, {"y": u1["u"]}), clean.step(u1, {"y": u1["u"]})
    assert np.array_equal(got["y"], want["y"]) and np.array_equal(g, g_want)
    assert online.clock == clean.clock == 2
    if backend == "compiled":
        with pytest.raises(ValueError, match="input 'u' is missing"):
            online.step({})
        with pytest.raises(ValueError, match="unknown target 'z'"):
            online.step(ok, {"z": np.zeros((Q, 1))})
    U = np.zeros((Q, 4, 1))
    U[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"input 'u' has NaN or inf at sequence 1, step 2"):
        online.run({"u": U})
    with pytest.raises(ValueError, match="3 streams"):
        online.run({"u": np.zeros((3, 4, 1))})
    with pytest.raises(ValueError, match="differ from the inputs"):
        online.run({"u": np.zeros((Q, 4, 1))}, {"y": np.zeros((Q, 5, 1))})


from test_random_graphs import spec_texts  # noqa: E402  (the strategy, not its tests)
from hypothesis import given, note, settings, HealthCheck  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=spec_texts(), seed=st.integers(0, 1000))
def test_random_graphs_compiled_online_equals_numpy(text, seed):
    note(text)
    net = dg.loads(text, seed=seed)
    U, Y = _problem(net, seed)
    got = _both_streams(net, U, Y)
    assert got["compiled"][0].backend == ("compiled" if _compilable(net) else "numpy")
    for a, b in zip(got["compiled"][1], got["numpy"][1]):
        for o in net.outputs:
            assert _rel(a[o], b[o]) <= 1e-12
    assert _rel(got["compiled"][2], got["numpy"][2]) <= 1e-10
    total = got["compiled"][2].sum(axis=0)
    _, g = net.gradient(U, Y, method="rtrl", loss="sse")
    assert _rel(total, g) <= 1e-9
