"""Block macros ``kind: lstm`` and ``kind: gru``: what they expand to, that the expansion
computes the equations of each option (against the gate-built catalog specs with copied
weights, hand-written numpy loops and, when installed, torch), that BPTT = RTRL = finite
differences on every variant, that their errors are positioned, and that the expanded spec
printed by ``dyngraph validate --expand`` loads back to the same net.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR, sigmoid
from dyngraph.cli.main import main
from dyngraph.language import SpecError, loads_spec, spec_to_yaml
from dyngraph.language.description import SECTIONS
from test_gradients import check_all, random_problem

NX, S, T, Q = 3, 4, 9, 2

LSTM_VARIANTS = {
    "plain": "",
    "peephole": ", peephole: true",
    "no_forget": ", forget: false",
    "peephole_no_forget": ", peephole: true, forget: false",
}
GRU_FORMS = ("cho", "torch")


def macro_net(kind, options="", size=S, seed=0, outputs="[m, y]"):
    """A net of one macro ``m`` on input x with a linear readout y."""
    text = (f"inputs: {{x: {NX}}}\nlayers:\n  m: {{kind: {kind}, size: {size}, from: x{options}}}\n"
            f"  y: {{size: 1, from: m}}\noutputs: {outputs}\n")
    return dg.loads(text, seed=seed)


def randomise(net, seed):
    net.params = 0.5 * np.random.default_rng(seed).standard_normal(net.n_params)
    return net


def plain(spec):
    """A spec as plain data without positions, to compare specs read from different text."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("where", "outputs_where")}
        if isinstance(x, (list, tuple)):
            return [strip(v) for v in x]
        return x
    d = strip(dataclasses.asdict(spec))
    d.pop("file")
    return d


# --------------------------------------------------------------------------- expansion
def test_lstm_expands_to_named_gate_layers():
    net = macro_net("lstm")
    names = [layer.name for layer in net.spec.layers]
    assert names == ["m_i", "m_f", "m_o", "m_g", "m_fc", "m_ig", "m_c", "m_tc", "m", "y"]
    assert net.param_names[:3] == ["m_i.W[x]", "m_i.W[m]", "m_i.b"]
    assert np.all(net.get("m_f.b") == 1.0)                    # forget bias starts open
    assert net.sizes["m"] == S and list(net.outputs) == ["m", "y"]


@pytest.mark.parametrize("form, made", [
    ("cho", ["m_r", "m_z", "m_rh", "m_hc", "m_d", "m_zd", "m"]),
    ("torch", ["m_r", "m_z", "m_hn", "m_rn", "m_hc", "m_d", "m_zd", "m"]),
])
def test_gru_expands_to_named_gate_layers(form, made):
    net = macro_net("gru", f", form: {form}")
    assert [layer.name for layer in net.spec.layers] == made + ["y"]
    assert "m_d.W[m_hc]" in net.block_names and "m_d.W[m_hc]" not in net.param_names
    np.testing.assert_array_equal(net.get("m_d.W[m_hc]"), -np.ones((S, 1)))


def test_variants_drop_and_add_blocks():
    peep = macro_net("lstm", ", peephole: true")
    assert {"m_i.W[m_c]", "m_f.W[m_c]", "m_o.W[m_c]"} <= set(peep.param_names)
    assert peep.get("m_o.W[m_c]").shape == (S, 1)            # diagonal
    bare = macro_net("lstm", ", forget: false")
    assert not any(n.startswith(("m_f.", "m_fc")) for n in bare.block_names)
    assert not any(layer.name in ("m_f", "m_fc") for layer in bare.spec.layers)


def test_described_defaults_are_the_macros():
    spec = loads_spec("inputs: {x: 1}\nlayers: {m: {kind: lstm, size: 1, from: x}, "
                      "g: {kind: gru, size: 1, from: x}}\noutputs: [m, g]\n")
    names = {layer.name for layer in spec.layers}
    lstm, gru = SECTIONS["lstm"], SECTIONS["gru"]
    assert lstm.key("peephole").default is False and "m_f" in names   # forget by default
    assert not any(link.weight == "diagonal" for layer in spec.layers if layer.name == "m_i"
                   for link in layer.links)
    assert gru.key("form").default == "cho" and "g_rh" in names


