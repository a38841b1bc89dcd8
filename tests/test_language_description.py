"""The spec language written once: the description drives the loader, the docs tables and the
JSON Schema, and nothing lets them drift apart."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from dyngraph.language import description, reference, schema
from dyngraph.language.description import REQUIRED, SECTIONS
from dyngraph.language.loader import load_spec, loads_spec
from dyngraph.language.spec import SpecError
from dyngraph.language.values import ValueReader, plain
from dyngraph.language.yaml_tree import compose

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
MALFORMED = sorted((ROOT / "tests" / "malformed").glob("*.yaml"))

# Malformed files whose problems a JSON Schema cannot see, and why. Every other file of the
# corpus must be rejected by the schema; a new file must be put in one class or the other.
NOT_SCHEMA_LEVEL = {
    "anchor_alias": "anchors and aliases are YAML constructs, refused before any schema",
    "custom_tags": "tags are YAML constructs",
    "python_tag": "tags are YAML constructs",
    "duplicate_layer": "a duplicate key is lost when YAML becomes data",
    "duplicate_link_key": "a duplicate key is lost when YAML becomes data",
    "duplicate_delays": "a delay listed twice (1 and \"1:3\") needs the delays expanded",
    "name_collision": "one namespace across three sections",
    "multi_document": "not one YAML document",
    "tab_indent": "not YAML",
    "yaml_syntax": "not YAML",
}


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(json.loads(schema.schema_path().read_text()))


def as_data(path):
    """The spec as plain data, read by dyngraph's scalar rules (YAML 1.2-like, as editors')."""
    reader = ValueReader(str(path))
    return plain(reader.tree(compose(path.read_text(), str(path)), ""))


# --------------------------------------------------------------------------- currency

def test_shipped_schema_is_current():
    assert schema.schema_path().read_text(encoding="utf-8") == schema.schema_text(), (
        "dyngraph/language/schema.json is stale: python -m dyngraph.language.schema > "
        "dyngraph/language/schema.json")


def test_docs_tables_are_current():
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert reference.update(text) == text, (
        "docs/spec.md's generated tables are stale: python -m dyngraph.language.reference")


@pytest.mark.parametrize("table", sorted(reference.TABLES))
def test_every_table_is_in_the_docs(table):
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert f"<!-- generated: {table} -->" in text


def test_update_replaces_a_stale_table():
    stale = "x\n<!-- generated: gamma -->\n| old |\n<!-- end generated -->\ny\n"
    new = reference.update(stale)
    assert "| old |" not in new and "| `order` | **required** |" in new


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(schema.json_schema())


def test_schema_is_package_data():
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schema.json" in cfg["tool"]["setuptools"]["package-data"]["dyngraph.language"]


# --------------------------------------------------------------------------- the schema

@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_schema_accepts_every_catalog_spec(path, validator):
    errors = [e.message for e in validator.iter_errors(as_data(path))]
    assert not errors, errors


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_schema_rejects_the_schema_level_errors_of_the_corpus(path, validator):
    if path.stem in NOT_SCHEMA_LEVEL:
        pytest.skip(NOT_SCHEMA_LEVEL[path.stem])
    assert not validator.is_valid(as_data(path))


def test_not_schema_level_list_names_corpus_files():
    assert set(NOT_SCHEMA_LEVEL) <= {p.stem for p in MALFORMED}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_schema_knows_every_key(section):
    text = schema.schema_text()
    for key in SECTIONS[section].keys:
        assert f'"{key.name}"' in text


@pytest.mark.parametrize("fragment, ok", [
    ("layers: {y: {kind: sum, from: u}}", True),           # size inferred
    ("layers: {y: {from: u}}", False),                     # a plain layer needs a size
    ("layers: {y: {kind: sum, from: u, bias: true}}", True),   # a gate may have a bias
    ("layers: {y: {kind: sum, from: u, net: prod}}", False),   # its kind is its net
    ("layers: {y: {kind: product, from: u, net: prod}}", True),
    ("memories: {g: {kind: gamma, from: {u: '1:2'}, order: 2}}", True),
    ("memories: {g: {kind: tdl, from: {u: '0:3'}}}", True),
    ("memories: {g: {kind: tdl, from: {u: 0, y: 1}}}", False),
    ("memories: {g: {kind: gamma, from: {u: {weight: full}}, order: 1}}", False),
    ("layers: {y: {size: 1, from: {u: '1:3'}}}", True),
    ("layers: {y: {size: 1, from: {u: {delays: [0, '2:4'], weight: diagonal}}}}", True),
    ("layers: {y: {size: 1, from: {u: {wieght: full}}}}", False),
    ("memories: {g: {kind: gamma, from: u, order: 2, mu: 2.0}}", False),
    ("memories: {g: {kind: tdl, from: u, delays: 1, order: 2}}", False),
])
def test_schema_cases(fragment, ok, validator, tmp_path):
    text = "inputs: {u: 1}\n" + fragment + "\n"
    if "layers" not in fragment:
        text += "layers: {y: {size: 1, from: g}}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text + "outputs: [y]\n")
    assert validator.is_valid(as_data(path)) is ok


# --------------------------------------------------------------------------- the loader

SPEC_OF = {
    "top": "{key}: 1\ninputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: u}}}}\noutputs: [y]\n",
    "input": "inputs: {{u: {{size: 1, {key}: 1}}}}\nlayers: {{y: {{size: 1, from: u}}}}\n"
             "outputs: [y]\n",
    "layer": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: u, {key}: 1}}}}\noutputs: [y]\n",
    "link": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: {{u: {{{key}: 1}}}}}}}}\n"
            "outputs: [y]\n",
    "bias": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: u, bias: {{{key}: 1}}}}}}\n"
            "outputs: [y]\n",
    "gamma": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: g}}}}\n"
             "memories: {{g: {{kind: gamma, from: u, order: 1, {key}: 1}}}}\noutputs: [y]\n",
    "tdl": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: g}}}}\n"
           "memories: {{g: {{kind: tdl, from: u, delays: 1, {key}: 1}}}}\noutputs: [y]\n",
    "lstm": "inputs: {{u: 1}}\nlayers: {{m: {{kind: lstm, size: 2, from: u, {key}: 1}}}}\n"
            "outputs: [m]\n",
    "gru": "inputs: {{u: 1}}\nlayers: {{m: {{kind: gru, size: 2, from: u, {key}: 1}}}}\n"
           "outputs: [m]\n",
}


def test_every_section_has_a_sample():
    assert set(SPEC_OF) == set(SECTIONS)


@pytest.mark.parametrize("section, key", [(s, k.name) for s in SECTIONS
                                          for k in SECTIONS[s].keys])
def test_loader_allows_exactly_the_described_keys(section, key):
    """A misspelt key gets the described key as its did-you-mean, and the list of allowed
    keys in the message is the description's."""
    typo = key[:-1] + key[-1].upper() * 2 if len(key) > 3 else key + "x"
    with pytest.raises(SpecError) as info:
        loads_spec(SPEC_OF[section].format(key=typo))
    hits = [p.message for p in info.value.problems if f"unknown key '{typo}'" in p.message]
    assert hits, str(info.value)
    assert f"did you mean '{key}'?" in hits[0]
    assert f"(allowed here: {', '.join(SECTIONS[section].names())})" in hits[0]


