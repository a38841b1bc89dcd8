"""One `from` grammar for layers, gates and memories (docs/spec.md §5).

A memory reads its one source through delays like a layer link (a gamma memory's input is
the stacked taps, a tdl's taps may be written in `from`), a delayed memory source breaks an
algebraic loop, and sum/product gates take a bias. Each form is checked from the loader's
positioned errors to simulation against a hand-written loop, BPTT = RTRL = finite
differences on both backends, the writer, the diagrams and the exporters.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.graph.build import build_graph
from dyngraph.language import SpecError, loads_spec, spec_to_yaml
from dyngraph.viz.render import to_dot
from test_export import _check_both, random_inputs, random_net
from test_gradients import check_all, random_problem
from test_store import structure

# A loop y -> g -> y closed only by the memory's delayed source.
GAMMA_LOOP = """\
inputs: {u: 1}
layers:
  y: {size: 1, transfer: tanh, from: {u: 0, g: 0}}
memories:
  g: {kind: gamma, from: {y: "1:2"}, order: 1, mu: 0.3}
outputs: [y]
"""

# The delayed source is hoisted (an input), in a non-sorted delay order.
GAMMA_HOISTED = """\
inputs: {u: 2}
layers:
  h: {size: 3, transfer: tanh, from: {g: 0, h: 1}}
  y: {size: 1, from: h}
memories:
  g: {kind: gamma, from: {u: [2, 0]}, order: 2, mu: 0.6, learn: false}
outputs: [y]
"""

# Gates with biases, a tdl with its taps in from, one inside a loop.
GATES = """\
inputs: {u: 2}
memories:
  p: {kind: tdl, from: {y: "1:2"}}
layers:
  a: {size: 2, transfer: tanh, from: {u: 0, p: 0}}
  s: {kind: sum, from: [u, a], bias: true}
  m: {kind: product, from: {s: 0, a: 1}, bias: {init: 1.0}, transfer: tanh}
  y: {kind: sum, from: {m: {weight: diagonal}}, bias: {value: [0.1, -0.2], learn: false}}
outputs: [y]
"""

SPECS = {"gamma_loop": GAMMA_LOOP, "gamma_hoisted": GAMMA_HOISTED, "gates": GATES}


def load_error(text) -> str:
    with pytest.raises(SpecError) as err:
        dg.loads(text)
    return str(err.value)


def memory(text):
    return loads_spec(text).memories[0]


BASE = "inputs: {{u: 2}}\nlayers: {{y: {{size: 1, from: m}}}}\nmemories:\n  m: {body}\n" \
       "outputs: [y]\n"


# --------------------------------------------------------------------------- the loader
@pytest.mark.parametrize("source", ["u", "[u]", "{u: 0}", "{u: }", "{u: {delays: 0}}",
                                    "{u: [0]}"])
def test_undelayed_forms_are_the_plain_name(source):
    plain = memory(BASE.format(body="{kind: gamma, from: u, order: 2}"))
    got = memory(BASE.format(body=f"{{kind: gamma, from: {source}, order: 2}}"))
    assert structure(got) == structure(plain)
    assert got.source_delays == (0,)


@pytest.mark.parametrize("source, delays, size", [
    ("{u: 1}", (1,), 3 * 2), ('{u: "1:2"}', (1, 2), 3 * 2 * 2), ("{u: [3, 1]}", (3, 1), 12),
    ("{u: {delays: 2}}", (2,), 6)])
def test_a_gamma_reads_its_source_through_delays(source, delays, size):
    text = BASE.format(body=f"{{kind: gamma, from: {source}, order: 2}}")
    assert memory(text).source_delays == delays
    assert dg.loads(text).sizes["m"] == size


def test_a_tdl_may_give_its_taps_in_from():
    written = dg.loads(BASE.format(body='{kind: tdl, from: u, delays: "0:4"}'))
    in_from = dg.loads(BASE.format(body='{kind: tdl, from: {u: "0:4"}}'))
    assert structure(in_from.spec) == structure(written.spec)
    assert in_from.sizes["m"] == 10
    # Delay 0 in from is no delay, so it leaves the taps to `delays`.
    zero = dg.loads(BASE.format(body="{kind: tdl, from: {u: 0}, delays: [1, 2]}"))
    assert zero.spec.memories[0].delays == (1, 2)
    assert dg.loads(BASE.format(body="{kind: tdl, from: {u: 0}}")).spec.memories[0].delays == (0,)


def column(body, token, nth=1):
    """1-based column of the nth ``token`` in line 4 of BASE (where the memory is)."""
    line = BASE.format(body=body).splitlines()[3]
    at = -1
    for _ in range(nth):
        at = line.index(token, at + 1)
    return at + 1


def test_tdl_delays_in_both_places_is_an_error_naming_both():
    body = '{kind: tdl, from: {u: 1}, delays: "1:3"}'
    msg = load_error(BASE.format(body=body))
    assert msg.startswith(f"<string>:4:{column(body, 'delays')}: memories.m: tdl memory 'm' "
                          "gives its delays twice"), msg
    assert f"'delays' and in 'from' (at <string>:4:{column(body, '{u')})" in msg


@pytest.mark.parametrize("body, token, nth, words", [
    ("{kind: gamma, from: [u, y], order: 1}", "[u", 1, "a memory reads exactly one source"),
    ("{kind: tdl, from: {u: 1, y: 0}}", "{u", 1, "a memory reads exactly one source, got 2"),
    ("{kind: gamma, from: {u: {weight: full}}, order: 1}", "weight", 1,
     "a memory has no weights, so 'weight' has no meaning here"),
    ("{kind: tdl, from: {u: {delays: 1, init: 0.5}}}", "init", 1, "'init' has no meaning"),
    ("{kind: tdl, from: {u: {delay: 1}}}", "delay", 1, "unknown key 'delay'"),
    ("{kind: gamma, from: {u: [1, 1]}, order: 1}", "1", 2, "delay 1 is listed twice"),
    ("{kind: gamma, from: {u: -1}, order: 1}", "-1", 1, "a delay must be at least 0"),
    ("{kind: gamma, from: {}, order: 1}", "{}", 1, "from is empty"),
    ("{kind: gamma, from: [], order: 1}", "[]", 1, "from is empty"),
    ("{kind: tdl, from: [u]}", "m:", 1, "tdl memory 'm' needs delays"),
])
def test_memory_source_errors_are_positioned(body, token, nth, words):
    msg = load_error(BASE.format(body=body))
    assert msg.startswith(f"<string>:4:{column(body, token, nth)}: "), msg
    assert words in msg, msg


# --------------------------------------------------------------------------- loops
LOOP = """\
inputs: {{u: 1}}
layers:
  y: {{size: 1, transfer: tanh, from: {{u: 0, g: 0}}}}
