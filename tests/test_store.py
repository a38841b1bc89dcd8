"""net.save / dg.load of a model directory: exact round trips, atomic writes, clear refusals."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

import dyngraph as dg
from conftest import SPECS, random_data, spec_id
from dyngraph.language.loader import loads_spec
from dyngraph.io.store import ModelError, spec_to_yaml


def structure(spec):
    """A spec as plain data without source positions (what must survive a round trip)."""
    skip = {"where", "outputs_where", "file"}

    def strip(x):
        if dataclasses.is_dataclass(x):
            return {f.name: strip(getattr(x, f.name)) for f in dataclasses.fields(x)
                    if f.name not in skip}
        if isinstance(x, (tuple, list)):
            return [strip(v) for v in x]
        return x
    return strip(spec)


def perturbed(path):
    net = dg.load(path, seed=7)
    if net.n_params:
        net.params = net.params + 0.01 * np.random.default_rng(0).standard_normal(net.n_params)
    return net


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_save_load_simulate_is_identical(path, tmp_path):
    net = perturbed(path)
    net.save(tmp_path / "model")
    back = dg.load(tmp_path / "model")
    assert structure(back.spec) == structure(net.spec)
    assert back.block_names == net.block_names
    for name in net.block_names:
        assert np.array_equal(back.get(name), net.get(name)), name
    data = random_data(net, Q=2, T=9, seed=1)
    y1, y2 = net.simulate(data), back.simulate(data)
    for k in y1:
        assert np.array_equal(y1[k], y2[k]), k
    assert sorted(os.listdir(tmp_path)) == ["model"]          # no temporary left behind


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_spec_yaml_is_valid_spec_language(path):
    spec = dg.load(path).spec
    text = spec_to_yaml(spec)
    assert structure(loads_spec(text)) == structure(spec)


def test_trained_scaled_closed_loop_model_round_trips(tmp_path):
    open_net = dg.load("specs/narx_series_parallel.yaml", seed=1)
    rng = np.random.default_rng(2)
    u = 3.0 + rng.uniform(-1, 1, 60)
    y = np.convolve(u, [0.0, 0.5, 0.3], mode="full")[:60] * 10.0
    r = dg.train(open_net, {"u": u, "y_meas": y}, y, method="lm", epochs=3, normalize="minmax")
    closed = r.net.closeloop()
    closed.save(tmp_path / "m")
    back = dg.load(tmp_path / "m")
    assert back.meta == json.loads(json.dumps(closed.meta))
    assert back.meta["scaling"] == closed.meta["scaling"]
    assert back.meta["feedback"] == {"y": {"input": "y_meas", "position": 1}}
    assert back.meta["training"]["method"] == "lm"
    assert back.meta["training"]["history"]["loss"] == list(r.history["loss"])
    assert np.array_equal(back.simulate(u), closed.simulate(u))
    # the feedback record survives: openloop() restores the input's name and position
    again = back.openloop()
    assert list(again.inputs) == ["u", "y_meas"]
    assert np.array_equal(again.simulate({"u": u, "y_meas": y})["y"],
                          r.net.simulate({"u": u, "y_meas": y})["y"])
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["format"] == 1 and meta["dyngraph"] == dg.__version__


def test_overwrite_replaces_a_model_but_never_other_data(tmp_path):
    a, b = perturbed("specs/fir.yaml"), perturbed("specs/iir.yaml")
    a.save(tmp_path / "m")
    b.save(tmp_path / "m")
    assert dg.load(tmp_path / "m").name == "iir"
    assert sorted(os.listdir(tmp_path)) == ["m"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a dyngraph model directory"):
        a.save(tmp_path / "notes")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        a.save(tmp_path / "file.txt")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_a_failed_write_leaves_the_old_model_intact(tmp_path, monkeypatch):
    old = perturbed("specs/fir.yaml")
    old.save(tmp_path / "m")

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        perturbed("specs/iir.yaml").save(tmp_path / "m")
    monkeypatch.undo()
    back = dg.load(tmp_path / "m")
    assert back.name == "fir" and np.array_equal(back.params, old.params)
    assert sorted(os.listdir(tmp_path)) == ["m"]


def save_with(tmp_path, **blocks):
    """Save specs/iir.yaml, then rewrite weights.npz with some blocks replaced/removed."""
    net = dg.load("specs/iir.yaml")
    net.save(tmp_path / "m")
    values = {n: net.get(n) for n in net.block_names}
    for name, value in blocks.items():
        name = name.replace("__", ".").replace("_x_", "[x]").replace("_y_", "[y]")
        if value is None:
            values.pop(name)
        else:
            values[name] = value
    np.savez(tmp_path / "m" / "weights.npz", **values)
    return tmp_path / "m"


def test_shape_mismatch_is_refused_naming_block_and_shapes(tmp_path):
    path = save_with(tmp_path, y__W_x_=np.zeros((1, 4)))
    with pytest.raises(ModelError, match=r"block 'y.W\[x\]' has shape \(1, 4\), the spec "
                                         r"expects \(1, 3\)"):
        dg.load(path)


def test_missing_and_extra_blocks_are_refused(tmp_path):
    path = save_with(tmp_path, y__W_y_=None)
    with pytest.raises(ModelError, match=r"block 'y.W\[y\]' is missing"):
        dg.load(path)
    path = save_with(tmp_path / "b", **{"z__b": np.zeros(2)})
    with pytest.raises(ModelError, match=r"block 'z.b' \(shape \(2,\)\) is not in the spec"):
        dg.load(path)


def test_non_finite_and_object_weights_are_refused(tmp_path):
    path = save_with(tmp_path, y__W_x_=np.array([[np.nan, 0.0, 0.0]]))
    with pytest.raises(ModelError, match="NaN or inf"):
        dg.load(path)
    # an object array needs pickle to be read, which load never allows
    path = save_with(tmp_path / "b", y__W_x_=np.array([[{"a": 1}, 0, 0]], dtype=object))
    with pytest.raises(ModelError, match="not a readable .npz"):
        dg.load(path)


def test_corrupt_files_are_refused_with_a_clear_message(tmp_path):
    net = dg.load("specs/fir.yaml")
    net.save(tmp_path / "m")
    weights = tmp_path / "m" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelError, match=r"weights.npz: not a readable .npz archive"):
        dg.load(tmp_path / "m")
    net.save(tmp_path / "m")
    meta = tmp_path / "m" / "meta.json"
    meta.write_text(json.dumps({"format": 99}))
    with pytest.raises(ModelError, match="model format 99"):
        dg.load(tmp_path / "m")
    meta.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        dg.load(tmp_path / "m")
    os.remove(meta)
    with pytest.raises(ModelError, match="not a dyngraph model"):
        dg.load(tmp_path / "m")
    with pytest.raises(ValueError, match="not a dyngraph model directory"):
        net.save(tmp_path / "m")              # without meta.json it is no longer a model
    net.save(tmp_path / "m2")
    (tmp_path / "m2" / "spec.yaml").write_text("layers: {y: {size: 1, from: q}}\noutputs: [y]")
    with pytest.raises(dg.SpecError, match="spec.yaml"):
        dg.load(tmp_path / "m2")


def test_bad_scaling_in_meta_is_refused(tmp_path):
    net = dg.load("specs/fir.yaml")
    net.meta["scaling"] = {"method": "minmax", "inputs": {},
                           "outputs": {"y": {"center": [0.0], "scale": [1.0]}}}
    net.save(tmp_path / "m")
    with pytest.raises(ModelError, match="no entry for input 'x'"):
        dg.load(tmp_path / "m")


def test_meta_that_is_not_json_is_refused_before_writing(tmp_path):
    net = dg.load("specs/fir.yaml")
    net.meta["note"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"\['note'\] are not plain JSON"):
        net.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
