"""Tests of the diagrams (dyngraph.render): labels, edge styles, safe DOT identifiers, the
unrolled graph's structure, and writing files.

Node labels are read back through pydot (the bold ``<B>name</B>`` part of each HTML label),
so the tests check what a reader of the diagram sees, not how the text was assembled.
"""
from __future__ import annotations

import html
import os
import re
import shutil

import pydot
import pytest

import dyngraph as dg
from dyngraph.viz import render as render_mod
from dyngraph.viz.render import RenderError, format_delays, render, to_dot

from conftest import SPECS, SPEC_DIR, spec_id

# pydot's DOT parser (used to read diagrams back) trips pyparsing 3.3's renaming warnings.
pytestmark = pytest.mark.filterwarnings(r"ignore:'\w+' deprecated - use:DeprecationWarning")

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="graphviz 'dot' is not installed")

NAME_RE = re.compile(r"<B>(.*?)</B>")
ID_RE = re.compile(r"^(n\d+(_t\d+)?|head_t\d+)$")     # never a network name

# Every name is a DOT keyword (valid in a spec, fatal as a raw DOT identifier), and the
# description holds every character that means something in DOT or HTML.
KEYWORDS_SPEC = r"""
name: strict
description: 'tricky <b>"&{x}|\ --> title'
inputs: {node: 2}
memories:
  subgraph: {kind: tdl, from: node, delays: "0:2"}
  digraph: {kind: gamma, from: node, order: 2, mu: 0.3, learn: false}
layers:
  edge: {size: 2, transfer: tanh, from: {subgraph: 0, digraph: 0, graph: {delays: 1, weight: diagonal}}}
  graph: {kind: product, from: {edge: 0, node: 1}}
  strict: {size: 1, from: {graph: "0:1"}}
outputs: [strict, graph]
"""
KEYWORDS = ("node", "subgraph", "digraph", "edge", "graph", "strict")


# --------------------------------------------------------------------------- helpers
def _unquote(value):
    if value is None:
        return None
    value = str(value)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _label(obj) -> str:
    return _unquote(obj.get("label")) or ""


def _names(dot):
    """DOT id -> network node name (and time step for unrolled ids)."""
    out = {}
    for node in _all_nodes(dot):
        m = NAME_RE.search(_label(node))
        if m:
            out[node.get_name()] = html.unescape(m.group(1))
    return out


