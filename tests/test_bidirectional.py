"""`direction: backward` layers and bidirectional networks, against independent references.

- simulate of specs/bidirectional.yaml against a hand-written numpy loop of seed 003's
  bidirectional RNN, y(t) = W_y [f(t); r(t)] + b_y, f forward and r backward in time;
- a backward layer alone equals the same layer run forward on the time-reversed input,
  reversed back;
- gradients: BPTT = RTRL = central finite differences (every parameter), the Jacobian, on
  both engine backends, for the catalog spec and for nets mixing directions through
  delayed links between components;
- the positioned error for mixed directions on one recurrent cycle, and the refusals
  (truncated BPTT, chunked simulation, online RTRL, export);
- torch.nn.RNN(bidirectional=True), when torch is installed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.engines.online import OnlineRTRL
from dyngraph.io.export_numpy import ExportError

pytestmark = pytest.mark.usefixtures("engine_backend")

SPEC = Path(__file__).resolve().parents[1] / "specs" / "bidirectional.yaml"
EPS = 1e-6


def random_net(source, seed=0, scale=0.8):
    net = dg.load(source) if isinstance(source, Path) else dg.loads(source)
    net.params = np.random.default_rng(seed).uniform(-scale, scale, net.n_params)
    return net


def reference_bidirectional(net, x):
    """Seed 003's equations written out, one sequence x (T, 1) -> y (T, 1)."""
    W = {b: net.get(b) for b in net.block_names}
    T, H = x.shape[0], W["f.b"].size
    f, r = np.zeros((T, H)), np.zeros((T, H))
    prev = np.zeros(H)                              # f(-1) = 0
    for t in range(T):
        prev = f[t] = np.tanh(W["f.W[x]"] @ x[t] + W["f.W[f]"] @ prev + W["f.b"])
    nxt = np.zeros(H)                               # r(T) = 0
    for t in range(T - 1, -1, -1):
        nxt = r[t] = np.tanh(W["r.W[x]"] @ x[t] + W["r.W[r]"] @ nxt + W["r.b"])
    Wy = np.concatenate([W["y.W[f]"], W["y.W[r]"]], axis=1)
    return np.concatenate([f, r], axis=1) @ Wy.T + W["y.b"]


def test_catalog_spec_matches_the_seed_equations():
    net = random_net(SPEC, seed=1)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 17, 1))
    Y = net.simulate(X)
    for q in range(3):
        np.testing.assert_allclose(Y[q], reference_bidirectional(net, X[q]), rtol=1e-12,
                                   atol=1e-13)
    # the output at t = 0 depends on the last input (the backward layer carries it)
    X2 = X.copy()
    X2[:, -1] += 1.0
    assert np.all(np.abs(net.simulate(X2)[:, 0] - Y[:, 0]) > 0)


BACKWARD_ONLY = """
inputs: {{u: 2}}
layers:
  h: {{size: 3, transfer: tanh, direction: {d}, from: {{u: [0, 1], h: [1, 2]}}}}
  y: {{size: 2, transfer: sigmoid, direction: {d}, from: {{h: [0, 1], u: 0}}}}
outputs: [y]
"""


def test_backward_is_forward_on_the_reversed_record():
    back = random_net(BACKWARD_ONLY.format(d="backward"), seed=3)
    fwd = dg.loads(BACKWARD_ONLY.format(d="forward"))
    fwd.params = back.params
    U = np.random.default_rng(4).standard_normal((2, 11, 2))
    np.testing.assert_allclose(back.simulate(U), fwd.simulate(U[:, ::-1])[:, ::-1],
                               rtol=1e-12, atol=1e-13)


def test_plan_marks_backward_components_and_lookahead():
    plan = dg.load(SPEC).plan
    assert [(c.nodes, c.backward) for c in plan.components] == [
        (("f",), False), (("r",), True), (("y",), False)]
    assert plan.backward
    assert plan.nodes["r"].lookahead == 1 and plan.nodes["r"].lookback == 0
    assert plan.nodes["f"].lookback == 1 and plan.nodes["f"].lookahead == 0
    assert not dg.load(SPEC.parent / "layer_recurrent.yaml").plan.backward


