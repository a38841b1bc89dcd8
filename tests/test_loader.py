"""Tests of the spec loader: every accepted form, every default, and a corpus of bad specs.

Each file in ``tests/malformed/`` starts with one or more ``# expect: LINE:COL: text`` lines;
the loader must report exactly that many problems, each at that position with that text.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dyngraph.language import loader
from dyngraph.language.values import resolve_plain
from dyngraph.language.loader import (
    MAX_DELAY,
    MAX_FILE_BYTES,
    MAX_NODES,
    TRANSFER_ALIASES,
    TRANSFERS,
    load_spec,
    loads_spec,
)
from dyngraph.language.spec import (
    BiasSpec, LayerSpec, LinkSpec, MemorySpec, Problem, Spec, SpecError, Where,
)

MALFORMED = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))
EXPECT_RE = re.compile(r"# expect: (\d+):(\d+): (.+)")

NARX = """\
dyngraph: 1
name: narx
description: NARX network in parallel (closed-loop) form
inputs:
  u: 1                                  # name: size
layers:
  h: {size: 10, transfer: tanh, from: {u: "1:2", y: "1:2"}}
  y: {size: 1, from: h}                 # transfer defaults to linear, bias to true
outputs: [y]
"""

LSTM = """\
inputs: {x: 3}
layers:
  i:  {size: 8, transfer: sigmoid, from: {x: 0, h: 1}}
  f:  {size: 8, transfer: sigmoid, from: {x: 0, h: 1}, bias: {init: 1.0}}
  o:  {size: 8, transfer: sigmoid, from: {x: 0, h: 1}}
  g:  {size: 8, transfer: tanh,    from: {x: 0, h: 1}}
  fc: {kind: product, from: {f: 0, c: 1}}          # f * c(t-1)
  ig: {kind: product, from: [i, g]}
  c:  {kind: sum, from: [fc, ig]}                  # constant error carousel
  tc: {kind: sum, from: c, transfer: tanh}
  h:  {kind: product, from: [o, tc]}
  y:  {size: 1, from: h}
