"""The published JSON Schema of the spec language, generated from its description.

The schema file ships inside the package (``dyngraph/language/schema.json``, see
:func:`schema_path`); a test keeps it equal to :func:`json_schema`. Editors with a YAML
language server give completion and inline errors when a spec starts with::

    # yaml-language-server: $schema=<path or URL of schema.json>

The schema says what a table can say (keys, types, ranges, choices, required keys); the
loader checks more (duplicate keys, YAML 1.1 traps, names used but not defined, delays
listed twice, exclusive keys) and gives every problem a position, so the loader stays the
judge and the schema an editor's aid.

Examples
--------
>>> schema = json_schema()
>>> sorted(schema["properties"])[:3]
['description', 'dyngraph', 'inputs']
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

from .description import (INIT_RULES, LAYER_KINDS, MACRO_KINDS, MAX_DELAY, NAME_PATTERN,
                          RANGE_PATTERN, SECTIONS, Key, Section)

__all__ = ["json_schema", "schema_text", "schema_path"]

SCHEMA_ID = "https://dyngraph.dev/schema/spec-1.json"


def schema_path() -> Path:
    """Where the shipped schema file is."""
    return Path(__file__).with_name("schema.json")


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, two-space indent)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def json_schema() -> Dict:
    """The JSON Schema (draft 2020-12) of spec language version 1."""
    top = SECTIONS["top"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dyngraph spec (language version 1)",
        "description": "A dynamic network: inputs, layers with tapped delay lines, memories "
                       "and outputs. See docs/spec.md.",
        **_object(top),
        "$defs": _defs(),
    }
    return schema


def _object(section: Section, required_extra=(), drop=()) -> Dict:
    keys = [k for k in section.keys if k.name not in drop]
    out = {"type": "object",
           "properties": {k.name: _describe(_value(k), k) for k in keys},
           "additionalProperties": False}
    required = [k.name for k in keys if k.required and k.name not in ("size",)]
    required += [r for r in required_extra if r not in required]
    if required:
        out["required"] = required
    return out


def _describe(fragment: Dict, key: Key) -> Dict:
    text = key.meaning.replace("`", "")
    return {"description": text, **fragment}


def _value(key: Key) -> Dict:
    t = key.type
    if t == "version":
        return {"const": 1}
    if t == "text":
        return {"type": ["string", "number", "boolean", "null"]}
    if t == "int":
        return {"type": "integer", "minimum": key.lo, "maximum": key.hi}
    if t == "number":
        out = {"type": "number"}
        if key.above is not None:
            out["exclusiveMinimum"] = key.above
        if key.below is not None:
            out["exclusiveMaximum"] = key.below
        return out
    if t == "bool":
        return {"type": "boolean"}
    if t == "choice":
        return {"enum": list(key.choices) + list(key.aliases)}
    if t in ("name", "delays", "init", "matrix", "vector", "bias", "from", "source",
             "names"):
        return {"$ref": f"#/$defs/{t}"}
    if t in ("inputs", "layers", "memories"):
        return {"$ref": f"#/$defs/{t}"}
    raise ValueError(f"no schema for value type {t}")


def _defs() -> Dict:
    name = {"type": "string", "pattern": NAME_PATTERN}
    delay = {"type": "integer", "minimum": 0, "maximum": MAX_DELAY}
    delay_range = {"type": "string", "pattern": RANGE_PATTERN}
    number = {"type": "number"}
    layer = _object(SECTIONS["layer"], required_extra=("from",))
    # Only a plain layer needs a size; a gate's kind is its net, restated or left out.
    layer["if"] = {"properties": {"kind": {"enum": ["sum", "product"]}}, "required": ["kind"]}
    layer["then"] = {"anyOf": [
        {"properties": {"kind": {"const": gate}, "net": {"const": net}}}
        for gate, net in (("sum", "sum"), ("product", "prod"))]}
    layer["else"] = {"required": ["size"]}
    # A macro kind makes the entry a macro, with its own keys (the defs below).
    layer["properties"]["kind"]["enum"] = list(LAYER_KINDS)
    macros = {}
    for kind in MACRO_KINDS:
        obj = _object(SECTIONS[kind], required_extra=("size",))
        obj["properties"]["kind"] = {"const": kind, "description": f"an {kind} block macro"}
        macros[kind] = obj
    memories = []
    for kind in ("gamma", "tdl"):
        obj = _object(SECTIONS[kind])
        obj["properties"]["kind"] = {"const": kind, "description": f"a {kind} memory"}
        memories.append(obj)
    return {
        "name": name,
        "names": {"anyOf": [name, {"type": "array", "items": name, "minItems": 1,
                                   "uniqueItems": True}]},
        "delays": {"anyOf": [delay, delay_range,
                             {"type": "array", "minItems": 1,
                              "items": {"anyOf": [delay, delay_range]}}]},
        "init": {"anyOf": [number, {"enum": list(INIT_RULES)}]},
        "matrix": {"anyOf": [number, {"type": "array", "minItems": 1, "items": {
            "type": "array", "minItems": 1, "items": number}}]},
        "vector": {"anyOf": [number, {"type": "array", "minItems": 1, "items": number}]},
        "bias": {"anyOf": [{"type": "boolean"}, _object(SECTIONS["bias"])]},
        "link": _object(SECTIONS["link"]),
        "from": {"anyOf": [
            name,
            {"type": "array", "items": name, "minItems": 1, "uniqueItems": True},
            {"type": "object", "minProperties": 1, "propertyNames": name,
             "additionalProperties": {"anyOf": [{"$ref": "#/$defs/delays"}, {"type": "null"},
                                                {"$ref": "#/$defs/link"}]}},
        ]},
        # A memory's from: the same forms held to one source, with delays and no weights.
        "source": {"anyOf": [
            name,
            {"type": "array", "items": name, "minItems": 1, "maxItems": 1},
            {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": name,
             "additionalProperties": {"anyOf": [
                 {"$ref": "#/$defs/delays"}, {"type": "null"},
                 {"type": "object", "additionalProperties": False,
                  "properties": {"delays": {"$ref": "#/$defs/delays"}}}]}},
        ]},
        "input": _object(SECTIONS["input"], required_extra=("size",)),
        "inputs": {"anyOf": [{"type": "null"}, {
            "type": "object", "propertyNames": name,
            "additionalProperties": {"anyOf": [_value(SECTIONS["input"].key("size")),
                                               {"$ref": "#/$defs/input"}]}}]},
        "layer": layer,
        **macros,
        "layers": {"type": "object", "minProperties": 1, "propertyNames": name,
                   "additionalProperties": {"anyOf": [{"$ref": f"#/$defs/{k}"} for k in
                                                      ("layer",) + MACRO_KINDS]}},
        "memory": {"oneOf": memories},
        "memories": {"anyOf": [{"type": "null"}, {
            "type": "object", "propertyNames": name,
            "additionalProperties": {"$ref": "#/$defs/memory"}}]},
    }


if __name__ == "__main__":   # python -m dyngraph.language.schema > schema.json
    print(schema_text(), end="")
