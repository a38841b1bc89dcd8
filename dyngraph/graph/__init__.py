"""The graph: a checked networkx graph of a spec, its parameter blocks, its execution plan,
and the NARX form conversions (closeloop / openloop) on specs.

Stage 2 of the flow: :class:`Spec` -> :class:`Graph` -> :class:`Plan`. Imports only the
language and the kinds.
"""
from .build import Graph, build_graph
from .plan import Plan, make_plan
from .loops import closeloop, openloop

__all__ = ["Graph", "build_graph", "Plan", "make_plan", "closeloop", "openloop"]
