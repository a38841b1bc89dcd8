"""Model presets (dg.narx, dg.timedelay, dg.distdelay, dg.layrec, dg.state_space, dg.arx).

Each preset is held against a spec written by hand (the catalogue files in specs/ and the
YAML below): the same order, sizes, parameter blocks and long-form YAML, and the same
simulation with the same parameter vector. Two presets are also checked against reference
loops written with numpy alone (ARX, state space), and the NARX forms against each other
through openloop/closeloop.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR, random_data
from dyngraph.language.writer import spec_to_yaml


def _text(net) -> str:
    """Long-form YAML of the architecture alone (name and description cut)."""
    return spec_to_yaml(dataclasses.replace(net.spec, name="n", description=""))


def _outputs(net, data):
    y = net.simulate(data)
    return y if isinstance(y, dict) else {next(iter(net.outputs)): y}


def assert_same_net(net, ref, T=15):
    """``net`` and ``ref`` are the same architecture and compute the same thing."""
    assert net.order == ref.order
    assert net.sizes == ref.sizes
    assert net.inputs == ref.inputs and net.outputs == ref.outputs
    assert net.block_names == ref.block_names
    assert [net.get(b).shape for b in net.block_names] == \
        [ref.get(b).shape for b in ref.block_names]
    assert _text(net) == _text(ref)
    theta = np.random.default_rng(1).uniform(-0.5, 0.5, net.n_params)
    net, ref = net.copy(), ref.copy()
    net.params = theta
    ref.params = theta
    data = random_data(net, Q=2, T=T, seed=3)
    y, r = _outputs(net, data), _outputs(ref, data)
    for name in r:
        assert np.abs(r[name]).max() > 0          # the comparison is not of zeros
        np.testing.assert_array_equal(y[name], r[name])


# ---------------------------------------------------------------------- the catalogue
CATALOGUE = [
    ("narx_parallel", lambda: dg.narx()),
    ("narx_series_parallel", lambda: dg.narx(form="series-parallel")),
    ("ftdnn", lambda: dg.timedelay(input_delays="0:4")),
    ("distributed_tdnn", lambda: dg.distdelay(delays=("0:3", "0:2"), hidden=8)),
    ("layer_recurrent", lambda: dg.layrec(layer_delays=1)),
]


@pytest.mark.parametrize("stem,make", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_preset_equals_catalogue_spec(stem, make):
    assert_same_net(make(), dg.load(SPEC_DIR / f"{stem}.yaml"))


# ---------------------------------------------------------------------- hand-written YAML
HAND = {
    "narx_mimo_two_hidden": (
        lambda: dg.narx(inputs={"u1": 1, "u2": 2}, outputs={"a": 1, "b": 2},
                        input_delays=[0, 3], feedback_delays=2, hidden=[3, 4],
                        transfer="sigmoid"),
        """
inputs: {u1: 1, u2: 2}
layers:
  h1: {size: 3, transfer: sigmoid, from: {u1: [0, 3], u2: [0, 3], a: 2, b: 2}}
  h2: {size: 4, transfer: sigmoid, from: h1}
  a: {size: 1, from: h2}
  b: {size: 2, from: h2}
outputs: [a, b]
"""),
    "narx_series_parallel_size2": (
        lambda: dg.narx(inputs=2, outputs=2, input_delays="1:3", feedback_delays=[1, 3],
                        hidden=5, form="series-parallel"),
        """
inputs:
  u: 2
  y_meas: {size: 2, feedback_of: y}
layers:
  h: {size: 5, transfer: tanh, from: {u: "1:3", y_meas: [1, 3]}}
  y: {size: 2, from: h}
outputs: [y]
"""),
    "timedelay_two_hidden": (
        lambda: dg.timedelay(inputs=3, outputs={"z": 2}, input_delays=[0, 2, 5],
                             hidden=(4, 3), transfer="relu"),
        """
inputs: {u: 3}
layers:
  h1: {size: 4, transfer: relu, from: {u: [0, 2, 5]}}
  h2: {size: 3, transfer: relu, from: h1}
  z: {size: 2, from: h2}
