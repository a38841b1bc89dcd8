"""Names a spec uses must be names it defines: link and memory sources, ``feedback_of``
and the outputs.

Both the loader (so that these problems come in the same run as all the others) and the
graph builder (for specs made in Python) use :func:`reference_problems`.
"""
from __future__ import annotations

import difflib
from typing import Collection, List

from .spec import Problem, Spec, Where

__all__ = ["reference_problems", "defined_names"]


def defined_names(spec: Spec) -> set:
    """Every name an input, layer or memory defines (one shared namespace)."""
    return {n.name for n in list(spec.inputs) + list(spec.layers) + list(spec.memories)}


def reference_problems(spec: Spec, skip: Collection[str] = ()) -> List[Problem]:
    """The problems of names used but not defined, each with a did-you-mean.

    Parameters
    ----------
    spec : Spec
    skip : names defined but already reported (invalid, or defined twice); a reference to
        one of them, or whose closest match is one of them, is left alone (fixing the
        definition fixes both).

    Returns
    -------
    list of Problem, in spec order.

    Examples
    --------
    >>> from dyngraph.language.spec import InputSpec, LayerSpec, LinkSpec, Spec
    >>> spec = Spec(inputs=(InputSpec("u", 1),), outputs=("y",),
    ...             layers=(LayerSpec("y", size=1, links=(LinkSpec("uu"),)),))
    >>> [p.message for p in reference_problems(spec)]
    ["unknown source 'uu' (did you mean 'u'?)"]
    """
    names = defined_names(spec)
    layer_names = {layer.name for layer in spec.layers}
    problems: List[Problem] = []

    def unknown(name, choices, where, context, message):
        if not name or name in choices or name in skip:
            return
        close = _closest(name, choices)
        if close is not None and close in skip:
            return
        hint = f" (did you mean '{close}'?)" if close is not None else ""
        problems.append(Problem(where, context, message + hint))

    for inp in spec.inputs:
        if inp.feedback_of is not None:
            unknown(inp.feedback_of, layer_names, inp.where, f"inputs.{inp.name}.feedback_of",
                    f"'{inp.feedback_of}' is not a layer")
    for layer in spec.layers:
        for link in layer.links:
            unknown(link.source, names, link.where, f"layers.{layer.name}.from.{link.source}",
                    f"unknown source '{link.source}'")
    for mem in spec.memories:
        unknown(mem.source, names, mem.where, f"memories.{mem.name}.from",
                f"unknown source '{mem.source}'")
    inputs = {i.name for i in spec.inputs}
    wheres = spec.outputs_where or (Where(),) * len(spec.outputs)
    for out, where in zip(spec.outputs, wheres):
        if out in skip:
            continue
        if out in inputs:
            problems.append(Problem(where, "outputs", f"'{out}' is an input, not a layer or "
                                    "memory"))
        else:
            unknown(out, names, where, "outputs", f"unknown output '{out}'")
    return problems


def _closest(name, choices):
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return close[0] if close else None
