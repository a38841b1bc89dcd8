"""Self-check of bench/refs.py: forward passes against plain per-step loops, every gradient
against central finite differences, RTRL against BPTT.

Run: ``python -m pytest bench/test_refs_selfcheck.py -q``
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refs  # noqa: E402

TINY = {
    "ftdnn": {"H": 3, "R": 2, "K": 2, "D": 3},
    "elman": {"H": 3, "R": 2, "K": 2},
    "lstm": {"H": 3, "R": 2, "K": 2},
    "narx": {"H": 3, "R": 2, "K": 2},
    "gru": {"H": 3, "R": 2, "K": 2},
    "gamma": {"H": 3, "R": 2, "K": 2, "D": 3},
}
SHAPES = [(7, 3), (1, 2), (2, 1), (3, 1)]      # (T, Q), incl. fewer steps than lags/taps


# ----------------------------------------------------------------- plain per-step forwards

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def naive(net, p, u):
    """Column-vector, one sequence and one step at a time, straight from the equations."""
    T, Q, _ = u.shape
    out = []
    for q in range(Q):
        ys = []
        if net == "ftdnn":
            R = u.shape[2]
            D = p["W1"].shape[1] // R
            for t in range(T):
                taps = np.concatenate([u[t - d, q] if t - d >= 0 else np.zeros(R)
                                       for d in range(D)])
                h = np.tanh(p["W1"] @ taps + p["b1"])
                ys.append(p["W2"] @ h + p["b2"])
        elif net == "elman":
            h = np.zeros(p["Wh"].shape[0])
            for t in range(T):
                h = np.tanh(p["Wx"] @ u[t, q] + p["Wh"] @ h + p["bh"])
                ys.append(p["Wy"] @ h + p["by"])
        elif net == "lstm":
            H = p["Wh"].shape[1]
            h, c = np.zeros(H), np.zeros(H)
            for t in range(T):
                z = p["Wx"] @ u[t, q] + p["Wh"] @ h + p["b"]
                i, f, g, o = _sig(z[:H]), _sig(z[H:2 * H]), np.tanh(z[2 * H:3 * H]), _sig(z[3 * H:])
                c = f * c + i * g
                h = o * np.tanh(c)
                ys.append(p["Wy"] @ h + p["by"])
        elif net == "narx":
            R, K = u.shape[2], p["Wo"].shape[0]
            U = lambda s: u[s, q] if s >= 0 else np.zeros(R)   # noqa: E731
            Yv = lambda s: ys[s] if s >= 0 else np.zeros(K)    # noqa: E731
            for t in range(T):
                h = np.tanh(p["Wu"] @ np.concatenate([U(t - 1), U(t - 2)])
                            + p["Wy"] @ np.concatenate([Yv(t - 1), Yv(t - 2)]) + p["bh"])
                ys.append(p["Wo"] @ h + p["bo"])
        elif net == "gru":
            h = np.zeros(p["Ur"].shape[0])
            for t in range(T):
                x = u[t, q]
                r = _sig(p["Wr"] @ x + p["Ur"] @ h + p["br"])
                z = _sig(p["Wz"] @ x + p["Uz"] @ h + p["bz"])
                hc = np.tanh(p["Wc"] @ x + p["Uc"] @ (r * h) + p["bc"])
                h = (1.0 - z) * h + z * hc
                ys.append(p["Wy"] @ h + p["by"])
        elif net == "gamma":
            R = u.shape[2]
            D = p["W1"].shape[1] // R - 1
            mu = p["mu"][0]
            g = [np.zeros(R) for _ in range(D + 1)]
            for t in range(T):
                g = [u[t, q]] + [(1 - mu) * g[k] + mu * g[k - 1] for k in range(1, D + 1)]
                h = np.tanh(p["W1"] @ np.concatenate(g) + p["b1"])
                ys.append(p["W2"] @ h + p["b2"])
        out.append(np.array(ys))
    return np.stack(out, axis=1)


# ----------------------------------------------------------------- helpers

def setup(net, T, Q, seed=0):
    sizes = TINY[net]
    p = refs.make_params(net, sizes, seed=seed)
    u, y = refs.make_data(net, sizes, T, Q, seed=seed + 100)
    return p, u, y


def fd_check(net, grad_fn, T, Q, seed=0, eps=1e-6):
    p, u, y = setup(net, T, Q, seed)
    sim = refs.SIMULATE[net]
    loss, g = grad_fn(p, u, y)
    assert loss == pytest.approx(refs.mse(sim(p, u), y), rel=1e-12)
    assert set(g) == set(p)
    rng = np.random.default_rng(seed + 7)
    v = {k: rng.standard_normal(a.shape) for k, a in p.items()}
    for k in p:
        assert g[k].shape == p[k].shape, k
    plus = {k: p[k] + eps * v[k] for k in p}
    minus = {k: p[k] - eps * v[k] for k in p}
    fd = (refs.mse(sim(plus, u), y) - refs.mse(sim(minus, u), y)) / (2 * eps)
    an = sum(float(np.sum(g[k] * v[k])) for k in p)
    rel = abs(fd - an) / max(abs(fd), abs(an), 1e-300)
    assert rel < 1e-6, (net, fd, an, rel)


# ----------------------------------------------------------------- tests

@pytest.mark.parametrize("T,Q", SHAPES)
@pytest.mark.parametrize("net", refs.NETS)
def test_forward_matches_naive(net, T, Q):
    p, u, _ = setup(net, T, Q)
    Y = refs.SIMULATE[net](p, u)
    assert Y.shape == (T, Q, TINY[net]["K"])
    np.testing.assert_allclose(Y, naive(net, p, u), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T,Q", SHAPES)
@pytest.mark.parametrize("net", refs.NETS)
def test_bptt_finite_differences(net, T, Q, seed):
    fd_check(net, refs.GRAD[net], T, Q, seed)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("T,Q", SHAPES)
@pytest.mark.parametrize("net", sorted(refs.RTRL))
def test_rtrl_finite_differences(net, T, Q, seed):
    fd_check(net, refs.RTRL[net], T, Q, seed)


@pytest.mark.parametrize("sizes,T,Q", [
    ({"H": 3, "R": 2, "K": 2}, 7, 3),
    ({"H": 3, "R": 2, "K": 2}, 1, 2),
    ({"H": 10}, 200, 32),                      # the RTRL benchmark sizes (Elman)
    ({"H": 10}, 300, 8),
])
@pytest.mark.parametrize("net", sorted(refs.RTRL))
def test_rtrl_equals_bptt(net, sizes, T, Q):
    p = refs.make_params(net, sizes, seed=3)
    u, y = refs.make_data(net, sizes, T, Q, seed=4)
    lb, gb = refs.GRAD[net](p, u, y)
    lr, gr = refs.RTRL[net](p, u, y)
    assert lr == lb
    scale = max(np.abs(a).max() for a in gb.values())
    for k in p:
        np.testing.assert_allclose(gr[k], gb[k], rtol=1e-10, atol=1e-10 * scale, err_msg=k)


def test_rtrl_layouts_match_params():
    for net, layout_fn in (("elman", refs.elman_rtrl_layout), ("narx", refs.narx_rtrl_layout)):
        sizes = TINY[net]
        p = refs.make_params(net, sizes)
        layout = layout_fn(sizes["R"], sizes["H"], sizes["K"])
        for name, shape in layout:
            assert p[name].shape == shape
        theta = refs.flatten(p, layout)
        back = refs.unflatten(theta, layout)
        for name, _ in layout:
            np.testing.assert_array_equal(back[name], p[name])


def test_inputs_not_modified():
    for net in refs.NETS:
        p, u, y = setup(net, 5, 2)
        copies = ({k: a.copy() for k, a in p.items()}, u.copy(), y.copy())
        refs.GRAD[net](p, u, y)
        if net in refs.RTRL:
            refs.RTRL[net](p, u, y)
        for k in p:
            np.testing.assert_array_equal(p[k], copies[0][k])
        np.testing.assert_array_equal(u, copies[1])
        np.testing.assert_array_equal(y, copies[2])
