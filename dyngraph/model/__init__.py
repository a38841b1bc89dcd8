"""The user's object: :class:`Net`, a checked network with its parameter values, wrapping
every stage below it (graph, engines, training's forecast, io's store, viz), and the
``load``/``loads`` that build one, and the presets (``narx``, ``timedelay``, ...).

Stage 7: only the command line and the package facade sit above it.
"""
from .net import Net, load_model
from .loading import load, loads
from .presets import arx, distdelay, layrec, narx, state_space, timedelay

__all__ = ["Net", "load_model", "load", "loads", "narx", "timedelay", "distdelay", "layrec",
           "state_space", "arx"]