outputs: [y]
"""


def one_layer(body: str, extra: str = "") -> str:
    """A minimal spec with layer ``y`` written as ``body`` (a flow mapping's inside)."""
    return f"inputs: {{u: 1}}\nlayers:\n  y: {{{body}}}\noutputs: [y]\n{extra}"


def layer(body: str, extra: str = "") -> LayerSpec:
    return loads_spec(one_layer(body, extra)).layers[0]


def problems(text: str):
    """The loader's local problems of a fragment (names defined elsewhere are not checked;
    the malformed corpus and the reference tests below check them)."""
    with pytest.raises(SpecError) as info:
        loads_spec(text, "t.yaml", references=False)
    return info.value.problems


def messages(text: str) -> str:
    return "\n".join(str(p) for p in problems(text))


# ---------------------------------------------------------------------------------------
# The malformed corpus
# ---------------------------------------------------------------------------------------

def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_spec(path):
    expected = [EXPECT_RE.match(line) for line in path.read_text().splitlines()
                if line.startswith("# expect:")]
    assert expected and all(expected), f"{path.name}: bad or missing '# expect:' line"
    with pytest.raises(SpecError) as info:
        load_spec(path)
    got = list(info.value.problems)
    report = "\n".join(str(p) for p in got)
    for match in expected:
        line, col, text = int(match[1]), int(match[2]), match[3]
        hits = [p for p in got if (p.where.line, p.where.col) == (line, col) and text in p.message]
        assert hits, f"missing {line}:{col}: {text!r} in\n{report}"
        got.remove(hits[0])
    assert not got, f"unexpected extra problems:\n" + "\n".join(str(p) for p in got)
    # Compiler style, naming the file as it was given.
    for p in info.value.problems:
        assert p.where.file == str(path)
        assert str(p).startswith(f"{path}:{p.where.line}:{p.where.col}: ")


def test_errors_are_collected_not_first_only():
    text = ("inputs: {u: 1}\n"
            "layers:\n"
            "  h: {size: 0, from: u}\n"          # 1: size
            "  y: {size: 1, from: {h: \"2:1\"}, transfer: tanhh}\n"   # 2, 3
            "outputs: [y]\n")
    got = problems(text)
    assert [(p.where.line, p.where.col) for p in got] == [(3, 13), (4, 26), (4, 44)]
    assert [p.context for p in got] == ["layers.h.size", "layers.y.from.h", "layers.y.transfer"]


def test_problems_are_sorted_by_position():
    text = "outputs: [3]\nlayers: {h: {size: x, from: u}}\n"
    got = problems(text)
    assert [(p.where.line, p.where.col) for p in got] == sorted(
        (p.where.line, p.where.col) for p in got)


def test_specerror_is_compiler_style():
    err = SpecError(Problem(Where("specs/x.yaml", 7, 5), "layers.h.from", "bad"))
    assert str(err) == "specs/x.yaml:7:5: layers.h.from: bad"
    assert isinstance(err, ValueError)


# ---------------------------------------------------------------------------------------
# Whole specs from the design
# ---------------------------------------------------------------------------------------

def test_narx_example():
    spec = loads_spec(NARX, "narx.yaml")
    assert isinstance(spec, Spec)
    assert (spec.name, spec.version, spec.file) == ("narx", 1, "narx.yaml")
    assert spec.description.startswith("NARX network")
    assert [(i.name, i.size, i.feedback_of) for i in spec.inputs] == [("u", 1, None)]
    h, y = spec.layers
    assert (h.name, h.kind, h.size, h.transfer, h.net) == ("h", "layer", 10, "tanh", "sum")
    assert [(k.source, k.delays, k.weight, k.learn) for k in h.links] == [
        ("u", (1, 2), "full", True), ("y", (1, 2), "full", True)]
    assert y.transfer == "linear" and y.bias == BiasSpec(where=y.where)
    assert spec.outputs == ("y",)
    assert spec.outputs_where == (Where("narx.yaml", 9, 11),)


def test_positions_of_items():
    spec = loads_spec(NARX, "narx.yaml")
    h = spec.layers[0]
    assert h.where == Where("narx.yaml", 7, 3)                 # the layer's name key
    assert h.links[0].where == Where("narx.yaml", 7, 40)       # the source key in from
    assert h.links[1].where == Where("narx.yaml", 7, 50)
    assert spec.inputs[0].where == Where("narx.yaml", 5, 3)
    spec = loads_spec(one_layer("size: 1, from: u, bias: {init: 0.5}"), "b.yaml")
    assert spec.layers[0].bias.where == Where("b.yaml", 3, 25)  # the bias key


def test_lstm_example_defaults():
    spec = loads_spec(LSTM)
    layers = {m.name: m for m in spec.layers}
    assert layers["f"].bias.init == 1.0
    fc = layers["fc"]
    assert (fc.kind, fc.net, fc.size, fc.transfer) == ("product", "prod", None, "linear")
    assert not fc.bias.enabled and not fc.bias.learn
    assert [(k.source, k.delays, k.weight, k.learn) for k in fc.links] == [
        ("f", (0,), "identity", False), ("c", (1,), "identity", False)]
    c = layers["c"]
    assert (c.kind, c.net, c.size) == ("sum", "sum", None)
    assert [k.source for k in c.links] == ["fc", "ig"]
    assert all(k.weight == "identity" and not k.learn for k in c.links)
    assert layers["tc"].transfer == "tanh"


# ---------------------------------------------------------------------------------------
# from forms
# ---------------------------------------------------------------------------------------

def links(body_from: str):
    return [(k.source, k.delays) for k in layer(f"size: 1, from: {body_from}").links]


def test_from_single_name():
    assert links("u") == [("u", (0,))]


def test_from_list_keeps_order():
    spec = loads_spec("inputs: {u: 1, v: 1}\nlayers:\n  y: {size: 1, from: [v, u]}\n"
                      "outputs: [y]\n")
    assert [(k.source, k.delays) for k in spec.layers[0].links] == [("v", (0,)), ("u", (0,))]


@pytest.mark.parametrize("written, delays", [
    ("0", (0,)),
    ("3", (3,)),
    ("[1, 2]", (1, 2)),
    ("[2, 1, 5]", (2, 1, 5)),            # written order is kept
    ('"1:3"', (1, 2, 3)),
    ("1:3", (1, 2, 3)),                  # unquoted: not sexagesimal
    ('" 0 : 2 "', (0, 1, 2)),            # spaces stripped
    ('"4:4"', (4,)),
    ('[0, "2:4"]', (0, 2, 3, 4)),        # ranges inside a list
    ("", (0,)),                          # {u: } (null) is delay 0
])
def test_from_mapping_delays(written, delays):
    assert links(f"{{u: {written}}}") == [("u", delays)]


def test_from_set_syntax_means_delay_zero():
    spec = loads_spec("inputs: {u: 1, v: 1}\nlayers:\n  y: {size: 1, from: {u, v}}\n"
                      "outputs: [y]\n")
    assert [(k.source, k.delays) for k in spec.layers[0].links] == [("u", (0,)), ("v", (0,))]


def test_from_full_link_options():
    body = ("size: 2, from: {u: {delays: \"0:1\", weight: diagonal, learn: false, "
            "init: 0.25}, y: {delays: 1, weight: identity}}")
    u, y = layer(body).links
    assert u == LinkSpec("u", (0, 1), "diagonal", False, 0.25, None, u.where)
    assert (y.delays, y.weight, y.learn, y.init, y.value) == ((1,), "identity", False, None, None)


def test_from_full_link_defaults():
    (u,) = layer("size: 1, from: {u: {}}").links
    assert (u.delays, u.weight, u.learn, u.init, u.value) == ((0,), "full", True, None, None)


def test_link_value_matrix_and_scalar():
    (u,) = layer("size: 2, from: {u: {delays: [0, 1], value: [[1, -0.5], [.5, 1e-3]]}}").links
    assert u.value == ((1.0, -0.5), (0.5, 0.001))
    assert all(type(x) is float for row in u.value for x in row)
    (u,) = layer("size: 1, from: {u: {value: -2}}").links
    assert u.value == ((-2.0,),)


@pytest.mark.parametrize("rule", ["random", "zeros", "identity", "nguyen-widrow"])
def test_init_rules(rule):
    (u,) = layer(f"size: 1, from: {{u: {{init: {rule}}}}}").links
    assert u.init == rule


def test_init_numbers():
    (u,) = layer("size: 1, from: {u: {init: -0.5}}").links
    assert u.init == -0.5
    (u,) = layer("size: 1, from: {u: {init: 2}}").links
    assert u.init == 2.0 and type(u.init) is float


def test_sum_link_can_be_given_a_diagonal_weight():
    (a,) = loads_spec("inputs: {u: 2}\nlayers:\n  s: {kind: sum, from: {u: {weight: diagonal}}}\n"
                      "outputs: [s]\n").layers[0].links
    assert (a.weight, a.learn) == ("diagonal", True)


# ---------------------------------------------------------------------------------------
# Layers: transfers, kinds, bias, net
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TRANSFERS)
def test_canonical_transfers(name):
    assert layer(f"size: 1, from: u, transfer: {name}").transfer == name