# Directions mixed across components through delayed links, every way round: a backward
# layer reading a forward one two steps ahead, a forward layer reading a backward one a
# step back, a backward cycle of two layers, a backward layer off any cycle reading the
# input one step ahead, and a forward output reading a backward one.
MIXED = """
inputs: {u: 1}
layers:
  f: {size: 3, transfer: tanh, from: {u: 0, f: 1}}
  b: {size: 2, transfer: tanh, direction: backward, from: {u: [0, 1], f: [0, 2], c: 1}}
  c: {size: 2, transfer: sigmoid, direction: backward, from: {b: 0}}
  a: {size: 2, transfer: tanh, direction: backward, from: {u: 1, f: 0}}
  g: {size: 2, transfer: tanh, from: {b: [0, 1], g: 1, a: 0}}
  y: {size: 1, from: {g: 0, c: [0, 2], a: 0}}
outputs: [y]
"""


def _mse(net, U, Y, initial=None):
    return float(np.mean((net.simulate(U, initial=initial) - Y) ** 2))


def _fd_gradient(net, U, Y, initial=None):
    theta, g = net.params.copy(), np.zeros(net.n_params)
    try:
        for i in range(net.n_params):
            e = np.zeros_like(theta)
            e[i] = EPS
            net.params = theta + e
            fp = _mse(net, U, Y, initial)
            net.params = theta - e
            g[i] = (fp - _mse(net, U, Y, initial)) / (2 * EPS)
    finally:
        net.params = theta
    return g


@pytest.mark.parametrize("source", [SPEC, MIXED, BACKWARD_ONLY.format(d="backward")],
                         ids=["catalog", "mixed", "backward_only"])
def test_bptt_rtrl_and_finite_differences_agree(source):
    net = random_net(source, seed=5)
    rng = np.random.default_rng(6)
    U = rng.standard_normal((2, 9, next(iter(net.inputs.values()))))
    Y = rng.standard_normal((2, 9, next(iter(net.outputs.values()))))
    loss_b, gb = net.gradient(U, Y, method="bptt")
    loss_r, gr = net.gradient(U, Y, method="rtrl")
    assert np.isclose(loss_b, _mse(net, U, Y), rtol=1e-12)
    assert np.isclose(loss_b, loss_r, rtol=1e-12)
    np.testing.assert_allclose(gr, gb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gb, _fd_gradient(net, U, Y), rtol=1e-5, atol=1e-8)
    e, J = net.jacobian(U, Y)
    _, Jb = net.jacobian(U, Y, method="bptt")
    np.testing.assert_allclose(J, Jb, rtol=1e-9, atol=1e-12)
    # mse = Σe² / N, so its gradient is -2/N Jᵀ e ... with e = target - output
    np.testing.assert_allclose(2 * J.T @ e / e.size, gb, rtol=1e-9, atol=1e-12)


def test_backends_agree_on_a_mixed_net():
    net = random_net(MIXED, seed=7)
    rng = np.random.default_rng(8)
    U = rng.standard_normal((3, 10, 1))
    Y = rng.standard_normal((3, 10, 1))
    pytest.importorskip("numba")
    y0, y1 = (net.simulate(U, backend=b) for b in ("numpy", "compiled"))
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-13)
    for method in ("bptt", "rtrl"):
        g0, g1 = (net.gradient(U, Y, method=method, backend=b)[1]
                  for b in ("numpy", "compiled"))
        np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-14)


def test_initial_values_of_a_backward_layer_are_its_values_before_step_0():
    """`initial` holds the values before step 0 (read by forward layers through a delay);
    beyond the last step a backward layer's values are zero."""
    net = random_net(MIXED, seed=9)
    rng = np.random.default_rng(10)
    U = rng.standard_normal((2, 8, 1))
    Y = rng.standard_normal((2, 8, 1))
    assert net.plan.nodes["b"].lookback == 1       # g reads b(t-1)
    init = {"b": rng.standard_normal((2, 1, 2)), "f": rng.standard_normal((2, 1, 3)),
            "g": rng.standard_normal((2, 1, 2))}
    assert not np.allclose(net.simulate(U, initial=init), net.simulate(U))
    _, g, gi = net.gradient(U, Y, initial=init, initial_grad=True)
    for name, value in init.items():
        fd = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            plus, minus = dict(init), dict(init)
            plus[name], minus[name] = value.copy(), value.copy()
            plus[name][idx] += EPS
            minus[name][idx] -= EPS
            fd[idx] = (_mse(net, U, Y, plus) - _mse(net, U, Y, minus)) / (2 * EPS)
        np.testing.assert_allclose(gi[name], fd, rtol=1e-5, atol=1e-9)