def _all_nodes(dot):
    nodes = [n for n in dot.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
    for sub in dot.get_subgraphs():
        nodes += _all_nodes(sub)
    return nodes


def _edges(dot, visible=True):
    return [e for e in dot.get_edges()
            if not visible or _unquote(e.get("style")) != "invis"]


def _edge(dot, src, dst):
    """The one folded edge src -> dst, by network names."""
    names = _names(dot)
    found = [e for e in _edges(dot) if names[e.get_source()] == src
             and names[e.get_destination()] == dst]
    assert len(found) == 1, (src, dst, found)
    return found[0]


def _node(dot, name):
    found = [n for n in _all_nodes(dot) if _names(dot).get(n.get_name()) == name]
    assert len(found) == 1, name
    return found[0]


def _parse(text):
    graphs = pydot.graph_from_dot_data(text)
    assert graphs and len(graphs) == 1
    return graphs[0]


def _expected_taps(spec, T):
    """Number of tap edges of the unrolled graph, counted from the spec alone: a link with
    delays D contributes max(T - d, 0) edges per d; a gamma memory reads its source at its
    source delays and its own state at delay 1; a tdl memory reads its delays."""
    count = 0
    for layer in spec.layers:
        for link in layer.links:
            count += sum(max(T - d, 0) for d in link.delays)
    for mem in spec.memories:
        delays = mem.source_delays + (1,) if mem.kind == "gamma" else mem.delays
        count += sum(max(T - d, 0) for d in delays)
    return count


# --------------------------------------------------------------------------- delay text
@pytest.mark.parametrize("delays, text", [
    ((0,), "0"), ((1, 2), "1:2"), ((0, 1, 2, 3, 4), "0:4"), ((1, 2, 5), "1:2,5"),
    ((0, 2, 4), "0,2,4"), ((3, 1), "3,1"), ((1, 2, 3, 7, 8), "1:3,7:8"),
])
def test_format_delays(delays, text):
    assert format_delays(delays) == text


# --------------------------------------------------------------------------- folded
def test_folded_narx_labels_and_feedback_style():
    net = dg.load(SPEC_DIR / "narx_parallel.yaml")
    dot = to_dot(net)
    assert dot.get("rankdir") == "LR"
    h = _label(_node(dot, "h"))
    assert "size 10" in h and "tanh" in h and "Σ" in h and "+ b" in h
    fwd_in, feedback, forward = _edge(dot, "u", "h"), _edge(dot, "y", "h"), _edge(dot, "h", "y")
    assert "TDL 1:2" in _label(fwd_in) and "TDL 1:2" in _label(feedback)
    assert "W 10×2" in _label(feedback)
    assert "d=" not in _label(forward) and "TDL" not in _label(forward)   # delay 0: no label
    # Feedback is coloured and does not constrain the layout; a plain forward link does.
    assert feedback.get("color") != forward.get("color")
    assert _unquote(feedback.get("constraint")) == "false"
    assert forward.get("constraint") is None
    # u -> h is delayed (coloured) but runs forward in the order: it keeps constraining.
    assert fwd_in.get("color") == feedback.get("color")
    assert fwd_in.get("constraint") is None
    # The output has a double border, the hidden layer not.
    assert _unquote(_node(dot, "y").get("peripheries")) == "2"
    assert _node(dot, "h").get("peripheries") is None


def test_fixed_weights_are_dashed_and_learned_ones_solid():
    parity = to_dot(dg.load(SPEC_DIR / "parity.yaml"))     # every weight learn: false
    for e in _edges(parity):
        assert _unquote(e.get("style")) == "dashed"
        assert "fixed" in _label(e)
    assert "b fixed" in _label(_node(parity, "h"))
    assert "hardlim" in _label(_node(parity, "h"))
    assert "d=1" in _label(_edge(parity, "h", "h"))

    gru = to_dot(dg.load(SPEC_DIR / "gru.yaml"))
    diag = _edge(gru, "h", "d")                              # diagonal -1s, learn: false
    assert "diag 8×1 fixed" in _label(diag)
    assert _unquote(diag.get("style")) == "dashed"
    identity = _edge(gru, "hc", "d")
    assert _label(identity) == "<id>" and _unquote(identity.get("style")) == "dashed"
    learned = _edge(gru, "x", "r")
    assert "W 8×3" in _label(learned) and _unquote(learned.get("style")) == "solid"
    assert identity.get("color") != learned.get("color")


def test_gates_and_memories():
    lstm = to_dot(dg.load(SPEC_DIR / "lstm.yaml"))
    assert "×" in _label(_node(lstm, "fc")) and _node(lstm, "fc").get("shape") == "circle"
    assert "+" in _label(_node(lstm, "c")) and _node(lstm, "c").get("shape") == "circle"
    assert "tanh" in _label(_node(lstm, "tc"))
    assert _node(lstm, "h").get("shape") == "circle"
    assert _node(lstm, "i").get("shape") == "box"

    gamma = dg.load(SPEC_DIR / "gamma_ftdnn.yaml")
    gamma.set("g.mu", [0.75])
    g = _label(_node(to_dot(gamma), "g"))
    assert "K=4" in g and "μ=0.75" in g and "size 5" in g      # current μ, not the spec's

    kw = to_dot(dg.loads(KEYWORDS_SPEC))
    assert "TDL 0:2" in _label(_node(kw, "subgraph"))
    assert "(fixed)" in _label(_node(kw, "digraph"))
    assert "diag 2×1" in _label(_edge(kw, "graph", "edge"))
    assert "W 1×4" in _label(_edge(kw, "graph", "strict"))


def test_dot_keyword_names_are_never_raw_ids():
    net = dg.loads(KEYWORDS_SPEC)
    for dot in (to_dot(net), to_dot(net, unroll=1)):
        text = dot.to_string()
        ids = {n.get_name() for n in _all_nodes(dot)}
        assert ids and all(ID_RE.match(i) for i in ids), ids
        for e in dot.get_edges():
            assert ID_RE.match(e.get_source()) and ID_RE.match(e.get_destination())
        assert dot.get_name() == "dyngraph"
        # Names appear only inside labels; the text parses back to the same nodes.
        back = _parse(text)
        assert set(_names(back).values()) == set(KEYWORDS)
        assert len(_all_nodes(back)) == len(ids)
        # The description's special characters are escaped, not markup.
        assert "&lt;b&gt;&quot;&amp;{x}|\\ --&gt; title" in text
        assert "<b>" not in text


@needs_dot
def test_dot_keyword_names_render(tmp_path):
    net = dg.loads(KEYWORDS_SPEC)
    for unroll in (None, 3):
        out = tmp_path / f"kw_{unroll}.svg"
        render(net, out, unroll=unroll)
        svg = out.read_text(encoding="utf-8")
        assert all(f">{k}<" in svg for k in KEYWORDS)


# --------------------------------------------------------------------------- unrolled
def test_unrolled_narx_structure():
    net = dg.load(SPEC_DIR / "narx_parallel.yaml")
    T = 4
    dot = to_dot(net, unroll=T)
    clusters = dot.get_subgraphs()
    assert [c.get_name() for c in clusters] == [f"cluster_t{t}" for t in range(T)]
    names = _names(dot)
    for t, c in enumerate(clusters):
        # One node per network node, in simulation order, labelled with its step.
        members = [n.get_name() for n in _all_nodes(c)]
        assert [names[m] for m in members] == list(net.order)
        assert all(m.endswith(f"_t{t}") for m in members)
        assert all(f"({t})" in _label(n) for n in _all_nodes(c))
    step = {n.get_name(): int(n.get_name().rsplit("_t", 1)[1]) for n in _all_nodes(dot)}
    edges = _edges(dot)
    # u -> h and y -> h at delays 1, 2; h -> y at delay 0: (T-1) + (T-2) twice, plus T.
    assert len(edges) == 2 * ((T - 1) + (T - 2)) + T
    for e in edges:
        src, dst = e.get_source(), e.get_destination()
        d = step[dst] - step[src]
        assert d >= 0
        if d == 0:
            assert (names[src], names[dst]) == ("h", "y") and "d=" not in _label(e)
        else:
            head = _unquote(e.get("headlabel"))
            assert names[dst] == "h" and head == f"<d={d}>" and d in (1, 2)
    assert sum(1 for e in edges if names[e.get_source()] == "y") == (T - 1) + (T - 2)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("T", [1, 3])
def test_unrolled_tap_count(spec, T):
    net = dg.load(spec)
    dot = to_dot(net, unroll=T)
    assert len(dot.get_subgraphs()) == T
    assert len(_names(dot)) == T * len(net.order)            # plus one header per column
    assert len(_all_nodes(dot)) == T * len(net.order) + T
    assert len(_edges(dot)) == _expected_taps(net.spec, T)


@pytest.mark.parametrize("bad", [0, -2, True, 2.5, "3"])
def test_unroll_must_be_a_positive_integer(bad):
    net = dg.load(SPEC_DIR / "fir.yaml")
    with pytest.raises(RenderError, match="unroll"):
        to_dot(net, unroll=bad)


# --------------------------------------------------------------------------- every spec
def test_unrolled_is_a_trellis():
    """Column = time step, row = node: every node keeps its row across the columns."""
    net = dg.load(SPEC_DIR / "gru.yaml")
    dot = to_dot(net, unroll=3)
    names = _names(dot)
    pos = {}
    for node in _all_nodes(dot):
        if node.get_name() in names:
            x, y = (float(v) for v in _unquote(node.get("pos")).rstrip("!").split(","))
            t = int(node.get_name().rsplit("_t", 1)[1])
            pos[(names[node.get_name()], t)] = (x, y)
    for name in net.order:
        assert len({pos[(name, t)][1] for t in range(3)}) == 1          # same row
        assert pos[(name, 0)][0] < pos[(name, 1)][0] < pos[(name, 2)][0]  # columns in time
    rows = [pos[(name, 0)][1] for name in net.order]
    assert rows == sorted(rows, reverse=True)                            # simulation order


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("unroll", [None, 3])
def test_every_spec_draws(spec, unroll, tmp_path):
    net = dg.load(spec)
    dot = to_dot(net, unroll=unroll)
    assert sorted(set(_names(dot).values())) == sorted(net.order)
    if HAVE_DOT:                        # graphviz is the real check that the DOT is valid
        out = tmp_path / "net.svg"
        render(net, out, unroll=unroll)
        head = out.read_bytes()[:200].lstrip()
        assert head.startswith(b"<?xml") or head.startswith(b"<svg")
    else:
        back = _parse(dot.to_string())
        assert sorted(set(_names(back).values())) == sorted(net.order)


# --------------------------------------------------------------------------- files
@needs_dot
@pytest.mark.parametrize("ext, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"),
                                        ("pdf", b"%PDF")])
