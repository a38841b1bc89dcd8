"""closeloop / openloop: NARX between series-parallel (open-loop) and parallel (closed-loop).

Series-parallel form feeds the *measured* output back as an input declared with
``feedback_of: <layer>``; parallel form feeds the layer's own output back. Converting keeps
every link's delays and weights (MATLAB's ``closeloop``/``openloop``): only the links'
source changes, so a delay-0 feedback link becomes an algebraic loop and is refused.

``detach`` rewires the same way for ``gradient: stop`` links: the net whose true gradient
the stopped one is, with each stopped source read from an input instead.
"""
from __future__ import annotations

import dataclasses

from .build import build_graph
from .params import weight_block_name
from ..language.spec import InputSpec, Problem, SpecError

__all__ = ["closeloop", "openloop", "detach"]


def _carry(spec, new_spec, values):
    """Parameter values of ``new_spec`` (same layers and link order as ``spec``, some
    sources renamed), carried across link by link from ``values`` (block name -> array)."""
    new = {}
    old_layers = {l.name: l for l in spec.layers}
    for layer in new_spec.layers:
        for link, old in zip(layer.links, old_layers[layer.name].links):
            src = weight_block_name(layer.name, old.source)
            if src in values:
                new[weight_block_name(layer.name, link.source)] = values[src].copy()
    for name, value in values.items():
        if "[" not in name:          # biases and gamma mu keep their names
            new[name] = value.copy()
    return new


def _relink(spec, rename):
    layers = []
    for layer in spec.layers:
        sources = [rename.get(l.source, l.source) for l in layer.links]
        dup = {s for s in sources if sources.count(s) > 1}
        if dup:
            raise SpecError([_problem(layer, f"would read '{sorted(dup)[0]}' through two links "
                                             f"after the conversion")])
        links = tuple(dataclasses.replace(l, source=rename.get(l.source, l.source))
                      for l in layer.links)
        layers.append(dataclasses.replace(layer, links=links))
    return tuple(layers)


def _memory_delays(mem):
    """The delays a memory reads its source through (a delayed read, like a link's)."""
    return mem.source_delays if mem.kind == "gamma" else mem.delays


def _relink_memories(spec, rename, delayed_only=False):
    return tuple(dataclasses.replace(m, source=rename[m.source])
                 if m.source in rename and not (delayed_only and min(_memory_delays(m)) < 1)
                 else m for m in spec.memories)


def _problem(layer, message):
    return Problem(layer.where, f"layers.{layer.name}", message)


def closeloop(spec, values, meta):
    """Parallel form of a series-parallel net: each ``feedback_of`` input is replaced by the
    layer it stands for.

    Parameters
    ----------
    spec : Spec
    values : dict block name -> ndarray, the parameter values
    meta : dict, the model's metadata (its ``feedback`` record is updated)

    Returns
    -------
    (Spec, dict, dict)
        The new spec, its parameter values and metadata; the inputs unchanged (copied) when
        the spec has no ``feedback_of`` input.
    """
    fb = {i.name: i.feedback_of for i in spec.inputs if i.feedback_of}
    if not fb:
        return spec, {k: v.copy() for k, v in values.items()}, dict(meta)
    record = dict(meta.get("feedback", {}))
    for pos, i in enumerate(spec.inputs):
        if i.feedback_of:
            record[i.feedback_of] = {"input": i.name, "position": pos}
    new_spec = dataclasses.replace(
        spec, inputs=tuple(i for i in spec.inputs if not i.feedback_of),
        layers=_relink(spec, fb), memories=_relink_memories(spec, fb))
    new_meta = dict(meta)
    new_meta["feedback"] = record
    return new_spec, _carry(spec, new_spec, values), new_meta


def openloop(spec, values, meta):
    """Series-parallel form of a parallel net: every link (or memory) that reads an output
    layer through delays >= 1 only reads a new input ``<layer>_meas`` (or the name it had
    before ``closeloop``) declared ``feedback_of`` that layer.

    Parameters and returns as :func:`closeloop`.
    """
    record = meta.get("feedback", {})
    outputs = {o for o in spec.outputs if o in {l.name for l in spec.layers}}
    fed = [o for o in spec.outputs if o in outputs and (any(
        l.source == o and min(l.delays) >= 1 for layer in spec.layers for l in layer.links)
        or any(m.source == o and min(_memory_delays(m)) >= 1 for m in spec.memories))]
    if not fed:
        return spec, {k: v.copy() for k, v in values.items()}, dict(meta)
    sizes = build_graph(spec).sizes
    taken = {i.name for i in spec.inputs} | {l.name for l in spec.layers} \
        | {m.name for m in spec.memories}
    names = {}
    for o in fed:
        name = record.get(o, {}).get("input", f"{o}_meas")
        if name in taken:
            raise SpecError([_problem(next(l for l in spec.layers if l.name == o),
                                      f"cannot open the loop: name '{name}' is taken")])
        names[o] = name
    layers = []
    for layer in spec.layers:
        links = tuple(dataclasses.replace(l, source=names[l.source])
                      if l.source in names and min(l.delays) >= 1 else l for l in layer.links)
        layers.append(dataclasses.replace(layer, links=links))
    inputs = list(spec.inputs)
    for o in fed:
        size = sizes[o]
        inp = InputSpec(names[o], size, feedback_of=o)
        pos = record.get(o, {}).get("position", len(inputs))
        inputs.insert(min(pos, len(inputs)), inp)
    new_spec = dataclasses.replace(spec, inputs=tuple(inputs), layers=tuple(layers),
                                   memories=_relink_memories(spec, names, delayed_only=True))
    new_meta = dict(meta)
    new_meta["feedback"] = {k: v for k, v in record.items() if k not in names}
    return new_spec, _carry(spec, new_spec, values), new_meta


def detach(spec, values):
    """The computation that a spec with ``gradient: stop`` links differentiates exactly.

    Every stopped link reads, instead of its source, a new input (``<source>_stopped``, one
    per source) that is to be fed the source's recorded values: the values of the original
    net are then unchanged, and since an input does not depend on the parameters, the true
    gradient of the new net is the stopped gradient of the old one. Layers, link order and
    parameter blocks stay as they are (only stopped links' weight blocks are renamed), so
    the flat parameter vectors of both nets are in the same order.

    Parameters
    ----------
    spec : Spec
    values : dict block name -> ndarray

    Returns
    -------
    new_spec, new_values, feeds : feeds maps each new input to the node it stands for
    """
    graph = build_graph(spec)
    taken = set(graph.sizes)
    feeds, rename = {}, {}
    for layer in spec.layers:
        for link in layer.links:
            if link.gradient == "stop" and link.source not in rename:
                name = f"{link.source}_stopped"
                while name in taken:
                    name += "_"
                taken.add(name)
                rename[link.source], feeds[name] = name, link.source
    layers = []
    for layer in spec.layers:
        links = tuple(dataclasses.replace(l, source=rename[l.source], gradient="pass")
                      if l.gradient == "stop" else l for l in layer.links)
        layers.append(dataclasses.replace(layer, links=links))
    inputs = spec.inputs + tuple(InputSpec(name, graph.sizes[src])
                                 for name, src in feeds.items())
    new_spec = dataclasses.replace(spec, inputs=inputs, layers=tuple(layers))
    return new_spec, _carry(spec, new_spec, values), feeds
