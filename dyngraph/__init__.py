"""dyngraph: dynamic neural networks from YAML specs — simulate, differentiate (BPTT, RTRL),
train, draw.

The package is laid out along its data flow (see ``docs/architecture.md``)::

    kinds -> language -> graph -> engines -> training -> io -> viz -> model -> cli

This module is the facade: it re-exports the public names of those stages.

>>> import dyngraph as dg
>>> net = dg.loads("inputs: {u: 1}\\nlayers: {y: {size: 1, from: u}}\\noutputs: [y]")
>>> net.order
('u', 'y')
"""
from __future__ import annotations

from ._version import __version__
from .engines.online import OnlineRTRL
from .engines.records import DataError
from .io.store import ModelError
from .language.spec import Problem, SpecError, Where
from .model import Net, arx, distdelay, layrec, load, loads, narx, state_space, timedelay
from .training.forecast import forecast
from .training.lags import suggest_lags
from .training.linear import fit_least_squares, fit_linear_path
from .training.prepare import preparets
from .training.api import train
from .training.restarts import RestartsResult
from .training.sweep import SweepResult, sweep
from .training.train import TrainResult

__all__ = ["load", "loads", "Net", "OnlineRTRL", "SpecError", "DataError", "ModelError", "Problem", "Where",
           "train", "TrainResult", "RestartsResult", "sweep", "SweepResult", "forecast", "preparets", "suggest_lags", "fit_least_squares", "fit_linear_path", "narx", "timedelay", "distdelay", "layrec",
           "state_space", "arx", "__version__"]
