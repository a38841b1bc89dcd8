"""``gradient: stop`` on a link: values pass, derivatives do not.

The stopped gradient is not the loss's gradient, so finite differences of the net itself
disagree with it on purpose. It is the true gradient of a modified computation: the same
net with each stopped link reading, instead of its source, an input that carries the
source's recorded values (``Net.detach``). The checks here: BPTT = RTRL (gradient, Jacobian,
online), numpy = compiled, both = finite differences of the detached net, and for an Elman
net with its recurrence stopped, = BPTT truncated to one step of the unstopped net.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.engines.online import OnlineRTRL
from dyngraph.language.writer import spec_to_yaml
from conftest import SPEC_DIR, has_stops

pytestmark = pytest.mark.usefixtures("engine_backend")

T, Q = 12, 2
EPS = 1e-6
ENGINES = 1e-10              # BPTT vs RTRL
BACKENDS = 1e-12             # numpy vs compiled
FD = 1e-6                    # engines vs finite differences of the detached net

ELMAN = """
inputs: {u: 2}
layers:
  h: {size: 4, transfer: tanh, from: {u: 0, h: {delays: 1, gradient: stop}}}
  y: {size: 1, from: h}
outputs: [y]
"""

LSTM = (SPEC_DIR / "lstm.yaml").read_text()
# The standard LSTM with the 1997 truncation: errors go back in time only through c.
LSTM_CELL_ONLY = LSTM.replace("h: 1}", "h: {delays: 1, gradient: stop}}")
# Only the input gate's recurrence stopped: the other gates' reads of h(t-1) are fused into
# one matmul by the engines, and the stopped one must leave that group.
LSTM_ONE_GATE = LSTM.replace("i:  {size: 8, transfer: sigmoid, from: {x: 0, h: 1}}",
                             "i:  {size: 8, transfer: sigmoid, from: {x: 0, h: {delays: 1, "
                             "gradient: stop}}}")
# The carousel itself stopped, through an identity link of a sum gate.
CAROUSEL_STOPPED = LSTM.replace("fc: {kind: product, from: {f: 0, c: 1}}",
                                "fc: {kind: product, from: {f: 0, c: {delays: 1, "
                                "gradient: stop}}}")
# A stopped input link (no parameter depends on an input: only input gradients change) and
# a stop on a multi-tap link.
INPUT_STOPPED = """
inputs: {u: 1, v: 2}
layers:
  h: {size: 3, transfer: tanh, from: {u: {delays: [0, 1], gradient: stop}, v: 0,
                                      h: {delays: [1, 2], gradient: stop}}}
  y: {size: 2, transfer: sigmoid, from: {h: 0, y: 1}}
