"""Node kinds: the one table of what a node computes and how it differentiates.

Stage 0 of the flow; it imports nothing else of dyngraph. The language takes its
vocabulary (transfer and weight names) from here, the plan and the engines its rules.
"""
from .table import *  # noqa: F401,F403
from .table import __all__  # noqa: F401
