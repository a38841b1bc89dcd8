"""Read a YAML spec (language version 1) into a checked :class:`~dyngraph.spec.Spec`.

The loader works on PyYAML's *node* tree (``yaml.compose``), never on ``yaml.safe_load``
output, for three reasons: every node carries its line and column, so each problem can be
reported as ``file:line:col: context: message``; duplicate keys are still visible (a dict
would silently keep the last one); and scalars are resolved by our own small rules, so that
``1:2`` stays the delay range it looks like instead of YAML 1.1's sexagesimal 62.

Every problem found is collected and raised together as one :class:`~dyngraph.spec.SpecError`.
The loader checks everything that can be checked locally (keys, types, names, ranges, value
layouts). Whatever needs the whole network -- that sources and outputs exist, that sizes fit,
that there is no algebraic loop -- is left to the graph builder, which reports it with the
positions stored here.

See ``docs/spec.md`` for the language reference.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..kinds.transfers import TRANSFER_ALIASES as _KIND_ALIASES
from ..kinds.transfers import TRANSFERS as _KIND_TRANSFERS
from ..kinds.weights import WEIGHTS as _KIND_WEIGHTS
from .spec import (
    INIT_RULES,
    BiasSpec,
    InputSpec,
    LayerSpec,
    LinkSpec,
    MemorySpec,
    Problem,
    Spec,
    SpecError,
    Where,
)

__all__ = [
    "load_spec", "loads_spec", "TRANSFERS", "TRANSFER_ALIASES", "WEIGHTS", "LAYER_KINDS",
    "NETS", "MEMORY_KINDS", "MAX_FILE_BYTES", "MAX_SIZE", "MAX_DELAY", "MAX_NODES",
]

# --------------------------------------------------------------------------------------
# Vocabulary and limits
# --------------------------------------------------------------------------------------

# The vocabulary of transfers and weights is the node-kind table's own (kinds.py), so a new
# transfer or weight kind is added in one place.
#: Canonical transfer function names, as stored in :attr:`LayerSpec.transfer`.
TRANSFERS = tuple(_KIND_TRANSFERS)
#: MATLAB names accepted in a spec and mapped to the canonical name.
TRANSFER_ALIASES = dict(_KIND_ALIASES)
WEIGHTS = tuple(_KIND_WEIGHTS)
LAYER_KINDS = ("layer", "sum", "product")
NETS = ("sum", "prod")
MEMORY_KINDS = ("gamma", "tdl")

#: Limits that keep a hostile or mistyped spec from eating the machine.
MAX_FILE_BYTES = 1 << 20          # 1 MiB of YAML text
MAX_SIZE = 100_000                # largest layer/input size and gamma order
MAX_DELAY = 100_000               # largest delay in a tapped delay line
MAX_NODES = 10_000                # inputs + layers + memories
MAX_DEPTH = 64                    # YAML nesting; a spec never needs more than ~6

TOP_KEYS = ("dyngraph", "name", "description", "inputs", "layers", "memories", "outputs")
INPUT_KEYS = ("size", "feedback_of")
LAYER_KEYS = ("size", "transfer", "net", "bias", "kind", "from")
LINK_KEYS = ("delays", "weight", "learn", "init", "value")
BIAS_KEYS = ("init", "value", "learn")
GAMMA_KEYS = ("kind", "from", "order", "mu", "learn")
TDL_KEYS = ("kind", "from", "delays")

# Unknown keys that are not typos of an allowed key but a common confusion get a pointed hint.
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
}
_MEMORY_HINTS = {
    **{k: f"'{k}' belongs to a tdl memory (kind: tdl)" for k in ("delays",)},
    **{k: f"'{k}' belongs to a gamma memory (kind: gamma)" for k in ("order", "mu", "learn")},
}

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {".inf": math.inf, "inf": math.inf, ".nan": math.nan, "nan": math.nan}
_RANGE_RE = re.compile(r"\s*([-+]?[0-9]+)\s*:\s*([-+]?[0-9]+)\s*\Z")
_NULLS = ("", "~", "null", "Null", "NULL")
_TRUES = ("true", "True", "TRUE")
_FALSES = ("false", "False", "FALSE")

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null")}
_REFUSED_TAG = "tag:dyngraph,refused"   # marks an alias we replaced by a dummy node


# --------------------------------------------------------------------------------------
# Stage 1: YAML text -> node tree (PyYAML composer, hardened)
# --------------------------------------------------------------------------------------

class _TooDeep(Exception):
    """Raised by the composer when nesting exceeds :data:`MAX_DEPTH`."""

    def __init__(self, mark):
        super().__init__(mark)
        self.mark = mark


class _NodeLoader(yaml.SafeLoader):
    """A SafeLoader that composes nodes without resolving plain scalars, and refuses
    anchors and aliases by marking the nodes instead of failing on the first one.

    With no implicit resolvers every untagged scalar gets the ``str`` tag; the loader then
    applies its own resolution (:func:`_resolve_plain`), which has no sexagesimal ints,
    no yes/no booleans and no timestamps.
    """

    # An empty dict on the subclass shadows SafeLoader's resolvers (and is what
    # add_implicit_resolver would copy-on-write into, so the base class stays untouched).
    yaml_implicit_resolvers: dict = {}

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        """Compose one node, recording (not following) anchors, aliases and explicit tags."""
        if self.check_event(AliasEvent):
            # Following an alias would let ten lines expand to gigabytes (billion laughs),
            # and shared structure makes positions ambiguous; keep a dummy in its place so
            # the rest of the spec is still checked.
            event = self.get_event()
            node = ScalarNode(_REFUSED_TAG, "", event.start_mark, event.end_mark)
            node.refused = (f"alias '*{event.anchor}' is not allowed; specs spell every "
                            f"value out (write the value again instead of *{event.anchor})")
            return node
        event = self.peek_event()
        anchor = event.anchor
        event.anchor = None   # so the base composer neither stores nor rejects duplicates
        explicit = getattr(event, "tag", None)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooDeep(event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        node.anchor = anchor
        node.anchor_mark = event.start_mark
        node.explicit_tag = None if explicit in (None, "!") else explicit
        return node


def _where(file: str, mark) -> Where:
    """The 1-based position of a PyYAML mark."""
    return Where(file, mark.line + 1, mark.column + 1)


def _compose(text: str, file: str):
    """Compose ``text`` into a PyYAML node tree (or None for an empty document).

    Raises
    ------
    SpecError
        On a YAML syntax error or excessive nesting; these stop parsing, so they are
        reported alone.
    """
    try:
        return yaml.compose(text, Loader=_NodeLoader)
    except _TooDeep as err:
        raise SpecError(Problem(_where(file, err.mark), "",
                                f"nesting deeper than {MAX_DEPTH} levels; a spec never "
                                "needs that many")) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = _where(file, mark) if mark is not None else Where(file, 1, 1)
        if err.context == "expected a single document in the stream":
            raise SpecError(Problem(where, "", "a spec is one YAML document; remove this "
                                    "second document (and its '---')")) from None
        message = f"YAML syntax error: {err.problem or err.context}"
        if err.context and err.problem:
            message += f" ({err.context})"
        if "\\t" in message:    # PyYAML shows a tab as the two characters \t
            message += "; indent with spaces, YAML does not allow tabs"
        raise SpecError(Problem(where, "", message)) from None
    except yaml.reader.ReaderError as err:   # a control character; has an offset, no mark
        line = text.count("\n", 0, err.position) + 1
        col = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        raise SpecError(Problem(Where(file, line, col), "", f"character {_char(err.character)} "
                                "is not allowed in a spec (control characters are not "
                                "YAML text)")) from None


# --------------------------------------------------------------------------------------
# Stage 2: node tree -> plain value tree with positions
# --------------------------------------------------------------------------------------

@dataclass
class _Scalar:
    """A resolved scalar: ``value`` is int, float, bool, None or str; ``raw`` its text."""

    value: object
    raw: str
    where: Where


@dataclass
class _Seq:
    items: List["_Val"]
    where: Where


@dataclass
class _Map:
    """A mapping with string keys; ``entries[key] = (key position, value)``."""

    entries: Dict[str, Tuple[Where, "_Val"]]
    where: Where


@dataclass
class _Bad:
    """A node already reported as refused; checks skip it silently."""

    where: Where


_Val = Union[_Scalar, _Seq, _Map, _Bad]


def _resolve_plain(text: str):
    """Resolve a plain (unquoted) scalar: int, float, bool, null, else the string itself.

    Integers are decimal only (``010`` is 10, ``0x10`` a string); ``1:2`` is a string.
    ``inf``/``nan`` resolve to floats so that the number checks can refuse them by name.
    """
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.lstrip("+"))
    if body.lower() in _SPECIAL_FLOATS:
        return sign * _SPECIAL_FLOATS[body.lower()]
    return text


_TAG_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "null": (type(None),)}


class _Reader:
    """Collects problems while turning a node tree into a :class:`Spec`.

    Parameters
    ----------
    file : str
        Name used in every reported position.
    """

    def __init__(self, file: str):
        self.file = file
        self.problems: List[Problem] = []

    def error(self, where: Where, context: str, message: str) -> None:
        """Record one problem; checking goes on."""
        self.problems.append(Problem(where, context, message))

    # -- node tree -> value tree ---------------------------------------------------

    def tree(self, node, context: str) -> _Val:
        """Convert a composed node into a value tree, reporting refused constructs."""
        where = _where(self.file, node.start_mark)
        if node.tag == _REFUSED_TAG:
            self.error(where, context, node.refused)
            return _Bad(where)
        if node.anchor is not None:
            self.error(_where(self.file, node.anchor_mark), context,
                       f"anchor '&{node.anchor}' is not allowed; specs spell every value "
                       "out (anchors and aliases are refused)")
        if not self.tag_ok(node, where, context):
            return _Bad(where)
        if isinstance(node, ScalarNode):
            return self.scalar(node, where, context)
        if isinstance(node, SequenceNode):
            return _Seq([self.tree(item, f"{context}[{i}]")
                         for i, item in enumerate(node.value)], where)
        return self.mapping(node, where, context)

    def tag_ok(self, node, where: Where, context: str) -> bool:
        """Refuse explicit tags other than the standard YAML core ones."""
        tag = node.explicit_tag
        if tag is None:
            return True
        allowed = {ScalarNode: _SCALAR_TAGS, SequenceNode: {_YAML + "seq"},
                   MappingNode: {_YAML + "map"}}[type(node)]
        if tag in allowed:
            return True
        shown = "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag
        self.error(where, context,
                   f"tag '{shown}' is not allowed; a spec is plain data (remove the tag)")
        return False

    def scalar(self, node: ScalarNode, where: Where, context: str) -> _Val:
        """Resolve a scalar: quoted and block scalars are strings, plain ones by our rules."""
        tag = node.explicit_tag
        if tag == _YAML + "str" or (tag is None and node.style is not None):
            return _Scalar(node.value, node.value, where)
        value = _resolve_plain(node.value)
        if tag is not None:
            kind = tag[len(_YAML):]
            if not isinstance(value, _TAG_TYPES[kind]) or (
                    kind in ("int", "float") and isinstance(value, bool)):
                self.error(where, context, f"'{node.value}' is tagged !!{kind} but is not "
                           f"a valid {kind}")
                return _Bad(where)
            if kind == "float":
                value = float(value)
        return _Scalar(value, node.value, where)

    def mapping(self, node: MappingNode, where: Where, context: str) -> _Val:
        """Convert a mapping, refusing non-scalar and duplicate keys."""
        entries: Dict[str, Tuple[Where, _Val]] = {}
        for key_node, value_node in node.value:
            key = self.tree(key_node, context)
            if isinstance(key, _Bad):
                continue
            if not isinstance(key, _Scalar):
                self.error(key.where, context,
                           f"a key must be a plain name, got {_show(key)}")
                continue
            text = key.raw
            sub = f"{context}.{text}" if context else text
            value = self.tree(value_node, sub)
            if text in entries:
                first = entries[text][0]
                self.error(key.where, sub,
                           f"duplicate key '{text}' (first at {first}); remove or rename "
                           "one of them")
                continue
            entries[text] = (key.where, value)
        return _Map(entries, where)

    # -- small checks shared by all sections ---------------------------------------

    def keys(self, m: _Map, allowed: Sequence[str], context: str,
             hints: Optional[Dict[str, str]] = None) -> Dict[str, Tuple[Where, _Val]]:
        """The entries of ``m`` whose keys are allowed; report the others with a hint."""
        out = {}
        for key, entry in m.entries.items():
            if key in allowed:
                out[key] = entry
            else:
                self.error(entry[0], context, _unknown(f"key '{key}'", key, allowed,
                                                      (hints or {}).get(key)))
        return out

    def name(self, name: str, where: Where, context: str, what: str) -> bool:
        """Check that ``name`` is a valid identifier."""
        if _NAME_RE.match(name):
            return True
        self.error(where, context, f"invalid {what} name '{name}'; names are letters, digits "
                   "and underscores, not starting with a digit")
        return False

    def integer(self, val: _Val, context: str, what: str, lo: int, hi: int,
                hint: str = "") -> Optional[int]:
        """An int in ``[lo, hi]``, or None after reporting why not."""
        if isinstance(val, _Bad):
            return None
        if isinstance(val, _Scalar) and type(val.value) is int:
            if val.value < lo:
                self.error(val.where, context, f"{what} must be at least {lo}, got {val.value}")
                return None
            if val.value > hi:
                self.error(val.where, context,
                           f"{what} {val.value} exceeds the limit of {hi}")
                return None
            return val.value
        self.error(val.where, context, f"{what} must be an integer from {lo} to {hi}, got "
                   f"{_show(val)}{hint}")
        return None

    def number(self, val: _Val, context: str, what: str) -> Optional[float]:
        """A finite float (ints accepted), or None after reporting why not."""
        if isinstance(val, _Bad):
            return None
        if isinstance(val, _Scalar) and type(val.value) in (int, float):
            if math.isfinite(val.value):
                return float(val.value)
            self.error(val.where, context, f"{what} must be a finite number, got {val.raw}")
            return None
        self.error(val.where, context, f"{what} must be a number, got {_show(val)}")
        return None

    def boolean(self, val: _Val, context: str, what: str) -> Optional[bool]:
        """``true`` or ``false``, or None after reporting why not."""
        if isinstance(val, _Scalar) and isinstance(val.value, bool):
            return val.value
        if not isinstance(val, _Bad):
            self.error(val.where, context, f"{what} must be true or false, got {_show(val)}")
        return None

    def choice(self, val: _Val, context: str, what: str, allowed: Sequence[str],
               aliases: Optional[Dict[str, str]] = None) -> Optional[str]:
        """One word from ``allowed`` (or an alias, mapped to its target)."""
        aliases = aliases or {}
        if isinstance(val, _Scalar) and isinstance(val.value, str):
            if val.value in allowed:
                return val.value
            if val.value in aliases:
                return aliases[val.value]
            known = list(allowed) + list(aliases)
            self.error(val.where, context, _unknown(f"{what} '{val.value}'", val.value, known))
        elif not isinstance(val, _Bad):
            self.error(val.where, context,
                       f"{what} must be one of {', '.join(allowed)}, got {_show(val)}")
        return None

    def source_name(self, val: _Val, context: str, what: str) -> Optional[str]:
        """A scalar that names a node."""
        if isinstance(val, _Scalar) and isinstance(val.value, str):
            return val.value if self.name(val.value, val.where, context, what) else None
        if not isinstance(val, _Bad):
            self.error(val.where, context, f"{what} must be a name, got {_show(val)}")
        return None

    # -- delays ---------------------------------------------------------------------

    def delays(self, val: _Val, context: str) -> Optional[Tuple[int, ...]]:
        """Delays written as an int, an inclusive range ``"a:b"`` or a list of those.

        Returns the distinct delays in written order, or None if any problem was reported.
        """
        if isinstance(val, _Bad):
            return None
        if isinstance(val, _Seq):
            if not val.items:
                self.error(val.where, context, "the delay list is empty; write at least one "
                           "delay, e.g. [0] or [1, 2]")
                return None
            parts = [self.delay_item(item, context) for item in val.items]
            if any(p is None for p in parts):
                return None
            return self.distinct([(d, item.where) for p, item in zip(parts, val.items)
                                  for d in p], context)
        return self.delay_item(val, context)

    def delay_item(self, val: _Val, context: str) -> Optional[Tuple[int, ...]]:
        """One delay or one range, as a tuple."""
        if isinstance(val, _Bad):
            return None
        if isinstance(val, _Scalar) and type(val.value) is int:
            d = self.integer(val, context, "a delay", 0, MAX_DELAY)
            return None if d is None else (d,)
        if isinstance(val, _Scalar) and isinstance(val.value, str):
            return self.delay_range(val, context)
        self.error(val.where, context, "delays must be a non-negative integer, a list of them "
                   f"or an inclusive range like \"1:3\", got {_show(val)}")
        return None

    def delay_range(self, val: _Scalar, context: str) -> Optional[Tuple[int, ...]]:
        """An inclusive range ``"a:b"`` -> (a, a+1, ..., b)."""
        match = _RANGE_RE.match(val.value)
        if not match:
            self.error(val.where, context, f"bad delays '{val.value}'; write an integer, a list "
                       "of integers or an inclusive range like \"1:3\"")
            return None
        lo, hi = int(match.group(1)), int(match.group(2))
        if lo < 0:
            self.error(val.where, context, f"delay range '{val.value}' starts below 0; delays "
                       "are non-negative")
            return None
        if hi < lo:
            self.error(val.where, context, f"delay range '{val.value}' is empty; write the "
                       f"smaller delay first (\"{hi}:{lo}\")")
            return None
        if hi > MAX_DELAY:
            self.error(val.where, context, f"delay {hi} in '{val.value}' exceeds the limit of "
                       f"{MAX_DELAY}")
            return None
        return tuple(range(lo, hi + 1))

    def distinct(self, delays: List[Tuple[int, Where]], context: str
                 ) -> Optional[Tuple[int, ...]]:
        """Report repeated delays; a delay twice would silently double its weight block."""
        seen: Dict[int, Where] = {}
        ok = True
        for d, where in delays:
            if d in seen:
                ok = False
                self.error(where, context, f"delay {d} is listed twice (first at "
                           f"{seen[d]}); each delay of a link appears once")
            else:
                seen[d] = where
        return tuple(seen) if ok else None

    # -- values and inits -------------------------------------------------------------

    def init(self, val: _Val, context: str):
        """A constant (float) or the name of an init rule."""
        if isinstance(val, _Scalar) and isinstance(val.value, str):
            if val.value in INIT_RULES:
                return val.value
            self.error(val.where, context, _unknown(f"init rule '{val.value}'", val.value,
                                                    INIT_RULES, "or give a number"))
            return None
        if isinstance(val, _Scalar) and type(val.value) in (int, float):
            return self.number(val, context, "init")
        if not isinstance(val, _Bad):
            self.error(val.where, context, "init must be a number or one of "
                       f"{', '.join(INIT_RULES)}, got {_show(val)}")
        return None

    def numbers(self, items: List[_Val], context: str) -> Optional[Tuple[float, ...]]:
        """A list of finite numbers (every bad element is reported)."""
        out = [self.number(v, f"{context}[{i}]", "a value element")
               for i, v in enumerate(items)]
        return None if any(x is None for x in out) else tuple(out)

    def matrix(self, val: _Val, context: str) -> Optional[Tuple[Tuple[float, ...], ...]]:
        """A weight value: a rectangular list of rows, or one number for a 1 x 1 block."""
        if isinstance(val, _Scalar) and not isinstance(val.value, str):
            x = self.number(val, context, "value")
            return None if x is None else ((x,),)
        if not isinstance(val, _Seq):
            if not isinstance(val, _Bad):
                self.error(val.where, context, "a weight value must be a matrix (a list of rows "
                           f"such as [[0.5, -1.0]]), got {_show(val)}")
            return None
        if not val.items:
            self.error(val.where, context, "the weight value is empty")
            return None
        if not all(isinstance(row, _Seq) for row in val.items):
            self.error(val.where, context, "a weight value must be a list of rows, e.g. "
                       "[[0.5, -1.0]] for one row; got a flat list")
            return None
        rows = [self.numbers(row.items, f"{context}[{i}]") for i, row in enumerate(val.items)]
        if any(r is None for r in rows):
            return None
        width = len(rows[0])
        for i, (row, node) in enumerate(zip(rows, val.items)):
            if len(row) != width or width == 0:
                self.error(node.where, f"{context}[{i}]", f"row {i} has {len(row)} elements "
                           f"but row 0 has {width}; a weight value must be rectangular and "
                           "non-empty")
                return None
        return tuple(rows)

    def vector(self, val: _Val, context: str) -> Optional[Tuple[float, ...]]:
        """A bias value: a flat list of numbers, or one number for a 1-element bias."""
        if isinstance(val, _Scalar) and not isinstance(val.value, str):
            x = self.number(val, context, "value")
            return None if x is None else (x,)
        if not isinstance(val, _Seq):
            if not isinstance(val, _Bad):
                self.error(val.where, context, "a bias value must be a list of numbers, got "
                           f"{_show(val)}")
            return None
        if not val.items:
            self.error(val.where, context, "the bias value is empty")
            return None
        if any(isinstance(x, _Seq) for x in val.items):
            self.error(val.where, context, "a bias value is one flat list of numbers "
                       "(one per element of the layer), not a matrix")
            return None
        return self.numbers(val.items, context)

    def init_and_value(self, e, context: str, value_of):
        """Read ``init`` and ``value`` of a link or bias; they exclude each other."""
        init = value = None
        if "init" in e:
            init = self.init(e["init"][1], f"{context}.init")
        if "value" in e:
            value = value_of(e["value"][1], f"{context}.value")
        if "init" in e and "value" in e:
            self.error(e["value"][0], context, "give either init or value, not both "
                       "(value sets the initial numbers exactly)")
        return init, value

    # -- sections -------------------------------------------------------------------

    def spec(self, root: Optional[_Val], default_name: str) -> Optional[Spec]:
        """Check the top-level mapping and every section; None when nothing is usable."""
        if root is None:
            self.error(Where(self.file, 1, 1), "", "the spec is empty; it needs at least "
                       "'layers' and 'outputs'")
            return None
        if isinstance(root, _Bad):
            return None
        if not isinstance(root, _Map):
            self.error(root.where, "", "the top level of a spec must be a mapping with keys "
                       f"{', '.join(TOP_KEYS)}; got {_show(root)}")
            return None
        e = self.keys(root, TOP_KEYS, "", None)
        version = self.version(e.get("dyngraph"))
        name = self.text(e.get("name"), "name", default_name)
        description = self.text(e.get("description"), "description", "")
        inputs = self.section(e.get("inputs"), "inputs", "input", self.input, required=False)
        layers = self.section(e.get("layers"), "layers", "layer", self.layer, required=True,
                              where=root.where)
        memories = self.section(e.get("memories"), "memories", "memory", self.memory,
                                required=False)
        outputs, outputs_where = self.outputs(e.get("outputs"), root.where)
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
        if isinstance(val, _Scalar) and type(val.value) is int:
            if val.value != 1:
                self.error(val.where, "dyngraph", f"unsupported spec version {val.value}; this "
                           "dyngraph reads version 1 (dyngraph: 1)")
        elif not isinstance(val, _Bad):
            self.error(val.where, "dyngraph", "the spec version must be the integer 1 "
                       f"(dyngraph: 1), got {_show(val)}")
        return 1

    def text(self, entry, context: str, default: str) -> str:
        """A free-text field (name, description); numbers are kept as written."""
        if entry is None:
            return default
        val = entry[1]
        if isinstance(val, _Scalar):
            return default if val.value is None else val.raw
        if not isinstance(val, _Bad):
            self.error(val.where, context, f"{context} must be text, got {_show(val)}")
        return default

    def section(self, entry, context: str, item: str, read_item, required: bool,
                where: Optional[Where] = None) -> list:
        """A name-keyed section: check its shape, then read each item."""
        if entry is None:
            if required:
                self.error(where, "", f"the spec has no '{context}'; add a '{context}:' "
                           "mapping")
            return []
        key_where, val = entry
        if isinstance(val, _Scalar) and val.value is None and not required:
            return []
        if isinstance(val, _Bad):
            return []
        if not isinstance(val, _Map):
            self.error(val.where, context, f"{context} must be a mapping keyed by name, "
                       f"got {_show(val)}")
            return []
        if required and not val.entries:
            self.error(key_where, context, f"{context} is empty; define at least one")
        items = []
        for name, (name_where, body) in val.entries.items():
            sub = f"{context}.{name}"
            self.name(name, name_where, sub, item)
            items.append(read_item(name, name_where, body, sub))
        return items

    def input(self, name: str, where: Where, val: _Val, context: str) -> InputSpec:
        """``name: size`` or ``name: {size: N, feedback_of: layer}``."""
        feedback_of = None
        if isinstance(val, _Map):
            e = self.keys(val, INPUT_KEYS, context)
            if "size" in e:
                size = self.integer(e["size"][1], f"{context}.size", "size", 1, MAX_SIZE)
            else:
                size = None
                self.error(where, context, f"input '{name}' needs a size: "
                           f"{{size: N, feedback_of: ...}}")
            if "feedback_of" in e:
                feedback_of = self.source_name(e["feedback_of"][1], f"{context}.feedback_of",
                                               "feedback_of")
        else:
            size = self.integer(val, context, "an input size", 1, MAX_SIZE,
                                hint=f" (write {name}: 3, or {name}: {{size: 3, "
                                     "feedback_of: layer}})")
        return InputSpec(name=name, size=size or 1, feedback_of=feedback_of, where=where)

    def layer(self, name: str, where: Where, val: _Val, context: str) -> LayerSpec:
        """One layer: kind, size, transfer, net, bias and links, with kind's defaults."""
        if not isinstance(val, _Map):
            if not isinstance(val, _Bad):
                self.error(val.where, context, "a layer must be a mapping such as {size: 10, "
                           f"transfer: tanh, from: u}}, got {_show(val)}")
            return LayerSpec(name=name, where=where)
        e = self.keys(val, LAYER_KEYS, context, _LAYER_HINTS)
        kind, kind_ok = "layer", True
        if "kind" in e:
            kind, kind_ok = self.layer_kind(e["kind"][1], context)
        size = None
        if "size" in e:
            size = self.integer(e["size"][1], f"{context}.size", "size", 1, MAX_SIZE)
        elif kind == "layer" and kind_ok:   # a mistyped kind may have meant sum/product
            self.error(where, context, f"layer '{name}' needs a size (e.g. size: 10); only "
                       "kind: sum and kind: product may leave it to be inferred")
        transfer = "linear"
        if "transfer" in e:
            transfer = self.choice(e["transfer"][1], f"{context}.transfer", "transfer",
                                   TRANSFERS, TRANSFER_ALIASES) or "linear"
        return LayerSpec(name=name, kind=kind, size=size, transfer=transfer,
                         net=self.net(e.get("net"), kind, context),
                         bias=self.bias(e.get("bias"), kind, where, context),
                         links=self.links(e.get("from"), kind, name, where, context),
                         where=where)

    def layer_kind(self, val: _Val, context: str) -> Tuple[str, bool]:
        """``kind`` of a layer and whether it was valid; a memory kind written here is
        pointed to 'memories'."""
        if isinstance(val, _Scalar) and val.value in MEMORY_KINDS:
            self.error(val.where, f"{context}.kind", f"'{val.value}' is a memory kind; define "
                       f"{val.value} memories under 'memories:', not 'layers:'")
            return "layer", False
        kind = self.choice(val, f"{context}.kind", "kind", LAYER_KINDS)
        return kind or "layer", kind is not None

    def net(self, entry, kind: str, context: str) -> str:
        """``net``: free on a plain layer, implied (and only restatable) on sum/product."""
        implied = {"layer": "sum", "sum": "sum", "product": "prod"}[kind]
        if entry is None:
            return implied
        net = self.choice(entry[1], f"{context}.net", "net", NETS)
        if net is not None and kind != "layer" and net != implied:
            self.error(entry[1].where, f"{context}.net", f"kind: {kind} implies net: "
                       f"{implied}; remove 'net' or use kind: layer")
        return net or implied

    def bias(self, entry, kind: str, layer_where: Where, context: str) -> BiasSpec:
        """``bias: true|false|{init, value, learn}``; sum and product layers have none."""
        ctx = f"{context}.bias"
        if kind != "layer":
            if entry is not None:
                net = "prod" if kind == "product" else "sum"
                self.error(entry[0], ctx, f"a {kind} layer has no bias; remove 'bias', or use "
                           f"kind: layer with net: {net} if you want one")
            return BiasSpec(enabled=False, learn=False, where=layer_where)
        if entry is None:
            return BiasSpec(where=layer_where)
        key_where, val = entry
        if isinstance(val, _Scalar) and isinstance(val.value, bool):
            return BiasSpec(enabled=val.value, learn=val.value, where=key_where)
        if not isinstance(val, _Map):
            if not isinstance(val, _Bad):
                self.error(val.where, ctx, "bias must be true, false or a mapping "
                           f"{{init: ..., value: ..., learn: ...}}, got {_show(val)}")
            return BiasSpec(where=key_where)
        e = self.keys(val, BIAS_KEYS, ctx)
        learn = True
        if "learn" in e:
            learn = self.boolean(e["learn"][1], f"{ctx}.learn", "learn")
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
        if isinstance(val, _Bad):
            return ()
        if isinstance(val, _Scalar) and isinstance(val.value, str):
            source = self.source_name(val, ctx, "source")
            return (LinkSpec(source=source or "", weight=weight, learn=weight != "identity",
                             where=val.where),)
        if isinstance(val, _Seq):
            return self.link_list(val, weight, key_where, ctx)
        if isinstance(val, _Map):
            if not val.entries:
                self.error(key_where, ctx, "from is empty; name at least one source")
            return tuple(self.link(src, sw, sv, weight, f"{ctx}.{src}")
                         for src, (sw, sv) in val.entries.items())
        self.error(val.where, ctx, f"unknown source form {_show(val)}; write a name (from: u), "
                   "a list of names (from: [u, h]) or a mapping of source to delays "
                   "(from: {u: 0, y: \"1:2\"})")
        return ()

    def link_list(self, val: _Seq, weight: str, key_where: Where,
                  context: str) -> Tuple[LinkSpec, ...]:
        """``from: [u, h]``: delay-0 links in written order."""
        if not val.items:
            self.error(key_where, context, "from is empty; name at least one source")
        links, seen = [], {}
        for i, item in enumerate(val.items):
            if not (isinstance(item, _Scalar) and isinstance(item.value, str)):
                if not isinstance(item, _Bad):
                    self.error(item.where, f"{context}[{i}]", "items of a from list must be "
                               f"source names, got {_show(item)}; for delays use the mapping "
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

    def link(self, source: str, where: Where, val: _Val, weight: str,
             context: str) -> LinkSpec:
        """One entry of the mapping form: source -> delays, or source -> link options."""
        self.name(source, where, context, "source")
        if not isinstance(val, _Map):
            # `from: {u, h}` (YAML set syntax) gives null values: treat as delay 0.
            null = isinstance(val, _Scalar) and val.value is None
            delays = (0,) if null else self.delays(val, context)
            return LinkSpec(source=source, delays=delays or (0,), weight=weight,
                            learn=weight != "identity", where=where)
        e = self.keys(val, LINK_KEYS, context)
        delays = (0,)
        if "delays" in e:
            delays = self.delays(e["delays"][1], f"{context}.delays") or (0,)
        if "weight" in e:
            weight = self.choice(e["weight"][1], f"{context}.weight", "weight",
                                 WEIGHTS) or weight
        learn = weight != "identity"
        if "learn" in e:
            learn = self.boolean(e["learn"][1], f"{context}.learn", "learn")
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
                        init=init, value=value, where=where)

    def memory(self, name: str, where: Where, val: _Val, context: str) -> MemorySpec:
        """``{kind: gamma, from, order, mu, learn}`` or ``{kind: tdl, from, delays}``."""
        if not isinstance(val, _Map):
            if not isinstance(val, _Bad):
                self.error(val.where, context, "a memory must be a mapping such as {kind: "
                           f"gamma, from: u, order: 3, mu: 0.6}}, got {_show(val)}")
            return MemorySpec(name=name, kind="gamma", source="", where=where)
        kind = None
        if "kind" in val.entries:
            kind = self.choice(val.entries["kind"][1], f"{context}.kind", "memory kind",
                               MEMORY_KINDS)
        else:
            self.error(where, context, f"memory '{name}' needs a kind: gamma or tdl")
        allowed = {"gamma": GAMMA_KEYS, "tdl": TDL_KEYS}.get(kind, GAMMA_KEYS + TDL_KEYS[2:])
        e = self.keys(val, allowed, context, _MEMORY_HINTS)
        source = ""
        if "from" in e:
            fval = e["from"][1]
            if isinstance(fval, (_Seq, _Map)):
                self.error(fval.where, f"{context}.from", "a memory reads exactly one source; "
                           "write from: name")
            else:
                source = self.source_name(fval, f"{context}.from", "source") or ""
        else:
            self.error(where, context, f"memory '{name}' needs a source: from: name")
        if kind == "tdl":
            return self.tdl(name, where, e, source, context)
        if kind == "gamma":
            return self.gamma(name, where, e, source, context)
        # Without a valid kind, kind-specific "missing key" errors would only be noise.
        return MemorySpec(name=name, kind="gamma", source=source, where=where)

    def gamma(self, name, where, e, source, context) -> MemorySpec:
        """The gamma-specific keys: order (required), mu in (0, 2), learn."""
        order = None
        if "order" in e:
            order = self.integer(e["order"][1], f"{context}.order", "order", 1, MAX_SIZE)
        else:
            self.error(where, context, f"gamma memory '{name}' needs an order (order: K, K >= 1)")
        mu = 0.5
        if "mu" in e:
            mu_val = e["mu"][1]
            mu = self.number(mu_val, f"{context}.mu", "mu")
            if mu is not None and not 0.0 < mu < 2.0:
                self.error(mu_val.where, f"{context}.mu", f"mu must lie strictly between 0 and "
                           f"2 for a stable memory, got {mu_val.raw}")
        learn = True
        if "learn" in e:
            learn = self.boolean(e["learn"][1], f"{context}.learn", "learn")
        return MemorySpec(name=name, kind="gamma", source=source, order=order,
                          mu=mu if mu is not None else 0.5, learn=learn is not False,
                          where=where)

    def tdl(self, name, where, e, source, context) -> MemorySpec:
        """The tdl-specific key: delays (required)."""
        delays = ()
        if "delays" in e:
            delays = self.delays(e["delays"][1], f"{context}.delays") or ()
        else:
            self.error(where, context, f"tdl memory '{name}' needs delays, e.g. delays: \"1:3\"")
        return MemorySpec(name=name, kind="tdl", source=source, delays=delays, where=where)

    def outputs(self, entry, root_where: Where):
        """``outputs: [a, b]`` or ``outputs: a``; must name at least one node."""
        if entry is None:
            self.error(root_where, "", "the spec has no 'outputs'; add outputs: [name, ...]")
            return (), ()
        key_where, val = entry
        if isinstance(val, _Bad):
            return (), ()
        if isinstance(val, _Map):
            self.error(val.where, "outputs", "outputs must be a name or a list of names, "
                       "e.g. outputs: [y], got a mapping")
            return (), ()
        items = val.items if isinstance(val, _Seq) else [val]
        if not items or (isinstance(val, _Scalar) and val.value is None):
            self.error(key_where, "outputs", "outputs must list at least one node name, "
                       "e.g. outputs: [y]")
            return (), ()
        names, wheres, seen = [], [], {}
        for i, item in enumerate(items):
            ctx = f"outputs[{i}]" if isinstance(val, _Seq) else "outputs"
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
            self.error(item.where, f"{kinds[type(item)][1]}.{item.name}",
                       f"name '{item.name}' is already used by the {kinds[type(first)][0]} at "
                       f"{first.where}; inputs, layers and memories share one namespace")


