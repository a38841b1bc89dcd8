"""The checked, normalised form of a spec: frozen dataclasses, every item with its position.

The loader (:mod:`dyngraph.loader`) turns YAML text into a :class:`Spec`; the graph builder
(:mod:`dyngraph.graph`) turns a :class:`Spec` into a networkx graph. Nothing here knows YAML
or networkx. Defaults are already applied by the loader: a ``sum``/``product`` layer's links
are ``identity`` and fixed, it has no bias, and its ``net`` is ``sum``/``prod``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

__all__ = [
    "Where", "Problem", "SpecError", "InputSpec", "LinkSpec", "BiasSpec", "LayerSpec",
    "MemorySpec", "Spec", "NOWHERE",
]


@dataclass(frozen=True)
class Where:
    """A position in a spec file (1-based line and column)."""

    file: str = "<spec>"
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Where()


@dataclass(frozen=True)
class Problem:
    """One error found in a spec: where it is, which item it concerns, what is wrong."""

    where: Where
    context: str
    message: str

    def __str__(self) -> str:
        ctx = f" {self.context}:" if self.context else ""
        return f"{self.where}:{ctx} {self.message}"


class SpecError(ValueError):
    """A spec (or the graph it describes) is invalid.

    ``problems`` holds every :class:`Problem` found; ``str(err)`` lists them one per line in
    compiler style ``file:line:col: where: message``.
    """

    def __init__(self, problems):
        if isinstance(problems, Problem):
            problems = [problems]
        # A block macro copies its links into every gate, so one mistake in them is found
        # once per gate: the same message at the same place is listed once. Items made in
        # Python have no place (line 0) and are all kept.
        seen, kept = set(), []
        for p in problems:
            key = (p.where, p.message)
            if p.where.line == 0 or key not in seen:
                seen.add(key)
                kept.append(p)
        self.problems = tuple(kept)
        super().__init__("\n".join(str(p) for p in self.problems))


#: An ``init`` is a constant (float) or one of the named rules.
Init = Union[None, float, str]
INIT_RULES = ("random", "zeros", "identity", "nguyen-widrow")


@dataclass(frozen=True)
class InputSpec:
    """An input node: data p(t) of ``size`` elements. ``feedback_of`` names the layer that
    this input stands for in series-parallel (open-loop) form."""

    name: str
    size: int
    feedback_of: Optional[str] = None
    where: Where = NOWHERE


@dataclass(frozen=True)
class LinkSpec:
    """A link ``source -> layer`` carrying a tapped delay line.

    ``delays`` are distinct non-negative ints in written order. ``weight`` is ``full``
    (value shape S x (k*n): column block j multiplies source(t - delays[j])), ``diagonal``
    (S x k, requires n == S) or ``identity`` (no parameters, requires n == S; sums the taps).
    ``value`` (nested tuples of floats, the documented layout) fixes the initial weights.
    ``gradient`` is ``pass`` or ``stop``: a stopped link carries values forward but no
    derivative back to its source (its own weight is still trained).
    """

    source: str
    delays: Tuple[int, ...] = (0,)
    weight: str = "full"
    learn: bool = True
    init: Init = None
    value: Optional[tuple] = None
    where: Where = NOWHERE
    gradient: str = "pass"


@dataclass(frozen=True)
class BiasSpec:
    """A layer's bias: absent (``enabled=False``), learnable or fixed, with an init/value."""

    enabled: bool = True
    learn: bool = True
    init: Init = None
    value: Optional[tuple] = None
    where: Where = NOWHERE


@dataclass(frozen=True)
class LayerSpec:
    """A layer: a(t) = f(n(t)), n = b + sum_links W a_s(t-d) (net ``sum``) or b * prod_links
    (W a_s) (net ``prod``). ``kind`` records how it was written (layer/sum/product);
    ``size`` is None when it is to be inferred; ``transfer`` is the canonical name."""

    name: str
    kind: str = "layer"
    size: Optional[int] = None
    transfer: str = "linear"
    net: str = "sum"
    bias: BiasSpec = field(default_factory=BiasSpec)
    links: Tuple[LinkSpec, ...] = ()
    where: Where = NOWHERE
    #: ``forward`` or ``backward`` (steps from T-1 down to 0; its delay-d links read t+d).
    direction: str = "forward"


@dataclass(frozen=True)
class MemorySpec:
    """A memory node on one source.

    ``gamma``: order K >= 1, mu in (0, 2), learnable unless ``learn`` is False; output
    [x_0; ...; x_K], size (K+1)*m. Its input x_0(t) is the source read through
    ``source_delays`` (d_1..d_j): x_0(t) = [s(t-d_1); ...; s(t-d_j)], m = j*n.
    ``tdl``: output [s(t-d_1); ...; s(t-d_k)], size k*n; delays written in ``from`` are
    its ``delays`` (so ``source_delays`` stays (0,)).
    """

    name: str
    kind: str
    source: str
    order: Optional[int] = None
    mu: float = 0.5
    learn: bool = True
    delays: Tuple[int, ...] = ()
    source_delays: Tuple[int, ...] = (0,)
    where: Where = NOWHERE


@dataclass(frozen=True)
class Spec:
    """A whole network description (spec language version 1)."""

    name: str = "net"
    description: str = ""
    inputs: Tuple[InputSpec, ...] = ()
    layers: Tuple[LayerSpec, ...] = ()
    memories: Tuple[MemorySpec, ...] = ()
    outputs: Tuple[str, ...] = ()
    outputs_where: Tuple[Where, ...] = ()
    file: str = "<spec>"
    version: int = 1
