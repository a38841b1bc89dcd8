"""Random valid networks: BPTT == RTRL == finite differences on whatever hypothesis builds.

The strategy writes spec text (YAML), so the loader, graph checks, plan and both engines all
run on it. It draws 1–2 inputs, 1–4 layers (plain layers with random transfers, nets, biases
and weights, or sum / product gates, with or without a bias), sometimes a gamma or tdl
memory, links with random delay sets (written in random order), feedback links with delays
>= 1, and fixed blocks. Memories are written in the one `from` grammar of layers: their
source as a name, a one-item list or a mapping to delays (a tdl's taps in `from` or in
`delays`), and sometimes a feedback memory that reads a layer through delays >= 1 and is
read back at delay 0, so only its delayed source breaks the loop. A delay-0 link otherwise
only goes from an earlier-declared node to a later one, so there is no algebraic loop. On
failure hypothesis prints the spec (``note``).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import dyngraph as dg

# Every test here runs on both engine backends (the numpy reference and the compiled one).
pytestmark = pytest.mark.usefixtures("engine_backend")

T, Q = 6, 2
EPS = 1e-6
ENGINE_RTOL = 1e-9
FD_RTOL = 1e-5
TRANSFERS = ["tanh", "sigmoid", "linear", "softplus", "softmax"]


def _delays(draw, lo):
    """A non-empty set of distinct delays in lo..3, in random written order, mostly one."""
    n = draw(st.sampled_from([1, 1, 1, 2, 3]))
    return draw(st.lists(st.integers(lo, 3), min_size=1, max_size=n, unique=True))


def _flow(items):
    return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"


def _link_text(draw, src_size, size, gate, delays):
    options = [("delays", list(delays))]
    if not gate:
        weights = ["full"] + (["diagonal", "identity"] if src_size == size else [])
        weight = draw(st.sampled_from(weights))
        options.append(("weight", weight))
        if weight != "identity" and draw(st.integers(0, 4)) == 0:
            options.append(("learn", "false"))
    return _flow(options)


def _memory_text(draw, name, src, m, lo):
    """A gamma or tdl memory on ``src`` (size m) in a random form of the from grammar, its
    delays >= lo -> (line, size)."""
    delays = _delays(draw, lo)
    if draw(st.booleans()):
        K = draw(st.integers(1, 3))
        mu = draw(st.sampled_from([0.3, 0.5, 0.8]))
        learn = draw(st.sampled_from(["true", "true", "false"]))
        if delays == [0]:
            source = draw(st.sampled_from([src, f"[{src}]", f"{{{src}: 0}}"]))
        else:
            source = draw(st.sampled_from([f"{{{src}: {delays}}}",
                                           f"{{{src}: {{delays: {delays}}}}}"]))
        return (f"  {name}: {{kind: gamma, from: {source}, order: {K}, mu: {mu}, "
                f"learn: {learn}}}", (K + 1) * len(delays) * m)
    form = draw(st.sampled_from(["from", "delays", "zero"]))
    if form == "from":
        body = f"from: {{{src}: {delays}}}"
    else:
        body = f"from: {src if form == 'delays' else f'{{{src}: 0}}'}, delays: {delays}"
    return f"  {name}: {{kind: tdl, {body}}}", len(delays) * m


@st.composite
def spec_texts(draw):
    order = []                       # (name, size): every delay-0 link goes forward in it
    lines = ["dyngraph: 1", "name: random", "inputs:"]
    for i in range(draw(st.integers(1, 2))):
        size = draw(st.integers(1, 2))
        order.append((f"u{i}", size))
        lines.append(f"  u{i}: {size}")

    n_layers = draw(st.integers(1, 4))
    memory_before = draw(st.one_of(st.none(), st.integers(0, n_layers - 1)))
    memory_lines, layers = [], []
    for i in range(n_layers):
        if memory_before == i:
            src, m = draw(st.sampled_from(order))
            line, size = _memory_text(draw, "m0", src, m, 0)
            memory_lines.append(line)
            order.append(("m0", size))
        kind = draw(st.sampled_from(["layer", "layer", "layer", "sum", "product"]))
        if kind == "layer":
            size = draw(st.integers(1, 3))
        else:                        # a gate's identity links need sources of its size
            size = draw(st.sampled_from(sorted({s for _, s in order})))
        layers.append({"name": f"l{i}", "kind": kind, "size": size, "pos": len(order)})
        order.append((f"l{i}", size))
    # A feedback memory: it reads a layer through delays >= 1, so layers may read it at
    # delay 0 (instant) and the loop through it is broken by its source's delay alone.
    instant = set()
    if draw(st.integers(0, 2)) == 0:
        src, m = draw(st.sampled_from([(l["name"], l["size"]) for l in layers]))
        line, size = _memory_text(draw, "m1", src, m, 1)
        memory_lines.append(line)
        order.append(("m1", size))
        instant.add("m1")

    lines.append("layers:")
    for layer in layers:
        name, kind, size, pos = layer["name"], layer["kind"], layer["size"], layer["pos"]
        gate = kind != "layer"
        fits = (lambda s: s == size) if gate else (lambda s: True)
        earlier = [(n, s) for n, s in order[:pos] if fits(s)]
        later = [(n, s) for n, s in order[pos:] if fits(s)]     # itself included
        links = []
        forward = draw(st.lists(st.sampled_from(earlier), min_size=1,
                                max_size=min(2, len(earlier)), unique=True))
        for src, s in forward:
            links.append((src, _link_text(draw, s, size, gate, _delays(draw, 0))))
        if later and draw(st.booleans()):
            src, s = draw(st.sampled_from(later))
            lo = 0 if src in instant else 1
            links.append((src, _link_text(draw, s, size, gate, _delays(draw, lo))))
        items = [("size", size), ("transfer", draw(st.sampled_from(TRANSFERS)))]
        if gate:
            items.insert(0, ("kind", kind))
            bias = draw(st.sampled_from([None, None, "true", "{learn: false}", "{init: 0.5}"]))
            if bias is not None:
                items.append(("bias", bias))
        else:
            items.append(("net", draw(st.sampled_from(["sum", "sum", "prod"]))))
            items.append(("bias", draw(st.sampled_from(["true", "false", "{learn: false}"]))))
        lines.append(f"  {name}:")
        lines.extend(f"    {k}: {v}" for k, v in items)
        lines.append("    from:")
        lines.extend(f"      {src}: {text}" for src, text in links)
    if memory_lines:
        lines.append("memories:")
        lines.extend(memory_lines)
    outputs = [layers[-1]["name"]]
    if len(layers) > 1 and draw(st.booleans()):
        outputs.append(draw(st.sampled_from([l["name"] for l in layers[:-1]])))
    lines.append(f"outputs: [{', '.join(outputs)}]")
    return "\n".join(lines) + "\n"


def _rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else np.linalg.norm(a - b) / scale


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=spec_texts(), seed=st.integers(0, 1000))
def test_random_graph_gradients(text, seed):
    note(text)
    net = dg.loads(text, seed=seed)
    rng = np.random.default_rng(seed)
    U = {k: rng.standard_normal((Q, T, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((Q, T, n)) for k, n in net.outputs.items()}
    lb, gb = net.gradient(U, Y, method="bptt")
    lr, gr = net.gradient(U, Y, method="rtrl")
    assert np.isfinite(lb) and lb == lr
    assert _rel(gb, gr) <= ENGINE_RTOL, (gb, gr)
    if not net.n_params:
        return
    v = rng.standard_normal(net.n_params)
    theta = net.params

    def loss_at(th):
        net.params = th
        out = net.simulate(U)
        return sum(np.mean((Y[o] - out[o]) ** 2) * Y[o].size for o in Y) / \
            sum(y.size for y in Y.values())

    fd = (loss_at(theta + EPS * v) - loss_at(theta - EPS * v)) / (2 * EPS)
    net.params = theta
    gv = float(gb @ v)
    note(f"g.v = {gv!r}, finite difference = {fd!r}, loss = {lb!r}")
    assert abs(gv - fd) <= FD_RTOL * abs(gv) + 1e-8 * max(1.0, abs(lb))