@pytest.mark.parametrize("alias, canonical", sorted(TRANSFER_ALIASES.items()))
def test_transfer_aliases(alias, canonical):
    assert layer(f"size: 1, from: u, transfer: {alias}").transfer == canonical


def test_aliases_table():
    assert TRANSFER_ALIASES == {"purelin": "linear", "tansig": "tanh", "logsig": "sigmoid",
                                "poslin": "relu"}


def test_plain_layer_defaults():
    y = layer("size: 3, from: u")
    assert (y.kind, y.net, y.transfer, y.size) == ("layer", "sum", "linear", 3)
    assert (y.bias.enabled, y.bias.learn, y.bias.init, y.bias.value) == (True, True, None, None)
    assert (y.links[0].weight, y.links[0].learn) == ("full", True)


def test_net_prod_on_plain_layer():
    y = layer("size: 3, from: u, net: prod")
    assert (y.kind, y.net, y.bias.enabled) == ("layer", "prod", True)


@pytest.mark.parametrize("kind, net", [("sum", "sum"), ("product", "prod")])
def test_sum_and_product_defaults(kind, net):
    y = layer(f"kind: {kind}, from: [u]")
    assert (y.kind, y.net, y.size, y.transfer) == (kind, net, None, "linear")
    assert y.bias == BiasSpec(enabled=False, learn=False, where=y.where)
    assert [(k.weight, k.learn) for k in y.links] == [("identity", False)]