def test_input_gradient_through_backward_layers():
    net = random_net(MIXED, seed=11)
    rng = np.random.default_rng(12)
    U = rng.standard_normal((1, 7, 1))
    Y = rng.standard_normal((1, 7, 1))
    _, _, gu = net.gradient(U, Y, input_grad=True)
    fd = np.zeros_like(U)
    for idx in np.ndindex(U.shape):
        Up, Um = U.copy(), U.copy()
        Up[idx] += EPS
        Um[idx] -= EPS
        fd[idx] = (_mse(net, Up, Y) - _mse(net, Um, Y)) / (2 * EPS)
    np.testing.assert_allclose(gu, fd, rtol=1e-5, atol=1e-9)


MIXED_CYCLE = """
inputs: {u: 1}
layers:
  a: {size: 2, transfer: tanh, from: {u: 0, b: 1}}
  b: {size: 2, transfer: tanh,
      direction: backward, from: {a: 0}}
  y: {size: 1, from: b}
outputs: [y]
"""


def test_mixed_directions_on_one_cycle_is_a_positioned_error():
    with pytest.raises(dg.SpecError) as err:
        dg.loads(MIXED_CYCLE)
    (problem,) = err.value.problems
    assert (problem.where.line, problem.where.col) == (5, 3)
    assert problem.context == "layers.b"
    assert "direction 'backward' differs from 'a' (forward)" in problem.message
    assert ":5:3: layers.b:" in str(err.value)
    memory = ("inputs: {u: 1}\nlayers:\n  h: {size: 1, direction: backward, from: {u: 0, m: 1}}"
              "\nmemories:\n  m: {kind: tdl, from: h, delays: [0, 1]}\noutputs: [h]")
    with pytest.raises(dg.SpecError, match=r":5:3: memories\.m: a memory \(memories always "
                                           r"run forward\) differs from 'h' \(backward\)"):
        dg.loads(memory)


def test_refusals_name_the_reason():
    net = random_net(SPEC, seed=13)
    U = np.random.default_rng(14).standard_normal((20, 1))
    with pytest.raises(ValueError, match="truncated BPTT.*backward layers"):
        net.gradient(U, U, truncate=(5, 8))
    with pytest.raises(dg.DataError, match="one piece"):
        net.simulate(U, chunk=5)
    with pytest.raises(ValueError, match="online RTRL.*backward layers"):
        OnlineRTRL(net)
    with pytest.raises(ExportError, match="direction: backward"):
        net.export("/nonexistent/bidirectional.py")


def test_direction_round_trips_through_the_writer(tmp_path):
    net = random_net(SPEC, seed=15)
    net.save(tmp_path / "m")
    back = dg.load(tmp_path / "m")
    assert [l.direction for l in back.spec.layers] == ["forward", "backward", "forward"]
    U = np.random.default_rng(16).standard_normal((12, 1))
    np.testing.assert_array_equal(back.simulate(U), net.simulate(U))


def test_training_reduces_the_loss():
    net = random_net(SPEC, seed=17, scale=0.3)
    x = np.random.default_rng(18).standard_normal((40, 1))
    y = np.roll(x, -2, axis=0)                     # the future: only the backward layer sees it
    result = dg.train(net, x, y, epochs=20)
    assert result.history["loss"][-1] < 0.5 * result.history["loss"][0]


def test_torch_bidirectional_rnn():
    torch = pytest.importorskip("torch")
    H, T = 3, 9
    rnn = torch.nn.RNN(1, H, batch_first=True, bidirectional=True, dtype=torch.float64)
    spec = (f"inputs: {{x: 1}}\nlayers:\n"
            f"  f: {{size: {H}, transfer: tanh, from: {{x: 0, f: 1}}}}\n"
            f"  r: {{size: {H}, transfer: tanh, direction: backward, from: {{x: 0, r: 1}}}}\n"
            f"  y: {{kind: sum, from: [f]}}\n  z: {{kind: sum, from: [r]}}\noutputs: [y, z]")
    net = dg.loads(spec)
    p = {k: v.detach().numpy() for k, v in rnn.named_parameters()}
    net.set("f.W[x]", p["weight_ih_l0"])
    net.set("f.W[f]", p["weight_hh_l0"])
    net.set("f.b", p["bias_ih_l0"] + p["bias_hh_l0"])
    net.set("r.W[x]", p["weight_ih_l0_reverse"])
    net.set("r.W[r]", p["weight_hh_l0_reverse"])
    net.set("r.b", p["bias_ih_l0_reverse"] + p["bias_hh_l0_reverse"])
    x = np.random.default_rng(19).standard_normal((2, T, 1))
    want = rnn(torch.from_numpy(x))[0].detach().numpy()
    got = net.simulate(x)
    np.testing.assert_allclose(np.concatenate([got["y"], got["z"]], axis=-1), want,
                               rtol=1e-12, atol=1e-12)


