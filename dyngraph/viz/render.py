"""Diagrams of a network: the folded graph and the graph unrolled in time (pydot / graphviz).

Folded (``to_dot(net)``), left to right:

- an input is an arrow-shaped node (``cds``), with "feedback of y" for a series-parallel input;
- a layer is a rounded box: name, size and transfer, and its net function (``Σ W·a + b`` for
  ``net: sum``, ``b ∘ Π W·a`` for ``net: prod``; "b fixed" when the bias is not learned);
- a ``sum`` / ``product`` gate is a circle with ``+`` / ``×``, its name, size and (non-linear)
  transfer;
- a gamma memory is a 3-D box with its order K and current μ; a tdl memory shows its delays;
- every output has a double border;
- a ``direction: backward`` layer has ``←`` after its name, a rose fill and (folded) the
  line "backward in time".

Each edge is one link. Its label gives the tapped delay line (``d=1`` for one delay,
``TDL 1:2`` / ``TDL 0,2,5`` for several, nothing for a plain delay-0 link) and the weight
(``W 10×2`` full, ``diag 8×1``, ``id`` identity, none for a memory tap). Links without learned
weights (identity, ``learn: false``, memory taps) are dashed; links whose every delay is ≥ 1
are drawn in red, and those that run backwards in the simulation order (feedback) also get
``constraint=false`` so the layout stays left to right. A ``gradient: stop`` link has a bar
at its source end (``arrowtail=tee``: derivatives do not get past it) and the label line
``grad stop``, in both views.

Unrolled (``to_dot(net, unroll=T)``): a trellis — one column (cluster) per time step
t = 0..T-1 with one node per network node, the same node on the same row in every column,
positions pinned (neato); one edge per delay tap, from (s, t-d) to (v, t) — from (s, t+d) when v is a backward
layer —, a delayed one labelled ``d=…`` beside its arrow head. Taps that
would reach before t = 0 read the initial values (zero unless given to ``simulate``) and are
**not drawn**, nor are a backward layer's taps beyond T-1 (zeros); the diagram's title says
so. A gamma memory's state recursion appears as its
delay-1 tap from the previous step.

Names are never used as DOT identifiers (a layer may well be called ``node`` or ``graph``):
nodes are ``n<i>`` (folded) and ``n<i>_t<t>`` (unrolled), with ``i`` the position in
``net.order``; every label is an HTML-like label built with :func:`html.escape`.
"""
from __future__ import annotations

import html
import operator
import os
import shutil
import subprocess
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import networkx as nx
import pydot

from ..io.data_files import write_atomic

__all__ = ["to_dot", "render", "format_delays", "RenderError", "FORMATS"]

#: File extensions ``render`` understands: graphviz output formats, and DOT text.
IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "gv")
FORMATS = IMAGE_FORMATS + TEXT_FORMATS

DELAYED_COLOR = "#c0392b"
FIXED_COLOR = "#7f8c8d"
PLAIN_COLOR = "#000000"
FONT = "Helvetica"


class RenderError(ValueError):
    """A diagram cannot be written: unknown file extension, ``dot`` missing or failing."""


# --------------------------------------------------------------------------- text helpers
def format_delays(delays: Sequence[int]) -> str:
    """Compact text for a tapped delay line: contiguous increasing runs become ``a:b``.

    >>> format_delays((0, 1, 2, 3, 4))
    '0:4'
    >>> format_delays((1, 2, 5))
    '1:2,5'
    >>> format_delays((3, 1))
    '3,1'
    """
    parts: List[str] = []
    run: List[int] = []
    for d in delays:
        if run and d == run[-1] + 1:
            run.append(d)
            continue
        if run:
            parts.append(_run_text(run))
        run = [d]
    if run:
        parts.append(_run_text(run))
    return ",".join(parts)


def _run_text(run: List[int]) -> str:
    # Two delays also get the range form ("1:2"): that is how specs write them.
    return str(run[0]) if len(run) == 1 else f"{run[0]}:{run[-1]}"


def _delay_text(delays: Sequence[int]) -> str:
    """Edge text for a link's delays: '' for delay 0 only, 'd=3', or 'TDL 0:4'."""
    delays = tuple(delays)
    if delays == (0,):
        return ""
    if len(delays) == 1:
        return f"d={delays[0]}"
    return f"TDL {format_delays(delays)}"


def _e(text) -> str:
    """Escape text for an HTML-like label."""
    return html.escape(str(text), quote=True)


