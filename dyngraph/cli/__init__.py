"""The command line (``dyngraph validate|render|simulate|gradcheck|train|plot``): the top
of the flow; it may use everything below it."""
from .main import main

__all__ = ["main"]
