"""Block macros: a layer entry ``kind: lstm`` or ``kind: gru`` stands for the gate layers of
one LSTM or GRU block, and is written out here into ordinary layers.

The expansion happens after the sections are read and before names are checked, so the rest
of the flow (graph, engines, writer) only ever sees plain layers. A macro named ``m`` with
inputs x (its ``from``) and size S makes the layers below, in this order; ``m`` itself is
the block's output h, so other layers read it as they would read any layer (``from: m``,
``from: {m: 1}``). Every gate reads x through its own copy of the macro's links (full weights
``m_<gate>.W[x]``) and h(t−1) through its recurrent weights ``m_<gate>.W[m]``. All states
start at zero.

LSTM (``peephole: false, forget: true``, the layers of ``specs/lstm.yaml``)::

    m_i  = σ(W_i x + U_i h(t−1) + b_i)          m_fc = m_f ∘ c(t−1)
    m_f  = σ(W_f x + U_f h(t−1) + b_f)          m_ig = m_i ∘ m_g
    m_o  = σ(W_o x + U_o h(t−1) + b_o)          m_c  = m_fc + m_ig
    m_g  = tanh(W_g x + U_g h(t−1) + b_g)       m_tc = tanh(m_c)
                                                m    = m_o ∘ m_tc

with b_f starting at 1. ``peephole: true`` adds p_i ∘ c(t−1) to i and f and p_o ∘ c(t) to o
(diagonal weights ``m_i.W[m_c]``, Gers & Schmidhuber 2000); ``forget: false`` drops m_f and
m_fc: c(t) = c(t−1) + i ∘ g (Hochreiter & Schmidhuber 1997).

GRU, both forms ending in h = z ∘ h(t−1) + (1 − z) ∘ n, written h = n + z ∘ (h(t−1) − n)::

    m_r  = σ(W_r x + U_r h(t−1) + b_r)          m_d  = h(t−1) − m_hc   (fixed −1 diagonal)
    m_z  = σ(W_z x + U_z h(t−1) + b_z)          m_zd = m_z ∘ m_d
                                                m    = m_hc + m_zd

``form: cho`` (Cho et al. 2014): m_rh = m_r ∘ h(t−1), m_hc = tanh(W x + U m_rh + b).
``form: torch`` (``torch.nn.GRU``): m_hn = U_hn h(t−1) + b_hn, m_rn = m_r ∘ m_hn,
m_hc = tanh(W x + b_in + m_rn).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from .description import SECTIONS
from .spec import BiasSpec, InputSpec, LayerSpec, LinkSpec, MemorySpec, Where

__all__ = ["MacroSpec", "read_macro", "expand", "expand_macros"]


@dataclass(frozen=True)
class MacroSpec:
    """A block macro as written: ``kind`` lstm or gru, hidden ``size`` S, the input
    ``links`` every gate copies, and the options of its kind."""

    name: str
    kind: str
    size: int
    links: Tuple[LinkSpec, ...]
    peephole: bool = False
    forget: bool = True
    form: str = "cho"
    where: Where = Where()


def read_macro(reader, name: str, where: Where, val, kind: str, context: str) -> MacroSpec:
    """Read one macro entry with the section checks of ``reader``.

    Parameters
    ----------
    reader : the :class:`~.sections.SpecReader` whose checks read the keys and ``from``, and
        which collects the problems.
    name, where : the entry's name and the position of that name.
    val : the entry, a :class:`~.values.Map` whose ``kind`` is one of ``MACRO_KINDS``.
    kind : ``"lstm"`` or ``"gru"``.
    context : the dotted path for messages, ``layers.<name>``.

    Returns
    -------
    MacroSpec
        With the described defaults for absent or invalid options (size 1 when missing,
        after reporting it), and without a link from the macro's own name.
    """
    section = SECTIONS[kind]
    e = reader.keys(val, section, context)
    options = tuple(k for k in section.names() if k not in ("kind", "from"))
    v = reader.read(section, e, context, options)
    if "size" not in e:
        reader.error(where, context, f"{kind} '{name}' needs a size (e.g. size: 8), the "
                     "number of hidden units")
    links: Tuple[LinkSpec, ...] = ()
    if "from" in e:
        links = reader.links(e["from"], "layer", name, where, context)
    else:
        reader.error(where, context, f"{kind} '{name}' has no 'from'; give its inputs, e.g. "
                     "from: x or from: {x: 0}")
    for link in links:
        if link.source == name:
            # Each gate already reads h(t-1); a second link from m would be a duplicate source.
            reader.error(link.where, f"{context}.from.{name}", f"the {kind} block reads its "
                         f"own output {name}(t-1) already; remove '{name}' from its 'from'")
    links = tuple(link for link in links if link.source != name)
    defaults = {k.name: k.default for k in section.keys}
    pick = {k: defaults[k] if v.get(k) is None else v[k] for k in options if k != "size"}
    return MacroSpec(name=name, kind=kind, size=v.get("size") or 1, links=links,
                     where=where, **pick)


# ------------------------------------------------------------------------------ expansion
class _Block:
    """Builds the layers of one macro; every item is placed at the macro's name."""

    def __init__(self, macro: MacroSpec):
        self.m, self.S, self.where = macro.name, macro.size, macro.where
        self.inputs = macro.links

    def n(self, part: str) -> str:
        return f"{self.m}_{part}" if part else self.m

    def link(self, source: str, delay: int = 0, weight: str = "full", learn=None,
             value=None) -> LinkSpec:
        learn = weight != "identity" if learn is None else learn
        return LinkSpec(source=self.n(source), delays=(delay,), weight=weight, learn=learn,
                        value=value, where=self.where)

    def layer(self, part: str, transfer: str, links, bias_init=None, bias=True) -> LayerSpec:
        """A plain layer reading the block's inputs x first, then ``links``."""
        b = BiasSpec(init=bias_init, where=self.where) if bias else BiasSpec(
            enabled=False, learn=False, where=self.where)
        return LayerSpec(name=self.n(part), kind="layer", size=self.S, transfer=transfer,
                         net="sum", bias=b, links=self.inputs + tuple(links), where=self.where)

    def gate(self, part: str, transfer: str, extra=(), bias_init=None) -> LayerSpec:
        return self.layer(part, transfer, (self.link("", 1),) + tuple(extra), bias_init)

    def fixed(self, part: str, kind: str, links, transfer: str = "linear") -> LayerSpec:
        """A sum or product of identity links (no parameters)."""
        return LayerSpec(name=self.n(part), kind=kind, size=self.S, transfer=transfer,
                         net="prod" if kind == "product" else "sum",
                         bias=BiasSpec(enabled=False, learn=False, where=self.where),
                         links=tuple(links), where=self.where)

    def ident(self, part: str, delay: int = 0) -> LinkSpec:
        return self.link(part, delay, "identity")


