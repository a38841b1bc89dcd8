"""Generation: a softmax output fed back as the symbol it picks (seeds 001 and 003).

A character-level net trained with a differentiable softmax output generates by feeding
back ``argmax`` or a seeded ``sample`` of it (``simulate``/``forecast`` with ``sample=``);
the transfers ``argmax`` and ``sample`` have no derivative, and every gradient refuses them
by the layer's name before doing any work.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.engines.online import OnlineRTRL
from dyngraph.kinds.transfers import NoDerivative, random_stream

ALPHABET = "abc"

#: Series-parallel (open-loop) char net: the previous symbol comes in as ``prev``, the
#: measured stand-in for y; closeloop() feeds y itself back (Elman state in h as well).
CHAR_NET = """\
inputs:
  prev: {size: 3, feedback_of: y}
layers:
  h: {size: 6, transfer: tanh, from: {prev: 1, h: 1}}
  y: {size: 3, transfer: softmax, from: h}
outputs: [y]
"""

#: Fixed probabilities: n = b, whatever the (zero) input, so y ~ Categorical(softmax(b)).
FIXED = """\
inputs: {u: 1}
layers:
  y: {size: 3, transfer: softmax, from: u}
outputs: [y]
"""


def one_hot(text):
    return np.eye(len(ALPHABET))[[ALPHABET.index(c) for c in text]]


def text_of(Y):
    return "".join(ALPHABET[i] for i in np.argmax(Y, axis=-1))


@pytest.fixture(scope="module")
def trained():
    Y = one_hot("abc" * 12)
    result = dg.train(dg.loads(CHAR_NET), {"prev": Y}, Y, method="lbfgs", epochs=300,
                      loss="cross_entropy", backend="numpy")
    assert result.loss < 0.05 * len(Y), result
    return result.net


def fixed_net(p):
    net = dg.loads(FIXED)
    net.set("y.W[u]", np.zeros((3, 1)))
    net.set("y.b", np.log(p))
    return net


# --------------------------------------------------------------------------- argmax
def test_argmax_generation_reproduces_the_sequence_from_a_seed_symbol(trained):
    Y = trained.forecast(None, one_hot("a"), steps=11, sample="argmax")
    assert set(np.unique(Y)) == {0.0, 1.0}
    assert text_of(Y) == "bcabcabcabc"
    # The same from the closed-loop form, from the seed symbol as y's past.
    closed = trained.closeloop()
    Y2 = closed.simulate(steps=12, initial={"y": one_hot("c")}, sample="argmax")
    assert text_of(Y2) == "abcabcabcabc"


def test_generation_continues_after_a_primed_record(trained):
    Y = trained.forecast(None, one_hot("abcab"), steps=6, sample="argmax")
    assert text_of(Y) == "cabcab"


def test_the_spec_of_the_net_is_left_as_it_was(trained):
    trained.forecast(None, one_hot("a"), steps=3, sample="sample", seed=1)
    assert [l.transfer for l in trained.spec.layers] == ["tanh", "softmax"]
    probs = trained.closeloop().simulate(steps=3, initial={"y": one_hot("a")})
    assert np.all((probs > 0) & (probs < 1))          # still probabilities without sample=


def test_argmax_takes_the_first_of_tied_maxima():
    net = fixed_net(np.array([0.25, 0.25, 0.5]))
    net.set("y.b", [1.0, 2.0, 2.0])
    Y = net.simulate(np.zeros(4), sample="argmax")
    np.testing.assert_array_equal(Y, np.tile([0.0, 1.0, 0.0], (4, 1)))


# --------------------------------------------------------------------------- sample
def test_sample_frequencies_match_the_probabilities():
    p = np.array([0.2, 0.5, 0.3])
    T = 20000
    Y = fixed_net(p).simulate(np.zeros(T), sample="sample", seed=11)
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    counts = Y.sum(axis=0)
    sigma = np.sqrt(T * p * (1 - p))
    assert np.all(np.abs(counts - T * p) < 4 * sigma), (counts, T * p)
    # Pearson's chi-square with 2 degrees of freedom: P(X > 13.8) = 0.001.
    assert np.sum((counts - T * p) ** 2 / (T * p)) < 13.8


def test_sample_is_reproducible_and_the_seed_matters(trained):
    closed = trained.closeloop()
    for block in ("y.W[h]", "y.b"):           # a temperature of 5: draws that vary
        closed.set(block, closed.get(block) / 5.0)
    run = dict(steps=40, initial={"y": one_hot("a")}, sample="sample")
    a = closed.simulate(seed=3, backend="numpy", **run)
    np.testing.assert_array_equal(a, closed.simulate(seed=3, backend="numpy", **run))
    np.testing.assert_array_equal(a, closed.simulate(seed=3, backend="compiled", **run))
    np.testing.assert_array_equal(a, closed.simulate(seed=3, chunk=7, **run))
    assert np.any(a != closed.simulate(seed=4, **run))
    # No seed: seed 0, so a run is reproducible all the same.
    np.testing.assert_array_equal(closed.simulate(**run), closed.simulate(seed=0, **run))
    # forecast passes its seed on.
    def forecast(seed):
        return closed.forecast(None, one_hot("a"), steps=40, sample="sample", seed=seed)
    np.testing.assert_array_equal(forecast(3), forecast(3))
    assert np.any(forecast(3) != forecast(4))


def test_a_trained_net_samples_its_learnt_sequence(trained):
    # The learnt distribution is sharp: draws follow the cycle almost always.
    Y = trained.forecast(None, one_hot("a"), steps=30, sample="sample", seed=2)
    text = "a" + text_of(Y)
    follows = sum(ALPHABET[(ALPHABET.index(x) + 1) % 3] == y for x, y in zip(text, text[1:]))
    assert follows >= 27


def test_batched_sequences_draw_independently():
    net = fixed_net(np.array([1 / 3, 1 / 3, 1 / 3]))
    Y = net.simulate(np.zeros((2, 50, 1)), sample="sample", seed=5)
    assert Y.shape == (2, 50, 3)
    assert np.any(Y[0] != Y[1])


def test_a_spec_written_with_sample_draws_from_the_seeded_stream():
    net = dg.loads(FIXED.replace("softmax", "sample"))
    net.set("y.b", np.log([0.2, 0.5, 0.3]))
    a = net.simulate(np.zeros(200), seed=9)
    np.testing.assert_array_equal(a, net.simulate(np.zeros(200), seed=9))
    assert np.any(a != net.simulate(np.zeros(200), seed=10))
    with random_stream(9):                       # an open stream is carried on
        np.testing.assert_array_equal(a, net.simulate(np.zeros(200)))


def test_layers_draw_from_their_own_streams():
    two = dg.loads("""\
