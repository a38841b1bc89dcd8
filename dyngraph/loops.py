"""closeloop / openloop: NARX between series-parallel (open-loop) and parallel (closed-loop).

Series-parallel form feeds the *measured* output back as an input declared with
``feedback_of: <layer>``; parallel form feeds the layer's own output back. Converting keeps
every link's delays and weights (MATLAB's ``closeloop``/``openloop``): only the links'
source changes, so a delay-0 feedback link becomes an algebraic loop and is refused.
"""
from __future__ import annotations

import dataclasses

from .params import weight_block_name
from .spec import InputSpec, SpecError

__all__ = ["closeloop", "openloop"]


def _transfer(net, spec):
    """New Net from ``spec`` (same layers and link order as ``net.spec``, some sources
    renamed) carrying every parameter value across, link by link."""
    from .network import Net
    new = Net(spec)
    old_layers = {l.name: l for l in net.spec.layers}
    for layer in spec.layers:
        for link, old in zip(layer.links, old_layers[layer.name].links):
            src = weight_block_name(layer.name, old.source)
            if src in net._values:
                new._values[weight_block_name(layer.name, link.source)] = net._values[src].copy()
    for name, value in net._values.items():
        if "[" not in name:          # biases and gamma mu keep their names
            new._values[name] = value.copy()
    new.meta = dict(net.meta)
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


def _problem(layer, message):
    from .spec import Problem
    return Problem(layer.where, f"layers.{layer.name}", message)


def closeloop(net):
    """Parallel form of a series-parallel net: each ``feedback_of`` input is replaced by the
    layer it stands for. A net without such inputs is returned as a copy."""
    spec = net.spec
    fb = {i.name: i.feedback_of for i in spec.inputs if i.feedback_of}
    if not fb:
        return net.copy()
    record = dict(net.meta.get("feedback", {}))
    for pos, i in enumerate(spec.inputs):
        if i.feedback_of:
            record[i.feedback_of] = {"input": i.name, "position": pos}
    new_spec = dataclasses.replace(
        spec, inputs=tuple(i for i in spec.inputs if not i.feedback_of),
        layers=_relink(spec, fb))
    new = _transfer(net, new_spec)
    new.meta["feedback"] = record
    return new


def openloop(net):
    """Series-parallel form of a parallel net: every link that reads an output layer through
    delays >= 1 only reads a new input ``<layer>_meas`` (or the name it had before
    ``closeloop``) declared ``feedback_of`` that layer."""
    spec = net.spec
    record = net.meta.get("feedback", {})
    outputs = {o for o in spec.outputs if o in {l.name for l in spec.layers}}
    fed = [o for o in spec.outputs if o in outputs and any(
        l.source == o and min(l.delays) >= 1 for layer in spec.layers for l in layer.links)]
    if not fed:
        return net.copy()
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
        size = net.sizes[o]
        inp = InputSpec(names[o], size, feedback_of=o)
        pos = record.get(o, {}).get("position", len(inputs))
        inputs.insert(min(pos, len(inputs)), inp)
    new_spec = dataclasses.replace(spec, inputs=tuple(inputs), layers=tuple(layers))
    new = _transfer(net, new_spec)
    new.meta["feedback"] = {k: v for k, v in record.items() if k not in names}
    return new