outputs: [y]
"""

TEXTS = {"elman": ELMAN, "lstm_cell_only": LSTM_CELL_ONLY, "lstm_one_gate": LSTM_ONE_GATE,
         "carousel_stopped": CAROUSEL_STOPPED, "input_stopped": INPUT_STOPPED,
         "lstm_truncated": (SPEC_DIR / "lstm_truncated.yaml").read_text()}


def _net(name, seed=1):
    return dg.loads(TEXTS[name], seed=seed)


def _problem(net, seed=2):
    rng = np.random.default_rng(seed)
    U = {k: rng.standard_normal((Q, T, n)) for k, n in net.inputs.items()}
    Y = {k: rng.standard_normal((Q, T, n)) for k, n in net.outputs.items()}
    return U, Y


def _initial(net, seed=3):
    rng = np.random.default_rng(seed)
    return {n: 0.5 * rng.standard_normal((Q, node.lookback, node.size))
            for n, node in net.plan.nodes.items() if node.lookback}


def _rel(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0 else float(np.linalg.norm(np.asarray(a) - b) / scale)


def _loss(net, U, Y, initial=None):
    out = net.simulate(U, initial=initial)
    return sum(np.sum((out[k] - y) ** 2) for k, y in Y.items())


def _fd_params(net, U, Y, initial=None, seed=0):
    """Central differences of the sse along a random direction v: (v, d loss / d v)."""
    v = np.random.default_rng(seed).standard_normal(net.n_params)
    theta = net.params.copy()
    vals = []
    for s in (1, -1):
        net.params = theta + s * EPS * v
        vals.append(_loss(net, U, Y, initial))
    net.params = theta
    return v, (vals[0] - vals[1]) / (2 * EPS)


# --------------------------------------------------------------------------- language
def test_gradient_defaults_to_pass_and_reads_stop():
    net = dg.loads(ELMAN)
    links = {l.source: l for l in net.spec.layers[0].links}
    assert links["u"].gradient == "pass" and links["h"].gradient == "stop"
    assert [l.stop for l in net.plan.nodes["h"].links] == [False, True]
    assert not has_stops(dg.load(SPEC_DIR / "lstm.yaml"))


@pytest.mark.parametrize("value, message", [
    ("halt", "unknown gradient 'halt' (allowed here: pass, stop)"),
    ("true", "gradient must be one of pass, stop, got true"),
])
def test_bad_gradient_value_is_a_positioned_error(value, message):
    text = ("inputs: {u: 1}\nlayers:\n"
            f"  y: {{size: 1, from: {{u: 0, y: {{delays: 1, gradient: {value}}}}}}}\n"
            "outputs: [y]\n")
    with pytest.raises(dg.SpecError) as err:
        dg.loads(text)
    col = text.splitlines()[2].index(value) + 1
    assert str(err.value) == f"<string>:3:{col}: layers.y.from.y.gradient: {message}"


def test_writer_round_trips_the_option():
    net = _net("input_stopped")
    text = spec_to_yaml(net.spec)
    assert text.count("gradient: stop") == 2 and "gradient: pass" not in text
    back = dg.loads(text)
    assert ([(l.source, l.gradient) for layer in back.spec.layers for l in layer.links]
            == [(l.source, l.gradient) for layer in net.spec.layers for l in layer.links])


def test_schema_knows_the_option():
    import json
    from dyngraph.language import schema
    text = json.dumps(json.load(open(schema.__file__.replace("schema.py", "schema.json"))))
    assert '"enum": ["pass", "stop"]' in text


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_engines_agree_and_equal_the_detached_gradient(name):
    net = _net(name)
    U, Y = _problem(net)
    lb, gb = net.gradient(U, Y, loss="sse")
    lr, gr = net.gradient(U, Y, loss="sse", method="rtrl")
    assert lb == pytest.approx(lr, rel=1e-13)
    assert _rel(gb, gr) <= ENGINES
    ref, rU, rinit = net.detach(U)
    # the detached net computes the same values, and its true gradient is the stopped one
    assert _loss(ref, rU, Y, rinit) == pytest.approx(lb, rel=1e-12)
    assert _rel(ref.gradient(rU, Y, loss="sse", initial=rinit)[1], gb) <= ENGINES
    v, fd = _fd_params(ref, rU, Y, rinit)
    assert abs(gb @ v - fd) <= FD * abs(fd) + 1e-12
    if name != "input_stopped":
        # ... and not the loss's own gradient: finite differences of the net disagree
        v, fd_true = _fd_params(net, U, Y)
        assert abs(gb @ v - fd_true) > 1e-4 * abs(fd_true)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_backends_agree(name):
    net = _net(name, seed=4)
    U, Y = _problem(net, seed=5)
    init = _initial(net)
    for kw in ({"initial_grad": True}, {"truncate": (4, 6)}, {"method": "rtrl"}):
        g = {b: net.gradient(U, Y, initial=init, backend=b, **kw) for b in ("numpy", "compiled")}
        assert _rel(g["numpy"][1], g["compiled"][1]) <= BACKENDS, kw
        if "initial_grad" in kw:
            for k in g["numpy"][2]:
                assert _rel(g["numpy"][2][k], g["compiled"][2][k]) <= BACKENDS, k
    J = {b: net.jacobian(U, Y, initial=init, backend=b)[1] for b in ("numpy", "compiled")}
    assert _rel(J["numpy"], J["compiled"]) <= BACKENDS


def test_elman_with_its_recurrence_stopped_is_one_step_truncated_bptt():
    """Stopping h(t-1) -> h leaves the static gradient: the same as BPTT of the unstopped
    net truncated to one step per error (truncate=(1, 1))."""
    net = _net("elman")
    plain = dg.loads(ELMAN.replace("{delays: 1, gradient: stop}", "1"))
    plain.params = net.params
    U, Y = _problem(net)
    _, g = net.gradient(U, Y)
    _, g_trunc = plain.gradient(U, Y, truncate=(1, 1))
    _, g_full = plain.gradient(U, Y)
    assert _rel(g, g_trunc) <= 1e-12
    assert _rel(g, g_full) > 1e-3


def test_lstm_cell_only_errors_flow_back_through_the_carousel():
    """With every h(t-1) link stopped, an error at the last step still reaches the input at
    t = 0 — through c alone; with the carousel stopped too, nothing reaches back in time."""
    net = _net("lstm_cell_only")
    static = dg.loads(LSTM_CELL_ONLY.replace("from: {f: 0, c: 1}",
                                             "from: {f: 0, c: {delays: 1, gradient: stop}}"))
    static.params = net.params
    U, Y = _problem(net)
    W = {"y": np.zeros(T)}
    W["y"][-1] = 1.0
    _, g, gu = net.gradient(U, Y, weights=W, loss="sse", input_grad=True)
    _, g_rtrl = net.gradient(U, Y, weights=W, loss="sse", method="rtrl")
    assert _rel(g, g_rtrl) <= ENGINES
    assert np.all(np.abs(gu["x"][:, 0]) > 0)
    _, g_static, gu_static = static.gradient(U, Y, weights=W, loss="sse", input_grad=True)
    np.testing.assert_array_equal(gu_static["x"][:, :-1], 0.0)
    assert _rel(g, g_static) > 1e-3
    ref, rU, rinit = net.detach(U)
    _, g_ref = ref.gradient(rU, Y, weights=W, loss="sse", initial=rinit)
    assert _rel(g, g_ref) <= ENGINES


@pytest.mark.parametrize("name", ["elman", "lstm_truncated", "input_stopped"])
def test_truncated_bptt_with_stops_is_the_detached_nets(name):
    net = _net(name)
    U, Y = _problem(net)
    ref, rU, rinit = net.detach(U)
    for tr in ((1, 1), (3, 5), (T, T)):
        _, g = net.gradient(U, Y, truncate=tr)
        _, g_ref = ref.gradient(rU, Y, truncate=tr, initial=rinit)
        assert _rel(g, g_ref) <= 1e-12, tr


@pytest.mark.parametrize("name", ["elman", "lstm_one_gate", "input_stopped"])
def test_jacobians_agree(name):
    net = _net(name)
    U, Y = _problem(net)
    e_r, J_r = net.jacobian(U, Y, method="rtrl")
    e_b, J_b = net.jacobian(U, Y, method="bptt")
    np.testing.assert_array_equal(e_r, e_b)
    assert _rel(J_r, J_b) <= ENGINES
    ref, rU, rinit = net.detach(U)
    assert _rel(ref.jacobian(rU, Y, initial=rinit)[1], J_r) <= ENGINES


@pytest.mark.parametrize("name", ["elman", "lstm_truncated"])
def test_online_rtrl_adds_up_to_the_batch_gradient(name):
    net = _net(name)
    U, Y = _problem(net)
    online = OnlineRTRL(net, Q=Q)
    total = np.zeros(net.n_params)
    for t in range(T):
        _, g = online.step({k: u[:, t] for k, u in U.items()},
                           {k: y[:, t] for k, y in Y.items()}, loss="sse")
        total += g
    _, g_batch = net.gradient(U, Y, loss="sse")
    assert _rel(total, g_batch) <= ENGINES


@pytest.mark.parametrize("name", ["elman", "lstm_truncated", "input_stopped",
                                  "carousel_stopped"])
def test_initial_and_input_gradients_are_the_detached_nets(name):
    net = _net(name)
    U, Y = _problem(net)
    init = _initial(net)
    _, g, gi, gu = net.gradient(U, Y, loss="sse", initial=init, initial_grad=True,
                                input_grad=True)
    ref, rU, rinit = net.detach(U, init)
    _, g_ref, gi_ref, gu_ref = ref.gradient(rU, Y, loss="sse", initial=rinit,
                                            initial_grad=True, input_grad=True)
    assert _rel(g, g_ref) <= ENGINES
    for n, a in gi.items():
        if n in gi_ref:
            assert _rel(a, gi_ref[n]) <= ENGINES, n
        else:
            # read only through stopped links: no derivative reaches its past
            np.testing.assert_array_equal(a, 0.0, err_msg=n)
    for n in net.inputs:
        assert _rel(gu[n], gu_ref[n]) <= ENGINES, n
    # one input element by finite differences of the detached net
    n = next(iter(net.inputs))
    idx = (1, T // 2, 0)
    vals = []
    for s in (1, -1):
        X = {k: v.copy() for k, v in rU.items()}
        X[n][idx] += s * EPS
        vals.append(_loss(ref, X, Y, rinit))
    fd = (vals[0] - vals[1]) / (2 * EPS)
    assert abs(gu[n][idx] - fd) <= 1e-5 * max(1.0, abs(fd))


def test_a_stopped_input_link_gets_no_input_gradient():
    only = dg.loads("inputs: {u: 1}\nlayers:\n  y: {size: 1, from: {u: {delays: 0, "
                    "gradient: stop}}}\noutputs: [y]\n")
    U, Y = _problem(only)
    _, g, gu = only.gradient(U, Y, input_grad=True)
    np.testing.assert_array_equal(gu["u"], 0.0)
    assert np.all(g != 0)                 # the link's weight and the bias still learn


# --------------------------------------------------------------------------- detach
def test_detach_names_and_values():
    text = ELMAN.replace("inputs: {u: 2}", "inputs: {u: 2, h_stopped: 1}").replace(
        "from: {u: 0,", "from: {u: 0, h_stopped: 0,")
    net = dg.loads(text, seed=2)
    U, _ = _problem(net)
    ref, rU, rinit = net.detach(U)
    assert list(ref.inputs) == ["u", "h_stopped", "h_stopped_"]
    assert ref.spec.layers[0].links[2].source == "h_stopped_"
    assert not has_stops(ref)
    np.testing.assert_array_equal(ref.params, net.params)
    np.testing.assert_allclose(ref.simulate(rU, initial=rinit)["y"], net.simulate(U)["y"],
                               rtol=1e-13, atol=1e-15)


def test_detach_refuses_a_scaled_net():
    net = _net("elman")
    net.meta["scaling"] = {"inputs": {}, "outputs": {}}
    with pytest.raises(ValueError, match="scaling"):
        net.detach(_problem(net)[0])


# --------------------------------------------------------------------------- pictures, cli
def test_render_marks_stopped_links():
    net = _net("lstm_truncated")
    folded = net.to_dot().to_string()
    stopped = [l for l in folded.splitlines() if "arrowtail=tee" in l]
    assert len(stopped) == 3 and all("grad stop" in l for l in stopped)
    assert folded.count("arrowtail=tee") == 3
    unrolled = net.to_dot(unroll=3).to_string()
    assert unrolled.count("arrowtail=tee") == 3 * 2          # 3 links, taps at t = 1, 2


def test_gradcheck_on_a_spec_with_stops(capsys):
    from dyngraph.cli.main import main
    code = main(["gradcheck", str(SPEC_DIR / "lstm_truncated.yaml"), "--T", "6", "--Q", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "result: ok" in out
    assert "gradient: stop on h -> g, h -> i, h -> o" in out and "detached" in out


def test_exports_ignore_the_option(tmp_path):
    """Exports are forward only: the stopped net exports as the same net without stops."""
    net = _net("lstm_truncated", seed=3)
    plain = dg.loads(TEXTS["lstm_truncated"].replace("{delays: 1, gradient: stop}", "1"))
    plain.params = net.params
    for suffix in (".py", ".onnx"):
        if suffix == ".onnx":
            pytest.importorskip("onnx")
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "b").mkdir(exist_ok=True)
        a = net.export(tmp_path / "a" / f"m{suffix}")
        b = plain.export(tmp_path / "b" / f"m{suffix}")
        assert open(a, "rb").read() == open(b, "rb").read(), suffix