inputs: {u: 1}
layers:
  y: {size: 3, transfer: sample, from: u}
  z: {size: 3, transfer: sample, from: u}
outputs: [y, z]
""")
    one = dg.loads(FIXED.replace("softmax", "sample"))
    for net in (one, two):
        net.set("y.b", np.log([0.2, 0.5, 0.3]))
    both = two.simulate(np.zeros(100), seed=1)
    np.testing.assert_array_equal(both["y"], one.simulate(np.zeros(100), seed=1))


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("transfer", ["argmax", "sample"])
def test_every_gradient_refuses_a_picker_by_name(transfer):
    net = dg.loads(CHAR_NET.replace("softmax", transfer))
    Y = one_hot("abcabc")
    want = f"layer 'y' uses transfer '{transfer}', which has no derivative"
    for call in (lambda: net.gradient({"prev": Y}, Y),
                 lambda: net.gradient({"prev": Y}, Y, method="rtrl"),
                 lambda: net.gradient({"prev": Y}, Y, initial_grad=True),
                 lambda: net.jacobian({"prev": Y}, Y),
                 lambda: dg.train(net, {"prev": Y}, Y, method="lm", epochs=2),
                 lambda: dg.train(net, {"prev": Y}, Y, method="adam", epochs=2),
                 lambda: OnlineRTRL(net)):
        with pytest.raises(NoDerivative, match=want):
            call()


def test_gradients_are_refused_before_any_work(monkeypatch):
    import dyngraph.model.net as netmod

    def no_forward(*args, **kwargs):
        raise AssertionError("the forward pass ran")
    monkeypatch.setattr(netmod, "forward", no_forward)
    net = dg.loads(CHAR_NET.replace("softmax", "argmax"))
    Y = one_hot("abc")
    with pytest.raises(NoDerivative):
        net.gradient({"prev": Y}, Y)
    with pytest.raises(NoDerivative):
        net.jacobian({"prev": Y}, Y)


def test_sample_argument_errors(trained):
    with pytest.raises(ValueError, match="sample must be None, 'argmax' or 'sample'"):
        trained.forecast(None, one_hot("a"), steps=3, sample="greedy")
    with pytest.raises(ValueError, match="has none .output layers: y .linear."):
        dg.load("specs/fir.yaml").simulate(np.zeros(5), sample="argmax")
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        trained.closeloop().simulate(steps=3, initial={"y": one_hot("a")}, sample="sample",
                                     seed=-1)


def test_sampling_outside_a_stream_is_a_clear_error():
    from dyngraph.engines.simulate import forward
    net = dg.loads(FIXED.replace("softmax", "sample"))
    with pytest.raises(RuntimeError, match="layer 'y' samples .* no random stream"):
        forward(net.plan, net._values, {"u": np.zeros((3, 1, 1))}, {})