def _html(lines: Iterable[str]) -> str:
    """Join already-escaped lines into one HTML-like label ``<...>``."""
    return "<" + "<BR/>".join(lines) + ">"


def _small(text: str, size: int = 10) -> str:
    return f'<FONT POINT-SIZE="{size}">{text}</FONT>'


def _num(x: float) -> str:
    return f"{float(x):.4g}"


# --------------------------------------------------------------------------- node styles
def _ids(net) -> Dict[str, str]:
    """DOT identifier of every node: its position in the simulation order."""
    return {name: f"n{i}" for i, name in enumerate(net.order)}


def _is_gate(data) -> bool:
    spec = data["spec"]
    return data["kind"] == "layer" and getattr(spec, "kind", "layer") in ("sum", "product")


#: Fill of a ``direction: backward`` layer, so the two directions of a bidirectional net
#: stand apart at a glance.
BACKWARD_FILL = "#fbe3e8"


def _node_attrs(net, name: str, folded: bool, t: Optional[int] = None) -> Dict[str, str]:
    """Shape, colours and label of one node (folded, or its copy at step ``t``)."""
    data = net.graph.nodes[name]
    kind, size, spec = data["kind"], data["size"], data["spec"]
    backward = getattr(spec, "direction", "forward") == "backward"
    title = (f"<B>{_e(name)}</B>" + ("" if t is None else f"({t})")
             + (" ←" if backward else ""))
    attrs: Dict[str, str] = {"fontname": FONT, "style": "filled"}
    if kind == "input":
        lines = [title]
        if folded:
            lines.append(_small(f"input, size {size}"))
            if getattr(spec, "feedback_of", None):
                lines.append(_small(f"feedback of {_e(spec.feedback_of)}"))
        attrs.update(shape="cds", fillcolor="#dbe9f6")
    elif kind == "layer" and _is_gate(data):
        symbol = "+" if spec.net == "sum" else "×"
        lines = [f'<FONT POINT-SIZE="18">{symbol}</FONT>', title]
        if folded:
            extra = f"size {size}"
            if spec.transfer != "linear":
                extra += f" · {_e(spec.transfer)}"
            if spec.bias.enabled:
                extra += " · " + ("b ∘" if spec.net == "prod" else "+ b")
                extra += "" if spec.bias.learn else " fixed"
            lines.append(_small(extra, 9))
        attrs.update(shape="circle", fillcolor="#fdf2d0", margin="0.02")
    elif kind == "layer":
        lines = [title]
        if folded:
            lines.append(_small(f"size {size} · {_e(spec.transfer)}"))
            lines.append(_small(_e(_net_text(spec))))
        else:
            lines.append(_small(_e(spec.transfer), 9))
        attrs.update(shape="box", style="rounded,filled", fillcolor="#ffffff")
    elif kind == "gamma":
        lines = [title]
        if folded:
            mu = _num(net.get(f"{name}.mu")[0])
            learn = "" if spec.learn else " (fixed)"
            lines.append(_small(f"γ memory, K={spec.order}"))
            lines.append(_small(f"μ={mu}{learn} · size {size}"))
        attrs.update(shape="box3d", fillcolor="#e8f6e8")
    else:                                                        # tdl memory
        lines = [title]
        if folded:
            lines.append(_small(f"TDL {format_delays(spec.delays)} · size {size}"))
        attrs.update(shape="box3d", fillcolor="#e8f6e8")
    if backward:
        attrs["fillcolor"] = BACKWARD_FILL
        if folded:
            lines.append(_small("backward in time", 9))
    if name in net.outputs:
        attrs["peripheries"] = "2"
        if folded:
            lines.append(_small("output", 9))
    attrs["label"] = _html(lines)
    return attrs


def _net_text(spec) -> str:
    """A layer's net function in one line."""
    bias = spec.bias.enabled
    fixed = bias and not spec.bias.learn
    if spec.net == "prod":
        text = ("b ∘ " if bias else "") + "Π W·a"
    else:
        text = "Σ W·a" + (" + b" if bias else "")
    if not bias:
        text += ", no bias"
    elif fixed:
        text += ", b fixed"
    return text


# --------------------------------------------------------------------------- edge styles
def _is_fixed(data) -> bool:
    link = data.get("link")
    return data.get("weight") in (None, "identity") or (link is not None and not link.learn)


