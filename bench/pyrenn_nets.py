"""pyrenn's network family written as dyngraph specs, and pyrenn's weight vector mapped onto
dyngraph's parameter blocks (the dyngraph side of bench/bench_pyrenn.py; no pyrenn code here).

A pyrenn net ``CreateNN([nIn, S1, ..., S_M], dIn, dIntern, dOut)`` has layers 1..M (tanh
hidden layers, a linear output layer M), every one with a bias, and these links (read from
pyrenn's ``CreateNN`` / ``w_Create``):

- input -> layer 1 with delays ``dIn``;
- layer m-1 -> layer m with delay 0 (m >= 2);
- layer l -> layer m for every l >= m (itself and every later layer) with delays ``dIntern``,
  except layer M -> layer 1, which uses ``dOut`` instead (empty delay lists mean no link).

Here layer m is named ``a<m>`` and the input ``p``. pyrenn's weight vector ``w`` is mapped
through index matrices that pyrenn's own ``w2Wb`` produced on 0..N-1 (exported by
pyrenn_driver.py), so no assumption about its layout is made here.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

import dyngraph as dg

__all__ = ["links", "spec_text", "build", "pyrenn_index"]


def _delays(ds: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in ds) + "]"


def links(nn: Sequence[int], dIn, dIntern, dOut) -> Dict[int, List[Tuple[str, Tuple[int, ...]]]]:
    """Layer m (1-based) -> list of (source name, delays) in the order written in the spec."""
    M = len(nn) - 1
    out = {}
    for m in range(1, M + 1):
        lm = []
        if m == 1:
            lm.append(("p", tuple(int(d) for d in dIn)))
        else:
            lm.append((f"a{m - 1}", (0,)))
        for l in range(m, M + 1):
            ds = dOut if (m == 1 and l == M) else dIntern
            if len(ds):
                lm.append((f"a{l}", tuple(int(d) for d in ds)))
        out[m] = lm
    return out


def spec_text(nn: Sequence[int], dIn, dIntern, dOut) -> str:
    """The dyngraph spec of ``CreateNN(nn, dIn, dIntern, dOut)``."""
    M = len(nn) - 1
    lines = [f"inputs: {{p: {int(nn[0])}}}", "layers:"]
    for m, lm in links(nn, dIn, dIntern, dOut).items():
        transfer = "linear" if m == M else "tanh"
        src = ", ".join(f"{s}: {_delays(ds)}" for s, ds in lm)
        lines.append(f"  a{m}: {{size: {int(nn[m])}, transfer: {transfer}, from: {{{src}}}}}")
    lines.append(f"outputs: [a{M}]")
    return "\n".join(lines) + "\n"


def pyrenn_index(dnet: dg.Net, nn, dIn, dIntern, dOut, idx: Mapping[str, np.ndarray]):
    """For every entry of ``dnet.params``, its position in pyrenn's weight vector.

    Parameters
    ----------
    idx : the driver's ``idx/IW/m/i/d``, ``idx/LW/m/l/d``, ``idx/b/m`` index matrices

    Returns
    -------
    pos : (N,) int array with ``dnet.params == w[pos]`` once the weights are copied
    """
    lk = links(nn, dIn, dIntern, dOut)
    blocks = {}
    for m, lm in lk.items():
        for s, ds in lm:
            if s == "p":
                mats = [idx[f"idx/IW/{m}/1/{d}"] for d in ds]
            else:
                mats = [idx[f"idx/LW/{m}/{s[1:]}/{d}"] for d in ds]
            # dyngraph's column block j multiplies source(t - d_j)
            blocks[f"a{m}.W[{s}]"] = np.hstack(mats)
        blocks[f"a{m}.b"] = idx[f"idx/b/{m}"]
    if set(blocks) != set(dnet.param_names):
        raise AssertionError(f"block mismatch: {sorted(set(blocks) ^ set(dnet.param_names))}")
    probe = dnet.copy()
    for name, v in blocks.items():
        probe.set(name, v)
    pos = np.rint(probe.params).astype(int)
    if not np.array_equal(np.sort(pos), np.arange(dnet.n_params)):
        raise AssertionError("pyrenn's weight vector does not map one-to-one onto dyngraph's")
    return pos


def build(nn, dIn, dIntern, dOut, w: np.ndarray, idx) -> Tuple[dg.Net, np.ndarray]:
    """The dyngraph net of a pyrenn net with pyrenn's weights ``w``; also the index map."""
    dnet = dg.loads(spec_text(nn, dIn, dIntern, dOut), file="<pyrenn net>")
    pos = pyrenn_index(dnet, nn, dIn, dIntern, dOut, idx)
    dnet.params = np.asarray(w, dtype=float)[pos]
    return dnet, pos
