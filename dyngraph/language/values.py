"""Stage 2 of reading a spec: node tree -> positioned value tree, and the checks of values.

:class:`ValueReader` turns composed nodes into :class:`Scalar`, :class:`Seq` and
:class:`Map` (each with its :class:`~.spec.Where`) by the language's scalar rules, and holds
the checks every section shares: names, integers, numbers, choices, delays, inits, weight
and bias values. Every problem is recorded and checking goes on, so one run reports them all.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .description import INIT_RULES, MAX_DELAY, Key, Section
from .spec import Problem, Where
from .yaml_tree import REFUSED_TAG, SCALAR_TAGS, YAML_TAG, where_of

__all__ = ["Scalar", "Seq", "Map", "Bad", "Val", "ValueReader", "show", "unknown",
           "resolve_plain", "plain"]

_MAX_INT_DIGITS = 300            # float(int(...)) stays finite below ~308 digits
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {".inf": math.inf, "inf": math.inf, ".nan": math.nan, "nan": math.nan}
_RANGE_RE = re.compile(r"\s*([-+]?[0-9]+)\s*:\s*([-+]?[0-9]+)\s*\Z")
_NULLS = ("", "~", "null", "Null", "NULL")
_TRUES = ("true", "True", "TRUE")
_FALSES = ("false", "False", "FALSE")


@dataclass
class Scalar:
    """A resolved scalar: ``value`` is int, float, bool, None or str; ``raw`` its text."""

    value: object
    raw: str
    where: Where


@dataclass
class Seq:
    items: List["Val"]
    where: Where


@dataclass
class Map:
    """A mapping with string keys; ``entries[key] = (key position, value)``."""

    entries: Dict[str, Tuple[Where, "Val"]]
    where: Where


@dataclass
class Bad:
    """A node already reported as refused; checks skip it silently."""

    where: Where


Val = Union[Scalar, Seq, Map, Bad]


def resolve_plain(text: str):
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
        # Python refuses to convert more than 4300 digits; any integer that long is out of
        # every range of the language, so it becomes the float it overflows to (inf), which
        # the checks report with its position.
        return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)
    if _FLOAT_RE.match(text):
        return float(text)
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.lstrip("+"))
    if body.lower() in _SPECIAL_FLOATS:
        return sign * _SPECIAL_FLOATS[body.lower()]
    return text


_TAG_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "null": (type(None),)}


class ValueReader:
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

    def tree(self, node, context: str) -> Val:
        """Convert a composed node into a value tree, reporting refused constructs."""
        where = where_of(self.file, node.start_mark)
        if node.tag == REFUSED_TAG:
            self.error(where, context, node.refused)
            return Bad(where)
        if node.anchor is not None:
            self.error(where_of(self.file, node.anchor_mark), context,
                       f"anchor '&{node.anchor}' is not allowed; specs spell every value "
                       "out (anchors and aliases are refused)")
        if not self.tag_ok(node, where, context):
            return Bad(where)
        if isinstance(node, ScalarNode):
            return self.scalar(node, where, context)
        if isinstance(node, SequenceNode):
            return Seq([self.tree(item, f"{context}[{i}]")
                         for i, item in enumerate(node.value)], where)
        return self.mapping(node, where, context)

    def tag_ok(self, node, where: Where, context: str) -> bool:
        """Refuse explicit tags other than the standard YAML core ones."""
        tag = node.explicit_tag
        if tag is None:
            return True
        allowed = {ScalarNode: SCALAR_TAGS, SequenceNode: {YAML_TAG + "seq"},
                   MappingNode: {YAML_TAG + "map"}}[type(node)]
        if tag in allowed:
            return True
        shown = "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag
        self.error(where, context,
                   f"tag '{shown}' is not allowed; a spec is plain data (remove the tag)")
        return False

    def scalar(self, node: ScalarNode, where: Where, context: str) -> Val:
        """Resolve a scalar: quoted and block scalars are strings, plain ones by our rules."""
        tag = node.explicit_tag
        if tag == YAML_TAG + "str" or (tag is None and node.style is not None):
            return Scalar(node.value, node.value, where)
        value = resolve_plain(node.value)
        if tag is not None:
            kind = tag[len(YAML_TAG):]
            if not isinstance(value, _TAG_TYPES[kind]) or (
                    kind in ("int", "float") and isinstance(value, bool)):
                self.error(where, context, f"'{node.value}' is tagged !!{kind} but is not "
                           f"a valid {kind}")
                return Bad(where)
            if kind == "float":
                value = float(value)
        return Scalar(value, node.value, where)

    def mapping(self, node: MappingNode, where: Where, context: str) -> Val:
        """Convert a mapping, refusing non-scalar and duplicate keys."""
        entries: Dict[str, Tuple[Where, Val]] = {}
        for key_node, value_node in node.value:
            key = self.tree(key_node, context)
            if isinstance(key, Bad):
                continue
            if not isinstance(key, Scalar):
                self.error(key.where, context,
                           f"a key must be a plain name, got {show(key)}")
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
        return Map(entries, where)

    # -- small checks shared by all sections ---------------------------------------

    def keys(self, m: Map, section: Section, context: str,
             allowed: Optional[Sequence[str]] = None) -> Dict[str, Tuple[Where, Val]]:
        """The entries of ``m`` whose keys ``section`` allows (or ``allowed`` overrides);
        report the others with a did-you-mean or the section's pointed hint."""
        allowed = section.names() if allowed is None else allowed
        out = {}
        for key, entry in m.entries.items():
            if key in allowed:
                out[key] = entry
            else:
                self.error(entry[0], context, unknown(f"key '{key}'", key, allowed,
                                                      section.hints.get(key)))
        return out

    def read(self, section: Section, e: Dict[str, Tuple[Where, Val]], context: str,
             names: Sequence[str]) -> Dict[str, object]:
        """Read the keys ``names`` of ``section`` that are present in ``e`` by their
        description (type, range, choices) -> {key: value, or None after a problem}."""
        return {name: self.simple(section.key(name), e[name][1], f"{context}.{name}")
                for name in names if name in e}

    def simple(self, key: Key, val: Val, context: str):
        """One value of a simple type, checked as its :class:`~.description.Key` says."""
        t = key.type
        if t == "int":
            return self.integer(val, context, key.noun, key.lo, key.hi)
        if t == "number":
            x = self.number(val, context, key.noun)
            if x is not None and not ((key.above is None or x > key.above)
                                      and (key.below is None or x < key.below)):
                self.error(val.where, context, f"{key.noun} must lie strictly between "
                           f"{key.above:g} and {key.below:g}{key.why}, got {val.raw}")
                return None
            return x
        if t == "bool":
            return self.boolean(val, context, key.noun)
        if t == "choice":
            return self.choice(val, context, key.noun, key.choices, key.aliases)
        if t == "name":
            return self.source_name(val, context, key.noun)
        if t == "delays":
            return self.delays(val, context)
        if t == "init":
            return self.init(val, context)
        raise TypeError(f"key '{key.name}' of type {t} has its own reader")

    def name(self, name: str, where: Where, context: str, what: str) -> bool:
        """Check that ``name`` is a valid identifier."""
        if _NAME_RE.match(name):
            return True
        self.error(where, context, f"invalid {what} name '{name}'; names are letters, digits "
                   "and underscores, not starting with a digit")
        return False

    def integer(self, val: Val, context: str, what: str, lo: int, hi: int,
                hint: str = "") -> Optional[int]:
        """An int in ``[lo, hi]``, or None after reporting why not."""
        if isinstance(val, Bad):
            return None
        if isinstance(val, Scalar) and type(val.value) is int:
            if val.value < lo:
                self.error(val.where, context, f"{what} must be at least {lo}, got {val.value}")
                return None
            if val.value > hi:
                self.error(val.where, context,
                           f"{what} {val.value} exceeds the limit of {hi}")
                return None
            return val.value
        if _too_long(val):
            self.error(val.where, context, f"{what} {show(val)} exceeds the limit of {hi}")
            return None
        self.error(val.where, context, f"{what} must be an integer from {lo} to {hi}, got "
                   f"{show(val)}{hint}")
        return None

    def number(self, val: Val, context: str, what: str) -> Optional[float]:
        """A finite float (ints accepted), or None after reporting why not."""
        if isinstance(val, Bad):
            return None
        if isinstance(val, Scalar) and type(val.value) in (int, float):
            if math.isfinite(val.value):
                return float(val.value)
            self.error(val.where, context, f"{what} must be a finite number, got {show(val)}")
            return None
        self.error(val.where, context, f"{what} must be a number, got {show(val)}")
        return None

    def boolean(self, val: Val, context: str, what: str) -> Optional[bool]:
        """``true`` or ``false``, or None after reporting why not."""
        if isinstance(val, Scalar) and isinstance(val.value, bool):
            return val.value
        if not isinstance(val, Bad):
            self.error(val.where, context, f"{what} must be true or false, got {show(val)}")
        return None

    def choice(self, val: Val, context: str, what: str, allowed: Sequence[str],
               aliases: Optional[Dict[str, str]] = None) -> Optional[str]:
        """One word from ``allowed`` (or an alias, mapped to its target)."""
        aliases = aliases or {}
        if isinstance(val, Scalar) and isinstance(val.value, str):
            if val.value in allowed:
                return val.value
            if val.value in aliases:
                return aliases[val.value]
            known = list(allowed) + list(aliases)
            self.error(val.where, context, unknown(f"{what} '{val.value}'", val.value, known))
        elif not isinstance(val, Bad):
            self.error(val.where, context,
                       f"{what} must be one of {', '.join(allowed)}, got {show(val)}")
        return None

    def source_name(self, val: Val, context: str, what: str) -> Optional[str]:
        """A scalar that names a node."""
        if isinstance(val, Scalar) and isinstance(val.value, str):
            return val.value if self.name(val.value, val.where, context, what) else None
        if not isinstance(val, Bad):
            self.error(val.where, context, f"{what} must be a name, got {show(val)}")
        return None

    # -- delays ---------------------------------------------------------------------

    def delays(self, val: Val, context: str) -> Optional[Tuple[int, ...]]:
        """Delays written as an int, an inclusive range ``"a:b"`` or a list of those.

        Returns the distinct delays in written order, or None if any problem was reported.
        """
        if isinstance(val, Bad):
            return None
        if isinstance(val, Seq):
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

    def delay_item(self, val: Val, context: str) -> Optional[Tuple[int, ...]]:
        """One delay or one range, as a tuple."""
        if isinstance(val, Bad):
            return None
        if isinstance(val, Scalar) and (type(val.value) is int or _too_long(val)):
            d = self.integer(val, context, "a delay", 0, MAX_DELAY)
            return None if d is None else (d,)
        if isinstance(val, Scalar) and isinstance(val.value, str):
            return self.delay_range(val, context)
        self.error(val.where, context, "delays must be a non-negative integer, a list of them "
                   f"or an inclusive range like \"1:3\", got {show(val)}")
        return None

    def delay_range(self, val: Scalar, context: str) -> Optional[Tuple[int, ...]]:
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

    def init(self, val: Val, context: str):
        """A constant (float) or the name of an init rule."""
        if isinstance(val, Scalar) and isinstance(val.value, str):
            if val.value in INIT_RULES:
                return val.value
            self.error(val.where, context, unknown(f"init rule '{val.value}'", val.value,
                                                    INIT_RULES, "or give a number"))
            return None
        if isinstance(val, Scalar) and type(val.value) in (int, float):
            return self.number(val, context, "init")
        if not isinstance(val, Bad):
            self.error(val.where, context, "init must be a number or one of "
                       f"{', '.join(INIT_RULES)}, got {show(val)}")
        return None

    def numbers(self, items: List[Val], context: str) -> Optional[Tuple[float, ...]]:
        """A list of finite numbers (every bad element is reported)."""
        out = [self.number(v, f"{context}[{i}]", "a value element")
               for i, v in enumerate(items)]
        return None if any(x is None for x in out) else tuple(out)

    def matrix(self, val: Val, context: str) -> Optional[Tuple[Tuple[float, ...], ...]]:
        """A weight value: a rectangular list of rows, or one number for a 1 x 1 block."""
        if isinstance(val, Scalar) and not isinstance(val.value, str):
            x = self.number(val, context, "value")
            return None if x is None else ((x,),)
        if not isinstance(val, Seq):
            if not isinstance(val, Bad):
                self.error(val.where, context, "a weight value must be a matrix (a list of rows "
                           f"such as [[0.5, -1.0]]), got {show(val)}")
            return None
        if not val.items:
            self.error(val.where, context, "the weight value is empty")
            return None
        if not all(isinstance(row, Seq) for row in val.items):
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

    def vector(self, val: Val, context: str) -> Optional[Tuple[float, ...]]:
        """A bias value: a flat list of numbers, or one number for a 1-element bias."""
        if isinstance(val, Scalar) and not isinstance(val.value, str):
            x = self.number(val, context, "value")
            return None if x is None else (x,)
        if not isinstance(val, Seq):
            if not isinstance(val, Bad):
                self.error(val.where, context, "a bias value must be a list of numbers, got "
                           f"{show(val)}")
            return None
        if not val.items:
            self.error(val.where, context, "the bias value is empty")
            return None
        if any(isinstance(x, Seq) for x in val.items):
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

def plain(val: Val):
    """A value tree as plain Python data (dict, list, scalars), e.g. for a JSON Schema
    validator; refused nodes become None."""
    if isinstance(val, Map):
        return {key: plain(v) for key, (_, v) in val.entries.items()}
    if isinstance(val, Seq):
        return [plain(v) for v in val.items]
    if isinstance(val, Scalar):
        return val.value
    return None


def _too_long(val: Val) -> bool:
    """An integer literal too long to convert (resolved as inf)."""
    return (isinstance(val, Scalar) and type(val.value) is float
            and _INT_RE.match(val.raw) is not None)


def show(val: Val) -> str:
    """How a value is named in a message."""
    if isinstance(val, Seq):
        return "a list"
    if isinstance(val, Map):
        return "a mapping"
    if isinstance(val, Scalar):
        if val.value is None:
            return "nothing (null)"
        raw = val.raw if len(val.raw) <= 40 else f"{val.raw[:20]}… ({len(val.raw)} characters)"
        return f"'{raw}'" if isinstance(val.value, str) else raw
    return "an invalid value"


def unknown(what: str, word: str, allowed: Sequence[str], hint: Optional[str] = None) -> str:
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