def _weight_text(net, src: str, dst: str, data) -> str:
    weight, link = data.get("weight"), data.get("link")
    k = len(data["delays"])
    S, n = net.sizes[dst], net.sizes[src]
    if weight == "full":
        text = f"W {S}×{k * n}"
    elif weight == "diagonal":
        text = f"diag {S}×{k}"
    elif weight == "identity":
        return "id"
    else:
        return ""
    if link is not None and not link.learn:
        text += " fixed"
    return text


def _is_stopped(data) -> bool:
    link = data.get("link")
    return link is not None and link.gradient == "stop"


def _edge_style(delayed: bool, fixed: bool, stopped: bool = False) -> Dict[str, str]:
    color = DELAYED_COLOR if delayed else (FIXED_COLOR if fixed else PLAIN_COLOR)
    attrs = {"color": color, "fontcolor": color, "fontname": FONT, "fontsize": "10",
             "style": "dashed" if fixed else "solid"}
    if delayed:
        attrs["penwidth"] = "1.6"
    if stopped:
        # Dashes already mean "fixed weight"; the bar marks where derivatives end.
        attrs.update(dir="both", arrowtail="tee")
    return attrs


def _title(net, extra: Sequence[str] = ()) -> str:
    lines = [f"<B>{_e(net.name)}</B>"]
    description = getattr(net.spec, "description", "")
    if description:
        lines.append(_small(_e(description)))
    lines.extend(_small(_e(x)) for x in extra)
    return _html(lines)


def _new_dot(net, extra_title: Sequence[str] = ()) -> pydot.Dot:
    # The graph's own DOT name is fixed; the net's name goes in the (escaped) title.
    dot = pydot.Dot("dyngraph", graph_type="digraph")
    dot.set("rankdir", "LR")
    dot.set("label", _title(net, extra_title))
    dot.set("labelloc", "t")
    dot.set("fontname", FONT)
    dot.set("nodesep", "0.35")
    dot.set("ranksep", "0.6")
    return dot


# --------------------------------------------------------------------------- folded
def _folded(net) -> pydot.Dot:
    dot = _new_dot(net)
    ids = _ids(net)
    position = {name: i for i, name in enumerate(net.order)}
    for name in net.order:
        dot.add_node(pydot.Node(ids[name], **_node_attrs(net, name, folded=True)))
    edges = sorted(net.graph.edges(keys=True, data=True),
                   key=lambda e: (position[e[1]], e[3].get("pos", 0)))
    for src, dst, _key, data in edges:
        delays = tuple(data["delays"])
        delayed = min(delays) >= 1
        attrs = _edge_style(delayed, _is_fixed(data), _is_stopped(data))
        if delayed and position[src] >= position[dst]:
            # Feedback: let it bend back instead of pulling its source to the right.
            attrs["constraint"] = "false"
        lines = [_e(x) for x in (_delay_text(delays), _weight_text(net, src, dst, data),
                                 "grad stop" if _is_stopped(data) else "") if x]
        if lines:
            attrs["label"] = _html(lines)
        dot.add_edge(pydot.Edge(ids[src], ids[dst], **attrs))
    return dot


# --------------------------------------------------------------------------- unrolled
def _zero_delay_depth(net) -> Dict[str, int]:
    """Longest chain of delay-0 links ending at each node (its column within a slice)."""
    z = nx.DiGraph()
    z.add_nodes_from(net.order)
    z.add_edges_from((u, v) for u, v, d in net.graph.edges(data="delays") if 0 in d)
    depth = {}
    for name in net.order:                       # net.order is topological for delay-0 links
        depth[name] = max((depth[u] + 1 for u in z.predecessors(name)), default=0)
    return depth


def unrolled_taps(net, T: int) -> List[Tuple[str, int, str, int, int, dict]]:
    """Every drawn tap of the unrolled graph: (source, t - d, target, t, d, edge data);
    (source, t + d, ...) when the target is a backward layer."""
    taps = []
    for src, dst, data in net.graph.edges(data=True):
        spec = net.graph.nodes[dst]["spec"]
        ahead = getattr(spec, "direction", "forward") == "backward"
        for d in data["delays"]:
            if ahead:
                taps.extend((src, t + d, dst, t, d, data) for t in range(T - d))
            else:
                taps.extend((src, t - d, dst, t, d, data) for t in range(d, T))
    return taps


#: Trellis geometry of the unrolled view, in inches: column (time step) and row (node) pitch.
TRELLIS_COLUMN, TRELLIS_ROW = 2.4, 1.05


