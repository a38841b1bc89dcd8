"""Save and load trained models: a directory of three plain files, no pickle.

::

    model/
      spec.yaml     the network, re-serialised as spec language v1 (loadable on its own)
      weights.npz   every parameter block by its name (numpy .npz, read allow_pickle=False)
      meta.json     {"format": 1, "dyngraph": version, "meta": {scaling, feedback, training}}

The spec keeps its own ``value``/``init`` entries (the initial values it was written with);
the trained weights live only in weights.npz and override them on load.

Writes are atomic: everything is written (and fsync'ed) into a temporary directory beside
the target and renamed into place, so a reader never sees a half-written model. Replacing an
existing model takes two renames (POSIX cannot rename a directory over a non-empty one): the
old model is moved aside to ``.<name>.old-*``, the new one moved in, the old one deleted; a
crash between the two renames leaves the complete old model under that name.
Loading checks every block against the spec: a missing, extra, mis-shaped or non-finite
block is refused with a :class:`ModelError` naming it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from typing import Any, Dict

import numpy as np
import yaml

__all__ = ["FORMAT", "ModelError", "save_model", "load_model", "spec_to_yaml"]

FORMAT = 1
SPEC_FILE, WEIGHTS_FILE, META_FILE = "spec.yaml", "weights.npz", "meta.json"
_MAX_META_BYTES = 64 << 20


class ModelError(ValueError):
    """A saved model that cannot be read back: missing files, wrong format, blocks that do
    not fit the spec."""


# --------------------------------------------------------------------------- spec -> YAML
class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors/aliases (the spec loader refuses aliases)."""

    def ignore_aliases(self, data):
        return True


class _Flow(dict):
    """A mapping written on one line ({delays: [1, 2], weight: full, learn: true})."""


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def _init(value):
    return value if isinstance(value, str) else float(value)


def _link(link) -> Dict[str, Any]:
    out: Dict[str, Any] = _Flow({"delays": [int(d) for d in link.delays], "weight": link.weight})
    if link.weight != "identity":
        out["learn"] = bool(link.learn)
        if link.init is not None:
            out["init"] = _init(link.init)
        if link.value is not None:
            out["value"] = [[float(x) for x in row] for row in link.value]
    return out


def _layer(layer) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if layer.kind != "layer":
        out["kind"] = layer.kind
    if layer.size is not None:
        out["size"] = int(layer.size)
    out["transfer"] = layer.transfer
    if layer.kind == "layer":
        out["net"] = layer.net
        b = layer.bias
        if not b.enabled:
            out["bias"] = False
        else:
            bias: Dict[str, Any] = _Flow({"learn": bool(b.learn)})
            if b.init is not None:
                bias["init"] = _init(b.init)
            if b.value is not None:
                bias["value"] = [float(x) for x in b.value]
            out["bias"] = bias
    out["from"] = {link.source: _link(link) for link in layer.links}
    return out


def _memory(mem) -> Dict[str, Any]:
    if mem.kind == "gamma":
        return _Flow({"kind": "gamma", "from": mem.source, "order": int(mem.order),
                      "mu": float(mem.mu), "learn": bool(mem.learn)})
    return _Flow({"kind": mem.kind, "from": mem.source,
                  "delays": [int(d) for d in mem.delays]})


def spec_to_yaml(spec) -> str:
    """A :class:`~dyngraph.spec.Spec` as spec-language v1 YAML text.

    Every item is written in its explicit long form (links as ``{delays, weight, learn}``),
    so the text loads back (``dyngraph.loader.loads_spec``) to the same network: the same
    nodes, order, links, delays, weights, biases and initial values.
    """
    doc: Dict[str, Any] = {"dyngraph": 1, "name": spec.name}
    if spec.description:
        doc["description"] = spec.description
    if spec.inputs:
        doc["inputs"] = {i.name: ({"size": int(i.size), "feedback_of": i.feedback_of}
                                  if i.feedback_of else int(i.size)) for i in spec.inputs}
    doc["layers"] = {layer.name: _layer(layer) for layer in spec.layers}
    if spec.memories:
        doc["memories"] = {m.name: _memory(m) for m in spec.memories}
    doc["outputs"] = list(spec.outputs)
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None,
                     allow_unicode=True, width=100)
    return "# written by dyngraph.store.spec_to_yaml; weights are in weights.npz\n" + body


# --------------------------------------------------------------------------- save
def _jsonable(meta) -> Dict[str, Any]:
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        bad = [k for k, v in meta.items() if not _dumps_ok(v)]
        raise ValueError(f"save: net.meta entries {bad} are not plain JSON data ({err}); "
                         f"remove them or make them lists/dicts of numbers and strings") from None
    return json.loads(text)


