"""OnlineRTRL: one step at a time on a stream, against the batch engines.

Stepping T times must give the outputs of ``net.simulate`` over the whole record, and the
per-step sse gradients must add up to the batch sse gradient (RTRL's gradient is a sum over
time of per-step terms). Its memory must not grow with the number of steps.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.engines.rtrl import OnlineRTRL

T, Q = 10, 2
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


@pytest.mark.parametrize("name", NETS)
def test_outputs_equal_simulate(name):
    net = dg.load(f"specs/{name}.yaml", seed=1)
    U, _ = _problem(net, 2)
    outs, gs = _stream(OnlineRTRL(net, Q=Q), U)
    assert all(g is None for g in gs)            # no targets, no gradient
    want = net.simulate(U)
    for o in net.outputs:
        np.testing.assert_allclose(outs[o], want[o], rtol=1e-12, atol=1e-14, err_msg=o)


@pytest.mark.parametrize("name", NETS)
def test_step_gradients_add_up_to_batch_sse(name):
    net = dg.load(f"specs/{name}.yaml", seed=3)
    U, Y = _problem(net, 4, nan_steps=[(0, 2), (1, 7), (0, 9)])
    _, gs = _stream(OnlineRTRL(net, Q=Q), U, Y)
    total = np.sum(gs, axis=0)
    assert total.shape == (net.n_params,)
    for method in ("rtrl", "bptt"):
        _, g = net.gradient(U, Y, method=method, loss="sse")
        np.testing.assert_allclose(total, g, rtol=1e-9, atol=1e-12 * np.abs(g).max(),
                                   err_msg=method)
    # the last step alone is not the whole gradient (the sum above is not trivial)
    assert np.linalg.norm(gs[-1] - total) > 1e-6 * np.linalg.norm(total)


def test_step_without_targets_contributes_nothing():
    net = dg.load("specs/layer_recurrent.yaml", seed=5)
    U, Y = _problem(net, 6, nan_steps=[(q, 4) for q in range(Q)])
    online = OnlineRTRL(net, Q=Q)
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


def test_parameters_changed_mid_stream_are_used_from_the_next_step():
    """Adaptive filtering changes θ between steps: the outputs are those of θ1 up to step k,
    then of θ2 continuing from the state reached (simulate with initial=state)."""
    net = dg.load("specs/iir.yaml", seed=7)
    U, _ = _problem(net, 8)
    k = 4
    online = OnlineRTRL(net, Q=Q)
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


@pytest.mark.parametrize("name", ["iir", "layer_recurrent"])
def test_memory_does_not_grow_with_steps(name):
    net = dg.load(f"specs/{name}.yaml", seed=10)
    rng = np.random.default_rng(11)
    online = OnlineRTRL(net, Q=Q)
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