def test_render_image_formats(tmp_path, ext, magic):
    net = dg.load(SPEC_DIR / "iir.yaml")
    out = tmp_path / f"iir.{ext.upper()}"                     # extension case ignored
    assert render(net, out) == str(out)
    assert out.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [out.name]                 # no temp file left behind


def test_render_dot_text(tmp_path):
    net = dg.load(SPEC_DIR / "lstm.yaml")
    out = tmp_path / "lstm.dot"
    render(net, out, unroll=2)
    assert out.read_text(encoding="utf-8") == to_dot(net, unroll=2).to_string()


@pytest.mark.parametrize("name", ["net.txt", "net", "net.svg.bak"])
def test_render_unknown_extension(tmp_path, name):
    net = dg.load(SPEC_DIR / "fir.yaml")
    with pytest.raises(RenderError) as err:
        render(net, tmp_path / name)
    ext = os.path.splitext(name)[1]
    assert (f"'{ext}'" if ext else "no extension") in str(err.value)
    assert ".svg" in str(err.value)
    assert os.listdir(tmp_path) == []


def test_render_without_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(render_mod.shutil, "which", lambda prog: None)
    net = dg.load(SPEC_DIR / "fir.yaml")
    old = tmp_path / "fir.svg"
    old.write_text("old")
    with pytest.raises(RenderError, match=r"\.svg.*graphviz 'dot'"):
        render(net, old)
    assert old.read_text() == "old"                           # untouched
    render(net, tmp_path / "fir.dot")                         # text needs no graphviz
    assert sorted(os.listdir(tmp_path)) == ["fir.dot", "fir.svg"]


def test_net_methods_delegate(tmp_path):
    net = dg.load(SPEC_DIR / "fir.yaml")
    assert net.to_dot(unroll=2).to_string() == to_dot(net, unroll=2).to_string()
    net.render(tmp_path / "fir.gv")
    assert (tmp_path / "fir.gv").read_text(encoding="utf-8") == to_dot(net).to_string()
