"""Parameter blocks: their names, shapes, order in the flat vector, and initialisation.

Names (stable, documented in docs/spec.md):

- ``<layer>.W[<source>]`` the weight of the link source -> layer; full: (S, k*n) with column
  block j multiplying source(t - d_j); diagonal: (S, k).
- ``<layer>.b`` a layer's bias, (S,).
- ``<memory>.mu`` a gamma memory's μ, (1,).

The flat vector ``net.params`` holds the *learnable* blocks only, in this order: layers in
spec order (each: its links in written order, then its bias), then memories in spec order;
each block flattened row-major.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .build import Graph
from ..kinds.table import WEIGHTS

__all__ = ["Block", "blocks_of", "initial_values", "weight_block_name", "bias_block_name",
           "mu_block_name"]


@dataclass(frozen=True)
class Block:
    """One parameter block. ``offset`` is its start in the flat learnable vector (None when
    the block is fixed)."""

    name: str
    node: str
    shape: Tuple[int, ...]
    learn: bool
    init: object
    value: Optional[tuple]
    offset: Optional[int]
    fan_in: int
    transfer: str = "linear"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def weight_block_name(layer: str, source: str) -> str:
    return f"{layer}.W[{source}]"


def bias_block_name(layer: str) -> str:
    return f"{layer}.b"


def mu_block_name(memory: str) -> str:
    return f"{memory}.mu"


def blocks_of(graph: Graph) -> List[Block]:
    """All parameter blocks of a graph, learnable offsets assigned in the documented order."""
    spec, sizes = graph.spec, graph.sizes
    raw = []
    for layer in spec.layers:
        S = sizes[layer.name]
        fan_in = sum(len(l.delays) * sizes[l.source] for l in layer.links if l.weight == "full")
        for link in layer.links:
            shape = WEIGHTS[link.weight].shape(S, len(link.delays), sizes[link.source])
            if shape is None:
                continue
            raw.append((weight_block_name(layer.name, link.source), layer.name, shape,
                        link.learn, link.init, link.value,
                        fan_in if link.weight == "full" else len(link.delays), layer.transfer))
        if layer.bias.enabled:
            raw.append((bias_block_name(layer.name), layer.name, (S,), layer.bias.learn,
                        layer.bias.init, layer.bias.value, max(fan_in, 1), layer.transfer))
    for mem in spec.memories:
        if mem.kind == "gamma":
            raw.append((mu_block_name(mem.name), mem.name, (1,), mem.learn, None,
                        (float(mem.mu),), 1, "linear"))
    out, offset = [], 0
    for name, node, shape, learn, init, value, fan_in, transfer in raw:
        out.append(Block(name, node, tuple(shape), learn, init, value,
                         offset if learn else None, fan_in, transfer))
        if learn:
            offset += int(np.prod(shape))
    return out


def _as_array(value, shape):
    return np.asarray(value, dtype=float).reshape(shape)


def initial_values(blocks: List[Block], seed=0, method: str = "fanin") -> Dict[str, np.ndarray]:
    """Initial value of every block.

    ``value`` in the spec wins; then ``init`` (a constant, 'zeros', 'identity', 'random',
    'nguyen-widrow'); otherwise ``method``: 'fanin' draws U(-r, r) with r = 1/sqrt(fan-in)
    (fan-in = sum of k*n over the layer's full links), 'nguyen-widrow' spreads the active
    regions of tanh/sigmoid layers over [-1, 1] (Nguyen & Widrow 1990).
    """
    rng = np.random.default_rng(seed)
    values = {}
    for b in blocks:
        if b.value is not None:
            values[b.name] = _as_array(b.value, b.shape)
            continue
        rule = b.init if b.init is not None else method
        if isinstance(rule, (int, float)) and not isinstance(rule, bool):
            values[b.name] = np.full(b.shape, float(rule))
        elif rule == "zeros":
            values[b.name] = np.zeros(b.shape)
        elif rule == "identity":
            v = np.zeros(b.shape)
            if len(b.shape) == 2:
                S, cols = b.shape
                for j in range(0, cols, S):
                    v[:, j:j + S] += np.eye(S, min(S, cols - j))
            else:
                v[:] = 1.0
            values[b.name] = v
        elif rule == "nguyen-widrow" and len(b.shape) == 2 and b.transfer in ("tanh", "sigmoid"):
            S, n = b.shape
            beta = 0.7 * S ** (1.0 / max(b.fan_in, 1))
            w = rng.uniform(-1, 1, b.shape)
            w *= beta / np.linalg.norm(w, axis=1, keepdims=True)
            values[b.name] = w
        else:
            r = 1.0 / np.sqrt(max(b.fan_in, 1))
            values[b.name] = rng.uniform(-r, r, b.shape)
    return values
