"""Spec -> networkx multigraph, with the checks that need the whole graph, and the order.

Nodes carry ``kind`` ('input' | 'layer' | 'gamma' | 'tdl'), ``size``, ``spec`` (the
dataclass it came from) and ``index`` (declaration order). Each edge is one link and carries
``delays`` (tuple of ints), ``weight`` ('full' | 'diagonal' | 'identity' | None for memory
taps), ``link`` (the LinkSpec or None) and ``pos`` (the link's index within its target).
A gamma memory has an internal self-loop with delay 1 (its state).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Tuple

import networkx as nx

from ..language.description import MAX_PARAMS
from ..language.references import defined_names, reference_problems
from ..language.spec import LayerSpec, MemorySpec, Problem, Spec, SpecError
from .directions import direction_problems

__all__ = ["Graph", "build_graph", "zero_delay_graph"]


@dataclass(frozen=True)
class Graph:
    """A checked network graph.

    Attributes
    ----------
    spec : Spec
    nx : networkx.MultiDiGraph
    sizes : dict name -> int, every node's output size
    order : tuple of names, a simulation order (every delay-0 link goes forward)
    """

    spec: Spec
    nx: nx.MultiDiGraph
    sizes: Mapping[str, int]
    order: Tuple[str, ...]

    @property
    def inputs(self) -> Dict[str, int]:
        return {i.name: self.sizes[i.name] for i in self.spec.inputs}

    @property
    def outputs(self) -> Dict[str, int]:
        return {o: self.sizes[o] for o in self.spec.outputs}


def _links_of(node):
    """(source, delays, weight, LinkSpec|None) for each link read by a layer/memory."""
    if isinstance(node, LayerSpec):
        return [(l.source, tuple(l.delays), l.weight, l) for l in node.links]
    if node.kind == "gamma":
        return [(node.source, tuple(node.source_delays), None, None),
                (node.name, (1,), None, None)]
    return [(node.source, tuple(node.delays), None, None)]


def _infer_sizes(spec, problems) -> Dict[str, int]:
    sizes = {i.name: i.size for i in spec.inputs}
    for l in spec.layers:
        if l.size is not None:
            sizes[l.name] = l.size
    pending = [n for n in list(spec.layers) + list(spec.memories) if n.name not in sizes]
    known = {n.name for n in list(spec.inputs) + list(spec.layers) + list(spec.memories)}
    while pending:
        progress = False
        for node in list(pending):
            if isinstance(node, MemorySpec):
                if node.source in sizes:
                    m = sizes[node.source]
                    sizes[node.name] = m * (node.order + 1) * len(node.source_delays) \
                        if node.kind == "gamma" else m * len(node.delays)
                    pending.remove(node)
                    progress = True
                elif node.source not in known:
                    pending.remove(node)
                continue
            cand = [sizes[l.source] for l in node.links
                    if l.weight != "full" and l.source in sizes]
            if cand:
                sizes[node.name] = cand[0]
                pending.remove(node)
                progress = True
            elif all(l.weight == "full" for l in node.links):
                problems.append(Problem(node.where, f"layers.{node.name}",
                                        "size is required (it cannot be inferred from links "
                                        "with full weights)"))
                pending.remove(node)
        if not progress:
            for node in pending:
                problems.append(Problem(node.where, f"{_section(node)}.{node.name}",
                                        "cannot infer size: its sources' sizes are unknown "
                                        "(give `size`)"))
            break
    return sizes


def _section(node):
    return "memories" if isinstance(node, MemorySpec) else "layers"


def _shape_of(value):
    if not isinstance(value, tuple):
        return ()
    if value and isinstance(value[0], tuple):
        return (len(value), len(value[0]))
    return (len(value),)


def _check_links(spec, sizes, problems):
    allnames = defined_names(spec)
    for layer in spec.layers:
        S = sizes.get(layer.name)
        for link in layer.links:
            ctx = f"layers.{layer.name}.from.{link.source}"
            if link.source not in allnames:
                continue                    # reported by reference_problems
            n = sizes.get(link.source)
            if S is None or n is None:
                continue
            k = len(link.delays)
            if link.weight in ("identity", "diagonal") and n != S:
                problems.append(Problem(link.where, ctx,
                                        f"{link.weight} weight needs source size {n} equal to "
                                        f"layer size {S}"))
            if link.value is not None and link.weight != "identity":
                want = (S, k * n) if link.weight == "full" else (S, k)
                got = _shape_of(link.value)
                if got != want and not (got in ((), (1,)) and want == (1, 1)):
                    problems.append(Problem(link.where, ctx,
                                            f"value has shape {got}, expected {want} "
                                            f"({'S x k*n' if link.weight == 'full' else 'S x k'}"
                                            f" with S={S}, k={k}, n={n})"))
        b = layer.bias
        if b.enabled and b.value is not None and S is not None:
            got = _shape_of(b.value)
            if got != (S,) and not (got == () and S == 1):
                problems.append(Problem(b.where, f"layers.{layer.name}.bias",
                                        f"value has shape {got}, expected ({S},)"))
    layer_names = {l.name for l in spec.layers}
    for inp in spec.inputs:
        if inp.feedback_of is None or inp.feedback_of not in layer_names:
            continue
        ctx = f"inputs.{inp.name}.feedback_of"
        if sizes.get(inp.feedback_of) not in (None, inp.size):
            problems.append(Problem(inp.where, ctx,
                                    f"input size {inp.size} differs from layer "
                                    f"'{inp.feedback_of}' size {sizes[inp.feedback_of]}"))
    problems.extend(reference_problems(spec))


def _check_total_size(spec, sizes, problems):
    """Refuse a spec whose parameters alone would not fit in memory, before anything is
    allocated (each size may be within its own limit while their products are not)."""
    counts = []
    for layer in spec.layers:
        S = sizes[layer.name]
        n = sum(S * len(l.delays) * sizes[l.source] if l.weight == "full" else
                S * len(l.delays) if l.weight == "diagonal" else 0 for l in layer.links)
        counts.append((n + (S if layer.bias.enabled else 0), layer))
    total = sum(c for c, _ in counts)
    if total > MAX_PARAMS:
        count, biggest = max(counts, key=lambda c: c[0])
        problems.append(Problem(biggest.where, f"layers.{biggest.name}",
                                f"the spec has {total:,} weights and biases ({count:,} in layer "
                                f"'{biggest.name}'); the limit is {MAX_PARAMS:,} "
                                f"({MAX_PARAMS * 8 // 2**20} MiB of float64)"))


def zero_delay_graph(g: nx.MultiDiGraph) -> nx.DiGraph:
    """The instantaneous part of the graph: edges with a delay-0 tap."""
    z = nx.DiGraph()
    z.add_nodes_from(g.nodes)
    z.add_edges_from((u, v) for u, v, d in g.edges(data="delays") if 0 in d)
    return z


def build_graph(spec: Spec) -> Graph:
    """Check a spec as a whole and build its graph.

    Raises
    ------
    SpecError
        listing every problem: unknown sources/outputs, sizes that cannot be inferred or do
        not match, value shapes, and algebraic loops (cycles without a delay >= 1).

    Examples
    --------
    >>> from dyngraph.loader import loads_spec
    >>> g = build_graph(loads_spec("inputs: {u: 1}\\nlayers: {y: {size: 1, from: {u: 0, y: 1}}}\\noutputs: [y]"))
    >>> g.order
    ('u', 'y')
    """
    problems: List[Problem] = []
    sizes = _infer_sizes(spec, problems)
    _check_links(spec, sizes, problems)
    if not problems:
        _check_total_size(spec, sizes, problems)
    if problems:
        raise SpecError(problems)

    g = nx.MultiDiGraph(name=spec.name)
    index = 0
    for inp in spec.inputs:
        g.add_node(inp.name, kind="input", size=sizes[inp.name], spec=inp, index=index)
        index += 1
    for node in list(spec.layers) + list(spec.memories):
        kind = "layer" if isinstance(node, LayerSpec) else node.kind
        g.add_node(node.name, kind=kind, size=sizes[node.name], spec=node, index=index)
        index += 1
    for node in list(spec.layers) + list(spec.memories):
        for pos, (src, delays, weight, link) in enumerate(_links_of(node)):
            g.add_edge(src, node.name, delays=delays, weight=weight, link=link, pos=pos,
                       internal=link is None and src == node.name)

    z = zero_delay_graph(g)
    if not nx.is_directed_acyclic_graph(z):
        for comp in nx.strongly_connected_components(z):
            if len(comp) == 1 and not z.has_edge(*(2 * tuple(comp))):
                continue
            cycle = nx.find_cycle(z.subgraph(comp))
            names = [u for u, _ in cycle] + [cycle[0][0]]
            first = g.nodes[cycle[0][1]]["spec"]
            where = next((l.where for l in getattr(first, "links", ())
                          if l.source == cycle[0][0]), first.where)
            problems.append(Problem(where, f"{_section(first)}.{cycle[0][1]}",
                                    "algebraic loop (a cycle with no delay >= 1): "
                                    + " -> ".join(names)
                                    + "; give one link on it a delay of 1 or more"))
        raise SpecError(problems)
    problems.extend(direction_problems(g))
    if problems:
        raise SpecError(problems)
    order = tuple(nx.lexicographical_topological_sort(z, key=lambda n: g.nodes[n]["index"]))
    return Graph(spec=spec, nx=g, sizes=dict(sizes), order=order)