# --------------------------------------------------------------------------------------
# Helpers for messages
# --------------------------------------------------------------------------------------

def _show(val: _Val) -> str:
    """How a value is named in a message."""
    if isinstance(val, _Seq):
        return "a list"
    if isinstance(val, _Map):
        return "a mapping"
    if isinstance(val, _Scalar):
        if val.value is None:
            return "nothing (null)"
        if isinstance(val.value, str):
            return f"'{val.raw}'"
        return val.raw
    return "an invalid value"


def _char(character) -> str:
    """A character named in a message (PyYAML gives some as code points)."""
    return repr(chr(character) if isinstance(character, int) else character)


def _unknown(what: str, word: str, allowed: Sequence[str], hint: Optional[str] = None) -> str:
    """``unknown <what>; did you mean '<x>'? (allowed here: ...)``."""
    message = f"unknown {what}"
    lower = {a.lower(): a for a in allowed}
    close = ([lower[word.lower()]] if word.lower() in lower
             else difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6))
    if close:
        message += f"; did you mean '{close[0]}'?"
    elif hint:
        message += f"; {hint}"
    return f"{message} (allowed here: {', '.join(allowed)})"


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

def loads_spec(text: str, file: str = "<string>", *, name: Optional[str] = None) -> Spec:
    """Parse and check a spec given as YAML text.

    Parameters
    ----------
    text : str
        The YAML source.
    file : str, optional
        Name used in reported positions and stored as ``Spec.file``.
    name : str, optional
        Network name used when the spec has no ``name`` key (default ``"net"``).

    Returns
    -------
    Spec
        The normalised spec, defaults applied, transfers canonical, every item positioned.

    Raises
    ------
    SpecError
        With every problem found, each ``file:line:col: context: message``.
    """
    # len(text) first: a huge string is refused without paying for its encoding.
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise SpecError(Problem(Where(file, 1, 1), "", f"the spec is larger than "
                                f"{MAX_FILE_BYTES} bytes (1 MiB); refusing to read it"))
    node = _compose(text, file)
    reader = _Reader(file)
    root = None if node is None else reader.tree(node, "")
    spec = reader.spec(root, name or "net")
    if reader.problems:
        raise SpecError(sorted(reader.problems, key=lambda p: (p.where.line, p.where.col)))
    return spec


def load_spec(path: Union[str, "os.PathLike[str]"]) -> Spec:
    """Read, parse and check a spec file.

    Parameters
    ----------
    path : str or path-like
        The YAML file. Its stem is the network name unless the spec gives ``name``.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        When the spec is invalid, larger than 1 MiB or not UTF-8.
    OSError
        When the file cannot be read.
    """
    file = os.fspath(path)
    if os.path.getsize(file) > MAX_FILE_BYTES:
        raise SpecError(Problem(Where(file, 1, 1), "", f"the spec is larger than "
                                f"{MAX_FILE_BYTES} bytes (1 MiB); refusing to read it"))
    with open(file, "rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError(Problem(Where(file, line, col), "", "the spec is not valid UTF-8 "
                                f"text ({err.reason})")) from None
    stem = os.path.splitext(os.path.basename(file))[0] or "net"
    return loads_spec(text, file, name=stem)
