"""Graph -> execution plan: kinds bound to nodes, components in order, what is recurrent.

The plan is the one structure every engine reads. It condenses the graph into strongly
connected components (all links, whatever their delay) in topological order. A component
with no cycle is computed for all T steps at once; a recurrent one steps through time, and
only inside itself: links from outside it are hoisted (computed over all T beforehand).

Components run one after another, each over the whole record, so a component in the
condensation order sees every value of the components before it. That is what lets a
``direction: backward`` component (stepped from T-1 down to 0) feed forward ones and back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

import networkx as nx

from .build import Graph
from .directions import direction_of
from ..kinds.table import KINDS, LinkInfo
from ..kinds.transfers import NoDerivative
from .params import Block, bias_block_name, blocks_of, mu_block_name, weight_block_name

__all__ = ["Plan", "NodePlan", "Component", "make_plan", "require_derivatives"]


@dataclass(frozen=True)
class NodePlan:
    """A node as the engines see it. ``lookback`` = the largest delay any link reads it
    with (its buffers keep that many past steps); ``kind`` is None for inputs."""

    name: str
    size: int
    lookback: int
    kind: object
    links: Tuple[LinkInfo, ...]
    #: the largest delay a backward layer reads it with (rows kept beyond the record's end)
    lookahead: int = 0


@dataclass(frozen=True)
class Component:
    """Nodes of one strongly connected component, in simulation order. ``inside[v]`` lists
    the link indices of v whose source is in the component (stepped); the others are hoisted.
    ``backward``: its layers are ``direction: backward`` (it steps from T-1 down to 0 and
    every delay-d link of its nodes reads t + d).
    """

    nodes: Tuple[str, ...]
    recurrent: bool
    inside: Dict[str, Tuple[int, ...]]
    backward: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything the engines need.

    Attributes
    ----------
    nodes : dict name -> NodePlan, in simulation order (inputs included)
    inputs, outputs : tuples of names
    components : tuple of Component (non-input nodes only), topologically ordered
    blocks : tuple of Block (parameter blocks, flat order)
    states : frozenset of names — non-input nodes read through a delay >= 1 (RTRL carries
             their sensitivities)
    consumers : dict name -> tuple of (target, link index)
    n_params : number of learnable scalars
    """

    nodes: Dict[str, NodePlan]
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    components: Tuple[Component, ...]
    blocks: Tuple[Block, ...]
    states: FrozenSet[str]
    consumers: Dict[str, Tuple[Tuple[str, int], ...]]
    n_params: int

    @property
    def backward(self) -> bool:
        """Whether any component steps backward in time (bidirectional specs)."""
        return any(c.backward for c in self.components)


def require_derivatives(plan: "Plan", what: str = "a gradient") -> None:
    """Raise :class:`~dyngraph.kinds.transfers.NoDerivative` (a ValueError) naming the
    first layer whose transfer has no derivative (argmax, sample) — before any work, rather
    than a failure deep inside a backward pass."""
    for name, node in plan.nodes.items():
        tr = getattr(node.kind, "transfer", None)
        if tr is not None and not tr.differentiable:
            raise NoDerivative(
                f"layer '{name}' uses transfer '{node.kind.transfer_name}', which has no "
                f"derivative; {what} cannot pass through it. Train the net with a "
                f"differentiable output (e.g. softmax) and pick symbols at generation time "
                f"(simulate/forecast with sample='argmax' or 'sample')")


def _kind_for(graph: Graph, name: str, links):
    data = graph.nx.nodes[name]
    spec, size = data["spec"], data["size"]
    if data["kind"] == "layer":
        bias = bias_block_name(name) if spec.bias.enabled else None
        return KINDS["layer"](size, links, spec.transfer, spec.net, bias, name=name)
    if data["kind"] == "gamma":
        return KINDS["gamma"](size, links, spec.order, mu_block_name(name))
    return KINDS["tdl"](size, links)


def _links_for(graph: Graph, name: str):
    edges = sorted(graph.nx.in_edges(name, data=True), key=lambda e: e[2]["pos"])
    links = []
    for src, _, d in edges:
        block = None
        if d["weight"] in ("full", "diagonal"):
            block = weight_block_name(name, src)
        stop = d["link"] is not None and d["link"].gradient == "stop"
        links.append(LinkInfo(src, tuple(d["delays"]), d["weight"], block, stop))
    return tuple(links)


def make_plan(graph: Graph) -> Plan:
    """Build the execution plan of a checked graph."""
    g = graph.nx
    lookback = {n: 0 for n in g.nodes}
    lookahead = {n: 0 for n in g.nodes}
    for u, v, d in g.edges(data="delays"):
        ahead = direction_of(g, v) == "backward"
        into = lookahead if ahead else lookback
        into[u] = max(into[u], max(d))
    nodes = {}
    inputs = tuple(i.name for i in graph.spec.inputs)
    for name in graph.order:
        if name in inputs:
            nodes[name] = NodePlan(name, graph.sizes[name], lookback[name], None, (),
                                   lookahead[name])
        else:
            links = _links_for(graph, name)
            nodes[name] = NodePlan(name, graph.sizes[name], lookback[name],
                                   _kind_for(graph, name, links), links, lookahead[name])

    position = {n: i for i, n in enumerate(graph.order)}
    cond = nx.condensation(nx.DiGraph(g))
    comp_order = nx.lexicographical_topological_sort(
        cond, key=lambda c: min(position[n] for n in cond.nodes[c]["members"]))
    components = []
    for c in comp_order:
        members = sorted(cond.nodes[c]["members"], key=position.get)
        if members[0] in inputs:
            continue
        mset = set(members)
        recurrent = len(members) > 1 or g.has_edge(members[0], members[0])
        inside = {v: tuple(i for i, l in enumerate(nodes[v].links) if recurrent
                           and l.source in mset) for v in members}
        backward = direction_of(g, members[0]) == "backward"
        components.append(Component(tuple(members), recurrent, inside, backward))

    states = frozenset(u for u, _, d in g.edges(data="delays")
                       if u not in inputs and max(d) >= 1)
    consumers = {n: [] for n in g.nodes}
    for name, node in nodes.items():
        for i, l in enumerate(node.links):
            consumers[l.source].append((name, i))
    blocks = tuple(blocks_of(graph))
    n_params = sum(b.size for b in blocks if b.learn)
    return Plan(nodes, inputs, tuple(graph.spec.outputs), tuple(components), blocks,
                states, {k: tuple(v) for k, v in consumers.items()}, n_params)
