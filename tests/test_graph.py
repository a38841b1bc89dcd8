"""The graph stage: whole-graph checks (loops, names, sizes, shapes), size inference, the
simulation order (checked against an independent networkx topological test) and the
networkx multigraph the user sees.
"""
from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, spec_id


def spec_error(text, file="t.yaml"):
    with pytest.raises(dg.SpecError) as info:
        dg.loads(text, file=file)
    return str(info.value), info.value.problems


def line_of(text, fragment):
    """1-based number of the first line of ``text`` containing ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# ----------------------------------------------------------------------------- algebraic loops
LOOP = """\
inputs: {u: 1}
layers:
  a: {size: 2, from: [u, b]}
  b: {size: 2, from: a}
outputs: [b]
"""


def test_algebraic_loop_is_refused_naming_the_cycle_and_place():
    msg, problems = spec_error(LOOP, file="loop.yaml")
    assert len(problems) == 1
    assert "algebraic loop" in msg
    assert "a -> b -> a" in msg or "b -> a -> b" in msg
    m = re.match(r"loop\.yaml:(\d+):(\d+): ", msg)
    assert m, msg
    assert int(m.group(1)) in (line_of(LOOP, "  a:"), line_of(LOOP, "  b:"))
    assert int(m.group(2)) >= 1


def test_the_same_loop_with_a_delay_is_accepted():
    net = dg.loads(LOOP.replace("from: [u, b]", "from: {u: 0, b: 1}"))
    assert net.order == ("u", "a", "b")
    net.simulate(np.ones(5))


def test_delay0_self_loop_is_an_algebraic_loop():
    msg, _ = spec_error("inputs: {u: 1}\nlayers:\n  a: {size: 2, from: {u: 0, a: [0, 1]}}\n"
                        "outputs: [a]\n")
    assert "algebraic loop" in msg and "a -> a" in msg
    assert re.match(r"t\.yaml:3:\d+: ", msg), msg


def test_every_algebraic_loop_is_reported():
    text = """\
inputs: {u: 1}
layers:
  a: {size: 1, from: [u, b]}
  b: {size: 1, from: a}
  c: {size: 1, from: [a, d]}
  d: {size: 1, from: c}
outputs: [d]
"""
    msg, problems = spec_error(text)
    assert len(problems) == 2
    assert ("a -> b -> a" in msg or "b -> a -> b" in msg)
    assert ("c -> d -> c" in msg or "d -> c -> d" in msg)


def test_a_loop_through_a_gamma_memory_still_needs_a_link_delay():
    text = """\
inputs: {u: 1}
memories:
  g: {kind: gamma, from: y, order: 2, mu: 0.5}
layers:
  y: {size: 1, from: [u, g]}
outputs: [y]
"""
    msg, _ = spec_error(text)
    assert "algebraic loop" in msg
    assert "y -> g -> y" in msg or "g -> y -> g" in msg
    net = dg.loads(text.replace("from: [u, g]", "from: {u: 0, g: 1}"))
    assert net.sizes["g"] == 3


# ----------------------------------------------------------------------------- names
def test_unknown_source_and_output_suggest_a_name():
    text = "inputs: {u: 1}\nlayers:\n  y: {size: 1, from: {uu: 0}}\noutputs: [yy]\n"
    msg, problems = spec_error(text)
    assert len(problems) == 2
    assert "unknown source 'uu'" in msg and "did you mean 'u'" in msg
    assert "unknown output 'yy'" in msg and "did you mean 'y'" in msg
    assert re.search(r"^t\.yaml:3:\d+: ", msg, re.M)
    assert re.search(r"^t\.yaml:4:\d+: ", msg, re.M)


def test_unknown_memory_source_is_refused():
    msg, _ = spec_error("inputs: {input: 1}\nmemories:\n  g: {kind: tdl, from: inptu, delays: "
                        "\"0:2\"}\nlayers:\n  y: {size: 1, from: g}\noutputs: [y]\n")
    assert "unknown source 'inptu'" in msg and "did you mean 'input'" in msg


# ----------------------------------------------------------------------------- sizes
def test_size_inference_of_sum_product_and_memories():
    net = dg.loads("""
inputs: {u: 2}
memories:
  g: {kind: gamma, from: u, order: 3, mu: 0.4}
  m: {kind: tdl, from: u, delays: [0, 2, 5]}
layers:
  a: {size: 5, transfer: tanh, from: [g, m]}
  b: {size: 5, transfer: sigmoid, from: u}
  s: {kind: sum, from: [a, b]}
  p: {kind: product, from: {s: 0, a: 1}}
  y: {size: 1, from: p}
outputs: [y]
""")
    assert net.sizes["g"] == (3 + 1) * 2
    assert net.sizes["m"] == 3 * 2
    assert net.sizes["s"] == net.sizes["p"] == 5
    assert net.get("a.W[g]").shape == (5, 8)
    assert net.get("a.W[m]").shape == (5, 6)
    assert not any(n.startswith(("s.", "p.")) for n in net.block_names)
    out = net.simulate(np.random.default_rng(0).standard_normal((2, 9, 2)))
    assert out.shape == (2, 9, 1)


def test_size_inference_through_a_chain_written_backwards():
    net = dg.loads("""
inputs: {u: 3}
layers:
  t: {kind: sum, from: s, transfer: tanh}
  s: {kind: sum, from: {u: [0, 1]}}
  y: {size: 1, from: t}
outputs: [y]
""")
    assert net.sizes["s"] == net.sizes["t"] == 3


def test_identity_size_mismatch_is_refused():
    text = """\
inputs: {u: 1}
layers:
  a: {size: 3, from: u}
  b: {size: 2, from: u}
  s: {kind: sum, from: [a, b]}
