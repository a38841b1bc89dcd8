"""Read a YAML spec (language version 1) into a checked :class:`~dyngraph.language.Spec`.

Reading goes in stages, one module each:

1. :mod:`.yaml_tree` — text to PyYAML's node tree, which keeps every line and column and
   every duplicate key, refusing anchors, aliases, tags and deep nesting;
2. :mod:`.values` — nodes to a positioned value tree by the language's own scalar rules
   (``1:2`` stays the delay range it looks like instead of YAML 1.1's sexagesimal 62);
3. :mod:`.sections` — the sections, checked as the language description
   (:mod:`.description`) says;
4. :mod:`.references` — every name a spec uses (sources, outputs, feedback_of) is defined.

Every problem found is collected and raised together as one :class:`~.spec.SpecError`, each
as ``file:line:col: context: message``. What needs sizes -- that they fit, that there is no
algebraic loop -- is left to the graph builder, which reports it with the positions stored
here.

See ``docs/spec.md`` for the language reference.
"""
from __future__ import annotations

import os
from typing import Optional, Union

from .description import (LAYER_KINDS, MAX_DELAY, MAX_FILE_BYTES, MAX_NODES, MAX_SIZE,
                          MEMORY_KINDS, NETS, TRANSFER_ALIASES, TRANSFERS, WEIGHTS)
from .references import reference_problems
from .sections import SpecReader
from .spec import Problem, Spec, SpecError, Where
from .yaml_tree import compose

__all__ = [
    "load_spec", "loads_spec", "TRANSFERS", "TRANSFER_ALIASES", "WEIGHTS", "LAYER_KINDS",
    "NETS", "MEMORY_KINDS", "MAX_FILE_BYTES", "MAX_SIZE", "MAX_DELAY", "MAX_NODES",
]


def loads_spec(text: str, file: str = "<string>", *, name: Optional[str] = None,
               references: bool = True) -> Spec:
    """Parse and check a spec given as YAML text.

    Parameters
    ----------
    text : str
        The YAML source.
    file : str, optional
        Name used in reported positions and stored as ``Spec.file``.
    name : str, optional
        Network name used when the spec has no ``name`` key (default ``"net"``).
    references : bool, optional
        Check that every name used (sources, ``feedback_of``, outputs) is defined (default).
        False reads a fragment whose names are defined elsewhere; the graph builder still
        checks them when the spec is built.

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
    node = compose(text, file)
    reader = SpecReader(file)
    root = None if node is None else reader.tree(node, "")
    spec = reader.spec(root, name or "net")
    problems = list(reader.problems)
    if references and spec is not None and reader.sections_whole:
        # Names are checked in the same run, so an unknown source is not held back until
        # every other problem is fixed; a name that is itself reported invalid is skipped.
        problems += reference_problems(spec, skip=reader.bad_names)
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.where.line, p.where.col)))
    return spec


def load_spec(path: Union[str, "os.PathLike[str]"], *, references: bool = True) -> Spec:
    """Read, parse and check a spec file.

    Parameters
    ----------
    path : str or path-like
        The YAML file. Its stem is the network name unless the spec gives ``name``.
    references : bool, optional
        As for :func:`loads_spec`.

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
    return loads_spec(text, file, name=stem, references=references)
