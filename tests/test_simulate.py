"""The forward engine against independent references.

References: ``scipy.signal.lfilter`` / ``lfiltic`` for the linear filters, hand-written numpy
loops (written from each spec's header equations, weights read by name with ``net.get``) for
the nonlinear catalogue nets, the closed forms of seed 004 (parity, impulse response), and
self-consistency of streaming (one pass = two passes joined by the returned state).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter, lfiltic

import dyngraph as dg
from conftest import SPEC_DIR, SPECS, random_data, sigmoid, spec_id

# Every test here runs on both engine backends (the numpy reference and the compiled one).
pytestmark = pytest.mark.usefixtures("engine_backend")

T, Q = 17, 3


def load(stem, seed=0):
    return dg.load(SPEC_DIR / f"{stem}.yaml", seed=seed)


def randomize(net, seed, scale=0.5):
    """Random learnable parameters (so tests do not lean on the spec's initial values)."""
    rng = np.random.default_rng(seed)
    net.params = scale * rng.standard_normal(net.n_params)
    return net


def blocks(W, delays, n):
    """Split a full weight S x (k*n) into {delay: S x n}: column block j is delay d_j."""
    return {d: W[:, j * n:(j + 1) * n] for j, d in enumerate(delays)}


def past(x, t, d):
    """x(t - d) with zeros before t = 0; x is (T, n)."""
    return x[t - d] if t - d >= 0 else np.zeros(x.shape[1])


def per_sequence(reference, U):
    """Apply a single-sequence reference to every sequence of a dict of (Q, T, n) arrays."""
    Qn = next(iter(U.values())).shape[0]
    return np.stack([reference({k: v[q] for k, v in U.items()}) for q in range(Qn)])


# ----------------------------------------------------------------------------- 1. FIR / IIR
def fir_reference(net, x):
    h = net.get("y.W[x]")[0]
    return lfilter(h, [1.0], x, axis=-2)


def iir_reference(net, x):
    b = net.get("y.W[x]")[0]
    a1, a2 = net.get("y.W[y]")[0]
    return lfilter(b, [1.0, -a1, -a2], x, axis=-2)


@pytest.mark.parametrize("stem, reference", [("fir", fir_reference), ("iir", iir_reference)])
def test_filter_spec_matches_lfilter(stem, reference):
    net = load(stem)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, 1))
    np.testing.assert_allclose(net.simulate(x), reference(net, x), rtol=0, atol=1e-12)
    xb = rng.standard_normal((Q, T, 1))
    np.testing.assert_allclose(net.simulate(xb), reference(net, xb), rtol=0, atol=1e-12)


