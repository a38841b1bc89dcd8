"""closeloop / openloop between the series-parallel and parallel NARX forms.

The closed loop must be the open-loop net fed with its own predictions; the conversion keeps
delays, weights and the parameter order, renames ``h.W[y_meas]`` to ``h.W[y]``, and a
delay-0 feedback link becomes an algebraic loop that is refused.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPEC_DIR

# Every test here runs on both engine backends (the numpy reference and the compiled one).
pytestmark = pytest.mark.usefixtures("engine_backend")

T, Q = 15, 3


@pytest.fixture
def open_net():
    net = dg.load(SPEC_DIR / "narx_series_parallel.yaml", seed=5)
    net.params = 0.6 * np.random.default_rng(6).standard_normal(net.n_params)
    return net


def test_closeloop_replaces_the_feedback_input_by_the_layer(open_net):
    closed = open_net.closeloop()
    assert closed.inputs == {"u": 1}
    assert closed.outputs == open_net.outputs
    assert closed.param_names == [n.replace("h.W[y_meas]", "h.W[y]")
                                  for n in open_net.param_names]
    assert "h.W[y]" in closed.param_names and "h.W[y_meas]" not in closed.param_names
    np.testing.assert_array_equal(closed.params, open_net.params)
    np.testing.assert_array_equal(closed.get("h.W[y]"), open_net.get("h.W[y_meas]"))
    y_edges = [d for s, t, d in closed.graph.edges(data=True) if (s, t) == ("y", "h")]
    assert len(y_edges) == 1 and tuple(y_edges[0]["delays"]) == (1, 2)
    # the original is untouched
    assert open_net.inputs == {"u": 1, "y_meas": 1}


@pytest.mark.parametrize("batch", [None, Q], ids=["single", "batch"])
def test_closed_loop_equals_open_loop_fed_its_own_prediction(open_net, batch):
    closed = open_net.closeloop()
    shape = (T, 1) if batch is None else (batch, T, 1)
    u = np.random.default_rng(7).standard_normal(shape)
    y = closed.simulate(u)
    assert np.std(y) > 1e-3                       # a non-trivial trajectory
    np.testing.assert_allclose(open_net.simulate({"u": u, "y_meas": y})["y"], y,
                               rtol=0, atol=1e-12)
    # and it is not what the open loop gives on some other measured output
    other = open_net.simulate({"u": u, "y_meas": np.zeros(shape)})["y"]
    assert not np.allclose(other, y)


def test_closeloop_equals_the_parallel_spec(open_net):
    closed = open_net.closeloop()
    parallel = dg.load(SPEC_DIR / "narx_parallel.yaml")
    assert parallel.param_names == closed.param_names
    assert parallel.order == closed.order
    parallel.params = closed.params
    u = np.random.default_rng(8).standard_normal((Q, T, 1))
    np.testing.assert_array_equal(parallel.simulate(u), closed.simulate(u))


def test_openloop_of_closeloop_round_trips(open_net):
    back = open_net.closeloop().openloop()
    assert back.inputs == open_net.inputs
    assert list(back.inputs) == ["u", "y_meas"]
    assert back.param_names == open_net.param_names
    np.testing.assert_array_equal(back.params, open_net.params)
    rng = np.random.default_rng(9)
    U = {"u": rng.standard_normal((Q, T, 1)), "y_meas": rng.standard_normal((Q, T, 1))}
    np.testing.assert_array_equal(back.simulate(U)["y"], open_net.simulate(U)["y"])


def test_openloop_of_a_parallel_spec_declares_a_feedback_input():
    parallel = dg.load(SPEC_DIR / "narx_parallel.yaml", seed=2)
    opened = parallel.openloop()
    assert opened.inputs == {"u": 1, "y_meas": 1}
    assert opened.param_names == [n.replace("h.W[y]", "h.W[y_meas]")
                                  for n in parallel.param_names]
    np.testing.assert_array_equal(opened.params, parallel.params)
    fb = [i for i in opened.spec.inputs if i.feedback_of]
    assert [(i.name, i.feedback_of) for i in fb] == [("y_meas", "y")]
    u = np.random.default_rng(10).standard_normal((T, 1))
    y = parallel.simulate(u)
    np.testing.assert_allclose(opened.simulate({"u": u, "y_meas": y})["y"], y,
                               rtol=0, atol=1e-12)


def test_closeloop_with_a_delay0_feedback_link_is_an_algebraic_loop():
    net = dg.loads("""
inputs:
  u: 1
  y_meas: {size: 1, feedback_of: y}
layers:
  h: {size: 3, transfer: tanh, from: {u: 0, y_meas: "0:1"}}
  y: {size: 1, from: h}
outputs: [y]
""", file="fb0.yaml")
    net.simulate({"u": np.zeros(4), "y_meas": np.zeros(4)})      # fine while open
    with pytest.raises(dg.SpecError) as info:
        net.closeloop()
    msg = str(info.value)
    assert "algebraic loop" in msg
    assert "h -> y -> h" in msg or "y -> h -> y" in msg


def test_closeloop_without_feedback_inputs_is_a_copy():
    net = dg.load(SPEC_DIR / "layer_recurrent.yaml", seed=1)
    closed = net.closeloop()
    assert closed is not net
    assert closed.inputs == net.inputs
    np.testing.assert_array_equal(closed.params, net.params)
    closed.params = closed.params + 1.0
    assert not np.array_equal(closed.params, net.params)


def test_round_trip_keeps_input_position_and_all_readers():
    # the feedback input is declared first and read by two layers
    net = dg.loads("""
inputs:
  y_meas: {size: 2, feedback_of: y}
  u: 1
layers:
  h: {size: 4, transfer: tanh, from: {y_meas: 1, u: 0}}
  k: {size: 3, transfer: tanh, from: {u: 1, y_meas: "1:3"}}
  y: {size: 2, from: [h, k]}
outputs: [y]
""", seed=3)
    closed = net.closeloop()
    assert closed.inputs == {"u": 1}
    assert {"h.W[y]", "k.W[y]"} <= set(closed.param_names)
    back = closed.openloop()
    assert list(back.inputs) == ["y_meas", "u"]
    assert back.param_names == net.param_names
    np.testing.assert_array_equal(back.params, net.params)
    u = np.random.default_rng(11).standard_normal((Q, T, 1))
    y = closed.simulate(u)
    np.testing.assert_allclose(net.simulate({"u": u, "y_meas": y})["y"], y, rtol=0, atol=1e-12)


def test_closeloop_refuses_a_layer_that_would_read_the_output_twice():
    net = dg.loads("""
inputs:
  u: 1
  y_meas: {size: 1, feedback_of: y}
layers:
  h: {size: 3, transfer: tanh, from: {u: 0, y_meas: 1, y: 2}}
  y: {size: 1, from: h}
outputs: [y]
""", file="twice.yaml")
    with pytest.raises(dg.SpecError) as info:
        net.closeloop()
    msg = str(info.value)
    assert "'y'" in msg and "two links" in msg and "layers.h" in msg
