"""The reference tables of ``docs/spec.md``, generated from the language description.

The document keeps its prose; each table sits between two markers::

    <!-- generated: layer -->
    | key | default | value |
    ...
    <!-- end generated -->

and :func:`update` rewrites what lies between them. A test checks that the committed file is
current; after changing :mod:`.description` or a transfer, run::

    python -m dyngraph.language.reference docs/spec.md

Examples
--------
>>> print(key_table(SECTIONS["tdl"]).splitlines()[2])
| `kind` | **required** | `tdl` |
"""
from __future__ import annotations

import re
import sys
from typing import Callable, Dict

from ..kinds.transfers import TRANSFERS as _TRANSFER_RULES
from .description import REQUIRED, SECTIONS, TRANSFER_ALIASES, Key, Section

__all__ = ["key_table", "transfer_table", "TABLES", "update"]

_BLOCK = re.compile(r"(<!-- generated: ([a-z_]+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def key_table(section: Section) -> str:
    """A section's keys as a Markdown table: key, default, value."""
    rows = ["| key | default | value |", "|---|---|---|"]
    rows += [f"| `{k.name}` | {_default(k)} | {k.meaning} |" for k in section.keys]
    return "\n".join(rows) + "\n"


def transfer_table() -> str:
    """The transfer functions: canonical name, MATLAB alias, f(n)."""
    alias_of = {target: alias for alias, target in TRANSFER_ALIASES.items()}
    rows = ["| name | MATLAB alias | f(n) |", "|---|---|---|"]
    for name, rule in _TRANSFER_RULES.items():
        alias = f" `{alias_of[name]}` " if name in alias_of else " "
        rows.append(f"| `{name}` |{alias}| {rule.formula} |")
    return "\n".join(rows) + "\n"


def _default(key: Key) -> str:
    if key.shown_default:
        return key.shown_default
    if key.default is REQUIRED:
        return "**required**"
    if key.default is None or key.default == "":
        return "none"
    if isinstance(key.default, bool):
        return f"`{str(key.default).lower()}`"
    return f"`{key.default}`"


#: The generated tables by marker name.
TABLES: Dict[str, Callable[[], str]] = {
    **{name: (lambda s=section: key_table(s)) for name, section in SECTIONS.items()},
    "transfers": transfer_table,
}


def update(text: str) -> str:
    """``text`` with every generated block replaced by its current table.

    Raises
    ------
    KeyError
        For a marker that names no table.
    """
    def fill(m):
        return m.group(1) + TABLES[m.group(2)]() + m.group(4)
    return _BLOCK.sub(fill, text)


def main(argv=None) -> int:
    """Rewrite the generated tables of the Markdown files given (default docs/spec.md)."""
    paths = (argv if argv is not None else sys.argv[1:]) or ["docs/spec.md"]
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
        new = update(old)
        if new != old:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            print(f"{path}: tables updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
