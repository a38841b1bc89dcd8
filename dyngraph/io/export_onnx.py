"""Export a net as an ONNX model (``net.export("m.onnx")``), for onnxruntime and other tools.

The model works in float64. Its graph inputs and outputs are named as in the spec, each a
(Q, T, n) tensor (Q and T symbolic). The whole net runs inside one ``Scan`` over time (axis
1 of the inputs): the Scan's state carries, for every node read with a delay, its last L
values (Q, L, n), oldest first, starting from zeros (the engines' default past); the body
computes every node once per step, in simulation order, from the plain data of
:func:`dyngraph.io.export_numpy.describe`. One generic body serves every net, feedforward
or recurrent; a feedforward net pays a per-step loop it would not need, which is the price
of a single construction that covers every spec.

Supported: every node kind (layer, gamma memory, tapped delay line), every weight type
(full, diagonal, identity), sum and product nets, every transfer of dyngraph's table, and
input/output scaling (applied before and after the Scan). Not supported (an
:class:`~dyngraph.io.export_numpy.ExportError` naming the reason): a net without inputs —
the Scan takes the number of steps T from an input — and initial states other than zeros
(the ONNX model has no state inputs; use the numpy export for that).

Stage 5 (io): plain data in, a file out. Needs the optional ``onnx`` package.
"""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from .export_numpy import RUNTIME_TRANSFERS, ExportError

__all__ = ["write_onnx", "onnx_model", "OPSET"]

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("export to .onnx needs the 'onnx' package (pip install onnx)") \
            from None
    return onnx


