"""Spec -> YAML text: the inverse of the loader, in the language's explicit long form."""
from __future__ import annotations

from typing import Any, Dict

import yaml

__all__ = ["spec_to_yaml"]


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors/aliases (the spec loader refuses aliases)."""

    def ignore_aliases(self, data):
        return True


class _Flow(dict):
    """A mapping written on one line ({delays: [1, 2], weight: full, learn: true})."""


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def _init(value):
    return value if isinstance(value, str) else float(value)


def _link(link) -> Dict[str, Any]:
    out: Dict[str, Any] = _Flow({"delays": [int(d) for d in link.delays], "weight": link.weight})
    if link.weight != "identity":
        out["learn"] = bool(link.learn)
        if link.init is not None:
            out["init"] = _init(link.init)
        if link.value is not None:
            out["value"] = [[float(x) for x in row] for row in link.value]
    if link.gradient != "pass":
        out["gradient"] = link.gradient
    return out


def _layer(layer) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if layer.kind != "layer":
        out["kind"] = layer.kind
    if layer.size is not None:
        out["size"] = int(layer.size)
    out["transfer"] = layer.transfer
    if layer.kind == "layer":
        out["net"] = layer.net
    b = layer.bias
    if layer.kind == "layer" or b.enabled:      # a gate's default is no bias
        if not b.enabled:
            out["bias"] = False
        else:
            bias: Dict[str, Any] = _Flow({"learn": bool(b.learn)})
            if b.init is not None:
                bias["init"] = _init(b.init)
            if b.value is not None:
                bias["value"] = [float(x) for x in b.value]
            out["bias"] = bias
    out["from"] = {link.source: _link(link) for link in layer.links}
    if layer.direction != "forward":
        out["direction"] = layer.direction
    return out


def _memory(mem) -> Dict[str, Any]:
    if mem.kind == "gamma":
        source: Any = mem.source
        if tuple(mem.source_delays) != (0,):
            source = _Flow({mem.source: [int(d) for d in mem.source_delays]})
        return _Flow({"kind": "gamma", "from": source, "order": int(mem.order),
                      "mu": float(mem.mu), "learn": bool(mem.learn)})
    return _Flow({"kind": mem.kind, "from": mem.source,
                  "delays": [int(d) for d in mem.delays]})


def spec_to_yaml(spec) -> str:
    """A :class:`~dyngraph.spec.Spec` as spec-language v1 YAML text.

    Every item is written in its explicit long form (links as ``{delays, weight, learn}``),
    so the text loads back (:func:`dyngraph.language.loads_spec`) to the same network: the same
    nodes, order, links, delays, weights, biases and initial values.
    """
    doc: Dict[str, Any] = {"dyngraph": 1, "name": spec.name}
    if spec.description:
        doc["description"] = spec.description
    if spec.inputs:
        doc["inputs"] = {i.name: ({"size": int(i.size), "feedback_of": i.feedback_of}
                                  if i.feedback_of else int(i.size)) for i in spec.inputs}
    doc["layers"] = {layer.name: _layer(layer) for layer in spec.layers}
    if spec.memories:
        doc["memories"] = {m.name: _memory(m) for m in spec.memories}
    doc["outputs"] = list(spec.outputs)
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                     allow_unicode=True, width=100)
    return body
