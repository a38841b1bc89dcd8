"""A network's summary: one row per node (name, kind, size, parameters, details), as text
for the CLI and as HTML (with the folded diagram) for notebooks."""
from __future__ import annotations

import html
from typing import List

from .render import format_delays, to_dot

__all__ = ["node_rows", "summary_html"]


def _params_of(net, name) -> int:
    return sum(b.size for b in net.plan.blocks if b.learn and b.name.split(".")[0] == name)


def node_rows(net) -> List[List[str]]:
    """[name, kind, size, learnable parameters, details] for every node in order."""
    rows = []
    for name in net.order:
        data = net.graph.nodes[name]
        spec, kind, detail = data["spec"], data["kind"], ""
        if kind == "layer":
            kind = spec.kind
            links = sorted(net.graph.in_edges(name, data=True), key=lambda e: e[2]["pos"])
            srcs = ", ".join(f"{s}[{format_delays(d['delays'])}]" for s, _, d in links)
            detail = f"{spec.transfer}, net {spec.net}, " + \
                ("bias" if spec.bias.enabled else "no bias") + \
                (", backward in time" if spec.direction == "backward" else "") + \
                f"; from {srcs}"
        elif kind == "gamma":
            src = spec.source if tuple(spec.source_delays) == (0,) else \
                f"{spec.source}[{format_delays(spec.source_delays)}]"
            detail = f"order {spec.order}, mu {net.get(name + '.mu')[0]:.4g}; from {src}"
        elif kind == "tdl":
            detail = f"delays {format_delays(spec.delays)}; from {spec.source}"
        elif getattr(spec, "feedback_of", None):
            detail = f"feedback of {spec.feedback_of}"
        rows.append([name, kind, str(data["size"]), str(_params_of(net, name)), detail])
    return rows


def summary_html(net, diagram: bool = True) -> str:
    """A notebook cell's view: title line, the folded diagram (SVG, when Graphviz is
    installed) and the node table."""
    head = (f"<b>Net {html.escape(net.name)}</b>: inputs {html.escape(str(net.inputs))}, "
            f"outputs {html.escape(str(net.outputs))}, {net.n_params} learnable parameters")
    svg = ""
    if diagram:
        try:
            svg = to_dot(net).create_svg().decode("utf-8")
            svg = svg[svg.find("<svg"):]          # drop the XML prolog inside HTML
        except Exception:                         # no Graphviz: the table alone
            svg = ""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                    for row in node_rows(net))
    table = ("<table><tr><th>node</th><th>kind</th><th>size</th><th>parameters</th>"
             f"<th>details</th></tr>{cells}</table>")
    return f"<div>{head}<br>{svg}{table}</div>"
