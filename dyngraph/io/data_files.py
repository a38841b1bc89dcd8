"""Signals in files: read inputs/targets from CSV or NPZ, write outputs, by the network's names.

File conventions (the extension decides):

- **CSV**: a header row naming the columns, then one row per time step (one sequence). A
  signal ``u`` of size 1 is the column ``u`` (``u[0]`` is accepted too); of size n > 1 the
  columns ``u[0]``, ``u[1]``, …, ``u[n-1]``. Other columns (targets, time stamps) are ignored.
  An empty cell reads as NaN ("no target here" in a target; an error in an input).
- **NPZ** (``numpy.savez``): one array per name, (T, n), (T,) when n = 1, or (Q, T, n) for Q
  sequences. Other keys are ignored. Pickled object arrays are refused.

Everything that is wrong with a file raises :class:`~dyngraph.data.DataError` with a message
naming the file and the column / key (and the row for a bad CSV cell).
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from typing import Dict, Mapping

import numpy as np

from ..engines.records import DataError, column_names

__all__ = ["read_data", "write_data", "column_names", "data_format", "write_atomic",
           "DATA_FORMATS"]

DATA_FORMATS = ("csv", "npz")


def data_format(path) -> str:
    """'csv' or 'npz' from the file's extension; DataError naming any other extension."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in DATA_FORMATS:
        shown = f"'.{ext}'" if ext else "no extension"
        raise DataError(f"{path}: unknown data format {shown}; use .csv or .npz")
    return ext


# --------------------------------------------------------------------------- reading
def read_data(path, names_sizes: Mapping[str, int], allow_nan: bool = False,
              what: str = "input") -> Dict[str, np.ndarray]:
    """Read the signals ``names_sizes`` (name -> size) from a CSV or NPZ file.

    Parameters
    ----------
    path : str or path-like, ``.csv`` or ``.npz``
    names_sizes : dict name -> size, e.g. ``net.inputs`` or ``net.outputs`` (for targets)
    allow_nan : whether NaN may appear (targets: yes, "no target here"; inputs: no).
                inf is never allowed.
    what : word used in messages ('input', 'target')

    Returns
    -------
    dict name -> float64 array: (T, n) from CSV; from NPZ as stored, (T,), (T, n) or (Q, T, n)

    Raises
    ------
    DataError
        unreadable file, missing column/key, non-numeric cell, wrong shape, NaN/inf.
    """
    path = os.fspath(path)
    fmt = data_format(path)
    try:
        if fmt == "csv":
            return _read_csv(path, names_sizes, allow_nan, what)
        return _read_npz(path, names_sizes, allow_nan, what)
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None


def _read_csv(path, names_sizes, allow_nan, what):
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            rows = list(csv.reader(fh))
        except (csv.Error, UnicodeDecodeError) as err:
            raise DataError(f"{path}: not a readable CSV file: {err}") from None
    if not rows:
        raise DataError(f"{path}: empty file (expected a header row naming the columns)")
    header = [h.strip() for h in rows[0]]
    seen = set()
    for h in header:
        if h in seen and h:
            raise DataError(f"{path}:1: column '{h}' appears twice in the header")
        seen.add(h)
    body = [(i + 2, r) for i, r in enumerate(rows[1:]) if any(c.strip() for c in r)]
    if not body:
        raise DataError(f"{path}: no data rows after the header")
    index = {h: j for j, h in enumerate(header)}
    out = {}
    for name, size in names_sizes.items():
        cols = column_names(name, size)
        if size == 1 and name not in index and f"{name}[0]" in index:
            cols = [f"{name}[0]"]
        missing = [c for c in cols if c not in index]
        if missing:
            raise DataError(f"{path}: missing column{'s' if len(missing) > 1 else ''} "
                            + ", ".join(f"'{c}'" for c in missing)
                            + f" for {what} '{name}' (size {size}); the header has: "
                            + ", ".join(f"'{h}'" for h in header))
        arr = np.empty((len(body), size))
        for j, col in enumerate(cols):
            k = index[col]
            for r, (line, row) in enumerate(body):
                cell = row[k].strip() if k < len(row) else ""
                arr[r, j] = _cell(path, line, col, cell)
                if not np.isfinite(arr[r, j]) and not (allow_nan and np.isnan(arr[r, j])):
                    bad = "an empty cell" if cell == "" else f"'{cell}'"
                    raise DataError(f"{path}:{line}: column '{col}' ({what} '{name}') has "
                                    f"{bad}; {what}s must be finite numbers")
        out[name] = arr
    return out