def test_diagrams_mark_the_backward_layer(tmp_path):
    from dyngraph.viz.render import BACKWARD_FILL, to_dot, unrolled_taps
    net = dg.load(SPEC)
    path = tmp_path / "bidirectional.dot"
    net.render(path)
    text = path.read_text(encoding="utf-8")
    assert "<B>r</B> ←" in text and "backward in time" in text and BACKWARD_FILL in text
    assert "<B>f</B> ←" not in text
    T = 4
    # r(t) reads r(t+1): taps run from column t+1 to column t, none from beyond T-1
    back = [(s, ts, t) for s, ts, dst, t, d, _ in unrolled_taps(net, T) if dst == "r" and d]
    assert sorted(back) == [("r", t + 1, t) for t in range(T - 1)]
    fwd = [(s, ts, t) for s, ts, dst, t, d, _ in unrolled_taps(net, T) if dst == "f" and d]
    assert sorted(fwd) == [("f", t - 1, t) for t in range(1, T)]
    unrolled = to_dot(net, unroll=T).to_string()
    # one mark per column, one in the title's note
    assert "beyond t = T-1" in unrolled and unrolled.count("←") == T + 1


# --------------------------------------------------------------------------- random nets
def _with_random_directions(text, draw_bool):
    """The random spec with one random direction per recurrent component (forward where a
    memory is in it), every acyclic layer drawn on its own."""
    import dataclasses

    import networkx as nx

    from dyngraph.language.writer import spec_to_yaml
    net = dg.loads(text)
    g = net.graph
    direction = {}
    for comp in nx.strongly_connected_components(nx.DiGraph(g)):
        memory = any(g.nodes[n]["kind"] in ("gamma", "tdl") for n in comp)
        d = "forward" if memory or not draw_bool() else "backward"
        direction.update({n: d for n in comp})
    layers = tuple(dataclasses.replace(l, direction=direction[l.name]) for l in net.spec.layers)
    return spec_to_yaml(dataclasses.replace(net.spec, layers=layers))


def test_random_nets_with_backward_components():
    from hypothesis import HealthCheck, given, note, settings
    from hypothesis import strategies as st
    from test_random_graphs import spec_texts

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(text=spec_texts(), seed=st.integers(0, 1000), data=st.data())
    def check(text, seed, data):
        text = _with_random_directions(text, lambda: data.draw(st.booleans()))
        note(text)
        net = dg.loads(text, seed=seed)
        rng = np.random.default_rng(seed)
        T = 6
        U = {k: rng.standard_normal((2, T, n)) for k, n in net.inputs.items()}
        Y = {k: rng.standard_normal((2, T, n)) for k, n in net.outputs.items()}
        lb, gb = net.gradient(U, Y, method="bptt")
        lr, gr = net.gradient(U, Y, method="rtrl")
        assert np.isfinite(lb) and np.isclose(lb, lr, rtol=1e-13)
        np.testing.assert_allclose(gr, gb, rtol=1e-9, atol=1e-12)
        if not net.n_params:
            return
        v = rng.standard_normal(net.n_params)
        theta = net.params

        def loss_at(th):
            net.params = th
            out = net.simulate(U)
            return (sum(np.sum((Y[o] - out[o]) ** 2) for o in Y)
                    / sum(y.size for y in Y.values()))

        fd = (loss_at(theta + EPS * v) - loss_at(theta - EPS * v)) / (2 * EPS)
        net.params = theta
        gv = float(gb @ v)
        assert abs(gv - fd) <= 1e-5 * abs(gv) + 1e-8 * max(1.0, abs(lb)), (gv, fd)

    check()


def test_summary_and_validate_name_the_direction(capsys):
    from dyngraph.cli import main
    from dyngraph.viz.summary import node_rows
    rows = {r[0]: r[4] for r in node_rows(dg.load(SPEC))}
    assert "backward in time" in rows["r"] and "backward" not in rows["f"]
    assert main(["validate", str(SPEC)]) == 0
    assert "{f}; {r} backward" in capsys.readouterr().out
