"""``load`` and ``loads``: the user's two doors into the pipeline (``dg.load``, ``dg.loads``)."""
from __future__ import annotations

import os

from ..language.loader import load_spec, loads_spec
from .net import Net, load_model

__all__ = ["load", "loads"]


def loads(text: str, file: str = "<string>", seed=0, init: str = "fanin") -> Net:
    """Build a :class:`Net` from spec text (YAML). Raises :class:`SpecError`.

    >>> import dyngraph as dg
    >>> dg.loads("inputs: {u: 1}\\nlayers: {y: {size: 1, from: u}}\\noutputs: [y]").order
    ('u', 'y')
    """
    return Net(loads_spec(text, file=file), seed=seed, init=init)


def load(path, seed=0, init: str = "fanin") -> Net:
    """Build a :class:`Net` from a spec file, or load a model saved with ``net.save``
    (a directory). Raises :class:`SpecError` for a bad spec, :class:`ModelError` for a
    broken model directory."""
    path = os.fspath(path)
    if os.path.isdir(path) or (not os.path.exists(path) and _interrupted_save(path)):
        return load_model(path)       # explains where the interrupted save left the model
    return Net(load_spec(path), seed=seed, init=init)


def _interrupted_save(path) -> bool:
    parent, name = os.path.split(os.path.abspath(path))
    try:
        return any(e.startswith(f".{name}.old-") for e in os.listdir(parent or "."))
    except OSError:
        return False
