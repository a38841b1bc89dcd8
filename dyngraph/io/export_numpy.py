"""Export a net as a standalone Python module that needs only numpy (``net.export("m.py")``).

The module holds the plan as plain data — the nodes in simulation order, each with its kind
(input / layer / gamma / tdl), size, lookback, transfer, net function, links (source,
delays, weight type, weight values), bias, gamma ``mu`` — and the components in order
(a recurrent one steps through time, the others are computed for all steps at once), plus
a small interpreter of those rules written in numpy (:data:`RUNTIME`). Interpreting data
rather than generating code per net is what makes every spec exportable: the interpreter
is the one piece of code, the same for all nets, that tests check against the engines.

Weights are written as Python float literals (``repr``, which round-trips float64
exactly), so the module reproduces ``net.simulate`` to rounding (the same operations in
nearly the same order; the tests hold it to 1e-12).

A net with input/output scaling (:mod:`dyngraph.training.scaling`) carries it in the
module: inputs are scaled on the way in and outputs unscaled on the way out, so the
module, like the net, works in original units — its ``state`` too: the past values of
input and output nodes are in original units, hidden nodes' in the net's own, exactly the
state ``net.simulate(..., return_state=True)`` returns and ``initial=`` takes.

Stage 5 (io): takes plain data (the plan, the block values, the scaling maps), never a Net.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

import numpy as np

from .._version import __version__
from ..graph.plan import Plan

__all__ = ["describe", "module_source", "write_module", "RUNTIME", "RUNTIME_TRANSFERS",
           "ExportError"]


class ExportError(ValueError):
    """A net that cannot be exported to the format asked for (the message names why)."""


#: Transfers the embedded interpreter knows (tests check this covers dyngraph's table).
RUNTIME_TRANSFERS = ("linear", "tanh", "sigmoid", "relu", "softplus", "satlin", "satlins",
                     "hardlim", "hardlims", "softmax", "argmax")
#: Transfers no exported model can reproduce: a draw from dyngraph's seeded stream.
RANDOM_TRANSFERS = ("sample",)

ScalingMaps = Optional[Tuple[Mapping[str, Tuple[np.ndarray, np.ndarray]],
                             Mapping[str, Tuple[np.ndarray, np.ndarray]]]]


# --------------------------------------------------------------------------- plan -> data
def _value(values, block, what):
    a = np.asarray(values[block], dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ExportError(f"export: parameter block '{block}' ({what}) has NaN or inf values")
    return a


def describe(plan: Plan, values: Mapping[str, np.ndarray], scaling: ScalingMaps = None,
             name: str = "net") -> dict:
    """The plan and its values as plain data (what both exporters write).

    Parameters
    ----------
    plan : Plan
    values : dict block name -> array, every parameter block
    scaling : None, or (input maps, output maps), each name -> (center (n,), scale (n,))
              with ``scaled = (x - center) / scale``
    name : the net's name

    Returns
    -------
    dict with ``name``, ``inputs`` / ``outputs`` (lists of (name, size)), ``nodes`` (dicts
    in simulation order), ``components`` (lists of (recurrent, node names)), ``scaling``
    (None or {"inputs": {name: (center, scale)}, "outputs": {...}}).
    """
    if plan.backward:
        names = ", ".join(v for c in plan.components if c.backward for v in c.nodes)
        raise ExportError(f"export: layer(s) {names} have direction: backward; exported "
                          "models step forward one step at a time (a state carried from "
                          "step to step), so bidirectional nets cannot be exported")
    inside = {v: c.inside[v] for c in plan.components for v in c.nodes}
    nodes = []
    for nname, node in plan.nodes.items():
        d = {"name": nname, "size": node.size, "lookback": node.lookback}
        kind = node.kind
        if kind is None:
            d["kind"] = "input"
        elif kind.name == "layer":
            if kind.transfer_name in RANDOM_TRANSFERS:
                raise ExportError(f"export: node '{nname}': transfer "
                                  f"'{kind.transfer_name}' draws from dyngraph's random "
                                  f"stream, which an exported model cannot reproduce; "
                                  f"export the net with its softmax output instead")
            if kind.transfer_name not in RUNTIME_TRANSFERS:
                raise ExportError(f"export: node '{nname}': transfer '{kind.transfer_name}' "
                                  f"is not supported by the exporter")
            links = []
            for link in node.links:
                if link.weight in ("full", "diagonal"):
                    w = _value(values, link.block, f"weight of link {link.source} -> {nname}")
                elif link.weight == "identity":
                    w = None
                else:
                    raise ExportError(f"export: node '{nname}': weight '{link.weight}' of the "
                                      f"link from '{link.source}' is not supported")
                links.append((link.source, tuple(link.delays), link.weight, w))
            d.update(kind="layer", transfer=kind.transfer_name,
                     net="prod" if kind.prod else "sum", links=links,
                     bias=_value(values, kind.bias, "bias") if kind.bias else None,
                     inside=tuple(inside.get(nname, ())))
        elif kind.name == "gamma":
            mu = _value(values, kind.mu, "gamma mu").reshape(-1)
            d.update(kind="gamma", order=kind.K, mu=float(mu[0]),
                     links=[(l.source, tuple(l.delays), None, None) for l in node.links])
        elif kind.name == "tdl":
            d.update(kind="tdl",
                     links=[(l.source, tuple(l.delays), None, None) for l in node.links])
        else:
            raise ExportError(f"export: node '{nname}': kind '{kind.name}' is not supported "
                              f"by the exporter")
        nodes.append(d)
    components = [(bool(c.recurrent), list(c.nodes)) for c in plan.components]
    scal = None
    if scaling is not None:
        ins, outs = scaling
        pair = lambda cs: (np.asarray(cs[0], dtype=float), np.asarray(cs[1], dtype=float))
        scal = {"inputs": {k: pair(v) for k, v in ins.items()},
                "outputs": {k: pair(v) for k, v in outs.items()}}
    return {"name": name,
            "inputs": [(i, plan.nodes[i].size) for i in plan.inputs],
            "outputs": [(o, plan.nodes[o].size) for o in plan.outputs],
            "nodes": nodes, "components": components, "scaling": scal}


# --------------------------------------------------------------------------- data -> text
def _literal(obj, indent: str = "") -> str:
    """Python source of plain data; arrays as ``_arr(shape, [floats])`` with exact reprs."""
    if isinstance(obj, np.ndarray):
        flat = ", ".join(repr(float(x)) for x in obj.ravel())
        return f"_arr({tuple(int(s) for s in obj.shape)!r}, [{flat}])"
    if isinstance(obj, dict):
        inner = indent + "    "
        items = ",\n".join(f"{inner}{k!r}: {_literal(v, inner)}" for k, v in obj.items())
        return "{\n" + items + "}" if obj else "{}"
    if isinstance(obj, list):
        inner = indent + "    "
        simple = lambda x: isinstance(x, (str, int, bool)) or (
            isinstance(x, tuple) and all(isinstance(y, (str, int, bool)) for y in x))
        if all(simple(x) for x in obj):
            return repr(obj)
        return "[\n" + ",\n".join(inner + _literal(x, inner) for x in obj) + "]"
    if isinstance(obj, tuple):
        body = ", ".join(_literal(x, indent) for x in obj)
        return f"({body},)" if len(obj) == 1 else f"({body})"
    if isinstance(obj, float):
        return repr(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return repr(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as a literal")


def module_source(data: dict) -> str:
    """The text of the standalone module for ``describe``'s data."""
    head = (f'"""Standalone numpy model of the dyngraph net {data["name"]!r} '
            f'(exported by dyngraph {__version__}).\n\n'
            "Needs only numpy. API:\n\n"
            "    simulate(u, state=None, return_state=False, steps=None)\n"
            "        u: (T, n), (T,) or (Q, T, n) array (nets with one input) or a dict\n"
            "        name -> such arrays; returns the outputs in the same form (a bare\n"
            "        array when there is one output and u was bare), like net.simulate.\n"
            "    initial_state(Q=1) -> dict node -> (Q, L, n) zeros (the default past)\n"
            "    step(state, u_t) -> (state, y_t): one time step, u_t (Q, n) or (n,)\n\n"
            f"Inputs: {', '.join(f'{n} ({s})' for n, s in data['inputs']) or 'none'}; "
            f"outputs: {', '.join(f'{n} ({s})' for n, s in data['outputs'])}.\n"
            + ("Inputs, outputs and their past values in the state are in original units\n"
               "(the net's scaling is applied inside).\n"
               if data["scaling"] else "")
            + '"""\n')
    body = "\n".join(f"{key.upper()} = {_literal(data[key])}\n"
                     for key in ("name", "inputs", "outputs", "nodes", "components",
                                 "scaling"))
    return head + RUNTIME_HEAD + "\n" + body + "\n" + RUNTIME