def _unrolled(net, T: int) -> pydot.Dot:
    """The computation unrolled as a trellis: one column per time step, one row per node
    (the same node on the same row in every column), positions pinned so that the picture
    reads like the equations; delayed taps run from column t-d to column t, labelled."""
    note = (f"unrolled over T = {T} steps; taps that reach before t = 0 read the initial "
            f"values (zero unless given) and are not drawn")
    if any(getattr(s, "direction", "forward") == "backward" for s in net.spec.layers):
        note += "; nor are backward (←) layers' taps beyond t = T-1 (zero)"
    dot = _new_dot(net, [note])
    # neato with pinned positions draws the grid exactly (dot would rank the slices by
    # their edges and stagger them); splines route the long delayed taps around nodes.
    dot.set("layout", "neato")
    dot.set("splines", "true")
    dot.set("outputorder", "edgesfirst")
    ids = _ids(net)
    row = {name: i for i, name in enumerate(net.order)}
    for t in range(T):
        x = t * TRELLIS_COLUMN
        dot.add_node(pydot.Node(f"head_t{t}", shape="plaintext", fontname=FONT + " Bold",
                                fontsize="16", label=f"t = {t}",
                                pos=f"{x:.2f},{TRELLIS_ROW:.2f}!"))
        # The cluster groups a step's nodes (a frame in the picture); its title is the
        # header node above, since neato does not place cluster labels.
        cluster = pydot.Cluster(f"t{t}", label="", style="rounded", color="#bbbbbb")
        for name in net.order:
            attrs = _node_attrs(net, name, folded=False, t=t)
            attrs["pos"] = f"{x:.2f},{-row[name] * TRELLIS_ROW:.2f}!"
            cluster.add_node(pydot.Node(f"{ids[name]}_t{t}", **attrs))
        dot.add_subgraph(cluster)
    for src, t0, dst, t, d, data in unrolled_taps(net, T):
        attrs = _edge_style(d >= 1, _is_fixed(data), _is_stopped(data))
        if d >= 1:
            # Beside the arrow head, where the eye follows the tap to its reader.
            attrs["headlabel"] = _html([_e(f"d={d}")])
            attrs["labeldistance"] = "2.2"
            attrs["labelangle"] = "25"
        dot.add_edge(pydot.Edge(f"{ids[src]}_t{t0}", f"{ids[dst]}_t{t}", **attrs))
    return dot


# --------------------------------------------------------------------------- public API
def to_dot(net, unroll: Optional[int] = None) -> pydot.Dot:
    """The diagram of a network as a :class:`pydot.Dot`.

    Parameters
    ----------
    net : Net
    unroll : int >= 1 or None
        None: the folded graph. T: the computation unrolled over T time steps (t = 0..T-1).

    Returns
    -------
    pydot.Dot
    """
    if unroll is None:
        return _folded(net)
    try:
        T = operator.index(unroll)
    except TypeError:
        T = 0
    if isinstance(unroll, bool) or T < 1:
        raise RenderError(f"unroll must be a positive integer, got {unroll!r}")
    return _unrolled(net, T)


def render(net, path, unroll: Optional[int] = None) -> str:
    """Write the diagram to ``path``; the extension chooses the format.

    ``.svg``, ``.png``, ``.pdf`` are drawn by graphviz ``dot`` (which must be on PATH);
    ``.dot`` / ``.gv`` write the DOT text. The file is written to a temporary file in the
    same directory and moved into place, so a failed run never leaves half a file.

    Returns
    -------
    str : the path written

    Raises
    ------
    RenderError
        unknown extension, ``dot`` not installed, or ``dot`` failing.
    OSError
        the directory cannot be written.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise RenderError(f"{path}: cannot render to {shown}; use one of "
                          + ", ".join("." + f for f in FORMATS))
    text = to_dot(net, unroll=unroll).to_string()
    if ext in TEXT_FORMATS:
        data = text.encode("utf-8")
    else:
        data = _run_dot(text, ext, path)
    write_atomic(path, data)
    return path


def _run_dot(text: str, fmt: str, path: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(f"{path}: rendering to .{fmt} needs the graphviz 'dot' program, "
                          f"which is not on PATH (install graphviz, or write .dot text)")
    proc = subprocess.run([exe, f"-T{fmt}"], input=text.encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{path}: graphviz 'dot' failed (exit {proc.returncode}): {message}")
    return proc.stdout
