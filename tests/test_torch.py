"""LSTM and GRU built from gate layers against PyTorch's nn.LSTM / nn.GRU and autograd.

Optional: skipped when torch is not installed (``pip install dyngraph[torch]``). Torch's
weights (float64) are copied into a dyngraph net written in the spec language, then the
outputs must agree to 1e-10 and the gradient of F = Σ out ∘ R (R random) from autograd must
equal both engines' gradients. F's gradient is obtained from the public API as the sse
gradient at targets out − R/2 (d sse/d out = −2 (target − out) = R).
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg

torch = pytest.importorskip("torch")

H, NX, T, Q = 4, 3, 12, 2

# torch's gate order in weight_ih_l0 / weight_hh_l0 is i, f, g, o; its two biases add up to
# the one bias per gate layer here.
LSTM_SPEC = f"""
inputs: {{x: {NX}}}
layers:
  i:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  f:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  g:  {{size: {H}, transfer: tanh,    from: {{x: 0, h: 1}}}}
  o:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  fc: {{kind: product, from: {{f: 0, c: 1}}}}
  ig: {{kind: product, from: [i, g]}}
  c:  {{kind: sum, from: [fc, ig]}}
  tc: {{kind: sum, from: c, transfer: tanh}}
  h:  {{kind: product, from: [o, tc]}}
  y:  {{size: 1, from: h}}
outputs: [h, y]
"""

# torch's GRU: r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise,
#   n = tanh(W_in x + b_in + r ∘ (W_hn h(t−1) + b_hn)),  h = (1 − z) ∘ n + z ∘ h(t−1).
# The reset gate acts after the recurrent matrix, so W_hn h(t−1) + b_hn is a layer of its
# own (hn), gated by a product with r; h = n + z ∘ (h(t−1) − n).
MINUS_ONES = "[" + ", ".join(["[-1.0]"] * H) + "]"
GRU_SPEC = f"""
inputs: {{x: {NX}}}
layers:
  r:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  z:  {{size: {H}, transfer: sigmoid, from: {{x: 0, h: 1}}}}
  hn: {{size: {H}, from: {{h: 1}}}}
  rn: {{kind: product, from: [r, hn]}}
  n:  {{size: {H}, transfer: tanh, from: {{x: 0, rn: {{weight: identity}}}}}}
  hd:
    size: {H}
    bias: false
    from:
      h: {{delays: 1, weight: identity}}
      n: {{weight: diagonal, learn: false, value: {MINUS_ONES}}}
  zd: {{kind: product, from: [z, hd]}}
  h:  {{kind: sum, from: [n, zd]}}
  y:  {{size: 1, from: h}}