@pytest.mark.parametrize("section, key", [(s, k.name) for s in SECTIONS
                                          for k in SECTIONS[s].keys if k.type == "choice"])
def test_loader_choices_are_the_described_ones(section, key):
    if key == "kind" and section in ("gamma", "tdl", "lstm", "gru"):
        text = SPEC_OF[section].replace(f"kind: {section}", "kind: nope").format(key="learn")
    elif key == "kind":
        text = SPEC_OF[section].format(key="kind").replace("kind: 1", "kind: nope")
    else:
        text = SPEC_OF[section].format(key=key).replace(f"{key}: 1", f"{key}: nope")
    with pytest.raises(SpecError) as info:
        loads_spec(text)
    choices = SECTIONS[section].key(key).choices
    assert any("allowed here: " + ", ".join(choices) in p.message
               for p in info.value.problems), str(info.value)


@pytest.mark.parametrize("section, key", [(s, k.name) for s in SECTIONS
                                          for k in SECTIONS[s].keys if k.type == "int"])
def test_loader_ranges_are_the_described_ones(section, key):
    k = SECTIONS[section].key(key)
    fill = {"input": "inputs: {{u: {{size: {v}}}}}\nlayers: {{y: {{size: 1, from: u}}}}\n",
            "layer": "inputs: {{u: 1}}\nlayers: {{y: {{size: {v}, from: u}}}}\n",
            "gamma": "inputs: {{u: 1}}\nlayers: {{y: {{size: 1, from: g}}}}\n"
                     "memories: {{g: {{kind: gamma, from: u, order: {v}}}}}\n",
            "lstm": "inputs: {{u: 1}}\nlayers: {{y: {{kind: lstm, size: {v}, from: u}}}}\n",
            "gru": "inputs: {{u: 1}}\nlayers: {{y: {{kind: gru, size: {v}, from: u}}}}\n",
            }[section]
    for v, ok in ((k.lo, True), (k.hi, True), (k.lo - 1, False), (k.hi + 1, False)):
        text = fill.format(v=v) + "outputs: [y]\n"
        if ok:
            loads_spec(text)
        else:
            with pytest.raises(SpecError):
                loads_spec(text)


def test_described_defaults_are_the_loaders():
    spec = loads_spec("inputs: {u: 1}\nlayers: {y: {size: 1, from: {u: {}}}}\n"
                      "memories: {g: {kind: gamma, from: u, order: 1}}\noutputs: [y]\n")
    layer, link, gamma = spec.layers[0], spec.layers[0].links[0], spec.memories[0]
    L, K, G = SECTIONS["layer"], SECTIONS["link"], SECTIONS["gamma"]
    assert layer.transfer == L.key("transfer").default and layer.net == L.key("net").default
    assert layer.kind == L.key("kind").default and layer.bias.enabled is L.key("bias").default
    assert link.delays == (K.key("delays").default,) and link.weight == K.key("weight").default
    assert gamma.mu == G.key("mu").default and gamma.learn is G.key("learn").default


def test_description_rejects_an_unknown_value_type():
    with pytest.raises(ValueError, match="unknown value type"):
        description.Key("x", "colour", "a colour")


def test_every_required_key_is_shown_required():
    for section in SECTIONS.values():
        table = reference.key_table(section)
        for key in section.keys:
            if key.required and not key.shown_default:
                assert f"| `{key.name}` | **required** |" in table


def test_corpus_specs_are_loaded_files(tmp_path):
    # load_spec and loads_spec agree on a catalog spec (the schema tests read files too).
    path = SPECS[0]
    assert load_spec(path) == loads_spec(path.read_text(), str(path), name=path.stem)
