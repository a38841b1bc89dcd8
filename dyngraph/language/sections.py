"""Stage 3 of reading a spec: the sections, read into :class:`~.spec.Spec` items.

Each section's allowed keys, hints, types, ranges, choices and defaults come from the
language description (:data:`~.description.SECTIONS`); what is written here is what a table
cannot say: the forms a key may take (``from``, ``bias``), keys that exclude each other, and
the defaults that depend on another key (a sum layer's weights are identities).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from .description import MACRO_KINDS, MAX_NODES, MEMORY_KINDS, SECTIONS
from .macros import expand_macros, read_macro
from .spec import BiasSpec, InputSpec, LayerSpec, LinkSpec, MemorySpec, Spec, Where
from .values import Bad, Map, Scalar, Seq, Val, ValueReader, show

__all__ = ["SpecReader"]

INPUT, LAYER, LINK, BIAS = (SECTIONS[s] for s in ("input", "layer", "link", "bias"))
GAMMA, TDL = SECTIONS["gamma"], SECTIONS["tdl"]


class SpecReader(ValueReader):
    """Reads a value tree into a :class:`~.spec.Spec`, collecting every problem.

    Besides the problems it notes what the reference check needs to stay quiet where its
    findings would only follow from problems already reported: ``sections_whole`` (every
    name-keyed section was a mapping) and ``bad_names`` (defined names reported invalid
    or defined twice).
    """

    def __init__(self, file: str):
        super().__init__(file)
        self.sections_whole = True
        self.bad_names: set = set()

    def spec(self, root: Optional[Val], default_name: str) -> Optional[Spec]:
        """Check the top-level mapping and every section; None when nothing is usable."""
        if root is None:
            self.error(Where(self.file, 1, 1), "", "the spec is empty; it needs at least "
                       "'layers' and 'outputs'")
            return None
        if isinstance(root, Bad):
            return None
        if not isinstance(root, Map):
            self.error(root.where, "", "the top level of a spec must be a mapping with keys "
                       f"{', '.join(SECTIONS['top'].names())}; got {show(root)}")
            return None
        e = self.keys(root, SECTIONS["top"], "")
        version = self.version(e.get("dyngraph"))
        name = self.text(e.get("name"), "name", default_name)
        description = self.text(e.get("description"), "description", "")
        inputs = self.section(e.get("inputs"), "inputs", "input", self.input, required=False)
        layers = self.section(e.get("layers"), "layers", "layer", self.layer, required=True,
                              where=root.where)
        memories = self.section(e.get("memories"), "memories", "memory", self.memory,
                                required=False)
        outputs, outputs_where = self.outputs(e.get("outputs"), root.where)
        layers = expand_macros(self, layers, inputs + memories)
        self.unique_names(inputs + layers + memories)
        total = len(inputs) + len(layers) + len(memories)
        if total > MAX_NODES:
            self.error(root.where, "", f"the spec has {total} inputs, layers and memories; "
                       f"the limit is {MAX_NODES}")
        return Spec(name=name, description=description, inputs=tuple(inputs),
                    layers=tuple(layers), memories=tuple(memories), outputs=outputs,
                    outputs_where=outputs_where, file=self.file, version=version)

    def version(self, entry) -> int:
        """``dyngraph: 1`` is optional; anything but 1 is refused."""
        if entry is None:
            return 1
        val = entry[1]
        if isinstance(val, Scalar) and type(val.value) is int:
            if val.value != 1:
                self.error(val.where, "dyngraph", f"unsupported spec version {val.value}; this "
                           "dyngraph reads version 1 (dyngraph: 1)")
        elif not isinstance(val, Bad):
            self.error(val.where, "dyngraph", "the spec version must be the integer 1 "
                       f"(dyngraph: 1), got {show(val)}")
        return 1

    def text(self, entry, context: str, default: str) -> str:
        """A free-text field (name, description); numbers are kept as written."""
        if entry is None:
            return default
        val = entry[1]
        if isinstance(val, Scalar):
            return default if val.value is None else val.raw
        if not isinstance(val, Bad):
            self.error(val.where, context, f"{context} must be text, got {show(val)}")
        return default

    def section(self, entry, context: str, item: str, read_item, required: bool,
                where: Optional[Where] = None) -> list:
        """A name-keyed section: check its shape, then read each item."""
        if entry is None:
            if required:
                self.sections_whole = False
                self.error(where, "", f"the spec has no '{context}'; add a '{context}:' "
                           "mapping")
            return []
        key_where, val = entry
        if isinstance(val, Scalar) and val.value is None and not required:
            return []
        if not isinstance(val, Map):
            self.sections_whole = False
            if not isinstance(val, Bad):
                self.error(val.where, context, f"{context} must be a mapping keyed by name, "
                           f"got {show(val)}")
            return []
        if required and not val.entries:
            self.error(key_where, context, f"{context} is empty; define at least one")
        items = []
        for name, (name_where, body) in val.entries.items():
            sub = f"{context}.{name}"
            if not self.name(name, name_where, sub, item):
                self.bad_names.add(name)
            items.append(read_item(name, name_where, body, sub))
        return items

    def input(self, name: str, where: Where, val: Val, context: str) -> InputSpec:
        """``name: size`` or ``name: {size: N, feedback_of: layer}``."""
        feedback_of = None
        if isinstance(val, Map):
            e = self.keys(val, INPUT, context)
            v = self.read(INPUT, e, context, INPUT.names())
            size, feedback_of = v.get("size"), v.get("feedback_of")
            if "size" not in e:
                self.error(where, context, f"input '{name}' needs a size: "
                           f"{{size: N, feedback_of: ...}}")
        else:
            size_key = INPUT.key("size")
            size = self.integer(val, context, "an input size", size_key.lo, size_key.hi,
                                hint=f" (write {name}: 3, or {name}: {{size: 3, "
                                     "feedback_of: layer}})")
        return InputSpec(name=name, size=size or 1, feedback_of=feedback_of, where=where)

    def layer(self, name: str, where: Where, val: Val, context: str):
        """One layer: kind, size, transfer, net, bias and links, with kind's defaults; or
        a block macro (:mod:`.macros`), expanded once the whole section is read."""
        if not isinstance(val, Map):
            if not isinstance(val, Bad):
                self.error(val.where, context, "a layer must be a mapping such as {size: 10, "
                           f"transfer: tanh, from: u}}, got {show(val)}")
            return LayerSpec(name=name, where=where)
        kind_val = val.entries.get("kind", (None, None))[1]
        if isinstance(kind_val, Scalar) and kind_val.value in MACRO_KINDS:
            return read_macro(self, name, where, val, kind_val.value, context)
        e = self.keys(val, LAYER, context)
        kind, kind_ok = "layer", True
        if "kind" in e:
            kind, kind_ok = self.layer_kind(e["kind"][1], context)
        v = self.read(LAYER, e, context, ("size", "transfer", "direction"))
        size = v.get("size")
        if "size" not in e and kind == "layer" and kind_ok:   # a mistyped kind may have meant sum/product
            self.error(where, context, f"layer '{name}' needs a size (e.g. size: 10); only "
                       "kind: sum and kind: product may leave it to be inferred")
        transfer = v.get("transfer") or LAYER.key("transfer").default
        return LayerSpec(name=name, kind=kind, size=size, transfer=transfer,
                         net=self.net(e.get("net"), kind, context),
                         bias=self.bias(e.get("bias"), kind, where, context),
                         links=self.links(e.get("from"), kind, name, where, context),
                         where=where,
                         direction=v.get("direction") or LAYER.key("direction").default)

    def layer_kind(self, val: Val, context: str) -> Tuple[str, bool]:
        """``kind`` of a layer and whether it was valid; a memory kind written here is
        pointed to 'memories'."""
        if isinstance(val, Scalar) and val.value in MEMORY_KINDS:
            self.error(val.where, f"{context}.kind", f"'{val.value}' is a memory kind; define "
                       f"{val.value} memories under 'memories:', not 'layers:'")
            return "layer", False
        kind = self.simple(LAYER.key("kind"), val, f"{context}.kind")
        return kind or "layer", kind is not None

    def net(self, entry, kind: str, context: str) -> str:
        """``net``: free on a plain layer, implied (and only restatable) on sum/product."""
        implied = {"layer": "sum", "sum": "sum", "product": "prod"}[kind]
        if entry is None:
            return implied
        net = self.simple(LAYER.key("net"), entry[1], f"{context}.net")
        if net is not None and kind != "layer" and net != implied:
            self.error(entry[1].where, f"{context}.net", f"kind: {kind} implies net: "
                       f"{implied}; remove 'net' or use kind: layer")
        return net or implied

    def bias(self, entry, kind: str, layer_where: Where, context: str) -> BiasSpec:
        """``bias: true|false|{init, value, learn}``. A sum or product gate has none unless
        it is written; then it is read, and learned, as a layer's."""
        ctx = f"{context}.bias"
        if entry is None:
            if kind != "layer":
                return BiasSpec(enabled=False, learn=False, where=layer_where)
            return BiasSpec(where=layer_where)
        key_where, val = entry
        if isinstance(val, Scalar) and isinstance(val.value, bool):
            return BiasSpec(enabled=val.value, learn=val.value, where=key_where)
        if not isinstance(val, Map):
            if not isinstance(val, Bad):
                self.error(val.where, ctx, "bias must be true, false or a mapping "
                           f"{{init: ..., value: ..., learn: ...}}, got {show(val)}")
            return BiasSpec(where=key_where)
        e = self.keys(val, BIAS, ctx)
        learn = self.read(BIAS, e, ctx, ("learn",)).get("learn", BIAS.key("learn").default)
        init, value = self.init_and_value(e, ctx, self.vector)
        return BiasSpec(enabled=True, learn=learn is not False, init=init, value=value,
                        where=key_where)

    def links(self, entry, kind: str, name: str, layer_where: Where,
              context: str) -> Tuple[LinkSpec, ...]:
        """The ``from`` of a layer in any of its three forms."""
        ctx = f"{context}.from"
        weight = "full" if kind == "layer" else "identity"
        if entry is None:
            self.error(layer_where, context, f"layer '{name}' has no 'from'; give its sources, "
                       "e.g. from: u or from: {u: [0, 1]}")
            return ()
        key_where, val = entry
        if isinstance(val, Bad):
            return ()
        if isinstance(val, Scalar) and isinstance(val.value, str):
            source = self.source_name(val, ctx, "source")
            return (LinkSpec(source=source or "", weight=weight, learn=weight != "identity",
                             where=val.where),)
        if isinstance(val, Seq):
            return self.link_list(val, weight, key_where, ctx)
        if isinstance(val, Map):
            if not val.entries:
                self.error(key_where, ctx, "from is empty; name at least one source")
            return tuple(self.link(src, sw, sv, weight, f"{ctx}.{src}")
                         for src, (sw, sv) in val.entries.items())
        self.error(val.where, ctx, f"unknown source form {show(val)}; write a name (from: u), "
                   "a list of names (from: [u, h]) or a mapping of source to delays "
                   "(from: {u: 0, y: \"1:2\"})")
        return ()

    def link_list(self, val: Seq, weight: str, key_where: Where,
                  context: str) -> Tuple[LinkSpec, ...]:
        """``from: [u, h]``: delay-0 links in written order."""
        if not val.items:
            self.error(key_where, context, "from is empty; name at least one source")
        links, seen = [], {}
        for i, item in enumerate(val.items):
            if not (isinstance(item, Scalar) and isinstance(item.value, str)):
                if not isinstance(item, Bad):
                    self.error(item.where, f"{context}[{i}]", "items of a from list must be "
                               f"source names, got {show(item)}; for delays use the mapping "
                               "form, e.g. from: {u: 1, h: 0}")
                continue
            source = self.source_name(item, f"{context}[{i}]", "source")
            if source in seen:
                self.error(item.where, f"{context}.{source}", f"source '{source}' is listed "
                           f"twice (first at {seen[source]}); give all its delays on one link: "
                           f"from: {{{source}: [0, 1]}}")
                continue
            seen[source] = item.where
            links.append(LinkSpec(source=source or "", weight=weight,
                                  learn=weight != "identity", where=item.where))
        return tuple(links)

    def link(self, source: str, where: Where, val: Val, weight: str,
             context: str) -> LinkSpec:
        """One entry of the mapping form: source -> delays, or source -> link options."""
        self.name(source, where, context, "source")
        if not isinstance(val, Map):
            # `from: {u, h}` (YAML set syntax) gives null values: treat as delay 0.
            null = isinstance(val, Scalar) and val.value is None
            delays = (0,) if null else self.delays(val, context)
            return LinkSpec(source=source, delays=delays or (0,), weight=weight,
                            learn=weight != "identity", where=where)
        e = self.keys(val, LINK, context)
        v = self.read(LINK, e, context, ("delays", "weight", "learn", "gradient"))
        delays = v.get("delays") or (0,)
        weight = v.get("weight") or weight
        learn = weight != "identity"
        if "learn" in e:
            learn = v["learn"]
            if learn and weight == "identity":
                self.error(e["learn"][0], context, "an identity weight has no parameters to "
                           "learn; remove 'learn: true' or use weight: diagonal")
        init, value = self.init_and_value(e, context, self.matrix)
        if weight == "identity":
            for key in ("init", "value"):
                if key in e:
                    self.error(e[key][0], context, f"an identity weight has no parameters; "
                               f"remove '{key}' or use weight: diagonal or full")
        return LinkSpec(source=source, delays=delays, weight=weight, learn=bool(learn),
                        init=init, value=value, where=where,
                        gradient=v.get("gradient") or LINK.key("gradient").default)

    def memory(self, name: str, where: Where, val: Val, context: str) -> MemorySpec:
        """``{kind: gamma, from, order, mu, learn}`` or ``{kind: tdl, from, delays}``."""
        if not isinstance(val, Map):
            if not isinstance(val, Bad):
                self.error(val.where, context, "a memory must be a mapping such as {kind: "
                           f"gamma, from: u, order: 3, mu: 0.6}}, got {show(val)}")
            return MemorySpec(name=name, kind="gamma", source="", where=where)
        kind = None
        if "kind" in val.entries:
            kind = self.simple(GAMMA.key("kind"), val.entries["kind"][1], f"{context}.kind")
        else:
            self.error(where, context, f"memory '{name}' needs a kind: gamma or tdl")
        # Without a valid kind, every memory key is allowed (the kind is what is wrong).
        section = SECTIONS.get(kind, GAMMA)
        either = GAMMA.names() + tuple(k for k in TDL.names() if k not in GAMMA.names())
        e = self.keys(val, section, context, None if kind else either)
        source, delays = "", (0,)
        if "from" in e:
            source, delays = self.memory_source(e["from"][1], f"{context}.from")
        else:
            self.error(where, context, f"memory '{name}' needs a source: from: name")
        if kind == "tdl":
            return self.tdl(name, where, e, source, delays, context)
        if kind == "gamma":
            return self.gamma(name, where, e, source, delays, context)
        # Without a valid kind, kind-specific "missing key" errors would only be noise.
        return MemorySpec(name=name, kind="gamma", source=source, where=where)

    def memory_source(self, val: Val, context: str) -> Tuple[str, Tuple[int, ...]]:
        """A memory's ``from``: a layer's grammar held to one source and no weights ->
        (source, delays); ``u``, ``[u]``, ``{u: 1}``, ``{u: "1:2"}``, ``{u: {delays: 1}}``."""
        def one(count):
            return (f"a memory reads exactly one source, got {count}; to combine several, "
                    "feed a sum gate (kind: sum) or a layer and read that")
        if isinstance(val, Bad):
            return "", (0,)
        if isinstance(val, Seq):
            if len(val.items) != 1:
                self.error(val.where, context, one(len(val.items)) if val.items
                           else "from is empty; name the source")
                return "", (0,)
            val = val.items[0]
        if isinstance(val, Map):
            if len(val.entries) != 1:
                self.error(val.where, context, one(len(val.entries)) if val.entries
                           else "from is empty; name the source")
                return "", (0,)
            (source, (swhere, body)), = val.entries.items()
            ctx = f"{context}.{source}"
            self.name(source, swhere, ctx, "source")
            if isinstance(body, Scalar) and body.value is None:
                return source, (0,)
            if isinstance(body, Map):
                for key, (kwhere, _) in body.entries.items():
                    if key != "delays" and key in LINK.names():
                        self.error(kwhere, ctx, f"a memory has no weights, so '{key}' has "
                                   "no meaning here; a memory's source takes only delays, "
                                   f"e.g. from: {{{source}: 1}}")
                    elif key != "delays":
                        self.error(kwhere, ctx, f"unknown key '{key}'; a memory's source "
                                   f"takes only delays, e.g. from: {{{source}: {{delays: 1}}}}")
                if "delays" not in body.entries:
                    return source, (0,)
                body = body.entries["delays"][1]
                ctx = f"{ctx}.delays"
            return source, self.delays(body, ctx) or (0,)
        return self.source_name(val, context, "source") or "", (0,)

    def gamma(self, name, where, e, source, delays, context) -> MemorySpec:
        """The gamma-specific keys: order (required), mu in (0, 2), learn."""
        v = self.read(GAMMA, e, context, ("order", "mu", "learn"))
        if "order" not in e:
            self.error(where, context, f"gamma memory '{name}' needs an order (order: K, K >= 1)")
        mu = v.get("mu")
        return MemorySpec(name=name, kind="gamma", source=source, order=v.get("order"),
                          mu=GAMMA.key("mu").default if mu is None else mu,
                          learn=v.get("learn") is not False, source_delays=delays,
                          where=where)

    def tdl(self, name, where, e, source, from_delays, context) -> MemorySpec:
        """The tdl's taps, given by ``delays`` or in ``from`` (one place: a tdl's input is
        its source, so taps of taps would only restate a longer line)."""
        delays = self.read(TDL, e, context, ("delays",)).get("delays") or ()
        if from_delays != (0,):
            if "delays" in e:
                self.error(e["delays"][0], context, f"tdl memory '{name}' gives its delays "
                           f"twice: in 'delays' and in 'from' (at {e['from'][1].where}); "
                           f"give them in one place, e.g. from: {{{source or 'u'}: \"1:3\"}}")
            delays = from_delays
        elif "delays" not in e:
            if isinstance(e.get("from", (None, None))[1], Map):
                delays = (0,)       # from: {u: 0} says the taps: delay 0 alone
            else:
                self.error(where, context, f"tdl memory '{name}' needs delays, e.g. "
                           f"delays: \"1:3\" or from: {{{source or 'u'}: \"1:3\"}}")
        return MemorySpec(name=name, kind="tdl", source=source, delays=delays, where=where)

    def outputs(self, entry, root_where: Where):
        """``outputs: [a, b]`` or ``outputs: a``; must name at least one node."""
        if entry is None:
            self.error(root_where, "", "the spec has no 'outputs'; add outputs: [name, ...]")
            return (), ()
        key_where, val = entry
        if isinstance(val, Bad):
            return (), ()
        if isinstance(val, Map):
            self.error(val.where, "outputs", "outputs must be a name or a list of names, "
                       "e.g. outputs: [y], got a mapping")
            return (), ()
        items = val.items if isinstance(val, Seq) else [val]
        if not items or (isinstance(val, Scalar) and val.value is None):
            self.error(key_where, "outputs", "outputs must list at least one node name, "
                       "e.g. outputs: [y]")
            return (), ()
        names, wheres, seen = [], [], {}
        for i, item in enumerate(items):
            ctx = f"outputs[{i}]" if isinstance(val, Seq) else "outputs"
            name = self.source_name(item, ctx, "an output")
            if name is None:
                continue
            if name in seen:
                self.error(item.where, ctx, f"output '{name}' is listed twice (first at "
                           f"{seen[name]})")
                continue
            seen[name] = item.where
            names.append(name)
            wheres.append(item.where)
        return tuple(names), tuple(wheres)

    def unique_names(self, items) -> None:
        """Inputs, layers and memories share one namespace."""
        kinds = {InputSpec: ("input", "inputs"), LayerSpec: ("layer", "layers"),
                 MemorySpec: ("memory", "memories")}
        seen: Dict[str, object] = {}
        for item in items:
            if item.name not in seen:
                seen[item.name] = item
                continue
            first = seen[item.name]
            self.bad_names.add(item.name)
            self.error(item.where, f"{kinds[type(item)][1]}.{item.name}",
                       f"name '{item.name}' is already used by the {kinds[type(first)][0]} at "
                       f"{first.where}; inputs, layers and memories share one namespace")

