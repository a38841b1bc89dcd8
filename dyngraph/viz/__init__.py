"""Drawing: Graphviz diagrams of nets (folded and unrolled) and the diagnostic plots.

Stage 6 of the flow; imports the stages before it (io for atomic writes).
"""
