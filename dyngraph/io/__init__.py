"""Files: the model store (spec.yaml, weights.npz, meta.json; no pickle) and data files
(CSV, NPZ).

Stage 5 of the flow: takes and returns plain data (specs, arrays, dicts); imports the
language, the graph, the engines' data errors, never the user's ``Net``.
"""