outputs: [z]
"""),
    "distdelay_two_hidden": (
        lambda: dg.distdelay(inputs={"p": 2}, delays=("0:2", 1, [0, 2]), hidden=(3, 2)),
        """
inputs: {p: 2}
layers:
  h1: {size: 3, transfer: tanh, from: {p: "0:2"}}
  h2: {size: 2, transfer: tanh, from: {h1: 1}}
  y: {size: 1, from: {h2: [0, 2]}}
outputs: [y]
"""),
    "layrec_two_hidden": (
        lambda: dg.layrec(inputs=2, layer_delays="1:2", hidden=[3, 2], input_delays="0:1"),
        """
inputs: {u: 2}
layers:
  h1: {size: 3, transfer: tanh, from: {u: "0:1", h1: "1:2"}}
  h2: {size: 2, transfer: tanh, from: {h1: 0, h2: "1:2"}}
  y: {size: 1, from: h2}
outputs: [y]
"""),
    "state_space_nonlinear": (
        lambda: dg.state_space(inputs=2, outputs=2, states=3, hidden=4, output_hidden=[2]),
        """
inputs: {u: 2}
layers:
  f: {size: 4, transfer: tanh, from: {u: 1, x: 1}}
  x: {size: 3, from: f}
  g: {size: 2, transfer: tanh, from: x}
  y: {size: 2, from: g}
outputs: [y]
"""),
    "state_space_linear": (
        lambda: dg.state_space(states=2, hidden=()),
        """
inputs: {u: 1}
layers:
  x: {size: 2, from: {u: 1, x: 1}}
  y: {size: 1, from: x}
outputs: [y]
"""),
    "arx_parallel": (
        lambda: dg.arx(input_delays="0:2", feedback_delays="1:2", bias=False),
        """
inputs: {x: 1}
layers:
  y: {size: 1, bias: false, from: {x: "0:2", y: "1:2"}}
outputs: [y]
""".replace("x", "u")),
    "arx_series_parallel_mimo": (
        lambda: dg.arx(inputs=2, outputs={"v": 1, "w": 1}, input_delays=1,
                       feedback_delays="1:3", form="series-parallel"),
        """
inputs:
  u: 2
  v_meas: {size: 1, feedback_of: v}
  w_meas: {size: 1, feedback_of: w}
layers:
  v: {size: 1, from: {u: 1, v_meas: "1:3", w_meas: "1:3"}}
  w: {size: 1, from: {u: 1, v_meas: "1:3", w_meas: "1:3"}}
