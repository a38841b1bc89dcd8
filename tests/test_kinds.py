"""The table of node kinds, swept entry by entry.

Every transfer in TRANSFERS, every weight in WEIGHTS and every node kind in KINDS is checked
on its own, outside any network: the forward rule against an independent numpy expression,
the adjoint rules (``delta`` + ``vjp_input``, ``param_grad``) against central finite
differences of a scalar functional F = <G, a>, ``param_jac`` summed over rows against
``param_grad``, and broadcasting over a leading direction axis R (RTRL's) against a loop.

The tests are parametrised by the registries themselves, and each registry must have exactly
one entry in the matching table here (TRANSFER_REFS, WEIGHT_SAMPLES, SAMPLES): adding a kind,
transfer or weight without a test sample fails.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Tuple

import numpy as np
import pytest

from dyngraph.kinds.transfers import NoDerivative, random_stream
from dyngraph.kinds import (KINDS, TRANSFER_ALIASES, TRANSFERS, WEIGHTS, GammaKind, LayerKind,
                            LinkInfo, TdlKind)

B, Q, R = 3, 2, 4           # time steps in a block, sequences, RTRL directions
EPS = 1e-6                  # central differences, float64
FD_RTOL, FD_ATOL = 1e-6, 1e-8


def central_differences(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """dF/dx entry by entry, F(x) a scalar; x is not modified."""
    x = np.array(x, dtype=float)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + EPS
        fp = f(x.copy())
        x[idx] = old - EPS
        fm = f(x.copy())
        x[idx] = old
        out[idx] = (fp - fm) / (2 * EPS)
    return out


def away_from_kinks(rng, shape, lo=-2.5, hi=2.5):
    """Random pre-activations kept 0.05 away from the kinks of relu/satlin/satlins (-1, 0, 1),
    where a central difference straddling the kink would be meaningless."""
    n = rng.uniform(lo, hi, shape)
    for kink in (-1.0, 0.0, 1.0):
        near = np.abs(n - kink) < 0.05
        n[near] = kink + np.where(n[near] >= kink, 0.07, -0.07)
    return n


# --------------------------------------------------------------------------- transfers
#: Independent reference of every transfer (written from the definitions in DESIGN.md §1).
TRANSFER_REFS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda n: 1.0 * n,
    "tanh": lambda n: np.sinh(n) / np.cosh(n),
    "sigmoid": lambda n: 1.0 / (1.0 + np.exp(-n)),
    "relu": lambda n: np.where(n > 0, n, 0.0),
    "softplus": lambda n: np.log(1.0 + np.exp(n)),
    "satlin": lambda n: np.where(n < 0, 0.0, np.where(n > 1, 1.0, n)),
    "satlins": lambda n: np.where(n < -1, -1.0, np.where(n > 1, 1.0, n)),
    "hardlim": lambda n: np.where(n >= 0, 1.0, 0.0),
    "hardlims": lambda n: np.where(n >= 0, 1.0, -1.0),
    "softmax": lambda n: np.exp(n) / np.exp(n).sum(axis=-1, keepdims=True),
    "argmax": lambda n: (np.arange(n.shape[-1]) == np.argmax(n, axis=-1)[..., None]) * 1.0,
}

#: Transfers without a derivative (symbol pickers): vjp raises; ``sample`` draws (its
#: reference is in tests/test_generation.py, by its frequencies).
NO_DERIVATIVE = {"argmax", "sample"}

#: Transfers whose derivative is zero almost everywhere: only the forward values are checked.
STEP_TRANSFERS = {"hardlim", "hardlims"}


def test_every_transfer_has_a_reference():
    assert set(TRANSFER_REFS) | {"sample"} == set(TRANSFERS)
    assert {n for n, t in TRANSFERS.items() if not t.differentiable} == NO_DERIVATIVE
    assert STEP_TRANSFERS <= set(TRANSFERS)


def test_aliases_name_existing_transfers():
    for alias, name in TRANSFER_ALIASES.items():
        assert name in TRANSFERS, alias


@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_transfer_forward(name):
    rng = np.random.default_rng(1)
    n = rng.uniform(-3, 3, (B, Q, 3))
    n[0, 0] = [0.0, 1.0, -1.0]          # the kinks and the step point exactly
    tr = TRANSFERS[name].bound("y")
    with random_stream(0):
        a = tr.f(n)
    if name == "sample":
        assert set(np.unique(a)) <= {0.0, 1.0}
        np.testing.assert_array_equal(a.sum(axis=-1), 1.0)
    else:
        np.testing.assert_allclose(a, TRANSFER_REFS[name](n), rtol=1e-13, atol=1e-15)
    assert tr.linear == (name == "linear")


@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_transfer_large_arguments_stay_finite(name):
    n = np.array([[-800.0, -30.0, 0.0, 30.0, 800.0]])
    with np.errstate(over="raise", invalid="raise"), random_stream(0):
        a = TRANSFERS[name].bound("y").f(n)
    assert np.all(np.isfinite(a))


@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_transfer_vjp(name):
    rng = np.random.default_rng(2)
    tr = TRANSFERS[name].bound("y")
    n = away_from_kinks(rng, (B, Q, 3))
    g = rng.standard_normal(n.shape)
    with random_stream(0):
        a = tr.f(n)
    if name in NO_DERIVATIVE:
        with pytest.raises(NoDerivative, match=name):
            tr.vjp(n, a, g)
        return
    got = tr.vjp(n, a, g)
    assert got.shape == n.shape
    if name in STEP_TRANSFERS:
        np.testing.assert_array_equal(got, 0.0)
    else:
        fd = central_differences(lambda m: float(np.sum(g * TRANSFER_REFS[name](m))), n)
        np.testing.assert_allclose(got, fd, rtol=FD_RTOL, atol=FD_ATOL)
    # broadcasting over a leading direction axis equals looping over it
    gR = rng.standard_normal((R,) + n.shape)
    gotR = tr.vjp(n, a, gR)
    assert gotR.shape == gR.shape
    for r in range(R):
        np.testing.assert_allclose(gotR[r], tr.vjp(n, a, gR[r]), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- weights
def _blocks_of(X, k):
    n = X.shape[-1] // k
    return [X[..., j * n:(j + 1) * n] for j in range(k)]


def _full_ref(W, X, k):
    n = X.shape[-1] // k
    return sum(x @ W[:, j * n:(j + 1) * n].T for j, x in enumerate(_blocks_of(X, k)))


def _diag_ref(W, X, k):
    return sum(W[:, j] * x for j, x in enumerate(_blocks_of(X, k)))


def _identity_ref(W, X, k):
    return sum(_blocks_of(X, k))


@dataclass(frozen=True)
class WeightSample:
    ref: Callable                              # (W, X, k) -> z, an independent expression
    configs: Tuple[Tuple[int, int, int], ...]  # (S, k, n) cases
    has_param: bool


#: One entry per weight kind: how to compute it independently, and the sizes to try.
WEIGHT_SAMPLES: Dict[str, WeightSample] = {
    "full": WeightSample(_full_ref, ((3, 2, 2), (2, 1, 3), (1, 3, 1)), True),
    "diagonal": WeightSample(_diag_ref, ((3, 2, 3), (2, 1, 2)), True),
    "identity": WeightSample(_identity_ref, ((3, 1, 3), (2, 3, 2)), False),
}


def test_every_weight_has_a_sample():
    assert set(WEIGHT_SAMPLES) == set(WEIGHTS)


def _weight_cases():
    return [(name, cfg) for name in sorted(WEIGHTS)
            for cfg in (WEIGHT_SAMPLES[name].configs if name in WEIGHT_SAMPLES else ())]


@pytest.mark.parametrize("name,cfg", _weight_cases())
def test_weight_rules(name, cfg):
    S, k, n = cfg
    rng = np.random.default_rng(3)
    w, sample = WEIGHTS[name], WEIGHT_SAMPLES[name]
    shape = w.shape(S, k, n)
    assert (shape is not None) == sample.has_param
    # the engines hand an identity weight its number of taps instead of a matrix
    W = rng.standard_normal(shape) if shape is not None else k
    X = rng.standard_normal((B, Q, k * n))
    G = rng.standard_normal((B, Q, S))

    z = w.apply(W, X)
    assert z.shape == (B, Q, S)
    np.testing.assert_allclose(z, sample.ref(W, X, k), rtol=1e-13, atol=1e-14)

    gX = w.vjp_x(W, G)
    fd = central_differences(lambda x: float(np.sum(G * sample.ref(W, x, k))), X)
    np.testing.assert_allclose(gX, fd, rtol=FD_RTOL, atol=FD_ATOL)

    GR = rng.standard_normal((R, B, Q, S))
    gXR = w.vjp_x(W, GR)
    assert gXR.shape == (R, B, Q, k * n)
    for r in range(R):
        np.testing.assert_allclose(gXR[r], w.vjp_x(W, GR[r]), rtol=1e-14, atol=1e-15)

    if shape is None:
        assert w.grad is None and w.jac is None
        return
    gW = w.grad(G, X, k)
    assert gW.shape == shape
    fd = central_differences(lambda m: float(np.sum(G * sample.ref(m, X, k))), W)
    np.testing.assert_allclose(gW, fd, rtol=FD_RTOL, atol=FD_ATOL)

    jac = w.jac(G, X, k)
    assert jac.shape == (B, Q, int(np.prod(shape)))
    np.testing.assert_allclose(jac.sum(axis=(0, 1)), gW.ravel(), rtol=1e-12, atol=1e-13)
    jacR = w.jac(GR, X, k)
    assert jacR.shape == (R, B, Q, int(np.prod(shape)))
    for r in range(R):
        np.testing.assert_allclose(jacR[r], w.jac(GR[r], X, k), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- node kinds
@dataclass(frozen=True)
class KindSample:
    """A kind object with values to run it on.

    kind : the object under test
    P : block name -> value
    X : link index -> taps (B, Q, k*n)
    ref : (P, X) -> a (B, Q, S), an independent numpy expression of the forward rule
    learn : blocks whose gradient is asked for (fixed blocks are left out)
    """

    kind: object
    P: Dict[str, np.ndarray]
    X: Dict[int, np.ndarray]
    ref: Callable
    learn: FrozenSet[str]


# Sources of a sample layer: a full link with non-consecutive delays, a diagonal link and an
# identity link with three taps, so that every weight kind meets both nets.
_LAYER_S = 3
_LAYER_LINKS = (
    (LinkInfo("u", (0, 2), "full", "v.W[u]"), 2),
    (LinkInfo("w", (1,), "diagonal", "v.W[w]"), _LAYER_S),
    (LinkInfo("s", (0, 1, 3), "identity", None), _LAYER_S),
)
# Sources of the common recurrent layer: n = W_x x(t) + W_h h(t−1) (+ b).
_RECURRENT_LINKS = (
    (LinkInfo("x", (0,), "full", "v.W[x]"), 2),
    (LinkInfo("h", (1,), "full", "v.W[h]"), _LAYER_S),
)
# Sources of a gate (kind: sum/product): single-tap identity links, plus a full one.
_GATE_LINKS = (
    (LinkInfo("p", (0,), "identity", None), _LAYER_S),
    (LinkInfo("q", (1,), "identity", None), _LAYER_S),
    (LinkInfo("r", (2,), "full", "v.W[r]"), 2),
)


def _layer_sample(transfer, net, bias, fixed=(), link_set=_LAYER_LINKS):
    def build(rng):
        S = _LAYER_S
        links = [l for l, _ in link_set]
        P, X = {}, {}
        for i, (link, n) in enumerate(link_set):
            shape = WEIGHTS[link.weight].shape(S, link.k, n)
            if shape is not None:
                P[link.block] = rng.uniform(-1, 1, shape)
            X[i] = rng.uniform(-1, 1, (B, Q, link.k * n))
        if bias:
            P["v.b"] = rng.uniform(-1, 1, S)
        kind = KINDS["layer"](S, links, transfer, net, "v.b" if bias else None)

        def ref(P, X):
            zs = []
            for i, link in enumerate(links):
                W = P[link.block] if link.block else link.k
                zs.append(WEIGHT_SAMPLES[link.weight].ref(W, X[i], link.k))
            if net == "sum":
                pre = sum(zs) + (P["v.b"] if bias else 0.0)
            else:
                pre = np.prod(zs, axis=0) * (P["v.b"] if bias else 1.0)
            return TRANSFER_REFS[transfer](pre)

        return KindSample(kind, P, X, ref, frozenset(P) - set(fixed))
    return build


def _gamma_sample(learn_mu):
    def build(rng):
        K, m = 2, 2
        S = (K + 1) * m
        links = (LinkInfo("u", (0,)), LinkInfo("g", (1,)))
        P = {"g.mu": np.array([rng.uniform(0.2, 0.9)])}
        X = {0: rng.standard_normal((B, Q, m)), 1: rng.standard_normal((B, Q, S))}

        def ref(P, X):
            mu = P["g.mu"][0]
            prev = X[1]
            parts = [X[0]]
            for k in range(1, K + 1):
                parts.append((1 - mu) * prev[..., k * m:(k + 1) * m]
                             + mu * prev[..., (k - 1) * m:k * m])
            return np.concatenate(parts, axis=-1)

        kind = KINDS["gamma"](S, links, K, "g.mu")
        return KindSample(kind, P, X, ref, frozenset(P) if learn_mu else frozenset())
    return build


def _tdl_sample(rng):
    delays, m = (1, 2, 4), 2
    links = (LinkInfo("u", delays),)
    X = {0: rng.standard_normal((B, Q, len(delays) * m))}
    kind = KINDS["tdl"](len(delays) * m, links)
    return KindSample(kind, {}, X, lambda P, X: X[0].copy(), frozenset())


#: One entry per registered kind: the variants that must all pass.
SAMPLES = {
    "layer": {
        "sum_bias_tanh": _layer_sample("tanh", "sum", True),
        "sum_nobias_softmax": _layer_sample("softmax", "sum", False),
        "sum_bias_fixed_diag": _layer_sample("sigmoid", "sum", True, fixed=("v.W[w]",)),
        "prod_bias_sigmoid": _layer_sample("sigmoid", "prod", True),
        "prod_nobias_linear": _layer_sample("linear", "prod", False),
        "prod_bias_softplus_fixed_bias": _layer_sample("softplus", "prod", True,
                                                       fixed=("v.b",)),
        "recurrent_tanh": _layer_sample("tanh", "sum", True, link_set=_RECURRENT_LINKS),
        "recurrent_linear_nobias": _layer_sample("linear", "sum", False,
                                                 link_set=_RECURRENT_LINKS),
        "product_gate": _layer_sample("linear", "prod", False, link_set=_GATE_LINKS),
        "sum_gate_tanh": _layer_sample("tanh", "sum", False, link_set=_GATE_LINKS),
    },
    "gamma": {"learn_mu": _gamma_sample(True), "fixed_mu": _gamma_sample(False)},
    "tdl": {"taps_1_2_4": _tdl_sample},
}


def test_every_kind_has_a_sample():
    assert set(SAMPLES) == set(KINDS)
    assert KINDS["layer"] is LayerKind and KINDS["gamma"] is GammaKind
    assert KINDS["tdl"] is TdlKind


def _sample_cases():
    # A kind with no sample yields no case here; test_every_kind_has_a_sample then fails.
    return [(kind, variant) for kind in sorted(KINDS) for variant in sorted(SAMPLES.get(kind, ()))]


def _splits(n_links):
    """Every way of handing the links to the kind: hoisted (over all steps) or stepped."""
    return [frozenset(c) for r in range(n_links + 1)
            for c in itertools.combinations(range(n_links), r)]


def _run(kind, P, X, hoisted):
    H = kind.hoist(P, {l: x for l, x in X.items() if l in hoisted})
    return kind.step(P, H, {l: x for l, x in X.items() if l not in hoisted})


def _build(kind_name, variant, seed=0):
    sample = SAMPLES[kind_name][variant](np.random.default_rng(seed))
    assert isinstance(sample.kind, KINDS[kind_name])
    return sample


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
def test_kind_forward(kind_name, variant):
    s = _build(kind_name, variant)
    want = s.ref(s.P, s.X)
    for hoisted in _splits(len(s.kind.links)):
        a, cache = _run(s.kind, s.P, s.X, hoisted)
        assert a.shape == (B, Q, s.kind.S)
        np.testing.assert_allclose(a, want, rtol=1e-13, atol=1e-14, err_msg=str(hoisted))
        for c in cache:
            assert c.shape[:2] == (B, Q)


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
def test_kind_input_adjoints(kind_name, variant):
    s = _build(kind_name, variant)
    rng = np.random.default_rng(5)
    G = rng.standard_normal((B, Q, s.kind.S))
    for hoisted in _splits(len(s.kind.links)):
        a, c = _run(s.kind, s.P, s.X, hoisted)
        d = s.kind.delta(s.P, c, G)
        for l, link in enumerate(s.kind.links):
            got = s.kind.vjp_input(s.P, c, d, l)

            def F(x, l=l):
                X = dict(s.X)
                X[l] = x
                return float(np.sum(G * _run(s.kind, s.P, X, hoisted)[0]))

            fd = central_differences(F, s.X[l])
            np.testing.assert_allclose(got, fd, rtol=FD_RTOL, atol=FD_ATOL,
                                       err_msg=f"link {l} ({link.source}), hoisted {set(hoisted)}")


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
def test_kind_param_grad_and_jac(kind_name, variant):
    s = _build(kind_name, variant)
    rng = np.random.default_rng(6)
    G = rng.standard_normal((B, Q, s.kind.S))
    for hoisted in _splits(len(s.kind.links)):
        a, c = _run(s.kind, s.P, s.X, hoisted)
        d = s.kind.delta(s.P, c, G)
        grads = s.kind.param_grad(s.P, s.X, c, d, s.learn)
        assert set(grads) == set(s.learn)        # fixed blocks get no gradient
        jac = s.kind.param_jac(s.P, s.X, c, d, s.learn)
        assert set(jac) == set(s.learn)
        for name in s.learn:

            def F(v, name=name):
                P = dict(s.P)
                P[name] = v
                return float(np.sum(G * s.ref(P, s.X)))

            fd = central_differences(F, s.P[name])
            got = np.asarray(grads[name])
            assert got.shape == s.P[name].shape, name
            np.testing.assert_allclose(got, fd, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)
            assert jac[name].shape == (B, Q, s.P[name].size), name
            np.testing.assert_allclose(jac[name].sum(axis=(0, 1)), got.ravel(),
                                       rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
def test_kind_rules_broadcast_over_directions(kind_name, variant):
    s = _build(kind_name, variant)
    rng = np.random.default_rng(7)
    GR = rng.standard_normal((R, B, Q, s.kind.S))
    for hoisted in _splits(len(s.kind.links)):
        a, c = _run(s.kind, s.P, s.X, hoisted)
        dR = s.kind.delta(s.P, c, GR)
        assert dR.shape[:4] == (R, B, Q, s.kind.S)
        ds = [s.kind.delta(s.P, c, GR[r]) for r in range(R)]
        for r in range(R):
            np.testing.assert_allclose(dR[r], ds[r], rtol=1e-14, atol=1e-15)
        for l in range(len(s.kind.links)):
            gR = s.kind.vjp_input(s.P, c, dR, l)
            assert gR.shape == (R,) + s.X[l].shape
            for r in range(R):
                np.testing.assert_allclose(gR[r], s.kind.vjp_input(s.P, c, ds[r], l),
                                           rtol=1e-14, atol=1e-15)
        jR = s.kind.param_jac(s.P, s.X, c, dR, s.learn)
        for name in s.learn:
            assert jR[name].shape == (R, B, Q, s.P[name].size)
            for r in range(R):
                np.testing.assert_allclose(
                    jR[name][r], s.kind.param_jac(s.P, s.X, c, ds[r], s.learn)[name],
                    rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- fast paths
# Optional forms of the same rules that the engines prefer when a kind offers them: in-place
# transfers, compiled step/backward closures, and the diagonal RTRL Jacobian. Each must give
# exactly what the plain rule gives.
@pytest.mark.parametrize("name", sorted(TRANSFERS))
def test_transfer_in_place_forms(name):
    rng = np.random.default_rng(8)
    tr = TRANSFERS[name].bound("y")
    n = away_from_kinks(rng, (B, Q, 3))
    out = np.full(n.shape, np.nan)
    with random_stream(0):
        a = tr.f(n)
    with random_stream(0):            # the same draws: the in-place form is the same rule
        tr.apply_into(n, out)
    np.testing.assert_array_equal(out, a)
    if tr.elementwise and not tr.linear:      # vjp is g * f'(n), f' stated once
        g = rng.standard_normal(n.shape)
        np.testing.assert_allclose(tr.vjp(n, a, g), g * tr.deriv(n, a), rtol=1e-15, atol=0)
    assert tr.elementwise == (name not in {"softmax"} | NO_DERIVATIVE)


def _reader(x, single):
    """A stepped tap reader as the forward engine builds it: read(t) -> (Q, k*n); a
    single-delay one also exposes its whole-run view ``all`` and ``buf[off + t]``."""
    def read(t):
        return x[t]
    read.all = x if single else None
    if single:
        read.buf, read.off = x, 0
    return read


def _sink(out, single, first):
    """An adjoint sink as the backward engine builds it: sink(t, gX) adds gX into out[t]
    for t >= first (earlier ones fall before a truncation window); a single-delay one also
    exposes ``buf``, ``off`` and ``first`` so that a closure may inline the add."""
    def sink(t, g):
        if t >= first:
            out[t] += g
    if single:
        sink.buf, sink.off, sink.first = out, 0, first
    return sink


#: (fuse the fusable links, lay δ out as a strided view, first step a sink keeps)
CLOSURE_LAYOUTS = {"plain": (False, False, 0), "fused": (True, False, 0),
                   "strided_truncated": (False, True, 1)}


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
@pytest.mark.parametrize("layout", sorted(CLOSURE_LAYOUTS))
def test_kind_compiled_closures(kind_name, variant, layout):
    """compile_step / compile_backward (the stepped fast paths) against step / delta /
    vjp_input, for every way of splitting the links into hoisted and stepped."""
    s = _build(kind_name, variant)
    if not hasattr(s.kind, "compile_step"):
        pytest.skip(f"{kind_name} has no compiled form")
    use_fused, strided, first = CLOSURE_LAYOUTS[layout]
    rng = np.random.default_rng(9)
    want = s.ref(s.P, s.X)
    G = rng.standard_normal((B, Q, s.kind.S))
    for hoisted in _splits(len(s.kind.links)):
        stepped = [l for l in range(len(s.kind.links)) if l not in hoisted]
        if not stepped:
            continue        # the engines step only nodes on a cycle, so some link is inside
        fusable = set(s.kind.fusable()) if use_fused else set()
        fused = {l: np.empty((Q, s.kind.S)) for l in stepped if l in fusable
                 and s.kind.links[l].k == 1}
        readers = [(l, _reader(s.X[l], s.kind.links[l].k == 1)) for l in stepped
                   if l not in fused]
        H = s.kind.hoist(s.P, {l: s.X[l] for l in hoisted})
        a_out = np.full((B, Q, s.kind.S), np.nan)
        compiled = s.kind.compile_step(s.P, H, readers, fused, a_out, B, Q)
        if compiled is None:
            continue
        run, cache = compiled
        for t in range(B):
            for l, z in fused.items():      # the engine's batched matmul, done by hand
                z[...] = s.X[l][t] @ s.P[s.kind.links[l].block].T
            run(t)
        np.testing.assert_allclose(a_out, want, rtol=1e-13, atol=1e-14, err_msg=str(hoisted))

        a, c = _run(s.kind, s.P, s.X, hoisted)
        d_want = s.kind.delta(s.P, c, G)
        wide = np.full((B, Q, s.kind.S + 2), np.nan)
        D = wide[:, :, 1:1 + s.kind.S] if strided else np.full((B, Q, s.kind.S), np.nan)
        got = {l: np.zeros(s.X[l].shape) for l in stepped}
        sinks = [(l, _sink(got[l], s.kind.links[l].k == 1, first)) for l in stepped]
        back = s.kind.compile_backward(s.P, tuple(cache), G, D, sinks)
        if back is None:
            continue
        for t in range(B - 1, -1, -1):
            back(t)
        np.testing.assert_allclose(D, d_want, rtol=1e-13, atol=1e-14)
        for l in got:
            gx = s.kind.vjp_input(s.P, c, d_want, l)
            gx[:first] = 0.0
            np.testing.assert_allclose(got[l], gx, rtol=1e-13, atol=1e-14,
                                       err_msg=f"link {l}, hoisted {set(hoisted)}")


@pytest.mark.parametrize("kind_name,variant", _sample_cases())
def test_kind_diagonal_param_jac(kind_name, variant):
    """With an identity seed (RTRL's R = S directions), param_jac_diag gives the rows r of
    the r-th direction, and every other row of the dense param_jac is zero."""
    s = _build(kind_name, variant)
    if not hasattr(s.kind, "param_jac_diag"):
        pytest.skip(f"{kind_name} has no diagonal Jacobian")
    S = s.kind.S
    a, c = _run(s.kind, s.P, s.X, frozenset())
    seed = np.broadcast_to(np.eye(S)[:, None, None, :], (S, B, Q, S))
    d = s.kind.delta(s.P, c, seed)
    ar = np.arange(S)
    dvec = d[ar, ..., ar].transpose(1, 2, 0)
    diag = s.kind.param_jac_diag(s.P, s.X, c, dvec, s.learn)
    rest = s.kind.param_jac_rest(s.P, s.X, c, d, s.learn)
    dense = s.kind.param_jac(s.P, s.X, c, d, s.learn)
    assert set(diag) | set(rest) == set(dense) and not set(diag) & set(rest)
    for name, arr in rest.items():
        np.testing.assert_allclose(arr, dense[name], rtol=1e-15, atol=0)
    for name, (arr, m) in diag.items():
        full = dense[name].reshape(S, B, Q, S, m)
        assert arr.shape == (B, Q, S, m)
        for r in range(S):
            np.testing.assert_allclose(full[r, :, :, r], arr[:, :, r], rtol=1e-14, atol=1e-15)
            others = np.delete(full[r], r, axis=2)
            np.testing.assert_array_equal(others, 0.0)