def test_macro_output_is_read_like_a_layer():
    """``from: m``, ``from: {m: 1}``, macros feeding macros, delayed input links."""
    net = dg.loads("""
inputs: {x: 2}
layers:
  a: {kind: gru, size: 3, from: {x: "0:1"}, form: torch}
  b: {kind: lstm, size: 2, from: {a: 0, y: 1}}
  y: {size: 1, from: {b: 0, a: 1}}
outputs: [y, a]
""", seed=1)
    assert net.get("a_r.W[x]").shape == (3, 4)              # two taps of x
    assert net.get("b_i.W[y]").shape == (2, 1)
    out = net.simulate(np.random.default_rng(0).standard_normal((T, 2)))
    assert out["y"].shape == (T, 1) and np.all(np.isfinite(out["a"]))


# --------------------------------------------------------------------------- (a) catalog specs
def copy_into(ref, macro, rename, negate=()):
    """Give ``macro`` the values of ``ref``'s learnable blocks under ``rename``'s names."""
    assert sorted(rename(n) for n in ref.param_names) == sorted(macro.param_names)
    for name in ref.param_names:
        value = ref.get(name)
        macro.set(rename(name), -value if name.split(".")[0] in negate else value)


def gate_rename(name):
    """``i.W[h]`` of a catalog spec -> ``h_i.W[h]`` of a macro named h."""
    layer, _, block = name.partition(".")
    block = block.replace("W[rh]", "W[h_rh]")
    return name if layer == "y" else f"h_{layer}.{block}"


def catalog_macro(kind, options=""):
    return dg.loads(f"inputs: {{x: 3}}\nlayers:\n  h: {{kind: {kind}, size: 8, from: x"
                    f"{options}}}\n  y: {{size: 1, from: h}}\noutputs: [y]\n")


def test_lstm_macro_is_catalog_lstm():
    ref = randomise(dg.load(SPEC_DIR / "lstm.yaml"), 1)
    net = catalog_macro("lstm")
    copy_into(ref, net, gate_rename)
    x = np.random.default_rng(2).standard_normal((Q, T, 3))
    np.testing.assert_allclose(net.simulate(x), ref.simulate(x), rtol=1e-13, atol=1e-14)


def test_gru_cho_macro_is_catalog_gru():
    """specs/gru.yaml mixes h = (1 − z) h(t−1) + z n; the cho form h = z h(t−1) + (1 − z) n:
    with z's weights and bias negated, σ(−a) = 1 − σ(a) makes the two the same net."""
    ref = randomise(dg.load(SPEC_DIR / "gru.yaml"), 3)
    net = catalog_macro("gru", ", form: cho")
    copy_into(ref, net, gate_rename, negate=("z",))
    x = np.random.default_rng(4).standard_normal((Q, T, 3))
    np.testing.assert_allclose(net.simulate(x), ref.simulate(x), rtol=1e-13, atol=1e-14)


def test_catalog_lstm_macro_without_peepholes_is_catalog_lstm():
    text = (SPEC_DIR / "lstm_macro.yaml").read_text()
    assert "peephole: true" in text
    net = dg.loads(text.replace("peephole: true", "peephole: false"))
    assert [n for n in net.param_names if "W[h_c]" in n] == []
    assert net.n_params == 4 * (4 * 2 + 4 * 4 + 4) + 5


# --------------------------------------------------------------------------- (c) numpy loops
def lstm_loop(net, x, peephole, forget):
    """h(t) by the LSTM equations of docs/spec.md, one step at a time; x (Q, T, n)."""
    p = {n: net.get(n) for n in net.block_names}
    Qn, Tn, _ = x.shape
    h, c = np.zeros((Qn, S)), np.zeros((Qn, S))
    out = np.zeros((Qn, Tn, S))

    def pre(g, t):
        return x[:, t] @ p[f"m_{g}.W[x]"].T + h @ p[f"m_{g}.W[m]"].T + p[f"m_{g}.b"]

    for t in range(Tn):
        a_i, a_o = pre("i", t), pre("o", t)
        if peephole:
            a_i = a_i + c * p["m_i.W[m_c]"][:, 0]
        i, g = sigmoid(a_i), np.tanh(pre("g", t))
        if forget:
            a_f = pre("f", t) + (c * p["m_f.W[m_c]"][:, 0] if peephole else 0.0)
            c = sigmoid(a_f) * c + i * g
        else:
            c = c + i * g
        if peephole:
            a_o = a_o + c * p["m_o.W[m_c]"][:, 0]
        h = sigmoid(a_o) * np.tanh(c)
        out[:, t] = h
    return out


