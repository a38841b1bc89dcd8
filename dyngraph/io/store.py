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

from .._version import __version__
from ..graph.build import build_graph
from ..graph.plan import make_plan
from ..language.loader import load_spec
from ..language.writer import spec_to_yaml

__all__ = ["FORMAT", "ModelError", "save_model", "read_model", "spec_to_yaml"]

FORMAT = 1
SPEC_FILE, WEIGHTS_FILE, META_FILE = "spec.yaml", "weights.npz", "meta.json"
_MAX_META_BYTES = 64 << 20
_HEADER = "# written by dyngraph.io.store; weights are in weights.npz\n"


class ModelError(ValueError):
    """A saved model that cannot be read back: missing files, wrong format, blocks that do
    not fit the spec."""


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


def save_model(spec, values, meta, path) -> None:
    """Write a model to the directory ``path`` atomically (see the module doc).

    Parameters
    ----------
    spec : Spec
    values : dict block name -> ndarray, every parameter block
    meta : dict, plain JSON data (scaling, feedback, training record)
    path : str or path-like

    An existing model directory (or an empty directory) at ``path`` is replaced; any other
    existing file or directory is refused, so a typo cannot wipe unrelated data.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not (os.path.isdir(path) and _is_model_dir(path)):
        raise ValueError(f"save: '{path}' exists and is not a dyngraph model directory; "
                         f"refusing to overwrite it")
    meta = _jsonable(dict(meta))
    values = {name: np.ascontiguousarray(value, dtype=np.float64)
              for name, value in values.items()}
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        with open(os.path.join(tmp, SPEC_FILE), "w", encoding="utf-8") as fh:
            fh.write(_HEADER + spec_to_yaml(spec))
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
    # The new model is complete: what earlier killed saves left behind is garbage now.
    for left in _leftovers(path, ".tmp-") + _leftovers(path, ".old-"):
        shutil.rmtree(left, ignore_errors=True)


def _leftovers(path, kind):
    """Sibling folders ``.<name>.tmp-*`` / ``.<name>.old-*`` of a model path, left by saves
    that were killed."""
    parent, name = os.path.split(os.path.abspath(path))
    prefix = f".{name}{kind}"
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    return sorted(os.path.join(parent, e) for e in entries if e.startswith(prefix))


def _refuse_links(path):
    """A model folder holds its own files: a symbolic link could make loading read (and an
    error message quote) a file elsewhere."""
    for name in (META_FILE, SPEC_FILE, WEIGHTS_FILE):
        if os.path.islink(os.path.join(path, name)):
            raise ModelError(f"{os.path.join(path, name)}: is a symbolic link; a model "
                             "folder must hold its own files")


# --------------------------------------------------------------------------- load
def _read_meta(path) -> Dict[str, Any]:
    file = os.path.join(path, META_FILE)
    if not os.path.isfile(file):
        left = _leftovers(path, ".old-")
        if not os.path.exists(path) and left:
            raise ModelError(f"{path}: no model here, but a save to it was interrupted; the "
                             f"previous model is complete in {left[0]} (rename it back)")
        raise ModelError(f"{path}: not a dyngraph model (no {META_FILE})")
    _refuse_links(path)
    if os.path.getsize(file) > _MAX_META_BYTES:
        raise ModelError(f"{file}: larger than {_MAX_META_BYTES >> 20} MiB; refusing to read")
    try:
        with open(file, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(f"{file}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or "format" not in doc:
        raise ModelError(f"{file}: no 'format' entry; not a dyngraph model")
    if type(doc["format"]) is not int or doc["format"] != FORMAT:    # true == 1 in Python
        raise ModelError(f"{file}: model format {doc['format']!r}, this dyngraph reads "
                         f"format {FORMAT}")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelError(f"{file}: 'meta' must be a mapping")
    return meta


def _read_weights(path, expected) -> Dict[str, np.ndarray]:
    file = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(file):
        raise ModelError(f"{path}: no {WEIGHTS_FILE}")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise ModelError(f"{file}: not a readable .npz archive ({err})") from None
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


def read_model(path):
    """Read a model directory written by :func:`save_model`.

    Returns
    -------
    (Spec, dict, dict)
        The spec, every parameter block by name (checked against the spec's shapes) and the
        metadata. ``dyngraph.load(path)`` wraps these into a ``Net``.

    Raises
    ------
    ModelError : missing files, unknown format, blocks that do not fit the spec
    SpecError : spec.yaml is not a valid spec (positions in spec.yaml)
    """
    path = os.fspath(path)
    meta = _read_meta(path)
    spec_file = os.path.join(path, SPEC_FILE)
    if not os.path.isfile(spec_file):
        raise ModelError(f"{path}: no {SPEC_FILE}")
    spec = load_spec(spec_file)
    expected = {b.name: tuple(b.shape) for b in make_plan(build_graph(spec)).blocks}
    return spec, _read_weights(path, expected), meta