def write_module(path, data: dict) -> None:
    """Write the module for ``describe``'s data to ``path`` (through a temporary file, so a
    failed write leaves no half module)."""
    path = os.fspath(path)
    text = module_source(data)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# --------------------------------------------------------------------------- the runtime
RUNTIME_HEAD = '''import numpy as np

__all__ = ["simulate", "step", "initial_state", "NAME", "INPUTS", "OUTPUTS"]


def _arr(shape, values):
    return np.array(values, dtype=np.float64).reshape(shape)
'''

#: The interpreter embedded in every exported module (numpy only). It follows
#: dyngraph.engines.simulate: buffers (L + T, Q, n) per node, past rows first; components
#: in order, a recurrent one stepped through time, the others computed for all T at once.
RUNTIME = r'''
# ------------------------------------------------------------------ the interpreter
def _sigmoid(n):
    return np.tanh(n * 0.5) * 0.5 + 0.5


def _softmax(n):
    z = np.exp(n - n.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _argmax(n):
    out = np.zeros(n.shape)
    np.put_along_axis(out, np.argmax(n, axis=-1)[..., None], 1.0, axis=-1)
    return out


_TRANSFERS = {
    "linear": lambda n: n,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda n: np.maximum(n, 0.0),
    "softplus": lambda n: np.logaddexp(0.0, n),
    "satlin": lambda n: np.clip(n, 0.0, 1.0),
    "satlins": lambda n: np.clip(n, -1.0, 1.0),
    "hardlim": lambda n: (n >= 0).astype(float),
    "hardlims": lambda n: np.where(n >= 0, 1.0, -1.0),
    "softmax": _softmax,
    "argmax": _argmax,
}

_NODES = {v["name"]: v for v in NODES}


def _weight(kind, W, X, k):
    """A link's contribution z (B, Q, S) from its stacked taps X (B, Q, k*n)."""
    if kind == "full":
        return X @ W.T
    Xt = X.reshape(X.shape[:-1] + (k, X.shape[-1] // k))
    if kind == "diagonal":
        return np.einsum("...js,sj->...s", Xt, W)
    return X if k == 1 else Xt.sum(axis=-2)         # identity


def _taps(A, link, t0, t1):
    """[s(t - d_1), ..., s(t - d_k)] for t in [t0, t1): (t1 - t0, Q, k*n)."""
    src, delays = link[0], link[1]
    L = _NODES[src]["lookback"]
    buf = A[src]
    return np.concatenate([buf[L + t0 - d:L + t1 - d] for d in delays], axis=-1)


def _layer(node, X):
    links = node["links"]
    inside = node["inside"]
    # Outside links first, then the bias, then the inside ones: the engine's order.
    order = [l for l in range(len(links)) if l not in inside] + list(inside)
    zs = [_weight(links[l][2], links[l][3], X[l], len(links[l][1])) for l in order]
    b = node["bias"]
    if node["net"] == "prod":
        n = zs[0]
        for z in zs[1:]:
            n = n * z
        if b is not None:
            n = n * b
    else:
        outside = len(links) - len(inside)
        n = None
        for i, z in enumerate(zs):
            if i == outside and b is not None:
                n = b if n is None else n + b
            n = z if n is None else n + z
        if b is not None and outside == len(zs):
            n = n + b
    return _TRANSFERS[node["transfer"]](n)


def _gamma(node, X):
    src, prev = X[0], X[1]
    m = node["size"] // (node["order"] + 1)
    mu = node["mu"]
    a = np.empty(prev.shape)
    a[..., :m] = src
    a[..., m:] = (1.0 - mu) * prev[..., m:] + mu * prev[..., :-m]
    return a


def _compute(node, A, t0, t1):
    X = [_taps(A, link, t0, t1) for link in node["links"]]
    if node["kind"] == "layer":
        return _layer(node, X)
    if node["kind"] == "gamma":
        return _gamma(node, X)
    return X[0]                                     # tdl


def _run(U, state, T, Q):
    """U: input -> (T, Q, n) in the net's units; state: node -> (Q, L, n).
    Returns (outputs -> (T, Q, n), new state)."""
    A = {}
    for node in NODES:
        name, L = node["name"], node["lookback"]
        buf = np.zeros((L + T, Q, node["size"]))
        if L and name in state:
            buf[:L] = np.swapaxes(state[name], 0, 1)
        if node["kind"] == "input":
            buf[L:] = U[name]
        A[name] = buf
    for recurrent, members in COMPONENTS:
        if not recurrent:
            node = _NODES[members[0]]
            A[node["name"]][node["lookback"]:] = _compute(node, A, 0, T)
            continue
        nodes = [_NODES[v] for v in members]
        for t in range(T):
            for node in nodes:
                A[node["name"]][node["lookback"] + t] = _compute(node, A, t, t + 1)[0]
    Y = {o: A[o][_NODES[o]["lookback"]:] for o, _ in OUTPUTS}
    new = {v["name"]: np.ascontiguousarray(np.swapaxes(A[v["name"]][T:T + v["lookback"]], 0, 1))
           for v in NODES if v["lookback"]}
    return Y, new


# ------------------------------------------------------------------ the user's layout
def _as_dict(u, what):
    names = [n for n, _ in INPUTS]
    if isinstance(u, dict):
        missing = [n for n in names if n not in u]
        unknown = [k for k in u if k not in names]
        if missing or unknown:
            raise ValueError(f"{what}: expected the inputs {names}, missing {missing}, "
                             f"unknown {unknown}")
        return dict(u), False
    if len(names) != 1:
        raise ValueError(f"{what}: the net has {len(names)} inputs {names}: pass a dict")
    return {names[0]: u}, True


def _scale_in(U):
    if SCALING is None:
        return U
    return {k: (v - SCALING["inputs"][k][0]) / SCALING["inputs"][k][1] for k, v in U.items()}


def _scale_out(Y):
    if SCALING is None:
        return Y
    return {k: v * SCALING["outputs"][k][1] + SCALING["outputs"][k][0] for k, v in Y.items()}


def _convert_state(state, into):
    """Input and output nodes' past values are in original units outside (like the net's
    state), scaled inside; hidden nodes have no original units and pass unchanged."""
    if SCALING is None:
        return state
    maps = dict(SCALING["inputs"])
    maps.update(SCALING["outputs"])
    out = {}
    for k, a in state.items():
        if k in maps:
            c, s = maps[k]
            a = (a - c) / s if into else a * s + c
        out[k] = a
    return out


def _zeros(Q):
    return {v["name"]: np.zeros((Q, v["lookback"], v["size"])) for v in NODES if v["lookback"]}


def initial_state(Q=1):
    """The default past (zeros inside the net), node -> (Q, L, n), for every node read with
    a delay; in the layout simulate(..., return_state=True) returns."""
    return _convert_state(_zeros(Q), into=False)


def _state(state, Q):
    if state is None:
        return _zeros(Q)
    out = {}
    for v in NODES:
        if v["lookback"] and v["name"] in state:
            a = np.asarray(state[v["name"]], dtype=float)
            if a.ndim == 1 and v["size"] == 1:           # (L,) for a signal of size 1
                a = a[:, None]
            out[v["name"]] = np.broadcast_to(a, (Q, v["lookback"], v["size"]))
    return _convert_state(out, into=True)


def simulate(u=None, state=None, return_state=False, steps=None):
    """Run the net.

    u : array (T, n) / (T,) / (Q, T, n) (a net with one input), or dict input -> arrays
    state : dict node -> (Q, L, n) or (L, n) past values, oldest first (as returned with
            return_state, or net.simulate's state); None = the net's default (zeros inside)
    steps : number of steps, for a net without inputs (then Q comes from the state, or 1)

    Returns the outputs like net.simulate (dict by name, or a bare array for one output
    when u was bare), and the state when asked.
    """
    if not INPUTS:
        if steps is None:
            raise ValueError("this net has no inputs: pass steps=T")
        batched = any(np.ndim(a) == 3 for a in (state or {}).values())
        Q = next(np.shape(a)[0] for a in state.values() if np.ndim(a) == 3) if batched else 1
        Y, new = _run({}, _state(state, Q), int(steps), Q)
        flat = bare = False
    else:
        U, bare = _as_dict(u, "simulate")
        sizes = dict(INPUTS)
        internal, batched, flat = {}, False, False
        for k, v in U.items():
            a = np.asarray(v, dtype=float)
            if a.ndim == 1 and sizes[k] == 1:
                a, flat = a[None, :, None], True
            elif a.ndim == 2:
                a = a[None]
            elif a.ndim == 3:
                batched = True
            if a.ndim != 3 or a.shape[2] != sizes[k]:
                raise ValueError(f"input {k!r}: shape {np.shape(v)}, expected (T, {sizes[k]}) "
                                 f"or (Q, T, {sizes[k]})")
            internal[k] = np.swapaxes(a, 0, 1)
        Q, T = next(iter(internal.values())).shape[1], next(iter(internal.values())).shape[0]
        Y, new = _run(_scale_in(internal), _state(state, Q), T, Q)
    Y, new = _scale_out(Y), _convert_state(new, into=False)
    out = {}
    for k, a in Y.items():
        a = np.ascontiguousarray(np.swapaxes(a, 0, 1))
        if not batched:
            a = a[0]
            if flat and bare and a.shape[-1] == 1:
                a = a[:, 0]
        out[k] = a
    if bare and len(out) == 1:
        out = next(iter(out.values()))
    if not batched:                   # one sequence: (L, n) past values, like net.simulate
        new = {k: a[0] for k, a in new.items()}
    return (out, new) if return_state else out


def step(state, u_t=None):
    """One time step: u_t (Q, n) or (n,) arrays (bare for one input, or a dict); state as
    from initial_state(Q) (None = the default). Returns (new state node -> (Q, L, n),
    outputs at this step (Q, n) or (n,))."""
    if not INPUTS:
        Q = next(iter(state.values())).shape[0] if state else 1
        Y, new = _run({}, _state(state, Q), 1, Q)
        return _convert_state(new, into=False), {k: v[0] for k, v in _scale_out(Y).items()}
    U, bare = _as_dict(u_t, "step")
    batched = any(np.ndim(v) == 2 for v in U.values())
    internal = {k: np.asarray(v, dtype=float).reshape(1, -1, dict(INPUTS)[k])
                for k, v in U.items()}
    Q = next(iter(internal.values())).shape[1]
    Y, new = _run(_scale_in(internal), _state(state, Q), 1, Q)
    Y = {k: v[0] if batched else v[0, 0] for k, v in _scale_out(Y).items()}
    if bare and len(Y) == 1:
        Y = next(iter(Y.values()))
    return _convert_state(new, into=False), Y
'''