memories:
  g: {{kind: {kind}, from: {source}{extra}}}
outputs: [y]
"""


@pytest.mark.parametrize("kind, extra", [("gamma", ", order: 2"), ("tdl", "")])
def test_a_delayed_memory_source_breaks_an_algebraic_loop(kind, extra):
    net = dg.loads(LOOP.format(kind=kind, source="{y: 1}", extra=extra))
    assert np.all(np.isfinite(net.simulate(np.ones((5, 1)))))
    text = LOOP.format(kind=kind, source="y" if kind == "gamma" else "{y: 0}", extra=extra)
    msg = load_error(text)
    assert msg.startswith("<string>:5:3: memories.g: algebraic loop"), msg
    assert "y -> g -> y" in msg


def test_the_loop_error_points_into_the_file(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP.format(kind="gamma", source="{y: 0}", extra=", order: 1"))
    with pytest.raises(SpecError) as err:
        dg.load(path)
    assert str(err.value).startswith(f"{path}:5:3: memories.g: algebraic loop")


# --------------------------------------------------------------------------- simulate
def test_gamma_loop_simulates_as_a_hand_written_loop():
    net = dg.loads(GAMMA_LOOP, seed=3)
    T = 12
    u = np.random.default_rng(0).standard_normal((T, 1))
    Wu, Wg, b = net.get("y.W[u]"), net.get("y.W[g]"), net.get("y.b")
    mu = net.get("g.mu")[0]
    y = {}

    def past(t):                              # y(t), zero before t = 0
        return y[t] if t >= 0 else np.zeros(1)
    x1 = np.zeros(2)
    for t in range(T):
        x0 = np.concatenate([past(t - 1), past(t - 2)])
        x1 = (1 - mu) * x1 + mu * np.concatenate([past(t - 2), past(t - 3)])   # x_0(t-1)
        y[t] = np.tanh(Wu @ u[t] + Wg @ np.concatenate([x0, x1]) + b)
    want = np.array([y[t] for t in range(T)])
    for backend in ("numpy", "compiled"):
        np.testing.assert_allclose(net.simulate(u, backend=backend), want,
                                   rtol=1e-12, atol=1e-14)


def test_gates_with_biases_simulate_as_written():
    net = dg.loads(GATES, seed=2)
    assert {"s.b", "m.b"} <= set(net.block_names) and "y.b" in net.block_names
    u = np.random.default_rng(1).standard_normal((9, 2))
    W = {k: net.get(k) for k in net.block_names}
    y = np.zeros((9 + 2, 2))
    a_prev = np.zeros(2)
    want = []
    for t in range(9):
        p = np.concatenate([y[t + 1], y[t]])          # [y(t-1); y(t-2)]
        a = np.tanh(W["a.W[u]"] @ u[t] + W["a.W[p]"] @ p + W["a.b"])
        s = u[t] + a + W["s.b"]
        m = np.tanh(W["m.b"] * s * a_prev)
        y[t + 2] = W["y.W[m]"][:, 0] * m + np.array([0.1, -0.2])
        a_prev = a
        want.append(y[t + 2].copy())
    for backend in ("numpy", "compiled"):
        np.testing.assert_allclose(net.simulate(u, backend=backend), np.array(want),
                                   rtol=1e-12, atol=1e-14)


def test_a_gate_bias_is_learned_and_initialised_like_a_layers():
    net = dg.loads(GATES, seed=2)
    np.testing.assert_array_equal(net.get("m.b"), [1.0, 1.0])
    learn = {b.name: b.learn for b in net.plan.blocks}
    assert learn["s.b"] and learn["m.b"] and not learn["y.b"]
    # A gate without a written bias still has none.
    plain = dg.loads(GATES.replace(", bias: true", ""))
    assert "s.b" not in plain.block_names


# --------------------------------------------------------------------------- gradients
@pytest.mark.usefixtures("engine_backend")
@pytest.mark.parametrize("name", sorted(SPECS))
def test_bptt_equals_rtrl_equals_finite_differences(name):
    net = dg.loads(SPECS[name], seed=1)
    U, Y = random_problem(net, seed=2, T=10)
    g = check_all(net, U, Y)
    assert np.linalg.norm(g) > 0


@pytest.mark.parametrize("name", sorted(SPECS))
def test_compiled_equals_numpy(name):
    pytest.importorskip("numba")
    net = dg.loads(SPECS[name], seed=4)
    U, Y = random_problem(net, seed=5, T=14, Q=3)
    runs = {b: net.gradient(U, Y, backend=b) for b in ("numpy", "compiled")}
    np.testing.assert_allclose(runs["compiled"][1], runs["numpy"][1], rtol=1e-11, atol=1e-13)
    rtrl = {b: net.gradient(U, Y, method="rtrl", backend=b) for b in ("numpy", "compiled")}
    np.testing.assert_allclose(rtrl["compiled"][1], rtrl["numpy"][1], rtol=1e-11, atol=1e-13)
    J = {b: net.jacobian(U, Y, backend=b)[1] for b in ("numpy", "compiled")}
    np.testing.assert_allclose(J["compiled"], J["numpy"], rtol=1e-11, atol=1e-13)


# --------------------------------------------------------------------------- writer, viz, io
@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_writer_round_trips_the_new_forms(name):
    spec = loads_spec(SPECS[name])
    text = spec_to_yaml(spec)
    assert structure(loads_spec(text)) == structure(spec)
    assert spec_to_yaml(loads_spec(text)) == text


def test_the_writer_keeps_a_gates_default_of_no_bias():
    text = spec_to_yaml(loads_spec(GATES.replace(", bias: true", "")))
    assert "bias" not in text.split("  s:")[1].split("  m:")[0]


def test_a_delayed_memory_source_is_drawn_like_a_delayed_link():
    # The same source read through the same delays by a memory and by a layer link.
    net = dg.loads(GAMMA_LOOP.replace("outputs: [y]", "outputs: [y, h]").replace(
        "layers:\n", 'layers:\n  h: {size: 1, from: {y: "1:2"}}\n'))
    dot = to_dot(net)
    ids = {name: f"n{i}" for i, name in enumerate(net.order)}
    to_memory, = dot.get_edge(ids["y"], ids["g"])
    to_layer, = dot.get_edge(ids["y"], ids["h"])
    assert "TDL 1:2" in to_memory.get("label") and "TDL 1:2" in to_layer.get("label")
    for attr in ("color", "penwidth", "constraint"):
        assert to_memory.get(attr) == to_layer.get(attr), attr
    assert "+ b" in to_dot(dg.loads(GATES)).to_string()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_export_supports_the_new_forms(name, tmp_path):
    net = random_net(SPECS[name], seed=6)
    _check_both(net, tmp_path, random_inputs(net, seed=7))


def test_a_spec_made_in_python_with_a_delayed_gamma_source():
    spec = loads_spec(GAMMA_HOISTED)
    mem = dataclasses.replace(spec.memories[0], source_delays=(1,))
    graph = build_graph(dataclasses.replace(spec, memories=(mem,)))
    assert graph.sizes["g"] == 3 * 2
    (_, _, delays), = [e for e in graph.nx.in_edges("g", data="delays") if e[0] == "u"]
    assert delays == (1,)


def test_openloop_and_closeloop_move_a_delayed_memory_source():
    net = dg.load("specs/gamma_feedback.yaml", seed=1)
    u = np.random.default_rng(2).standard_normal((1, 10, 1))
    y = net.simulate(u)
    opened = net.openloop()
    assert opened.spec.memories[1].source == "y_meas"
    assert opened.spec.memories[1].source_delays == (1, 2)
    # The loop y -> g -> e -> s -> y is open: no component holds both y and g.
    assert not any({"g", "y"} <= set(c.nodes) for c in opened.plan.components)
    # Fed the net's own outputs, the open loop gives the same outputs; closed again, the
    # same net.
    np.testing.assert_allclose(opened.simulate({"u": u, "y_meas": y})["y"], y,
                               rtol=1e-12, atol=1e-14)
    closed = opened.closeloop()
    assert structure(closed.spec) == structure(net.spec)
    np.testing.assert_allclose(closed.simulate(u), y, rtol=1e-12, atol=1e-14)