def test_spec_coefficients_are_as_documented():
    # The headers promise ready filters; a wrong column order would still pass the tests
    # above (they read the weights back), so pin the spec values too.
    np.testing.assert_array_equal(load("fir").get("y.W[x]"), [[0.4, 0.3, 0.15, 0.1, 0.05]])
    iir = load("iir")
    np.testing.assert_array_equal(iir.get("y.W[x]"), [[0.2, 0.3, 0.1]])
    np.testing.assert_array_equal(iir.get("y.W[y]"), [[0.5, -0.2]])
    x = np.random.default_rng(2).standard_normal(T)
    np.testing.assert_allclose(iir.simulate(x), lfilter([0.2, 0.3, 0.1], [1, -0.5, 0.2], x),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_fir_random_taps_match_lfilter(seed):
    net = load("fir")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(5)
    net.set("y.W[x]", h[None, :])
    x = rng.standard_normal((Q, T, 1))
    np.testing.assert_allclose(net.simulate(x), lfilter(h, [1.0], x, axis=1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [5, 6])
def test_iir_random_coefficients_match_lfilter(seed):
    net = load("iir")
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(3)
    a = rng.uniform(-0.45, 0.45, 2)           # |a1| + |a2| < 1: stable
    net.set("y.W[x]", b[None, :])
    net.set("y.W[y]", a[None, :])
    x = rng.standard_normal((Q, T, 1))
    want = lfilter(b, [1.0, -a[0], -a[1]], x, axis=1)
    np.testing.assert_allclose(net.simulate(x), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(net.simulate(x[1, :, 0]), want[1, :, 0], rtol=0, atol=1e-12)


def test_delays_written_out_of_order_keep_their_column_blocks():
    # Column block j multiplies x(t - d_j) in the order the delays are written.
    net = dg.loads("""
inputs: {x: 1}
layers:
  y: {size: 1, bias: false, from: {x: {delays: [3, 0, 1], value: [[0.7, -1.1, 0.4]]}}}
outputs: [y]
""")
    x = np.random.default_rng(7).standard_normal(T)
    h = np.zeros(4)
    h[3], h[0], h[1] = 0.7, -1.1, 0.4
    np.testing.assert_allclose(net.simulate(x), lfilter(h, [1.0], x), rtol=0, atol=1e-12)


def test_identity_and_diagonal_links_follow_the_semantics():
    # identity with several delays sums s(t - d); diagonal scales element-wise per delay.
    net = dg.loads("""
inputs: {u: 2}
layers:
  s: {kind: sum, from: {u: [0, 2]}}
  d:
    size: 2
    bias: false
    from: {u: {delays: [1, 0], weight: diagonal, value: [[2.0, 3.0], [-1.0, 0.5]]}}
outputs: [s, d]
""")
    u = np.random.default_rng(8).standard_normal((T, 2))
    out = net.simulate(u)
    u2 = np.vstack([np.zeros((2, 2)), u])[:-2]
    u1 = np.vstack([np.zeros((1, 2)), u])[:-1]
    np.testing.assert_allclose(out["s"], u + u2, rtol=0, atol=1e-14)
    np.testing.assert_allclose(out["d"], np.array([2.0, -1.0]) * u1 + np.array([3.0, 0.5]) * u,
                               rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------- 2. hand loops
def ref_narx(net, U, feedback):
    """NARX: h = tanh(IW_1 u(t-1) + IW_2 u(t-2) + LW_1 y'(t-1) + LW_2 y'(t-2) + b1),
    y = LW h + b2, where y' is y_meas (series-parallel) or the net's own y (parallel)."""
    u = U["u"]
    Wu = blocks(net.get("h.W[u]"), (1, 2), 1)
    Wy = blocks(net.get(f"h.W[{feedback}]"), (1, 2), 1)
    b1, W2, b2 = net.get("h.b"), net.get("y.W[h]"), net.get("y.b")
    y = np.zeros((len(u), 1))
    fb = U["y_meas"] if feedback == "y_meas" else y
    for t in range(len(u)):
        n = b1 + sum(Wu[d] @ past(u, t, d) + Wy[d] @ past(fb, t, d) for d in (1, 2))
        y[t] = W2 @ np.tanh(n) + b2
    return y


def ref_elman(net, U):
    u = U["u"]
    Wu, Wh, b1 = net.get("h.W[u]"), net.get("h.W[h]"), net.get("h.b")
    W2, b2 = net.get("y.W[h]"), net.get("y.b")
    h = np.zeros(Wh.shape[0])
    y = []
    for t in range(len(u)):
        h = np.tanh(Wu @ u[t] + Wh @ h + b1)
        y.append(W2 @ h + b2)
    return np.array(y)


def ref_jordan(net, U):
    x = U["x"]
    Wx, Wo, b = net.get("h.W[x]"), net.get("h.W[o]"), net.get("h.b")
    V, c = net.get("o.W[h]"), net.get("o.b")
    o = np.zeros(V.shape[0])
    y = []
    for t in range(len(x)):
        h = np.tanh(Wx @ x[t] + Wo @ o + b)
        o = V @ h + c                                 # the logits are fed back, not softmax
        e = np.exp(o - o.max())
        y.append(e / e.sum())
    return np.array(y)


def ref_distributed_tdnn(net, U):
    u = U["u"]
    W1 = blocks(net.get("h.W[u]"), range(4), 1)
    b1, b2 = net.get("h.b"), net.get("y.b")
    S = b1.size
    W2 = blocks(net.get("y.W[h]"), range(3), S)
    h = np.array([np.tanh(b1 + sum(W1[d] @ past(u, t, d) for d in range(4)))
                  for t in range(len(u))])
    return np.array([b2 + sum(W2[d] @ past(h, t, d) for d in range(3)) for t in range(len(u))])


def ref_ftdnn(net, U):
    u = U["u"]
    W1 = blocks(net.get("h.W[u]"), range(5), 1)
    b1, W2, b2 = net.get("h.b"), net.get("y.W[h]"), net.get("y.b")
    return np.array([W2 @ np.tanh(b1 + sum(W1[d] @ past(u, t, d) for d in range(5))) + b2
                     for t in range(len(u))])


def ref_lstm(net, U):
    x = U["x"]
    g = {k: (net.get(f"{k}.W[x]"), net.get(f"{k}.W[h]"), net.get(f"{k}.b")) for k in "ifog"}
    S = g["i"][2].size
    h, c = np.zeros(S), np.zeros(S)
    y = []
    for t in range(len(x)):
        pre = {k: W @ x[t] + U_ @ h + b for k, (W, U_, b) in g.items()}
        i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
        c = f * c + i * np.tanh(pre["g"])
        h = o * np.tanh(c)
        y.append(net.get("y.W[h]") @ h + net.get("y.b"))
    return np.array(y)


def ref_gru(net, U):
    x = U["x"]
    Wr, Ur, br = net.get("r.W[x]"), net.get("r.W[h]"), net.get("r.b")
    Wz, Uz, bz = net.get("z.W[x]"), net.get("z.W[h]"), net.get("z.b")
    W, Uc, b = net.get("hc.W[x]"), net.get("hc.W[rh]"), net.get("hc.b")
    minus = net.get("d.W[h]")[:, 0]               # the fixed -1 diagonal
    h = np.zeros(br.size)
    y = []
    for t in range(len(x)):
        r = sigmoid(Wr @ x[t] + Ur @ h + br)
        z = sigmoid(Wz @ x[t] + Uz @ h + bz)
        hc = np.tanh(W @ x[t] + Uc @ (r * h) + b)
        h = z * (hc + minus * h) + h
        y.append(net.get("y.W[h]") @ h + net.get("y.b"))
    return np.array(y)


HAND = {
    "narx_series_parallel": lambda net, U: ref_narx(net, U, "y_meas"),
    "narx_parallel": lambda net, U: ref_narx(net, U, "y"),
    "layer_recurrent": ref_elman,
    "jordan": ref_jordan,
    "distributed_tdnn": ref_distributed_tdnn,
    "ftdnn": ref_ftdnn,
    "lstm": ref_lstm,
    "gru": ref_gru,
}


@pytest.mark.parametrize("stem", sorted(HAND))
@pytest.mark.parametrize("random_params", [False, True], ids=["spec-init", "random"])
def test_catalogue_net_matches_hand_loop(stem, random_params):
    net = load(stem, seed=11)
    if random_params:
        randomize(net, seed=12)
    U = random_data(net, None, T, seed=13)
    out = net.simulate(U)["y"]
    np.testing.assert_allclose(out, HAND[stem](net, U), rtol=0, atol=1e-12)
    UB = random_data(net, Q, T, seed=14)
    want = per_sequence(lambda u: HAND[stem](net, u), UB)
    np.testing.assert_allclose(net.simulate(UB)["y"], want, rtol=0, atol=1e-12)


def test_gru_difference_weight_is_fixed_minus_identity():
    net = load("gru")
    np.testing.assert_array_equal(net.get("d.W[h]"), -np.ones((8, 1)))
    assert "d.W[h]" not in net.param_names


def test_lstm_forget_bias_starts_at_one():
    np.testing.assert_array_equal(load("lstm").get("f.b"), np.ones(8))


# ----------------------------------------------------------------------------- 3. gamma
GAMMA = """
inputs: {{u: 2}}
memories:
  g: {{kind: gamma, from: u, order: {K}, mu: {mu}, learn: false}}
layers:
  y: {{size: 3, from: g}}
outputs: [y, g]
"""
TDL = """
inputs: {{u: 2}}
memories:
  g: {{kind: tdl, from: u, delays: "0:{K}"}}
layers:
  y: {{size: 3, from: g}}
outputs: [y, g]
"""


@pytest.mark.parametrize("K", [1, 3])
def test_gamma_with_mu_one_is_a_tapped_delay_line(K):
    gamma = dg.loads(GAMMA.format(K=K, mu=1.0), seed=1)
    tdl = dg.loads(TDL.format(K=K), seed=2)
    assert gamma.sizes["g"] == tdl.sizes["g"] == 2 * (K + 1)
    tdl.set("y.W[g]", gamma.get("y.W[g]"))
    tdl.set("y.b", gamma.get("y.b"))
    u = np.random.default_rng(3).standard_normal((Q, T, 2))
    a, b = gamma.simulate(u), tdl.simulate(u)
    np.testing.assert_allclose(a["g"], b["g"], rtol=0, atol=1e-14)
    np.testing.assert_allclose(a["y"], b["y"], rtol=0, atol=1e-12)
    # and the TDL itself is [u(t); u(t-1); ...] (zeros before t = 0)
    for k in range(K + 1):
        shifted = np.concatenate([np.zeros((Q, k, 2)), u[:, :T - k]], axis=1)
        np.testing.assert_array_equal(b["g"][..., 2 * k:2 * k + 2], shifted)


def gamma_reference(u, K, mu):
    """x_0(t) = u(t); x_k(t) = (1-mu) x_k(t-1) + mu x_{k-1}(t-1); returns (T, (K+1) n)."""
    Tn, n = u.shape
    x = np.zeros((K + 1, n))
    out = []
    for t in range(Tn):
        new = np.empty_like(x)
        new[0] = u[t]
        new[1:] = (1 - mu) * x[1:] + mu * x[:-1]
        x = new
        out.append(x.ravel())
    return np.array(out)


def test_gamma_memory_matches_hand_recursion():
    K, mu = 3, 0.3
    net = dg.loads(GAMMA.format(K=K, mu=mu), seed=4)
    u = np.random.default_rng(5).standard_normal((T, 2))
    out = net.simulate(u)
    g = gamma_reference(u, K, mu)
    np.testing.assert_allclose(out["g"], g, rtol=0, atol=1e-13)
    np.testing.assert_allclose(out["y"], g @ net.get("y.W[g]").T + net.get("y.b"),
                               rtol=0, atol=1e-12)


def test_gamma_ftdnn_learnable_mu_matches_hand_loop():
    net = load("gamma_ftdnn", seed=6)
    assert "g.mu" in net.param_names
    net.set("g.mu", [0.3])
    u = np.random.default_rng(7).standard_normal((T, 1))
    g = gamma_reference(u, 4, 0.3)
    h = np.tanh(g @ net.get("h.W[g]").T + net.get("h.b"))
    np.testing.assert_allclose(net.simulate(u), h @ net.get("y.W[h]").T + net.get("y.b"),
                               rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- 4. parity
@pytest.mark.parametrize("length", [1, 2, 9, 40])
def test_parity_net_computes_running_parity(length):
    net = load("parity")
    p = np.random.default_rng(length).integers(0, 2, length).astype(float)
    # header: y(t) = (p(0) + ... + p(t)) mod 2, no lag
    np.testing.assert_array_equal(net.simulate(p), np.cumsum(p) % 2)


def test_parity_net_batch_and_edge_streams():
    net = load("parity")
    rng = np.random.default_rng(21)
    P = rng.integers(0, 2, (5, 30, 1)).astype(float)
    P[0] = 1.0
    P[1] = 0.0
    np.testing.assert_array_equal(net.simulate(P), np.cumsum(P, axis=1) % 2)


# ----------------------------------------------------------------------------- 5. seed 004
def test_seed004_impulse_response():
    net = dg.loads("""
inputs: {p: 1}
layers:
  a:
    size: 1
    bias: false
    from:
      p: {delays: 0, value: [[1.0]]}     # iw = 1
      a: {delays: 1, value: [[0.5]]}     # lw = 0.5
outputs: [a]
""")
    p = np.zeros(10)
    p[0] = 1.0
    np.testing.assert_allclose(net.simulate(p), 0.5 ** np.arange(10), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------- 6. streaming
def assert_same(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-14)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def split(U, k, axis):
    head = {n: np.take(v, np.arange(k), axis=axis) for n, v in U.items()}
    tail = {n: np.take(v, np.arange(k, v.shape[axis]), axis=axis) for n, v in U.items()}
    return head, tail


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("batch", [None, Q], ids=["single", "batch"])
def test_streaming_continues_exactly(spec, batch):
    net = dg.load(spec, seed=3)
    if net.plan.backward:
        pytest.skip("a backward layer depends on the steps after a piece: a run does not "
                    "continue from a state (test_bidirectional.py)")
    U = random_data(net, batch, T, seed=4)
    if spec.stem == "parity":
        U = {k: (v > 0).astype(float) for k, v in U.items()}
    whole = net.simulate(U)
    axis = 0 if batch is None else 1
    for k in (1, 2, 7):                           # 1 and 2 are shorter than some lookbacks
        head, tail = split(U, k, axis)
        first, state = net.simulate(head, return_state=True)
        second = net.simulate(tail, initial=state)
        joined = {o: np.concatenate([first[o], second[o]], axis=axis) for o in whole}
        assert_same(whole, joined)
        # three pieces: the state of a continued run continues too
        mid, rest = split(tail, 3, axis)
        second, state2 = net.simulate(mid, initial=state, return_state=True)
        third = net.simulate(rest, initial=state2)
        joined = {o: np.concatenate([first[o], second[o], third[o]], axis=axis) for o in whole}
        assert_same(whole, joined)


def test_state_layout_is_oldest_first_per_node():
    net = load("iir")
    x = np.random.default_rng(9).standard_normal(T)
    y, state = net.simulate(x, return_state=True)
    np.testing.assert_array_equal(state["x"][:, 0], x[-2:])
    np.testing.assert_array_equal(state["y"][:, 0], y[-2:])
    yb, stateb = net.simulate(np.stack([x, -x])[..., None], return_state=True)
    assert stateb["y"].shape == (2, 2, 1)
    np.testing.assert_array_equal(stateb["y"][1, :, 0], -y[-2:])


def test_iir_initial_conditions_match_lfiltic():
    net = load("iir")
    rng = np.random.default_rng(10)
    b = net.get("y.W[x]")[0]
    a1, a2 = net.get("y.W[y]")[0]
    x = rng.standard_normal(T)
    x_past, y_past = rng.standard_normal(2), rng.standard_normal(2)   # oldest first
    zi = lfiltic(b, [1.0, -a1, -a2], y=y_past[::-1], x=x_past[::-1])
    want, _ = lfilter(b, [1.0, -a1, -a2], x, zi=zi)
    got = net.simulate(x, initial={"x": x_past[:, None], "y": y_past[:, None]})
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert not np.allclose(got, net.simulate(x))      # the initial values mattered
    # only some nodes given: the others start at zero
    zi = lfiltic(b, [1.0, -a1, -a2], y=y_past[::-1])
    want, _ = lfilter(b, [1.0, -a1, -a2], x, zi=zi)
    np.testing.assert_allclose(net.simulate(x, initial={"y": y_past}), want, rtol=0, atol=1e-12)


def test_elman_initial_hidden_state_matches_hand_loop():
    net = load("layer_recurrent", seed=2)
    rng = np.random.default_rng(11)
    u = rng.standard_normal((Q, T, 1))
    h0 = rng.standard_normal((Q, 1, 10))
    Wu, Wh, b1 = net.get("h.W[u]"), net.get("h.W[h]"), net.get("h.b")
    W2, b2 = net.get("y.W[h]"), net.get("y.b")
    want = np.zeros((Q, T, 1))
    for q in range(Q):
        h = h0[q, 0]
        for t in range(T):
            h = np.tanh(Wu @ u[q, t] + Wh @ h + b1)
            want[q, t] = W2 @ h + b2
    np.testing.assert_allclose(net.simulate(u, initial={"h": h0}), want, rtol=0, atol=1e-12)


def test_bad_initial_values_are_refused_by_name():
    net = load("iir")
    x = np.zeros(T)
    with pytest.raises(dg.DataError, match="'y'"):
        net.simulate(x, initial={"y": np.zeros((3, 1))})
    with pytest.raises(dg.DataError, match="'nope'"):
        net.simulate(x, initial={"nope": np.zeros((2, 1))})
    with pytest.raises(dg.DataError, match="'y'"):
        net.simulate(x, initial={"y": np.array([[np.nan], [0.0]])})
    ftdnn = load("ftdnn")
    with pytest.raises(dg.DataError, match="'y'"):        # y is never read with a delay
        ftdnn.simulate(x, initial={"y": np.zeros((1, 1))})


# ----------------------------------------------------------------------------- 8. data forms
def test_array_forms_give_the_same_numbers_back_in_the_same_form():
    net = load("iir")
    x = np.random.default_rng(12).standard_normal(T)
    flat = net.simulate(x)
    col = net.simulate(x[:, None])
    batch = net.simulate(x[None, :, None])
    assert flat.shape == (T,) and col.shape == (T, 1) and batch.shape == (1, T, 1)
    np.testing.assert_array_equal(col[:, 0], flat)
    np.testing.assert_array_equal(batch[0, :, 0], flat)
    as_dict = net.simulate({"x": x})
    assert isinstance(as_dict, dict) and list(as_dict) == ["y"]
    # a dict of (T,) arrays comes back as (T, 1) today; (T,) would also be a fair reading
    assert as_dict["y"].shape in ((T,), (T, 1))
    np.testing.assert_array_equal(as_dict["y"].reshape(T), flat)
    assert net.simulate(list(x)).shape == (T,)


def test_several_outputs_come_back_as_a_dict_in_spec_order():
    net = dg.loads("""
inputs: {u: 2}
layers:
  h: {size: 4, transfer: tanh, from: u}
  y: {size: 3, from: h}
outputs: [y, h]
""")
    u = np.random.default_rng(13).standard_normal((Q, T, 2))
    out = net.simulate(u)
    assert list(out) == ["y", "h"]
    assert out["y"].shape == (Q, T, 3) and out["h"].shape == (Q, T, 4)
    np.testing.assert_allclose(out["y"], out["h"] @ net.get("y.W[h]").T + net.get("y.b"),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_names_input_and_step(bad):
    net = load("narx_series_parallel")
    U = random_data(net, None, T, seed=1)
    U["y_meas"][5, 0] = bad
    with pytest.raises(dg.DataError) as info:
        net.simulate(U)
    msg = str(info.value)
    assert "'y_meas'" in msg and "step 5" in msg
    UB = random_data(net, Q, T, seed=2)
    UB["u"][2, 3, 0] = bad
    with pytest.raises(dg.DataError) as info:
        net.simulate(UB)
    msg = str(info.value)
    assert "'u'" in msg and "step 3" in msg and "sequence 2" in msg


def test_wrong_sizes_and_names_are_refused_by_name():
    net = load("narx_series_parallel")
    U = random_data(net, None, T, seed=3)
    with pytest.raises(dg.DataError, match="'u'"):
        net.simulate({**U, "u": np.zeros((T, 2))})
    with pytest.raises(dg.DataError, match="'y_meas'"):
        net.simulate({**U, "y_meas": np.zeros((Q, T, 3))})
    with pytest.raises(dg.DataError, match="'y_meas'"):
        net.simulate({"u": U["u"]})                          # missing
    with pytest.raises(dg.DataError, match="'z'"):
        net.simulate({**U, "z": U["u"]})                     # unknown
    with pytest.raises(dg.DataError, match="y_meas"):
        net.simulate(U["u"])                                 # bare array but two inputs
    with pytest.raises(dg.DataError, match="T="):
        net.simulate({"u": U["u"], "y_meas": U["y_meas"][:-1]})   # lengths differ
    with pytest.raises(dg.DataError, match="'u'"):
        net.simulate({**U, "u": np.zeros((1, 2, T, 1))})     # 4-D
    with pytest.raises(dg.DataError, match="'x'"):
        load("lstm").simulate(np.zeros(T))                   # (T,) but the input has size 3
