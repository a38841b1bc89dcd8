"""dyngraph: dynamic neural networks from YAML specs — simulate, differentiate (BPTT, RTRL),
train, draw.

>>> import dyngraph as dg
>>> net = dg.loads("inputs: {u: 1}\\nlayers: {y: {size: 1, from: u}}\\noutputs: [y]")
>>> net.order
('u', 'y')
"""
from __future__ import annotations

import os

from .data import DataError
from .spec import Problem, SpecError, Where
from .network import Net
from .store import ModelError
from .train import TrainResult, train
from .forecast import forecast

__version__ = "0.1.0"

__all__ = ["load", "loads", "Net", "SpecError", "DataError", "ModelError", "Problem", "Where",
           "train", "TrainResult", "forecast", "__version__"]


def loads(text: str, file: str = "<string>", seed=0, init: str = "fanin") -> Net:
    """Build a :class:`Net` from spec text (YAML). Raises :class:`SpecError`."""
    from .loader import loads_spec
    return Net(loads_spec(text, file=file), seed=seed, init=init)


def load(path, seed=0, init: str = "fanin") -> Net:
    """Build a :class:`Net` from a spec file, or load a model saved with ``net.save``
    (a directory). Raises :class:`SpecError` for a bad spec."""
    path = os.fspath(path)
    if os.path.isdir(path):
        from .store import load_model
        return load_model(path)
    from .loader import load_spec
    return Net(load_spec(path), seed=seed, init=init)