def test_sum_may_restate_its_net_and_give_size():
    y = layer("kind: product, net: prod, size: 4, from: u")
    assert (y.net, y.size) == ("prod", 4)


@pytest.mark.parametrize("written, enabled, learn", [("true", True, True),
                                                     ("false", False, False)])
def test_bias_bool(written, enabled, learn):
    b = layer(f"size: 1, from: u, bias: {written}").bias
    assert (b.enabled, b.learn) == (enabled, learn)


def test_bias_mapping():
    b = layer("size: 2, from: u, bias: {value: [1, -0.5], learn: false}").bias
    assert (b.enabled, b.learn, b.init, b.value) == (True, False, None, (1.0, -0.5))
    b = layer("size: 1, from: u, bias: {value: 3}").bias
    assert b.value == (3.0,)
    b = layer("size: 1, from: u, bias: {init: zeros}").bias
    assert (b.init, b.learn) == ("zeros", True)


# ---------------------------------------------------------------------------------------
# Inputs, memories, outputs, top level
# ---------------------------------------------------------------------------------------

def test_inputs_both_forms():
    spec = loads_spec("inputs:\n  u: 2\n  y_meas: {size: 1, feedback_of: y}\n"
                      "layers:\n  y: {size: 1, from: {u: 0, y_meas: \"1:2\"}}\noutputs: y\n")
    assert [(i.name, i.size, i.feedback_of) for i in spec.inputs] == [
        ("u", 2, None), ("y_meas", 1, "y")]
    assert spec.outputs == ("y",)
    assert spec.outputs_where == (Where("<string>", 6, 10),)


def test_gamma_memory():
    spec = loads_spec(one_layer("size: 1, from: g",
                                "memories:\n  g: {kind: gamma, from: u, order: 3, mu: 0.6}\n"
                                "  k: {kind: gamma, from: u, order: 1, learn: false}\n"))
    g, k = spec.memories
    assert g == MemorySpec("g", "gamma", "u", order=3, mu=0.6, learn=True, where=g.where)
    assert (k.mu, k.learn) == (0.5, False)
    assert g.where == Where("<string>", 6, 3)


@pytest.mark.parametrize("mu", ["1e-3", ".5", "1", "1.999"])
def test_gamma_mu_forms(mu):
    spec = loads_spec(one_layer("size: 1, from: g",
                                f"memories:\n  g: {{kind: gamma, from: u, order: 2, mu: {mu}}}\n"))
    assert spec.memories[0].mu == float(mu)


def test_tdl_memory():
    spec = loads_spec(one_layer("size: 1, from: t",
                                "memories:\n  t: {kind: tdl, from: u, delays: \"1:3\"}\n"))
    (t,) = spec.memories
    assert (t.kind, t.source, t.delays) == ("tdl", "u", (1, 2, 3))


def test_version_optional_and_name_default():
    spec = loads_spec("layers: {y: {size: 1, from: {y: 1}}}\noutputs: [y]\n")
    assert (spec.version, spec.name, spec.description, spec.inputs) == (1, "net", "", ())


def test_standard_explicit_tags_allowed():
    spec = loads_spec("name: !!str 5\nlayers: {y: {size: !!int 3, from: {y: 1}}}\n"
                      "memories: {g: {kind: gamma, from: y, order: 1, mu: !!float 1}}\n"
                      "outputs: !!seq [y]\n")
    assert spec.name == "5" and spec.layers[0].size == 3 and spec.memories[0].mu == 1.0


def test_empty_optional_sections():
    spec = loads_spec("inputs:\nmemories:\nlayers: {y: {size: 1, from: {y: 1}}}\noutputs: [y]\n")
    assert spec.inputs == () and spec.memories == ()


# ---------------------------------------------------------------------------------------
# YAML hardening
# ---------------------------------------------------------------------------------------

def test_colon_scalar_is_not_sexagesimal():
    assert yaml.safe_load("d: 1:2") == {"d": 62}        # what we must not do
    assert resolve_plain("1:2") == "1:2"
    assert links("{u: 1:2}") == [("u", (1, 2))]
    assert "got '1:2'" in messages(one_layer("size: 1:2, from: u"))


