"""A link as the kinds and engines see it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["LinkInfo"]


@dataclass(frozen=True)
class LinkInfo:
    """A link as the kinds and engines see it. ``block`` names its weight parameter (None
    for identity / memories); ``k`` = number of taps, ``n`` = source size. ``stop``: the
    gradient engines send no derivative back through it to its source (values still pass,
    and its weight still gets its gradient from the recorded taps)."""

    source: str
    delays: Tuple[int, ...]
    weight: Optional[str] = None
    block: Optional[str] = None
    stop: bool = False

    @property
    def k(self):
        return len(self.delays)