def _dumps_ok(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False


def _fsync_file(path):
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _is_model_dir(path) -> bool:
    names = set(os.listdir(path))
    return not names or META_FILE in names


def save_model(net, path) -> None:
    """Write ``net`` to the directory ``path`` atomically (see the module doc).

    An existing model directory (or an empty directory) at ``path`` is replaced; any other
    existing file or directory is refused, so a typo cannot wipe unrelated data.
    """
    from . import __version__
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not (os.path.isdir(path) and _is_model_dir(path)):
        raise ValueError(f"save: '{path}' exists and is not a dyngraph model directory; "
                         f"refusing to overwrite it")
    meta = _jsonable(dict(net.meta))
    values = {name: np.ascontiguousarray(net.get(name), dtype=np.float64)
              for name in net.block_names}
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        with open(os.path.join(tmp, SPEC_FILE), "w", encoding="utf-8") as fh:
            fh.write(spec_to_yaml(net.spec))
        with open(os.path.join(tmp, WEIGHTS_FILE), "wb") as fh:
            np.savez(fh, **values)
        with open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as fh:
            json.dump({"format": FORMAT, "dyngraph": __version__, "meta": meta}, fh,
                      indent=1, allow_nan=False)
        for name in (SPEC_FILE, WEIGHTS_FILE, META_FILE):
            _fsync_file(os.path.join(tmp, name))
        if os.path.exists(path):
            # A directory cannot be renamed over a non-empty one: move the old model aside
            # first, then drop it once the new one is in place.
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
            os.rmdir(old)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- load
def _read_meta(path) -> Dict[str, Any]:
    file = os.path.join(path, META_FILE)
    if not os.path.isfile(file):
        raise ModelError(f"{path}: not a dyngraph model (no {META_FILE})")
    if os.path.getsize(file) > _MAX_META_BYTES:
        raise ModelError(f"{file}: larger than {_MAX_META_BYTES >> 20} MiB; refusing to read")
    try:
        with open(file, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or "format" not in doc:
        raise ModelError(f"{file}: no 'format' entry; not a dyngraph model")
    if doc["format"] != FORMAT:
        raise ModelError(f"{file}: model format {doc['format']!r}, this dyngraph reads "
                         f"format {FORMAT}")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelError(f"{file}: 'meta' must be a mapping")
    return meta


def _read_weights(path, net) -> Dict[str, np.ndarray]:
    file = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(file):
        raise ModelError(f"{path}: no {WEIGHTS_FILE}")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise ModelError(f"{file}: not a readable .npz archive ({err})") from None
    expected = {name: net.get(name).shape for name in net.block_names}
    missing = [n for n in expected if n not in arrays]
    extra = sorted(n for n in arrays if n not in expected)
    problems = [f"block '{n}' is missing (the spec expects shape {expected[n]})"
                for n in missing]
    problems += [f"block '{n}' (shape {arrays[n].shape}) is not in the spec" for n in extra]
    for name, shape in expected.items():
        if name not in arrays:
            continue
        a = arrays[name]
        if a.shape != shape:
            problems.append(f"block '{name}' has shape {a.shape}, the spec expects {shape}")
        elif not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            problems.append(f"block '{name}' has dtype {a.dtype}, expected float64")
        elif not np.all(np.isfinite(a)):
            problems.append(f"block '{name}' has NaN or inf values")
    if problems:
        raise ModelError(f"{file}: weights do not fit {os.path.join(path, SPEC_FILE)}:\n  "
                         + "\n  ".join(problems))
    return {n: arrays[n].astype(np.float64) for n in expected}


def load_model(path):
    """Read a model directory written by :func:`save_model` (``dg.load(path)`` calls this).

    Raises
    ------
    ModelError : missing files, unknown format, blocks that do not fit the spec
    SpecError : spec.yaml is not a valid spec (positions in spec.yaml)
    """
    from .loader import load_spec
    from .network import Net
    from .scaling import check_scaling
    path = os.fspath(path)
    meta = _read_meta(path)
    spec_file = os.path.join(path, SPEC_FILE)
    if not os.path.isfile(spec_file):
        raise ModelError(f"{path}: no {SPEC_FILE}")
    net = Net(load_spec(spec_file))
    for name, value in _read_weights(path, net).items():
        net.set(name, value)
    net.meta = meta
    if meta.get("scaling") is not None:
        try:
            check_scaling(meta["scaling"], net)
        except ValueError as err:
            raise ModelError(f"{os.path.join(path, META_FILE)}: {err}") from None
    return net