outputs: [v, w]
"""),
}


@pytest.mark.parametrize("key", sorted(HAND))
def test_preset_equals_hand_written_spec(key):
    make, text = HAND[key]
    assert_same_net(make(), dg.loads(text))


ALL = [make for _, make in CATALOGUE] + [make for make, _ in HAND.values()]
IDS = [stem for stem, _ in CATALOGUE] + list(HAND)


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_yaml_round_trip(make):
    net = make()
    assert net.spec.name and net.spec.description
    again = dg.loads(spec_to_yaml(net.spec))
    assert again.name == net.name and again.spec.description == net.spec.description
    assert_same_net(again, net)
    # the same seed gives the same initial weights from the written file
    np.testing.assert_array_equal(again.params, net.params)


def test_seed_reaches_the_weights():
    assert not np.array_equal(dg.narx(seed=0).params, dg.narx(seed=1).params)
    np.testing.assert_array_equal(dg.narx(seed=4).params, dg.load(
        SPEC_DIR / "narx_parallel.yaml", seed=4).params)


# ---------------------------------------------------------------------- the two NARX forms
FORMS = [
    lambda form: dg.narx(form=form),
    lambda form: dg.narx(inputs={"u1": 1, "u2": 2}, outputs={"a": 1, "b": 2},
                         input_delays=0, feedback_delays="1:3", hidden=[3, 2], form=form),
    lambda form: dg.arx(input_delays="0:2", feedback_delays=[1, 4], form=form),
]


@pytest.mark.parametrize("make", FORMS, ids=["narx", "narx_mimo", "arx"])
def test_series_parallel_is_parallel_openloop(make):
    par, sp = make("parallel"), make("series-parallel")
    opened = par.openloop()
    assert sp.block_names == opened.block_names
    assert _text(sp) == _text(opened)
    # weights set on the series-parallel net go back to the parallel one by closeloop
    sp.params = np.random.default_rng(5).uniform(-0.4, 0.4, sp.n_params)
    closed = sp.closeloop()
    assert closed.block_names == par.block_names
    par.params = closed.params
    data = random_data(par, Q=2, T=14, seed=6)
    y, r = _outputs(closed, data), _outputs(par, data)
    for name in r:
        np.testing.assert_array_equal(y[name], r[name])


# ---------------------------------------------------------------------- references
def test_arx_is_linear_and_matches_its_difference_equation():
    net = dg.arx(input_delays="0:2", feedback_delays="1:2", bias=False)
    assert net.order == ("u", "y")                   # no hidden layer
    net.set("y.W[u]", [[0.2, 0.3, 0.1]])
    net.set("y.W[y]", [[0.5, -0.2]])
    rng = np.random.default_rng(0)
    u1, u2 = rng.standard_normal((2, 30, 1))
    a, b = 1.7, -0.6
    np.testing.assert_allclose(net.simulate(a * u1 + b * u2),
                               a * net.simulate(u1) + b * net.simulate(u2), atol=1e-12)
    x = np.r_[0.0, 0.0, u1[:, 0]]                    # two zeros before t = 0
    y = np.zeros(32)                                 # y[t] = sum b_m u[t-m] + sum a_m y[t-m]
    for t in range(2, 32):
        y[t] = 0.2 * x[t] + 0.3 * x[t - 1] + 0.1 * x[t - 2] + 0.5 * y[t - 1] - 0.2 * y[t - 2]
    y = y[2:]
    np.testing.assert_allclose(net.simulate(u1)[:, 0], y, atol=1e-12)


def test_arx_with_bias_is_affine():
    net = dg.arx(inputs=2, input_delays="1:2", feedback_delays=1)
    net.params = np.random.default_rng(2).uniform(-0.5, 0.5, net.n_params)
    assert np.abs(net.get("y.b")).max() > 0
    rng = np.random.default_rng(3)
    u1, u2 = rng.standard_normal((2, 25, 2))
    zero = net.simulate(np.zeros_like(u1))
    np.testing.assert_allclose(net.simulate(u1 + u2) - zero,
                               (net.simulate(u1) - zero) + (net.simulate(u2) - zero),
                               atol=1e-12)
    assert np.abs(net.simulate(2 * u1) - 2 * net.simulate(u1)).max() > 1e-3   # not linear


def test_state_space_matches_its_recursion():
    net = dg.state_space(inputs=2, outputs=1, states=3, hidden=4)
    net.params = np.random.default_rng(7).uniform(-0.6, 0.6, net.n_params)
    u = np.random.default_rng(8).standard_normal((20, 2))
    W = {name: net.get(name) for name in net.block_names}
    x, ys = np.zeros(3), []
    for t in range(20):
        u_prev = u[t - 1] if t else np.zeros(2)
        f = np.tanh(W["f.W[u]"] @ u_prev + W["f.W[x]"] @ x + W["f.b"])
        x = W["x.W[f]"] @ f + W["x.b"]
        ys.append(W["y.W[x]"] @ x + W["y.b"])
    np.testing.assert_allclose(net.simulate(u), np.array(ys), atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: dg.state_space(inputs=2, states=2, hidden=3, output_hidden=2),
    lambda: dg.layrec(layer_delays="1:2", hidden=[3, 2]),
    lambda: dg.narx(outputs=2, hidden=[3, 2], feedback_delays=[1, 3]),
], ids=["state_space", "layrec", "narx"])
def test_gradients_of_recurrent_presets(make):
    """BPTT = RTRL = central finite differences on the presets' own cycles."""
    net = make()
    net.params = np.random.default_rng(9).uniform(-0.5, 0.5, net.n_params)
    data = random_data(net, Q=2, T=8, seed=10)
    target = {o: np.random.default_rng(11).standard_normal((2, 8, n))
              for o, n in net.outputs.items()}
    target = target if len(target) > 1 else next(iter(target.values()))
    loss, g_bptt = net.gradient(data, target, method="bptt")
    _, g_rtrl = net.gradient(data, target, method="rtrl")
    np.testing.assert_allclose(g_bptt, g_rtrl, rtol=1e-9, atol=1e-12)
    theta, eps, fd = net.params, 1e-6, np.zeros(net.n_params)
    for k in range(net.n_params):
        for sign in (1, -1):
            trial = theta.copy()
            trial[k] += sign * eps
            net.params = trial
            fd[k] += sign * net.gradient(data, target)[0] / (2 * eps)
    np.testing.assert_allclose(g_bptt, fd, rtol=1e-5, atol=1e-8)
    assert np.abs(g_bptt).max() > 1e-6


