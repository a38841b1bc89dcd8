"""Training and its workflow: train (LM, BR, gradient and scipy methods), optimizers,
block division of records, input/output scaling, closed-loop forecasting.

Stage 4 of the flow: works on any net-like object through its methods and on the
engines; imports nothing above the engines.
"""