def _cell(path, line, col, cell) -> float:
    if cell == "":
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        raise DataError(f"{path}:{line}: column '{col}': '{cell}' is not a number") from None


def _read_npz(path, names_sizes, allow_nan, what):
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file: {err}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not an .npz archive (numpy.savez writes one)")
    with archive:
        keys = list(archive.files)
        out = {}
        for name, size in names_sizes.items():
            if name not in keys:
                raise DataError(f"{path}: missing key '{name}' for {what} '{name}' "
                                f"(size {size}); the file has: "
                                + (", ".join(f"'{k}'" for k in keys) or "no arrays"))
            try:
                arr = np.asarray(archive[name], dtype=float)
            except (ValueError, TypeError) as err:
                raise DataError(f"{path}: key '{name}': not a numeric array ({err})") from None
            _check_shape(path, name, arr, size, what)
            bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
            if bad.any():
                at = tuple(int(i) for i in np.argwhere(bad)[0])
                raise DataError(f"{path}: key '{name}' ({what} '{name}') has "
                                f"{arr[at]} at index {at}; {what}s must be finite numbers")
            out[name] = arr
    return out


def _check_shape(path, name, arr, size, what):
    ok = (arr.ndim == 1 and size == 1) or (arr.ndim in (2, 3) and arr.shape[-1] == size)
    if not ok or arr.shape[-1 if arr.ndim > 1 else 0] == 0:
        want = f"(T, {size})" + (" or (T,)" if size == 1 else "") + f" or (Q, T, {size})"
        raise DataError(f"{path}: key '{name}' ({what} of size {size}) has shape "
                        f"{arr.shape}, expected {want}")


# --------------------------------------------------------------------------- writing
def write_data(path, arrays: Mapping[str, np.ndarray]) -> str:
    """Write signals by name to ``.csv`` (one sequence) or ``.npz``, atomically.

    Parameters
    ----------
    path : str or path-like
    arrays : dict name -> (T,), (T, n) or, for NPZ only, (Q, T, n)

    Returns
    -------
    str : the path written
    """
    path = os.fspath(path)
    fmt = data_format(path)
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    if fmt == "npz":
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
    else:
        data = _csv_bytes(path, arrays)
    try:
        write_atomic(path, data)
    except OSError as err:
        raise DataError(f"{path}: cannot write: {err.strerror or err}") from None
    return path


def _csv_bytes(path, arrays) -> bytes:
    header, columns, lengths = [], [], set()
    for name, a in arrays.items():
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise DataError(f"{path}: '{name}' has shape {a.shape}; a CSV file holds one "
                            f"sequence (T, n) — write several sequences to .npz")
        header += column_names(name, a.shape[1])
        columns += [a[:, j] for j in range(a.shape[1])]
        lengths.add(a.shape[0])
    if len(lengths) > 1:
        raise DataError(f"{path}: signals differ in length ({sorted(lengths)}); cannot share "
                        f"one CSV table")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in zip(*columns):
        # repr of a float round-trips exactly.
        writer.writerow([repr(float(x)) for x in row])
    return buf.getvalue().encode("utf-8")


def write_atomic(path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then move it into place, so
    readers never see half a file and a failure leaves any old file untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); give it the permissions open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
