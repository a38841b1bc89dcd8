"""Time directions of nodes: which layers step backward, and the check that a recurrent
component steps one way.

A ``direction: backward`` layer runs from the last step down to the first, and each of its
delay-d links reads its source at t + d. A recurrent component (strongly connected
component over all links) is stepped as one loop, so all its members share a direction;
memories always run forward. Links *between* components need no rule: a component runs
only after every component it reads from has run over the whole record, so any value of a
source at any step is known by then (reads beyond the record give zeros, or ``initial``
values before step 0).
"""
from __future__ import annotations

from typing import List

import networkx as nx

from ..language.spec import LayerSpec, Problem

__all__ = ["direction_of", "direction_problems"]


def direction_of(g: nx.MultiDiGraph, name: str) -> str:
    """'forward' or 'backward' (inputs and memories are forward)."""
    spec = g.nodes[name].get("spec")
    return spec.direction if isinstance(spec, LayerSpec) else "forward"


def direction_problems(g: nx.MultiDiGraph) -> List[Problem]:
    """One problem per recurrent component whose nodes do not share a direction, at the
    first node (in declaration order) that differs from the component's first node."""
    problems = []
    for comp in nx.strongly_connected_components(nx.DiGraph(g)):
        if len(comp) < 2:
            continue                    # a single node has one direction
        members = sorted(comp, key=lambda n: g.nodes[n]["index"])
        first = members[0]
        want = direction_of(g, first)
        for v in members[1:]:
            have = direction_of(g, v)
            if have == want:
                continue
            spec = g.nodes[v]["spec"]
            section = "layers" if isinstance(spec, LayerSpec) else "memories"
            what = (f"direction '{have}'" if isinstance(spec, LayerSpec)
                    else "a memory (memories always run forward)")
            problems.append(Problem(
                spec.where, f"{section}.{v}",
                f"{what} differs from '{first}' ({want}) on the same recurrent cycle "
                f"({', '.join(members)}); every node of a recurrent component steps in one "
                "direction — give them all the same `direction`, or break the cycle"))
            break
    return problems