def test_presets_are_exported():
    for name in ("narx", "timedelay", "distdelay", "layrec", "state_space", "arx"):
        assert name in dg.__all__ and callable(getattr(dg, name))


# ---------------------------------------------------------------------- bad arguments
BAD = [
    (dg.narx, {"hidden": 0}, "hidden"),
    (dg.narx, {"hidden": [10, -2]}, "hidden"),
    (dg.narx, {"hidden": "10"}, "hidden"),
    (dg.narx, {"input_delays": "2:1"}, "input_delays"),
    (dg.narx, {"input_delays": "1-2"}, "input_delays"),
    (dg.narx, {"input_delays": 1.5}, "input_delays"),
    (dg.narx, {"input_delays": [1, 1]}, "input_delays"),
    (dg.narx, {"input_delays": []}, "input_delays"),
    (dg.narx, {"feedback_delays": "0:2"}, "feedback_delays"),
    (dg.narx, {"form": "closed"}, "form"),
    (dg.narx, {"transfer": "tanhh"}, "transfer"),
    (dg.narx, {"transfer": None}, "transfer"),
    (dg.narx, {"inputs": 0}, "inputs"),
    (dg.narx, {"inputs": {}}, "inputs"),
    (dg.narx, {"inputs": {"1u": 1}}, "inputs"),
    (dg.narx, {"inputs": {"h": 1}}, "inputs"),
    (dg.narx, {"outputs": {"u": 1}}, "outputs"),
    (dg.narx, {"outputs": {"y": True}}, "outputs"),
    (dg.narx, {"seed": -1}, "seed"),
    (dg.arx, {"form": "open"}, "form"),
    (dg.arx, {"feedback_delays": 0}, "feedback_delays"),
    (dg.arx, {"bias": "yes"}, "bias"),
    (dg.timedelay, {"input_delays": "a:b"}, "input_delays"),
    (dg.timedelay, {"hidden": 2.5}, "hidden"),
    (dg.distdelay, {"hidden": (3, 2)}, "delays"),
    (dg.distdelay, {"delays": ("0:1", "3:1")}, "delays"),
    (dg.distdelay, {"delays": None}, "delays"),
    (dg.layrec, {"hidden": ()}, "hidden"),
    (dg.layrec, {"layer_delays": 0}, "layer_delays"),
    (dg.state_space, {"states": 0}, "states"),
    (dg.state_space, {"output_hidden": [0]}, "output_hidden"),
    (dg.state_space, {"inputs": {"x": 1}}, "inputs"),
]


@pytest.mark.parametrize("func,kwargs,arg", BAD,
                         ids=[f"{f.__name__}-{next(iter(k))}-{i}" for i, (f, k, _) in
                              enumerate(BAD)])
def test_bad_argument_is_a_value_error_naming_it(func, kwargs, arg):
    with pytest.raises(ValueError) as info:
        func(**kwargs)
    text = str(info.value)
    assert text.startswith(f"{func.__name__}: {arg}")
    assert "<" not in text.split(": ", 2)[-1]        # no position inside generated text
    assert not isinstance(info.value, dg.SpecError)


def test_docs_example_runs():
    """docs/presets.md's example runs as written (its asserts included)."""
    text = (SPEC_DIR.parent / "docs" / "presets.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/presets.md", "exec"), {})
