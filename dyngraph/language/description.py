"""The spec language, written down once: every section, every key, its type and meaning.

This table is the single source of the language's vocabulary. Three things are made from it:

- the loader's checks (:mod:`.sections`): which keys a section allows, the did-you-mean
  hints for the others, the type, range and choices of every simple key, the defaults;
- the key tables of ``docs/spec.md`` and the transfer table (:mod:`.reference`, generated;
  a test keeps the committed file current);
- the published JSON Schema ``dyngraph/language/schema.json`` (:mod:`.schema`), which
  gives editors with a YAML language server completion and inline errors.

A key's ``type`` is one of :data:`VALUE_TYPES`. Simple types (``int``, ``number``, ``bool``,
``name``, ``choice``, ``delays``, ``init``, ``text``) are read generically from the key's
fields; the structured ones (``from``, ``source`` — a memory's one-source ``from`` —,
``bias``, ``matrix``, ``vector``, the sections) have their own reader and schema fragment.

Examples
--------
>>> SECTIONS["gamma"].names()
('kind', 'from', 'order', 'mu', 'learn')
>>> SECTIONS["layer"].key("transfer").default
'linear'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

from ..kinds.transfers import TRANSFER_ALIASES as _KIND_ALIASES
from ..kinds.transfers import TRANSFERS as _KIND_TRANSFERS
from ..kinds.weights import WEIGHTS as _KIND_WEIGHTS
from .spec import INIT_RULES

__all__ = ["Key", "Section", "SECTIONS", "VALUE_TYPES", "REQUIRED", "TRANSFERS",
           "TRANSFER_ALIASES", "WEIGHTS", "LAYER_KINDS", "MACRO_KINDS", "GRU_FORMS", "NETS",
           "MEMORY_KINDS", "DIRECTIONS", "INIT_RULES",
           "MAX_FILE_BYTES", "MAX_SIZE", "MAX_DELAY", "MAX_NODES", "MAX_PARAMS", "MAX_DEPTH",
           "NAME_PATTERN", "RANGE_PATTERN"]

# ------------------------------------------------------------------------------ vocabulary
# Transfers and weights are the node-kind table's own, so a new one is added in one place.
#: Canonical transfer function names, as stored in :attr:`LayerSpec.transfer`.
TRANSFERS = tuple(_KIND_TRANSFERS)
#: MATLAB names accepted in a spec and mapped to the canonical name.
TRANSFER_ALIASES = dict(_KIND_ALIASES)
WEIGHTS = tuple(_KIND_WEIGHTS)
LAYER_KINDS = ("layer", "sum", "product")
#: Layer entries that stand for a block of layers, expanded by :mod:`.macros`.
MACRO_KINDS = ("lstm", "gru")
GRU_FORMS = ("cho", "torch")
NETS = ("sum", "prod")
MEMORY_KINDS = ("gamma", "tdl")
#: A layer's time direction: ``backward`` steps from the last step down to the first.
DIRECTIONS = ("forward", "backward")

# ------------------------------------------------------------------------------ limits
#: Limits that keep a hostile or mistyped spec from eating the machine.
MAX_FILE_BYTES = 1 << 20          # 1 MiB of YAML text
MAX_SIZE = 100_000                # largest layer/input size and gamma order
MAX_DELAY = 100_000               # largest delay in a tapped delay line
MAX_NODES = 10_000                # inputs + layers + memories
MAX_PARAMS = 20_000_000           # weights and biases of a whole spec (160 MB of float64)
MAX_DEPTH = 64                    # YAML nesting; a spec never needs more than ~6

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
RANGE_PATTERN = r"^\s*[-+]?[0-9]+\s*:\s*[-+]?[0-9]+\s*$"

#: Every value type a key may have.
VALUE_TYPES = ("version", "text", "int", "number", "bool", "name", "choice", "delays",
               "init", "matrix", "vector", "bias", "from", "source", "names", "inputs",
               "layers", "memories")


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: The default of a key that must be written.
REQUIRED = _Required()


@dataclass(frozen=True)
class Key:
    """One key of a section.

    Parameters
    ----------
    name : the key as written.
    type : one of :data:`VALUE_TYPES`.
    meaning : one line for the docs table (Markdown).
    default : the value when absent, :data:`REQUIRED`, or None for "no value".
    shown_default : the docs' words for the default when the value alone is not clear.
    what : the noun messages use for the value ("size", "memory kind").
    lo, hi : inclusive bounds of an ``int``.
    above, below : exclusive bounds of a ``number``, and ``why`` they hold.
    choices, aliases : the words of a ``choice`` (aliases map to a choice).
    """

    name: str
    type: str
    meaning: str
    default: object = None
    shown_default: str = ""
    what: str = ""
    lo: Optional[int] = None
    hi: Optional[int] = None
    above: Optional[float] = None
    below: Optional[float] = None
    why: str = ""
    choices: Tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.type not in VALUE_TYPES:
            raise ValueError(f"key {self.name!r}: unknown value type {self.type!r}")

    @property
    def noun(self) -> str:
        return self.what or self.name

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Section:
    """A mapping of the language: its keys, in the order the docs list them, and pointed
    hints for unknown keys that are a common confusion rather than a typo."""

    name: str
    title: str
    keys: Tuple[Key, ...]
    hints: Mapping[str, str] = field(default_factory=dict)

    def names(self) -> Tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def key(self, name: str) -> Key:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)


def _delays_key(default, meaning):
    return Key("delays", "delays", meaning, default=default)


_LAYER_HINTS = {
    **{k: "a layer's sources and their delays go under 'from', e.g. from: {u: [0, 1]}"
       for k in ("inputs", "input", "sources", "source", "links")},
    **{k: "did you mean 'transfer'?" for k in ("activation", "function", "act")},
    **{k: "did you mean 'size'?" for k in ("units", "neurons", "n")},
    **{k: f"'{k}' is a link option; write it per source: from: {{u: {{{k}: ...}}}}"
       for k in ("delays", "weight", "value")},
    "init": "write bias: {init: ...} for the bias, or from: {u: {init: ...}} for a link",
    "learn": "write bias: {learn: false} for the bias, or from: {u: {learn: false}} for a link",
    **{k: f"'{k}' belongs to a memory; define memories under 'memories:'"
       for k in ("order", "mu")},
    **{k: f"'{k}' is an option of the LSTM block macro (kind: lstm)"
       for k in ("peephole", "forget")},
    "form": "'form' is an option of the GRU block macro (kind: gru)",
}
_MEMORY_HINTS = {
    "delays": "'delays' belongs to a tdl memory (kind: tdl); a gamma memory reads its "
              "source through delays written in from, e.g. from: {u: 1}",
    **{k: f"'{k}' belongs to a gamma memory (kind: gamma)" for k in ("order", "mu", "learn")},
}

_MACRO_HINTS = {
    **{k: f"'{k}' is not an option of a block macro; write the block out as layers "
          "(dyngraph validate --expand prints it) to change it"
       for k in ("transfer", "net", "bias")},
    **{k: "did you mean 'size'?" for k in ("units", "neurons", "n", "hidden_size")},
}
#: The kind key of a macro: any layer kind may be written there, the macro's is the one.
_MACRO_KIND = {kind: Key("kind", "choice", f"`{kind}`", default=REQUIRED, what="layer kind",
                         choices=LAYER_KINDS + MACRO_KINDS) for kind in MACRO_KINDS}
_MACRO_SIZE = Key("size", "int", "integer ≥ 1: S, the size of the block's output h",
                  default=REQUIRED, lo=1, hi=MAX_SIZE)
_MACRO_FROM = Key("from", "from", "the block's inputs x, as a layer's [`from`]"
                  "(#5-from-links-and-tapped-delay-lines); each gate gets its own weights",
                  default=REQUIRED)

_FROM_MEMORY = Key("from", "source", "the one source the memory reads, in the [`from` grammar]"
                   "(#5-from-links-and-tapped-delay-lines) of a layer: `u`, `{u: 1}`, "
                   "`{u: \"1:2\"}` (its input is the stacked taps)", default=REQUIRED,
                   what="source")

SECTIONS: Mapping[str, Section] = {s.name: s for s in (
    Section("top", "Top level", (
        Key("dyngraph", "version", "spec language version; must be `1` when present",
            default=1),
        Key("name", "text", "network name (text)", shown_default="the file's stem "
            "(`specs/narx.yaml` → `narx`), or `net` for text"),
        Key("description", "text", "free text", default=""),
        Key("inputs", "inputs", "[inputs](#3-inputs), a mapping name → size (may be empty "
            "or absent for an autonomous net)", shown_default="none"),
        Key("layers", "layers", "[layers](#4-layers), a non-empty mapping name → layer",
            default=REQUIRED),
        Key("memories", "memories", "[memories](#7-memories), a mapping name → memory",
            shown_default="none"),
        Key("outputs", "names", "[outputs](#8-outputs), a name or a non-empty list of names",
            default=REQUIRED),
    )),
    Section("input", "Input", (
        Key("size", "int", "integer ≥ 1: elements of p(t)", default=REQUIRED, lo=1,
            hi=MAX_SIZE),
        Key("feedback_of", "name", "name of the layer this input stands for in "
            "series-parallel form, see [§9](#9-feedback_of-and-closeloop)"),
    )),
    Section("layer", "Layer", (
        Key("size", "int", "integer ≥ 1 (S)", default=REQUIRED, lo=1, hi=MAX_SIZE,
            shown_default="required for `kind: layer`; inferred for sum/product"),
        Key("transfer", "choice", "a [transfer function](#transfer-functions)",
            default="linear", choices=TRANSFERS, aliases=TRANSFER_ALIASES),
        Key("net", "choice", "`sum` or `prod`", default="sum", choices=NETS,
            shown_default="`sum` (`prod` for `kind: product`)"),
        Key("bias", "bias", "`true`, `false` or `{init, value, learn}`, see [bias](#bias)",
            default=True, shown_default="`true` for `kind: layer`, `false` for sum/product"),
        Key("kind", "choice", "`layer`, `sum` or `product`, see [kinds](#kinds); `lstm` or "
            "`gru` make the entry a [block macro](#block-macros)",
            default="layer", choices=LAYER_KINDS + MACRO_KINDS),
        Key("from", "from", "the layer's incoming [links]"
            "(#5-from-links-and-tapped-delay-lines)", default=REQUIRED),
        Key("direction", "choice", "`forward` or `backward`: a backward layer steps from the "
            "last step down to the first and its delay-d links read t+d, see "
            "[direction](#direction-bidirectional-networks)", default="forward",
            choices=DIRECTIONS),
    ), hints=_LAYER_HINTS),
    Section("link", "Link options", (
        _delays_key(0, "delays in any form above"),
        Key("weight", "choice", "`full`, `diagonal` or `identity`, see "
            "[§6](#6-weights-values-and-inits)", default="full", choices=WEIGHTS,
            shown_default="`full` (`identity` in sum/product layers)"),
        Key("learn", "bool", "whether the weight is trained (`learn: true` on an identity "
            "weight is an error)", default=True,
            shown_default="`true` for full/diagonal, `false` for identity"),
        Key("init", "init", "a number or a [rule](#inits) (not on identity weights)",
            shown_default="global rule"),
        Key("value", "matrix", "the exact initial weights, [layout](#value-layout) (not on "
            "identity weights)", shown_default="none"),
        Key("gradient", "choice", "`pass`, or `stop`: values pass, derivatives do not (an "
            "approximate gradient, see [gradient: stop](#gradient-stop))", default="pass",
            choices=("pass", "stop")),
    )),
    Section("bias", "Bias options", (
        Key("init", "init", "a number or a [rule](#inits)", shown_default="global rule"),
        Key("value", "vector", "the exact initial S numbers (excludes `init`)",
            shown_default="none"),
        Key("learn", "bool", "whether the bias is trained", default=True),
    )),
    Section("lstm", "LSTM block macro", (
        _MACRO_KIND["lstm"], _MACRO_SIZE, _MACRO_FROM,
        Key("peephole", "bool", "diagonal weights from the cell c to the gates (Gers & "
            "Schmidhuber 2000)", default=False),
        Key("forget", "bool", "a forget gate; `false` is the 1997 LSTM, c(t) = c(t−1) + i ∘ g",
            default=True),
    ), hints=_MACRO_HINTS),
    Section("gru", "GRU block macro", (
        _MACRO_KIND["gru"], _MACRO_SIZE, _MACRO_FROM,
        Key("form", "choice", "`cho` (reset before the recurrent matrix, Cho et al. 2014) or "
            "`torch` (reset after it, as `torch.nn.GRU`)", default="cho", choices=GRU_FORMS),
    ), hints=_MACRO_HINTS),
    Section("gamma", "Gamma memory", (
        Key("kind", "choice", "`gamma`", default=REQUIRED, what="memory kind",
            choices=MEMORY_KINDS),
        _FROM_MEMORY,
        Key("order", "int", "K, integer ≥ 1", default=REQUIRED, lo=1, hi=MAX_SIZE),
        Key("mu", "number", "initial μ, strictly between 0 and 2", default=0.5, above=0.0,
            below=2.0, why=" for a stable memory"),
        Key("learn", "bool", "whether μ is trained", default=True),
    ), hints=_MEMORY_HINTS),
    Section("tdl", "TDL memory", (
        Key("kind", "choice", "`tdl`", default=REQUIRED, what="memory kind",
            choices=MEMORY_KINDS),
        _FROM_MEMORY,
        Key("delays", "delays", "the taps, delays in any form of "
            "[§5](#5-from-links-and-tapped-delay-lines); or give them in `from` instead "
            "(`from: {u: \"1:3\"}`), not in both", shown_default="required, unless `from` "
            "gives them"),
    ), hints=_MEMORY_HINTS),
)}