def gru_loop(net, x, form):
    """h(t) by the GRU equations of each form, one step at a time; x (Q, T, n)."""
    p = {n: net.get(n) for n in net.block_names}
    Qn, Tn, _ = x.shape
    h = np.zeros((Qn, S))
    out = np.zeros((Qn, Tn, S))
    for t in range(Tn):
        r = sigmoid(x[:, t] @ p["m_r.W[x]"].T + h @ p["m_r.W[m]"].T + p["m_r.b"])
        z = sigmoid(x[:, t] @ p["m_z.W[x]"].T + h @ p["m_z.W[m]"].T + p["m_z.b"])
        if form == "cho":
            n = np.tanh(x[:, t] @ p["m_hc.W[x]"].T + (r * h) @ p["m_hc.W[m_rh]"].T
                        + p["m_hc.b"])
        else:
            n = np.tanh(x[:, t] @ p["m_hc.W[x]"].T + p["m_hc.b"]
                        + r * (h @ p["m_hn.W[m]"].T + p["m_hn.b"]))
        h = z * h + (1.0 - z) * n
        out[:, t] = h
    return out


@pytest.mark.parametrize("variant", sorted(LSTM_VARIANTS))
def test_lstm_variants_follow_their_equations(variant):
    options = LSTM_VARIANTS[variant]
    net = randomise(macro_net("lstm", options), 5)
    x = np.random.default_rng(6).standard_normal((Q, T, NX))
    want = lstm_loop(net, x, "peephole" in options, "forget: false" not in options)
    np.testing.assert_allclose(net.simulate({"x": x})["m"], want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("form", GRU_FORMS)
def test_gru_forms_follow_their_equations(form):
    net = randomise(macro_net("gru", f", form: {form}"), 7)
    x = np.random.default_rng(8).standard_normal((Q, T, NX))
    np.testing.assert_allclose(net.simulate({"x": x})["m"], gru_loop(net, x, form),
                               rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- (b) torch
def torch_blocks(kind, rnn, grad=False):
    """Macro block name -> torch value (or gradient) of nn.LSTM / nn.GRU."""
    def get(p):
        return (p.grad if grad else p).detach().numpy().copy()
    Wih, Whh, bih, bhh = (get(p) for p in (rnn.weight_ih_l0, rnn.weight_hh_l0,
                                             rnn.bias_ih_l0, rnn.bias_hh_l0))
    rows = [slice(k * S, (k + 1) * S) for k in range(4)]
    out = {}
    # Both torch biases enter a gate's net input alike: the values add, the gradients are
    # equal (so either is the gradient of their sum).
    both = (lambda k: bih[rows[k]]) if grad else (lambda k: bih[rows[k]] + bhh[rows[k]])
    gates = "ifgo" if kind == "lstm" else "rz"
    for k, gate in enumerate(gates):
        out[f"m_{gate}.W[x]"], out[f"m_{gate}.W[m]"] = Wih[rows[k]], Whh[rows[k]]
        out[f"m_{gate}.b"] = both(k)
    if kind == "gru":
        out.update({"m_hc.W[x]": Wih[rows[2]], "m_hc.b": bih[rows[2]],
                    "m_hn.W[m]": Whh[rows[2]], "m_hn.b": bhh[rows[2]]})
    return out


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_macro_matches_torch(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    Module = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    rnn = Module(NX, S, batch_first=True, dtype=torch.float64)
    net = macro_net(kind, ", form: torch" if kind == "gru" else "", outputs="[m]")
    values = torch_blocks(kind, rnn)
    assert set(values) == set(net.param_names) - {"y.W[m]", "y.b"}
    for name, value in values.items():
        net.set(name, value)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((Q, T, NX))
    h_t, _ = rnn(torch.tensor(x))
    h = net.simulate({"x": x})["m"]
    np.testing.assert_allclose(h, h_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    # F = Σ h ∘ R: autograd's gradient is the sse gradient at targets h − R/2.
    R = rng.standard_normal(h.shape)
    (h_t * torch.tensor(R)).sum().backward()
    grads = torch_blocks(kind, rnn, grad=True)
    learn = [n for n in net.param_names if not n.startswith("y.")]
    index = np.cumsum([0] + [net.get(n).size for n in net.param_names])
    for method in ("bptt", "rtrl"):
        _, g = net.gradient({"x": x}, {"m": h - R / 2}, method=method, loss="sse")
        for name in learn:
            k = net.param_names.index(name)
            np.testing.assert_allclose(g[index[k]:index[k + 1]], grads[name].ravel(),
                                       rtol=1e-9, atol=1e-11, err_msg=f"{method} {name}")


# --------------------------------------------------------------------------- (d) gradients
VARIANTS = ([("lstm", o) for o in LSTM_VARIANTS.values()]
            + [("gru", f", form: {f}") for f in GRU_FORMS])


@pytest.mark.usefixtures("engine_backend")
@pytest.mark.parametrize("kind, options", VARIANTS,
                         ids=[f"lstm_{v}" for v in LSTM_VARIANTS] + [f"gru_{f}" for f in
                                                                     GRU_FORMS])
def test_bptt_equals_rtrl_equals_finite_differences(kind, options):
    net = randomise(macro_net(kind, options, size=3, seed=2), 9)
    U, Y = random_problem(net, seed=3, T=8)
    g = check_all(net, U, Y, "mse")
    assert np.linalg.norm(g) > 0


# --------------------------------------------------------------------------- (e) errors
def spec_error(tmp_path, body):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: {x: 2}\nlayers:\n" + body + "outputs: [y]\n")
    with pytest.raises(SpecError) as info:
        dg.load(path)
    return path, info.value


def at(path, body, line_of, word, nth=0):
    """``file:line:col`` of the ``nth`` occurrence of ``word`` on body line ``line_of``."""
    line = body.splitlines()[line_of]
    col = -1
    for _ in range(nth + 1):
        col = line.index(word, col + 1)
    return f"{path}:{line_of + 3}:{col + 1}"


def test_unknown_option_is_positioned(tmp_path):
    body = "  m: {kind: lstm, size: 3, from: x, peepole: true}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1
    msg = str(err)
    assert msg.startswith(at(path, body, 0, "peepole") + ": layers.m: unknown key 'peepole'")
    assert "did you mean 'peephole'?" in msg
    assert "(allowed here: kind, size, from, peephole, forget)" in msg


def test_layer_option_on_a_macro_is_pointed_at_expand(tmp_path):
    body = "  m: {kind: gru, size: 3, from: x, transfer: relu}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert at(path, body, 0, "transfer") in str(err) and "--expand" in str(err)


def test_bad_form_is_positioned(tmp_path):
    body = "  m: {kind: gru, size: 3, from: x, form: keras}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1
    assert str(err).startswith(at(path, body, 0, "keras") + ": layers.m.form:")
    assert "cho, torch" in str(err)


def test_bad_option_value_is_positioned(tmp_path):
    body = "  m: {kind: lstm, size: 3, from: x, forget: no}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert str(err).startswith(at(path, body, 0, "no}") + ": layers.m.forget: forget must be "
                               "true or false")


def test_missing_size_is_positioned(tmp_path):
    body = "  y: {size: 1, from: m}\n  m: {kind: lstm, from: x}\n"
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1
    assert str(err).startswith(at(path, body, 1, "m") + ": layers.m: lstm 'm' needs a size")


def test_missing_from_is_positioned(tmp_path):
    body = "  m: {kind: gru, size: 2}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert str(err).startswith(at(path, body, 0, "m") + ": layers.m: gru 'm' has no 'from'")


def test_name_clash_names_both_places(tmp_path):
    body = ("  m_c: {size: 3, from: x}\n  m: {kind: lstm, size: 3, from: [x, m_c]}\n"
            "  y: {size: 1, from: m}\n")
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1, str(err)
    msg = str(err)
    assert msg.startswith(at(path, body, 1, "m") + ": layers.m: the lstm block 'm' makes a "
                          "layer 'm_c', but the layer at " + at(path, body, 0, "m_c"))
    assert "rename one of them" in msg


def test_clash_between_two_macros_names_both(tmp_path):
    body = ("  a_g: {kind: gru, size: 2, from: x}\n  a: {kind: lstm, size: 2, from: x}\n"
            "  y: {size: 1, from: [a, a_g]}\n")
    path, err = spec_error(tmp_path, body)
    assert "the lstm block 'a' makes a layer 'a_g', but the gru block at " + at(
        path, body, 0, "a_g") + " has that name" in str(err)


def test_clash_with_an_input(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: {m_i: 2}\nlayers:\n  m: {kind: lstm, size: 2, from: m_i}\n"
                    "outputs: [m]\n")
    with pytest.raises(SpecError) as info:
        dg.load(path)
    assert f"makes a layer 'm_i', but the input at {path}:1:10 has that name" in str(info.value)


def test_own_name_in_from_is_an_error(tmp_path):
    body = "  m: {kind: lstm, size: 2, from: {x: 0, m: 1}}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert str(err).startswith(at(path, body, 0, "m: 1") + ": layers.m.from.m: the lstm "
                               "block reads its own output m(t-1) already")


def test_unknown_source_of_a_macro_is_reported_once(tmp_path):
    body = "  m: {kind: lstm, size: 2, from: xx}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1
    assert str(err).startswith(at(path, body, 0, "xx"))
    assert "unknown source 'xx' (did you mean 'x'?)" in str(err)


def test_graph_problem_of_a_macro_link_is_reported_once(tmp_path):
    body = "  m: {kind: gru, size: 3, from: {x: {weight: diagonal}}}\n  y: {size: 1, from: m}\n"
    path, err = spec_error(tmp_path, body)
    assert len(err.problems) == 1, str(err)
    assert str(err).startswith(at(path, body, 0, "x", nth=0).rsplit(":", 1)[0])
    assert "diagonal weight needs source size 2 equal to layer size 3" in str(err)


def test_macro_options_on_a_plain_layer_are_pointed_at_the_macro():
    with pytest.raises(SpecError, match="option of the LSTM block macro"):
        loads_spec("inputs: {x: 1}\nlayers: {y: {size: 1, from: x, peephole: true}}\n"
                   "outputs: [y]\n")


# --------------------------------------------------------------------------- (f) --expand
@pytest.mark.parametrize("kind, options", VARIANTS,
                         ids=[f"lstm_{v}" for v in LSTM_VARIANTS] + [f"gru_{f}" for f in
                                                                     GRU_FORMS])
def test_expanded_spec_round_trips(kind, options):
    net = macro_net(kind, options)
    text = spec_to_yaml(net.spec)
    again = dg.loads(text)
    assert plain(again.spec) == plain(net.spec)
    assert spec_to_yaml(again.spec) == text


def test_validate_expand_prints_yaml_that_reloads(capsys, tmp_path):
    path = SPEC_DIR / "lstm_macro.yaml"
    assert main(["validate", "--expand", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "kind: lstm" not in out and "h_o:" in out
    again = dg.loads(out, seed=3)
    net = dg.load(path, seed=3)
    assert plain(again.spec) == plain(net.spec) and again.name == "lstm_macro"
    np.testing.assert_array_equal(again.params, net.params)
    x = np.random.default_rng(0).standard_normal((T, 2))
    np.testing.assert_array_equal(again.simulate(x), net.simulate(x))
    expanded = tmp_path / "expanded.yaml"
    expanded.write_text(out)
    assert main(["validate", "--expand", str(expanded)]) == 0
    assert capsys.readouterr()[0] == out                   # a fixed point


def test_validate_expand_reports_spec_errors(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: {x: 1}\nlayers: {m: {kind: gru, size: 2, from: x, form: nope}}\n"
                    "outputs: [m]\n")
    assert main(["validate", "--expand", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{path}:2:" in err and "form" in err


def test_macro_net_store_round_trip(tmp_path):
    net = randomise(macro_net("gru", ", form: torch"), 11)
    net.save(tmp_path / "model")
    back = dg.load(tmp_path / "model")
    np.testing.assert_array_equal(back.params, net.params)
    x = np.random.default_rng(1).standard_normal((T, NX))
    np.testing.assert_array_equal(back.simulate(x)["y"], net.simulate(x)["y"])


# --------------------------------------------------------------------------- schema
@pytest.mark.parametrize("entry, ok", [
    ("{kind: lstm, size: 2, from: x, peephole: true, forget: false}", True),
    ("{kind: gru, size: 2, from: {x: '0:1'}, form: torch}", True),
    ("{kind: lstm, from: x}", False),                            # size missing
    ("{kind: gru, size: 2, from: x, form: keras}", False),
    ("{kind: lstm, size: 2, from: x, form: cho}", False),        # a gru option
    ("{kind: gru, size: 2, from: x, transfer: tanh}", False),    # a layer key
    ("{size: 2, from: x, peephole: true}", False),               # a macro key on a layer
])
def test_schema_knows_the_macros(entry, ok):
    import json

    jsonschema = pytest.importorskip("jsonschema")
    from dyngraph.language import schema
    from dyngraph.language.values import ValueReader, plain as plain_data
    from dyngraph.language.yaml_tree import compose
    text = f"inputs: {{x: 1}}\nlayers: {{m: {entry}}}\noutputs: [m]\n"
    data = plain_data(ValueReader("<t>").tree(compose(text, "<t>"), ""))
    validator = jsonschema.Draft202012Validator(json.loads(schema.schema_path().read_text()))
    assert validator.is_valid(data) is ok
    try:
        loads_spec(text)
        loaded = True
    except SpecError:
        loaded = False
    assert loaded is ok                                   # the loader agrees