@pytest.mark.parametrize("text, value", [
    ("12", 12), ("-3", -3), ("+4", 4), ("010", 10), ("1.5", 1.5), ("1e-3", 1e-3),
    (".5", 0.5), ("-0.5", -0.5), ("true", True), ("false", False), ("null", None),
    ("~", None), ("", None), ("yes", "yes"), ("0x10", "0x10"), ("1_000", "1_000"),
    ("tanh", "tanh"), ("2001-01-01", "2001-01-01"),
])
def test_scalar_resolution(text, value):
    got = resolve_plain(text)
    assert got == value and type(got) is type(value)


def test_inf_and_nan_are_refused_as_values():
    text = one_layer("size: 1, from: {u: {value: [[.inf]]}}, bias: {value: -inf}")
    got = problems(text)
    assert len(got) == 2 and all("finite number" in p.message for p in got)


def test_duplicate_keys_name_both_positions():
    text = "layers:\n  y: {size: 1, from: u}\n  y: {size: 2, from: u}\noutputs: [y]\n"
    (p,) = problems(text)
    assert p.where == Where("t.yaml", 3, 3)
    assert "duplicate key 'y'" in p.message and "t.yaml:2:3" in p.message


def test_anchors_and_aliases_refused():
    text = ("layers:\n  a: &base {size: 1, from: u}\n  b: *base\noutputs: [b]\n")
    got = problems(text)
    assert [(p.where.line, p.where.col) for p in got] == [(2, 6), (3, 6)]
    assert "anchor '&base'" in got[0].message and "alias '*base'" in got[1].message


def test_billion_laughs_is_refused_fast():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    got = problems("\n".join(lines) + "\n")
    assert any("alias" in p.message for p in got)


def test_python_tag_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = one_layer("size: 1, from: u",
                     f"name: !!python/object/apply:os.system [\"touch {marker}\"]\n")
    (p,) = problems(text)
    assert "tag '!!python/object/apply:os.system' is not allowed" in p.message
    assert (p.where.line, p.where.col) == (5, 7)
    assert not marker.exists()


def test_did_you_mean():
    text = one_layer("size: 1, from: u, transfr: tanh", "outptus: [y]\n")
    msg = messages(text)
    assert "unknown key 'transfr'; did you mean 'transfer'?" in msg
    assert "unknown key 'outptus'; did you mean 'outputs'?" in msg
    assert "allowed here: size, transfer, net, bias, kind, from" in msg
    assert "did you mean 'full'?" in messages(one_layer("size: 1, from: {u: {weight: Full}}"))


def test_unknown_key_without_close_match_lists_allowed():
    msg = messages(one_layer("size: 1, from: u, colour: red"))
    assert "unknown key 'colour' (allowed here:" in msg


def test_hint_for_link_option_at_layer_level():
    msg = messages(one_layer("size: 1, from: u, delays: 2"))
    assert "'delays' is a link option" in msg


def test_empty_spec():
    (p,) = problems("# nothing\n")
    assert "the spec is empty" in p.message


def test_deep_nesting_refused():
    (p,) = problems("a: " + "[" * 200 + "]" * 200 + "\n")
    assert "nesting deeper than" in p.message


def test_text_too_large():
    text = "description: " + "x" * (MAX_FILE_BYTES + 1) + "\n"
    (p,) = problems(text)
    assert "larger than" in p.message