outputs: [h, y]
"""


def _np(t):
    return t.detach().numpy().copy()


def _rows(k, size=H):
    return slice(k * size, (k + 1) * size)


def lstm_blocks(rnn, lin, grad=False):
    """dyngraph block name -> torch value (or gradient) of the LSTM + linear readout."""
    get = (lambda p: _np(p.grad)) if grad else _np
    Wih, Whh, bih, bhh = (get(p) for p in (rnn.weight_ih_l0, rnn.weight_hh_l0,
                                             rnn.bias_ih_l0, rnn.bias_hh_l0))
    out = {}
    for k, gate in enumerate("ifgo"):
        rows = _rows(k, rnn.hidden_size)
        out[f"{gate}.W[x]"] = Wih[rows]
        out[f"{gate}.W[h]"] = Whh[rows]
        # both torch biases enter n the same way: their gradients are equal, the values add
        out[f"{gate}.b"] = bih[rows] if grad else bih[rows] + bhh[rows]
        if grad:
            np.testing.assert_allclose(bih[rows], bhh[rows], rtol=1e-12, atol=1e-15)
    out["y.W[h]"], out["y.b"] = get(lin.weight), get(lin.bias)
    return out


def gru_blocks(rnn, lin, grad=False):
    """dyngraph block name -> torch value (or gradient) of the GRU + linear readout."""
    get = (lambda p: _np(p.grad)) if grad else _np
    Wih, Whh, bih, bhh = (get(p) for p in (rnn.weight_ih_l0, rnn.weight_hh_l0,
                                             rnn.bias_ih_l0, rnn.bias_hh_l0))
    r, z, n = _rows(0), _rows(1), _rows(2)
    out = {"r.W[x]": Wih[r], "r.W[h]": Whh[r], "z.W[x]": Wih[z], "z.W[h]": Whh[z],
           "hn.W[h]": Whh[n], "hn.b": bhh[n], "n.W[x]": Wih[n], "n.b": bih[n]}
    if grad:
        out["r.b"], out["z.b"] = bih[r], bih[z]
        np.testing.assert_allclose(bih[r], bhh[r], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(bih[z], bhh[z], rtol=1e-12, atol=1e-15)
    else:
        out["r.b"], out["z.b"] = bih[r] + bhh[r], bih[z] + bhh[z]
    out["y.W[h]"], out["y.b"] = get(lin.weight), get(lin.bias)
    return out


CASES = {
    "lstm": (LSTM_SPEC, torch.nn.LSTM, lstm_blocks, ("h", "c")),
    "gru": (GRU_SPEC, torch.nn.GRU, gru_blocks, ("h",)),
}


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b))


@pytest.mark.parametrize("with_initial", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("cell", sorted(CASES))
def test_gated_net_matches_torch(cell, with_initial):
    spec, Module, blocks, state_names = CASES[cell]
    torch.manual_seed(0)
    rnn = Module(NX, H, batch_first=True, dtype=torch.float64)
    lin = torch.nn.Linear(H, 1, dtype=torch.float64)
    net = dg.loads(spec)
    values = blocks(rnn, lin)
    assert set(values) == set(net.param_names)      # every learnable block is torch's
    for name, value in values.items():
        net.set(name, value)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((Q, T, NX))
    state = {s: 0.5 * rng.standard_normal((Q, 1, H)) for s in state_names}
    xt = torch.tensor(x)
    if with_initial:
        st = tuple(torch.tensor(state[s].transpose(1, 0, 2).copy()) for s in state_names)
        h_t, _ = rnn(xt, st if cell == "lstm" else st[0])
        initial = state
    else:
        h_t, _ = rnn(xt)
        initial = None
    y_t = lin(h_t)

    out = net.simulate({"x": x}, initial=initial)
    np.testing.assert_allclose(out["h"], _np(h_t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["y"], _np(y_t), rtol=1e-10, atol=1e-12)

    R = {"h": rng.standard_normal((Q, T, H)), "y": rng.standard_normal((Q, T, 1))}
    F = (h_t * torch.tensor(R["h"])).sum() + (y_t * torch.tensor(R["y"])).sum()
    F.backward()
    grads = blocks(rnn, lin, grad=True)
    want = np.concatenate([np.asarray(grads[name]).ravel() for name in net.param_names])
    targets = {o: out[o] - R[o] / 2 for o in ("h", "y")}
    for method in ("bptt", "rtrl"):
        _, g = net.gradient({"x": x}, targets, method=method, loss="sse", initial=initial)
        assert _rel(g, want) <= 1e-10, (method, _rel(g, want))


def test_catalog_lstm_is_torch_lstm():
    """specs/lstm.yaml says it is nn.LSTM (8 cells) with a linear readout: check its y."""
    net = dg.load("specs/lstm.yaml")
    size = net.sizes["h"]
    torch.manual_seed(2)
    rnn = torch.nn.LSTM(net.inputs["x"], size, batch_first=True, dtype=torch.float64)
    lin = torch.nn.Linear(size, 1, dtype=torch.float64)
    values = lstm_blocks(rnn, lin)
    assert set(values) == set(net.param_names)
    for name, value in values.items():
        net.set(name, value)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((Q, T, net.inputs["x"]))
    y_t = lin(rnn(torch.tensor(x))[0])
    y = net.simulate(x)
    np.testing.assert_allclose(y, _np(y_t), rtol=1e-10, atol=1e-12)
    R = rng.standard_normal(y.shape)
    (y_t * torch.tensor(R)).sum().backward()
    grads = lstm_blocks(rnn, lin, grad=True)
    want = np.concatenate([np.asarray(grads[name]).ravel() for name in net.param_names])
    for method in ("bptt", "rtrl"):
        _, g = net.gradient(x, y - R / 2, method=method, loss="sse")
        assert _rel(g, want) <= 1e-10, method
