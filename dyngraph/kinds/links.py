"""A link as the kinds and engines see it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["LinkInfo"]


@dataclass(frozen=True)
class LinkInfo:
    """A link as the kinds and engines see it. ``block`` names its weight parameter (None
    for identity / memories); ``k`` = number of taps, ``n`` = source size."""

    source: str
    delays: Tuple[int, ...]
    weight: Optional[str] = None
    block: Optional[str] = None

    @property
    def k(self):
        return len(self.delays)