outputs: [s]
"""
    msg, _ = spec_error(text)
    assert "identity" in msg and "2" in msg and "3" in msg
    assert re.search(rf"^t\.yaml:{line_of(text, '  s:')}:\d+: ", msg, re.M), msg


def test_full_layer_without_size_is_refused():
    msg, _ = spec_error("inputs: {u: 1}\nlayers:\n  y: {from: u}\noutputs: [y]\n")
    assert "size" in msg and "layers.y" in msg


@pytest.mark.parametrize("link, expected", [
    ('{u: {delays: "0:1", value: [[1, 2, 3], [4, 5, 6]]}}', "(2, 2)"),
    ('{u: {delays: [0, 3, 4], value: [[1, 2]]}}', "(2, 3)"),
    ('{v: {delays: 1, weight: diagonal, value: [[1, 2]]}}', "(2, 1)"),
])
def test_value_shape_mismatch_names_the_expected_shape(link, expected):
    text = f"inputs: {{u: 1, v: 2}}\nlayers:\n  y: {{size: 2, from: {link}}}\noutputs: [y]\n"
    msg, _ = spec_error(text)
    assert expected in msg and "value" in msg
    assert re.match(r"t\.yaml:3:\d+: ", msg), msg


def test_bias_value_shape_mismatch_names_the_expected_shape():
    msg, _ = spec_error("inputs: {u: 1}\nlayers:\n  y: {size: 2, from: u, bias: {value: [1, 2, 3]}}"
                        "\noutputs: [y]\n")
    assert "(2,)" in msg and "bias" in msg


# ----------------------------------------------------------------------------- order
def zero_delay_reads(spec):
    """Independent of dyngraph.graph: (source, target) for every delay-0 read in the spec."""
    edges = [(l.source, layer.name) for layer in spec.layers for l in layer.links if 0 in l.delays]
    for mem in spec.memories:
        if 0 in (mem.source_delays if mem.kind == "gamma" else mem.delays):
            edges.append((mem.source, mem.name))
    return edges


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_order_is_deterministic_and_respects_every_delay0_link(spec):
    net, again = dg.load(spec, seed=0), dg.load(spec, seed=1)
    assert net.order == again.order
    assert net.order == dg.loads(spec.read_text()).order
    names = [i.name for i in net.spec.inputs] + [l.name for l in net.spec.layers] \
        + [m.name for m in net.spec.memories]
    assert sorted(net.order) == sorted(names) and len(set(net.order)) == len(names)
    pos = {n: i for i, n in enumerate(net.order)}
    z = nx.DiGraph(zero_delay_reads(net.spec))
    z.add_nodes_from(names)
    assert nx.is_directed_acyclic_graph(z)
    for s, t in z.edges:
        assert pos[s] < pos[t], f"{s} -> {t} (delay 0) goes backwards in {net.order}"


def test_order_does_not_depend_on_hidden_set_ordering():
    # the same layers written in two orders: each order is topological and stable
    text = """
inputs: {u: 1}
layers:
  y: {size: 1, from: [p, q]}
  q: {size: 2, from: u}
  p: {size: 2, from: u}
outputs: [y]
"""
    orders = {dg.loads(text).order for _ in range(3)}
    assert len(orders) == 1
    order = orders.pop()
    assert order.index("y") > max(order.index("p"), order.index("q"))


# ----------------------------------------------------------------------------- inputs, graph
def test_inputs_and_outputs_are_name_to_size_in_spec_order():
    net = dg.loads("""
inputs:
  zeta: 2
  alpha: {size: 3}
layers:
  m: {size: 4, from: [zeta, alpha]}
  b: {size: 1, from: m}
outputs: [m, b]
""")
    assert list(net.inputs.items()) == [("zeta", 2), ("alpha", 3)]
    assert list(net.outputs.items()) == [("m", 4), ("b", 1)]
    nsp = dg.load([s for s in SPECS if s.stem == "narx_series_parallel"][0])
    assert list(nsp.inputs.items()) == [("u", 1), ("y_meas", 1)]


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_graph_is_a_multidigraph_with_one_edge_per_link(spec):
    net = dg.load(spec)
    g = net.graph
    assert isinstance(g, nx.MultiDiGraph)
    links = [(l.source, layer.name, tuple(l.delays)) for layer in net.spec.layers
             for l in layer.links]
    edges = [(s, t, tuple(d["delays"])) for s, t, d in g.edges(data=True)
             if d.get("link") is not None]
    assert sorted(edges) == sorted(links)
    for name, size in net.sizes.items():
        assert g.nodes[name]["size"] == size


def test_graph_edges_carry_delays_and_memory_edges():
    net = dg.loads("""
inputs: {x: 1}
memories:
  g: {kind: gamma, from: x, order: 2, mu: 0.5}
layers:
  y: {size: 1, bias: false, from: {x: "0:2", y: [1, 2], g: 0}}
outputs: [y]
""")
    g = net.graph
    assert g.number_of_edges("x", "y") == 1
    assert tuple(g.get_edge_data("x", "y")[0]["delays"]) == (0, 1, 2)
    assert tuple(g.get_edge_data("y", "y")[0]["delays"]) == (1, 2)
    assert g.nodes["g"]["kind"] == "gamma" and g.nodes["x"]["kind"] == "input"
    assert g.nodes["y"]["kind"] == "layer"
    assert g.has_edge("x", "g")
    # link edges: x->y, y->y, g->y; memory: x->g (+ its own state loop, marked internal)
    non_internal = [(s, t) for s, t, d in g.edges(data=True) if not d.get("internal")]
    assert sorted(non_internal) == sorted([("x", "y"), ("y", "y"), ("g", "y"), ("x", "g")])