class _Builder:
    """Collects nodes of one graph, naming every value uniquely."""

    def __init__(self, onnx, prefix, consts):
        self.onnx, self.h = onnx, onnx.helper
        self.prefix, self.nodes, self.consts, self.count = prefix, [], consts, 0

    def name(self, what):
        self.count += 1
        return f"{self.prefix}{what}#{self.count}"

    def op(self, op_type, inputs, what="v", **attrs):
        out = self.name(what)
        self.nodes.append(self.h.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def const(self, value, what="c", dtype=np.float64):
        """A constant: an initializer of the main graph, a Constant node in the Scan body
        (shape inference does not see outer-scope initializers' shapes)."""
        tensor = self.onnx.numpy_helper.from_array(
            np.array(value, dtype=dtype, order="C"))    # keeps 0-d (a scalar index)
        if self.consts is None:
            out = self.name(f"const/{what}")
            self.nodes.append(self.h.make_node("Constant", [], [out], name=out, value=tensor))
            return out
        tensor.name = f"const/{what}#{len(self.consts)}"
        self.consts.append(tensor)
        return tensor.name

    def ints(self, values, what="i"):
        return self.const(np.asarray(values, dtype=np.int64), what, np.int64)


def _transfer(b: _Builder, name: str, n: str, node: str) -> str:
    """a = f(n) as ONNX operators (only ones onnxruntime runs in float64)."""
    # Constants made on use: an unused one would be a warning in onnxruntime.
    zero, one = (lambda: b.const(0.0, "zero")), (lambda: b.const(1.0, "one"))
    if name == "linear":
        return n
    if name == "tanh":
        return b.op("Tanh", [n])
    if name == "sigmoid":                    # (1 + tanh(n/2)) / 2, as the engines compute it
        half = b.const(0.5, "half")
        t = b.op("Tanh", [b.op("Mul", [n, half])])
        return b.op("Add", [b.op("Mul", [t, half]), half])
    if name == "relu":
        return b.op("Max", [n, zero()])
    if name == "softplus":                   # max(n, 0) + log(1 + e^-|n|): never overflows
        e = b.op("Exp", [b.op("Neg", [b.op("Abs", [n])])])
        return b.op("Add", [b.op("Max", [n, zero()]), b.op("Log", [b.op("Add", [e, one()])])])
    if name == "satlin":
        return b.op("Min", [b.op("Max", [n, zero()]), one()])
    if name == "satlins":
        return b.op("Min", [b.op("Max", [n, b.op("Neg", [one()])]), one()])
    if name in ("hardlim", "hardlims"):
        low = zero() if name == "hardlim" else b.const(-1.0, "minus_one")
        return b.op("Where", [b.op("GreaterOrEqual", [n, zero()]), one(), low])
    if name == "softmax":
        return b.op("Softmax", [n], axis=-1)
    if name == "argmax":
        # Hardmax runs only in float32 in onnxruntime, where distinct doubles may tie: the
        # first maximum in float64 is the maximum whose running count of maxima is 1.
        double = b.onnx.TensorProto.DOUBLE
        top = b.op("ReduceMax", [n], axes=[-1], keepdims=1)
        at_top = b.op("Cast", [b.op("Equal", [n, top])], to=double)
        count = b.op("CumSum", [at_top, b.ints(-1, "last_axis")])
        first = b.op("Cast", [b.op("Equal", [count, one()])], to=double)
        return b.op("Mul", [at_top, first])
    raise ExportError(f"export to .onnx: node '{node}': transfer '{name}' has no ONNX form")


def _body(onnx, data):
    """The Scan body: (states..., inputs at t...) -> (new states..., outputs at t...)."""
    h, T = onnx.helper, onnx.TensorProto.DOUBLE
    b = _Builder(onnx, "step/", None)
    nodes = {v["name"]: v for v in data["nodes"]}
    stateful = [v for v in data["nodes"] if v["lookback"]]
    state_in = {v["name"]: f"state_in/{v['name']}" for v in stateful}
    inputs = [h.make_tensor_value_info(state_in[v["name"]], T, ["Q", v["lookback"], v["size"]])
              for v in stateful]
    inputs += [h.make_tensor_value_info(f"input_t/{n}", T, ["Q", s]) for n, s in data["inputs"]]
    cur: Dict[str, str] = {n: f"input_t/{n}" for n, _ in data["inputs"]}

    def tap(src, d):
        if d == 0:
            return cur[src]
        L = nodes[src]["lookback"]
        return b.op("Gather", [state_in[src], b.ints(L - d, "tap")], f"{src}(t-{d})", axis=1)

    def stacked(link):
        taps = [tap(link[0], d) for d in link[1]]
        return taps[0] if len(taps) == 1 else b.op("Concat", taps, axis=1)

    for v in data["nodes"]:
        if v["kind"] == "input":
            continue
        name = v["name"]
        if v["kind"] == "tdl":
            cur[name] = stacked(v["links"][0])
        elif v["kind"] == "gamma":
            S, m, mu = v["size"], v["size"] // (v["order"] + 1), v["mu"]
            src, prev = stacked(v["links"][0]), tap(name, 1)
            hi = b.op("Slice", [prev, b.ints([m]), b.ints([S]), b.ints([1])])
            lo = b.op("Slice", [prev, b.ints([0]), b.ints([S - m]), b.ints([1])])
            new = b.op("Add", [b.op("Mul", [hi, b.const(1.0 - mu, "1-mu")]),
                               b.op("Mul", [lo, b.const(mu, "mu")])])
            cur[name] = b.op("Concat", [src, new], name, axis=1)
        else:
            zs: List[str] = []
            order = [l for l in range(len(v["links"])) if l not in v["inside"]]
            order += list(v["inside"])
            for l in order:
                src, delays, weight, W = v["links"][l]
                if weight == "full":
                    zs.append(b.op("MatMul", [stacked(v["links"][l]), b.const(W.T, "W")]))
                elif weight == "diagonal":
                    parts = [b.op("Mul", [tap(src, d), b.const(W[:, j], "w")])
                             for j, d in enumerate(delays)]
                    zs.append(_chain(b, "Add", parts))
                else:
                    zs.append(_chain(b, "Add", [tap(src, d) for d in delays]))
            n = _chain(b, "Mul" if v["net"] == "prod" else "Add", zs)
            if v["bias"] is not None:
                n = b.op("Mul" if v["net"] == "prod" else "Add", [n, b.const(v["bias"], "b")])
            cur[name] = _transfer(b, v["transfer"], n, name)
    outputs = []
    for v in stateful:
        name, L = v["name"], v["lookback"]
        now = b.op("Unsqueeze", [cur[name], b.ints([1])])
        if L > 1:
            old = b.op("Slice", [state_in[name], b.ints([1]), b.ints([L]), b.ints([1])])
            now = b.op("Concat", [old, now], axis=1)
        b.nodes.append(h.make_node("Identity", [now], [f"state_out/{name}"]))
        outputs.append(h.make_tensor_value_info(f"state_out/{name}", T,
                                                ["Q", L, v["size"]]))
    for o, s in data["outputs"]:
        b.nodes.append(h.make_node("Identity", [cur[o]], [f"output_t/{o}"]))
        outputs.append(h.make_tensor_value_info(f"output_t/{o}", T, ["Q", s]))
    return h.make_graph(b.nodes, "step", inputs, outputs), stateful


def _chain(b, op, names):
    acc = names[0]
    for more in names[1:]:
        acc = b.op(op, [acc, more])
    return acc


def onnx_model(data: dict):
    """The ``onnx.ModelProto`` of :func:`~dyngraph.io.export_numpy.describe`'s data."""
    onnx = _onnx()
    h, T = onnx.helper, onnx.TensorProto.DOUBLE
    if not data["inputs"]:
        raise ExportError(f"export to .onnx: the net '{data['name']}' has no inputs; the "
                          f"ONNX model's time loop takes the number of steps from an input "
                          f"(export to .py instead, whose simulate() takes steps=T)")
    for v in data["nodes"]:
        if v.get("transfer") is not None and v["transfer"] not in RUNTIME_TRANSFERS:
            raise ExportError(f"export to .onnx: node '{v['name']}': transfer "
                              f"'{v['transfer']}' has no ONNX form")
    consts: list = []
    body, stateful = _body(onnx, data)
    b = _Builder(onnx, "", consts)
    scal = data["scaling"]
    scan_inputs = []
    for n, _ in data["inputs"]:
        x = n
        if scal:
            c, s = scal["inputs"][n]
            x = b.op("Div", [b.op("Sub", [x, b.const(c, "center")]), b.const(s, "scale")])
        scan_inputs.append(x)
    # Zeros (Q, L, n) for each state, Q read from the first input's shape.
    q = b.op("Slice", [b.op("Shape", [data["inputs"][0][0]]), b.ints([0]), b.ints([1])], "Q")
    zero = h.make_tensor("zero", T, [1], [0.0])
    init = [b.op("ConstantOfShape", [b.op("Concat", [q, b.ints([v["lookback"], v["size"]])],
                                          axis=0)], f"zeros/{v['name']}", value=zero)
            for v in stateful]
    finals = [f"final_state/{v['name']}" for v in stateful]
    ys = [f"scan/{o}" for o, _ in data["outputs"]]
    b.nodes.append(h.make_node("Scan", init + scan_inputs, finals + ys, name="time",
                               body=body, num_scan_inputs=len(scan_inputs),
                               scan_input_axes=[1] * len(scan_inputs),
                               scan_output_axes=[1] * len(ys)))
    for (o, _), y in zip(data["outputs"], ys):
        if scal:
            c, s = scal["outputs"][o]
            y = b.op("Add", [b.op("Mul", [y, b.const(s, "scale")]), b.const(c, "center")])
        b.nodes.append(h.make_node("Identity", [y], [o]))
    graph = h.make_graph(
        b.nodes, data["name"],
        [h.make_tensor_value_info(n, T, ["Q", "T", s]) for n, s in data["inputs"]],
        [h.make_tensor_value_info(o, T, ["Q", "T", s]) for o, s in data["outputs"]],
        initializer=consts)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)],
                         producer_name="dyngraph")
    model.ir_version = 8                    # what opset 17 needs; older runtimes read it
    model.doc_string = (f"dyngraph net '{data['name']}': inputs and outputs (Q, T, n) "
                        f"float64, initial states zero")
    onnx.checker.check_model(model, full_check=True)
    return model


def write_onnx(path, data: dict) -> None:
    """Write the ONNX model of ``describe``'s data to ``path`` (via a temporary file)."""
    onnx = _onnx()
    model = onnx_model(data)
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        onnx.save_model(model, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