def _lstm(macro: MacroSpec) -> List[LayerSpec]:
    k = _Block(macro)
    # Gers & Schmidhuber: i and f peep at the cell before it is updated, o at the new cell.
    peep_old = (k.link("c", 1, "diagonal"),) if macro.peephole else ()
    peep_new = (k.link("c", 0, "diagonal"),) if macro.peephole else ()
    layers = [k.gate("i", "sigmoid", peep_old)]
    if macro.forget:
        # A forget bias of 1 keeps the cell open at the start of training (Gers et al. 2000).
        layers.append(k.gate("f", "sigmoid", peep_old, bias_init=1.0))
    layers += [k.gate("o", "sigmoid", peep_new), k.gate("g", "tanh")]
    if macro.forget:
        layers += [k.fixed("fc", "product", (k.ident("f"), k.ident("c", 1))),
                   k.fixed("ig", "product", (k.ident("i"), k.ident("g"))),
                   k.fixed("c", "sum", (k.ident("fc"), k.ident("ig")))]
    else:
        layers += [k.fixed("ig", "product", (k.ident("i"), k.ident("g"))),
                   k.fixed("c", "sum", (k.ident("c", 1), k.ident("ig")))]
    layers += [k.fixed("tc", "sum", (k.ident("c"),), transfer="tanh"),
               k.fixed("", "product", (k.ident("o"), k.ident("tc")))]
    return layers


def _gru(macro: MacroSpec) -> List[LayerSpec]:
    k = _Block(macro)
    layers = [k.gate("r", "sigmoid"), k.gate("z", "sigmoid")]
    if macro.form == "cho":
        layers += [k.fixed("rh", "product", (k.ident("r"), k.ident("", 1))),
                   k.layer("hc", "tanh", (k.link("rh"),))]
    else:
        hn = LayerSpec(name=k.n("hn"), size=k.S, links=(k.link("", 1),),
                       bias=BiasSpec(where=k.where), where=k.where)
        layers += [hn, k.fixed("rn", "product", (k.ident("r"), k.ident("hn"))),
                   k.layer("hc", "tanh", (k.ident("rn"),))]
    minus = k.link("hc", 0, "diagonal", learn=False, value=((-1.0,),) * k.S)
    layers += [k.fixed("d", "sum", (k.ident("", 1), minus)),
               k.fixed("zd", "product", (k.ident("z"), k.ident("d"))),
               k.fixed("", "sum", (k.ident("hc"), k.ident("zd")))]
    return layers


def expand(macro: MacroSpec) -> List[LayerSpec]:
    """The layers one macro stands for.

    Returns
    -------
    list of LayerSpec
        Gates first, in the order of the module docstring, the block's output
        ``macro.name`` (size S, like every made layer) last; each placed at ``macro.where``.
    """
    return _lstm(macro) if macro.kind == "lstm" else _gru(macro)


_WHAT = {InputSpec: "input", LayerSpec: "layer", MemorySpec: "memory"}


def expand_macros(reader, items: list, others: list) -> List[LayerSpec]:
    """``items`` (the layers section: layers and macros, in order) with each macro replaced
    by its layers.

    A made name that another item already has is reported at both places (on ``reader``)
    and left out, so the namespace check does not report it a second time.

    Parameters
    ----------
    reader : the :class:`~.sections.SpecReader` collecting problems.
    items : LayerSpec or MacroSpec, in spec order.
    others : the inputs and memories, which share the namespace.
    """
    taken: Dict[str, object] = {}
    for item in list(others) + list(items):
        taken.setdefault(item.name, item)
    # Made names are m + "_" + a suffix without "_", so two macros never make the same name;
    # what a made name can meet is an item written by hand.
    layers: List[LayerSpec] = []
    for item in items:
        if not isinstance(item, MacroSpec):
            layers.append(item)
            continue
        for layer in expand(item):
            first = taken.setdefault(layer.name, layer)
            if layer.name == item.name or first is layer:
                layers.append(layer)
                continue
            reader.bad_names.add(layer.name)
            what = f"{first.kind} block" if isinstance(first, MacroSpec) else _WHAT[type(first)]
            reader.error(item.where, f"layers.{item.name}", f"the {item.kind} block "
                         f"'{item.name}' makes a layer '{layer.name}', but the {what} at "
                         f"{first.where} has that name; rename one of them")
    return layers
