"""Every spec in ``specs/`` (found by glob, so a new spec is covered automatically): it loads,
documents itself, simulates single sequences and batches to finite outputs of the right
shapes, and its parameters round-trip by vector and by name.
"""
from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from conftest import REQUIRED_SPECS, SPECS, random_data, spec_id

T, Q = 11, 3


def test_catalogue_has_the_required_specs():
    missing = set(REQUIRED_SPECS) - {p.stem for p in SPECS}
    assert not missing, f"specs/ lacks {sorted(missing)}"
    assert len(SPECS) >= 12


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_spec_opens_with_a_comment(spec):
    lines = spec.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("#"), f"{spec.name} must open with a comment"
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    assert len(header) >= 2                            # equations, not just a title
    assert any("(t" in h or "[n" in h for h in header), "the header should give equations"


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_spec_loads_and_is_consistent(spec):
    net = dg.load(spec)
    assert net.inputs and net.outputs
    assert net.name == spec.stem
    assert set(net.order) >= set(net.inputs) | set(net.outputs)
    for name, size in list(net.inputs.items()) + list(net.outputs.items()):
        assert net.sizes[name] == size > 0


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("batch", [None, Q], ids=["single", "batch"])
def test_simulate_gives_finite_outputs_of_the_right_shape(spec, batch):
    net = dg.load(spec)
    U = random_data(net, batch, T, seed=1)
    out = net.simulate(U)
    assert isinstance(out, dict) and list(out) == list(net.outputs)
    for name, n in net.outputs.items():
        want = (T, n) if batch is None else (batch, T, n)
        assert out[name].shape == want
        assert out[name].dtype == np.float64
        assert np.all(np.isfinite(out[name]))
    if len(net.inputs) == 1:
        bare = net.simulate(next(iter(U.values())))
        if len(net.outputs) == 1:
            np.testing.assert_array_equal(bare, next(iter(out.values())))


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_params_round_trip_by_vector(spec):
    net = dg.load(spec)
    names = net.param_names
    assert set(names) <= set(net.block_names)
    assert net.n_params == sum(net.get(n).size for n in names)
    theta = np.random.default_rng(2).standard_normal(net.n_params)
    net.params = theta
    np.testing.assert_array_equal(net.params, theta)
    # documented flat order: the learnable blocks, each flattened row-major, in name order
    flat = np.concatenate([net.get(n).ravel() for n in names]) if names else np.zeros(0)
    np.testing.assert_array_equal(flat, theta)
    with pytest.raises(ValueError):
        net.params = np.zeros(net.n_params + 1)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_params_round_trip_by_name(spec):
    net = dg.load(spec)
    rng = np.random.default_rng(3)
    for name in net.block_names:
        old = net.get(name)
        value = rng.standard_normal(old.shape)
        net.set(name, value)
        np.testing.assert_array_equal(net.get(name), value)
        got = net.get(name)
        got += 1.0                                     # get returns a copy
        np.testing.assert_array_equal(net.get(name), value)
        with pytest.raises(ValueError):
            net.set(name, np.zeros(old.size + 1))
    with pytest.raises(KeyError):
        net.get("no_such.W[block]")


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_parameters_reach_the_outputs(spec):
    net = dg.load(spec)
    if net.n_params == 0:                             # all fixed (parity): nothing to move
        assert net.param_names == [] and net.params.shape == (0,) and net.block_names
        return
    U = random_data(net, Q, T, seed=4)
    if spec.stem == "parity":
        U = {k: (v > 0).astype(float) for k, v in U.items()}
    before = net.simulate(U)
    net.params = net.params + 0.1 * np.random.default_rng(5).standard_normal(net.n_params)
    after = net.simulate(U)
    assert any(not np.allclose(before[o], after[o]) for o in net.outputs)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_copy_is_independent(spec):
    net = dg.load(spec)
    twin = net.copy()
    if net.n_params:
        twin.params = twin.params + 1.0
        assert not np.array_equal(twin.params, net.params)
    U = random_data(net, None, T, seed=6)
    for o, v in dg.load(spec).simulate(U).items():
        np.testing.assert_array_equal(net.simulate(U)[o], v)