def test_file_too_large(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("description: " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(SpecError, match="larger than"):
        load_spec(path)


def test_too_many_nodes():
    names = "\n".join(f"  u{i}: 1" for i in range(MAX_NODES))
    text = f"inputs:\n{names}\nlayers:\n  y: {{size: 1, from: u0}}\noutputs: [y]\n"
    (p,) = problems(text)
    assert f"the limit is {MAX_NODES}" in p.message


def test_delay_limit():
    assert links(f"{{u: {MAX_DELAY}}}") == [("u", (MAX_DELAY,))]
    assert "exceeds the limit" in messages(one_layer(f"size: 1, from: {{u: {MAX_DELAY + 1}}}"))


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("layers:\n  y: {size: 1, from: u}\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    (p,) = info.value.problems
    assert (p.where.line, p.where.col) == (3, 10) and "UTF-8" in p.message


# ---------------------------------------------------------------------------------------
# load_spec
# ---------------------------------------------------------------------------------------

def test_load_spec_file(tmp_path):
    path = tmp_path / "narx_model.yaml"
    path.write_text(NARX.replace("name: narx\n", ""))
    spec = load_spec(path)
    assert spec.name == "narx_model" and spec.file == str(path)
    assert spec.layers[0].where.file == str(path)


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(OSError):
        load_spec(tmp_path / "nope.yaml")


# ---------------------------------------------------------------------------------------
# docs/spec.md: every YAML example is accepted by the loader
# ---------------------------------------------------------------------------------------

DOC = Path(__file__).parent.parent / "docs" / "spec.md"
DOC_BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S) if DOC.exists() else []


def test_doc_has_examples():
    assert len(DOC_BLOCKS) >= 10


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[f"block{i}" for i in range(len(DOC_BLOCKS))])
def test_doc_example_loads(block):
    # Fragments show one section; complete them so that the loader's own checks apply.
    text = block
    if not re.search(r"^layers:", text, re.M):
        text += "layers:\n  zz: {size: 1, from: u}\n"
    if not re.search(r"^outputs:", text, re.M):
        text += "outputs: [zz]\n"
    assert isinstance(loads_spec(text, references=False), Spec)


def test_control_character_refused():
    (p,) = problems("layers:\n  y: {size: 1, from: u}\nname: a\x07b\noutputs: y\n")
    assert (p.where.line, p.where.col) == (3, 8)
    assert "'\\x07' is not allowed" in p.message


def test_explicit_kind_layer_still_needs_size():
    (p,) = problems("layers:\n  y: {kind: layer, from: u}\noutputs: y\n")
    assert "needs a size" in p.message and (p.where.line, p.where.col) == (2, 3)


def test_mistyped_kind_reports_only_the_kind():
    (p,) = problems("layers:\n  y: {kind: sumx, from: u}\noutputs: y\n")
    assert "did you mean 'sum'?" in p.message


def test_version_must_be_integer_one():
    (p,) = problems("dyngraph: '1'\nlayers: {y: {size: 1, from: u}}\noutputs: y\n")
    assert "must be the integer 1" in p.message


def test_outputs_mapping_refused():
    (p,) = problems("layers: {y: {size: 1, from: u}}\noutputs: {y: 1}\n")
    assert "outputs must be a name or a list of names" in p.message


# ---------------------------------------------------------------------------------------
# Names used but not defined: reported in the same run as the other problems
# ---------------------------------------------------------------------------------------

def test_unknown_source_reported_with_local_problems():
    text = ("inputs: {u: 1}\nlayers:\n  h: {size: ten, from: {uu: 1}}\n"
            "  y: {size: 1, from: h}\noutputs: [y]\n")
    got = [(p.where.line, p.where.col, p.message) for p in problems_with_names(text)]
    assert got == [(3, 13, "size must be an integer from 1 to 100000, got 'ten'"),
                   (3, 25, "unknown source 'uu' (did you mean 'u'?)")]


def test_reference_to_an_invalid_name_is_not_reported_twice():
    got = problems_with_names("inputs: {u: 1}\nlayers:\n  my-y: {size: 1, from: u}\n"
                              "outputs: [my_y]\n")
    assert [p.message.split(";")[0] for p in got] == ["invalid layer name 'my-y'"]


def test_references_off_for_fragments():
    spec = loads_spec("layers: {y: {size: 1, from: u}}\noutputs: [y]\n", references=False)
    assert spec.layers[0].links[0].source == "u"


def problems_with_names(text):
    with pytest.raises(SpecError) as info:
        loads_spec(text, "t.yaml")
    return info.value.problems


@pytest.mark.parametrize("where, text", [
    ("inputs: {u: BIG}", "an input size 99999999999999999999… (5000 characters) exceeds"),
    ("inputs: {u: 1}\nlayers: {y: {size: 1, from: {u: BIG}}}", "a delay 9999"),
    ("inputs: {u: 1}\nlayers: {y: {size: 1, from: {u: {value: [[BIG]]}}}}",
     "a value element must be a finite number, got 9999"),
])
def test_integer_literal_beyond_python_limit_is_a_positioned_problem(where, text):
    body = where.replace("BIG", "9" * 5000)
    if "layers" not in body:
        body += "\nlayers: {y: {size: 1, from: u}}"
    (p,) = problems_with_names(body + "\noutputs: [y]\n")
    assert text in p.message and p.where.line >= 1 and p.where.col > 1
