"""The engines: simulate (forward), BPTT (reverse) and RTRL (forward sensitivities), the
losses they differentiate, and the conversion of user arrays to the engines' layout.

Stage 3 of the flow: a :class:`~dyngraph.graph.Plan` plus parameter values -> traces,
gradients, Jacobians. The engines know nothing about particular kinds: every rule comes
from :mod:`dyngraph.kinds` through the plan.
"""
from .heap import keep_large_arrays

keep_large_arrays()
