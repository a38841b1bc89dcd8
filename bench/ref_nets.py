"""dyngraph nets equal to the hand-written references of ``bench/refs.py``.

For each reference network (FTDNN, Elman, LSTM from gates, NARX in parallel form) this
module writes the spec text with the benchmark's sizes, builds the :class:`dyngraph.Net`,
and copies the reference's parameter dict into the net's named blocks, so both sides compute
the same function with the same weights. It also converts data between the references'
time-major (T, Q, n) layout and dyngraph's user layout (Q, T, n), and reference gradient
dicts to dyngraph's flat parameter order.
"""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np

import dyngraph as dg

__all__ = ["spec_text", "build", "copy_params", "ref_grad_to_flat", "user", "GATES"]

#: LSTM gate row blocks of the reference's fused weights, in the reference's order.
GATES = ("i", "f", "g", "o")


def spec_text(net: str, sizes: Mapping[str, int]) -> str:
    """Spec (YAML) of reference net ``net`` with ``sizes`` (H, R, K; D for the FTDNN)."""
    H, R, K = int(sizes["H"]), int(sizes.get("R", 1)), int(sizes.get("K", 1))
    if net == "ftdnn":
        D = int(sizes["D"])
        return f"""
inputs: {{u: {R}}}
layers:
  h: {{size: {H}, transfer: tanh, from: {{u: "0:{D - 1}"}}}}
  y: {{size: {K}, from: h}}
outputs: [y]
"""
    if net == "elman":
        return f"""
inputs: {{u: {R}}}
layers:
  h: {{size: {H}, transfer: tanh, from: {{u: 0, h: 1}}}}
  y: {{size: {K}, from: h}}
outputs: [y]
"""
    if net == "lstm":
        return f"""
inputs: {{x: {R}}}
layers:
  i:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  f:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}, bias: {{init: 1.0}}}}
  o:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  g:  {{size: {H}, transfer: tanh,    from: {{x: 0, h: 1}}}}
  fc: {{kind: product, from: {{f: 0, c: 1}}}}
  ig: {{kind: product, from: [i, g]}}
  c:  {{kind: sum, from: [fc, ig]}}
  tc: {{kind: sum, from: c, transfer: tanh}}
  h:  {{kind: product, from: [o, tc]}}
  y:  {{size: {K}, from: h}}
outputs: [y]
"""
    if net == "narx":
        return f"""
inputs: {{u: {R}}}
layers:
  h: {{size: {H}, transfer: tanh, from: {{u: "1:2", y: "1:2"}}}}
  y: {{size: {K}, from: h}}
outputs: [y]
"""
    if net == "gru":       # specs/gru.yaml with these sizes
        minus = ", ".join(["[-1.0]"] * H)
        return f"""
inputs: {{x: {R}}}
layers:
  r:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  z:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  rh: {{kind: product, from: {{r: 0, h: 1}}}}
  hc: {{size: {H}, transfer: tanh, from: [x, rh]}}
  d:
    size: {H}
    bias: false
    from:
      hc: {{delays: 0, weight: identity}}
      h: {{delays: 1, weight: diagonal, learn: false, value: [{minus}]}}
  zd: {{kind: product, from: [z, d]}}
  h:  {{kind: sum, from: {{zd: 0, h: 1}}}}
  y:  {{size: {K}, from: h}}
outputs: [y]
"""
    if net == "gamma":     # specs/gamma_ftdnn.yaml with these sizes
        return f"""
inputs: {{u: {R}}}
memories:
  g: {{kind: gamma, from: u, order: {int(sizes.get("D", 4))}, mu: 0.5}}
layers:
  h: {{size: {H}, transfer: tanh, from: g}}
  y: {{size: {K}, from: h}}
outputs: [y]
"""
    raise ValueError(f"unknown reference net {net!r}")


def _block_values(net: str, p: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Reference parameter dict -> {dyngraph block name: value}."""
    if net == "ftdnn":
        return {"h.W[u]": p["W1"], "h.b": p["b1"], "y.W[h]": p["W2"], "y.b": p["b2"]}
    if net == "elman":
        return {"h.W[u]": p["Wx"], "h.W[h]": p["Wh"], "h.b": p["bh"],
                "y.W[h]": p["Wy"], "y.b": p["by"]}
    if net == "lstm":
        H = p["Wh"].shape[1]
        out = {"y.W[h]": p["Wy"], "y.b": p["by"]}
        for k, gate in enumerate(GATES):
            rows = slice(k * H, (k + 1) * H)
            out[f"{gate}.W[x]"] = p["Wx"][rows]
            out[f"{gate}.W[h]"] = p["Wh"][rows]
            out[f"{gate}.b"] = p["b"][rows]
        return out
    if net == "narx":
        return {"h.W[u]": p["Wu"], "h.W[y]": p["Wy"], "h.b": p["bh"],
                "y.W[h]": p["Wo"], "y.b": p["bo"]}
    if net == "gru":
        out = {"y.W[h]": p["Wy"], "y.b": p["by"]}
        for gate, layer, rec in (("r", "r", "h"), ("z", "z", "h"), ("c", "hc", "rh")):
            out[f"{layer}.W[x]"] = p["W" + gate]
            out[f"{layer}.W[{rec}]"] = p["U" + gate]
            out[f"{layer}.b"] = p["b" + gate]
        return out
    if net == "gamma":
        return {"g.mu": p["mu"], "h.W[g]": p["W1"], "h.b": p["b1"], "y.W[h]": p["W2"],
                "y.b": p["b2"]}
    raise ValueError(f"unknown reference net {net!r}")


def copy_params(dnet: dg.Net, net: str, p: Mapping[str, np.ndarray]) -> None:
    """Set every learnable block of ``dnet`` from the reference parameters ``p``.

    Raises if a learnable block is left unset, so a renamed block cannot slip through.
    """
    values = _block_values(net, p)
    missing = set(dnet.param_names) - set(values)
    if missing:
        raise KeyError(f"no reference value for blocks {sorted(missing)}")
    for name, value in values.items():
        dnet.set(name, value)


def build(net: str, sizes: Mapping[str, int], p: Mapping[str, np.ndarray]) -> dg.Net:
    """The dyngraph net of reference ``net`` with the reference's weights ``p``."""
    dnet = dg.loads(spec_text(net, sizes), file=f"<bench {net}>")
    copy_params(dnet, net, p)
    return dnet


def ref_grad_to_flat(dnet: dg.Net, net: str, grads: Mapping[str, np.ndarray]) -> np.ndarray:
    """A reference gradient dict -> dyngraph's flat parameter order (``dnet.params``)."""
    return dnet.flat(_block_values(net, grads))


def user(a: np.ndarray) -> np.ndarray:
    """Time-major (T, Q, n) -> dyngraph's user layout (Q, T, n), contiguous."""
    return np.ascontiguousarray(a.transpose(1, 0, 2))
