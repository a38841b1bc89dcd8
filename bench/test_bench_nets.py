"""Checks of the benchmarks' own plumbing, at tiny sizes (fast; no timing).

- bench/ref_nets.py: each spec-built net with the reference's weights computes the same
  outputs and gradients (BPTT and RTRL) as bench/refs.py — what the benchmarks assert
  before timing, here on small random cases.
- bench/pyrenn_nets.py: pyrenn's architectures written as specs have pyrenn's weight counts
  (counted by pyrenn's CreateNN for these nets: 22, 32, 34, 72 and 1762).

Run: ``python -m pytest bench/test_bench_nets.py -q``
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyrenn_nets  # noqa: E402
import ref_nets  # noqa: E402
import refs  # noqa: E402

TINY = {
    "ftdnn": {"H": 3, "R": 2, "K": 2, "D": 3},
    "elman": {"H": 3, "R": 2, "K": 2},
    "lstm": {"H": 3, "R": 2, "K": 2},
    "narx": {"H": 3, "R": 2, "K": 2},
    "gru": {"H": 3, "R": 2, "K": 2},
    "gamma": {"H": 3, "R": 2, "K": 2, "D": 3},
}


def _case(net, T=9, Q=3, seed=0):
    sizes = TINY[net]
    p = refs.make_params(net, sizes, seed=seed)
    u, y = refs.make_data(net, sizes, T, Q, seed=seed + 1)
    return sizes, p, u, y, ref_nets.build(net, sizes, p)


@pytest.mark.parametrize("net", refs.NETS)
def test_simulate_matches_reference(net):
    sizes, p, u, _, dnet = _case(net)
    Y = dnet.simulate(ref_nets.user(u))
    np.testing.assert_allclose(Y, ref_nets.user(refs._SIMULATE[net](p, u)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["bptt", "rtrl"])
@pytest.mark.parametrize("net", refs.NETS)
def test_gradient_matches_reference(net, method):
    sizes, p, u, y, dnet = _case(net)
    loss, g = dnet.gradient(ref_nets.user(u), ref_nets.user(y), method=method)
    ref = refs._RTRL.get(net, refs._GRAD[net]) if method == "rtrl" else refs._GRAD[net]
    loss_ref, g_ref = ref(p, u, y)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    np.testing.assert_allclose(g, ref_nets.ref_grad_to_flat(dnet, net, g_ref),
                               rtol=1e-9, atol=1e-12)


def test_copy_params_refuses_missing_blocks():
    _, _, _, _, dnet = _case("elman")
    ftdnn_params = refs.make_params("ftdnn", TINY["ftdnn"])   # has no recurrent weight
    with pytest.raises(KeyError, match=r"h\.W\[h\]"):
        ref_nets.copy_params(dnet, "ftdnn", ftdnn_params)


@pytest.mark.parametrize("args,count", [
    (([1, 3, 3, 1], [0], [], []), 22),
    (([1, 2, 2, 1], [0], [1], [1, 2]), 32),
    (([1, 3, 3, 1], [1, 2], [], [1, 2, 3]), 34),
    (([3, 5, 5, 2], [0], [], [1]), 72),
    (([2, 20, 20, 1], [0], [1], [1, 2]), 1762),
])
def test_pyrenn_architectures_have_pyrenns_weight_counts(args, count):
    import dyngraph as dg
    net = dg.loads(pyrenn_nets.spec_text(*args))
    assert net.n_params == count


def test_pyrenn_links_follow_createnn_rules():
    lk = pyrenn_nets.links([2, 4, 5, 1], [0, 1], [1, 2], [3])
    assert lk[1] == [("p", (0, 1)), ("a1", (1, 2)), ("a2", (1, 2)), ("a3", (3,))]
    assert lk[2] == [("a1", (0,)), ("a2", (1, 2)), ("a3", (1, 2))]
    assert lk[3] == [("a2", (0,)), ("a3", (1, 2))]
