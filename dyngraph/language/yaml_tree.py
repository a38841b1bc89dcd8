"""Stage 1 of reading a spec: YAML text -> PyYAML node tree, hardened.

The loader works on PyYAML's *node* tree (``yaml.compose``), never on ``yaml.safe_load``
output: every node carries its line and column; duplicate keys are still visible; and
scalars stay unresolved (:mod:`.values` resolves them by the language's own rules).
Anchors, aliases and nesting beyond :data:`~.description.MAX_DEPTH` are refused here.
"""
from __future__ import annotations

import yaml
from yaml.events import AliasEvent
from yaml.nodes import ScalarNode

from .description import MAX_DEPTH
from .spec import Problem, SpecError, Where

__all__ = ["compose", "where_of", "YAML_TAG", "SCALAR_TAGS", "REFUSED_TAG"]

YAML_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = {YAML_TAG + t for t in ("str", "int", "float", "bool", "null")}
REFUSED_TAG = "tag:dyngraph,refused"   # marks an alias we replaced by a dummy node


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
            node = ScalarNode(REFUSED_TAG, "", event.start_mark, event.end_mark)
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


def where_of(file: str, mark) -> Where:
    """The 1-based position of a PyYAML mark."""
    return Where(file, mark.line + 1, mark.column + 1)


def compose(text: str, file: str):
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
        raise SpecError(Problem(where_of(file, err.mark), "",
                                f"nesting deeper than {MAX_DEPTH} levels; a spec never "
                                "needs that many")) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = where_of(file, mark) if mark is not None else Where(file, 1, 1)
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


def _char(character) -> str:
    """A character named in a message (PyYAML gives some as code points)."""
    return repr(chr(character) if isinstance(character, int) else character)
