"""The spec language: frozen spec dataclasses, the positioned YAML loader, the writer.

Stage 1 of the flow: text -> :class:`Spec`. Imports only :mod:`dyngraph.kinds` (for the
names of transfers and weights).
"""
from .spec import (BiasSpec, InputSpec, LayerSpec, LinkSpec, MemorySpec, Problem, Spec,
                   SpecError, Where)
from .loader import load_spec, loads_spec
from .writer import spec_to_yaml

__all__ = ["Spec", "InputSpec", "LayerSpec", "LinkSpec", "BiasSpec", "MemorySpec", "Problem",
           "SpecError", "Where", "load_spec", "loads_spec", "spec_to_yaml"]
