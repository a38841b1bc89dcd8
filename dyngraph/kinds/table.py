"""The one table of node kinds: each kind states its forward rule and its local derivatives once.

Both engines (:mod:`dyngraph.engines`) drive the
kinds through the same small interface and know nothing about tanh, gates or gamma.

Conventions
-----------
A node v reads its links. Link l has a source s (size n_s) and delays (d_1, ..., d_k); at a
block of time steps the engine hands the kind the stacked taps

    X_l = [s(t - d_1), ..., s(t - d_k)]           shape (B, Q, k*n_s)

(B time steps of Q sequences). Arrays handed *back* (adjoints) may carry extra leading axes
(RTRL puts a direction axis R in front: (R, B, Q, n)); every rule broadcasts over them.

Interface of a kind object (built once per node by the plan, holding static sizes):

``hoist(P, X)``       precompute from links given over *all* steps (those outside a recurrent
                      component, or all links of a node off any cycle) -> H, a tuple of arrays
                      with leading (T, Q). Default: nothing to hoist.
``step(P, H, X)``     the forward rule on a block: ``H`` sliced to the block, ``X`` the
                      remaining links' taps -> (a (B, Q, S), cache tuple of arrays (B, Q, ...)).
``delta(P, c, G)``    from the adjoint G = dF/da of the output to the kind's inner adjoint δ.
``vjp_input(P, c, δ, l)`` -> dF/dX_l.
``param_grad(P, X, c, δ)`` -> {block: gradient summed over all rows} (one matmul per block).
``param_jac(P, X, c, δ)`` -> {block: per-row derivative (R, B, Q, block.size)} for RTRL.

``P`` is the mapping block name -> current value; ``X`` a dict link index -> taps; ``c`` the
cache tuple produced by ``step``.

Optional fast paths — the same rules, bound once per sweep for the stepped loops of
recurrent components; an engine uses them when a kind has them and falls back to the
methods above otherwise (LayerKind has them, the memories do not):

``compile_step`` / ``compile_backward``   closures run(t) over per-step views
``fusable()``          links whose contribution is X @ W.T (the engine batches several nodes'
                       reads of one tap into one matmul, forward and backward)
``delta_is_adjoint``   δ equals dF/da (a linear transfer): the engine may alias them
``param_jac_diag``     RTRL's explicit rows for an identity seed, without the R× zeros

Transfers and weights have their own tables (:mod:`.transfers`,
:mod:`.weights`).
"""
from __future__ import annotations

from .layer import LayerKind
from .links import LinkInfo
from .memories import GammaKind, TdlKind
from .transfers import TRANSFER_ALIASES, TRANSFERS, Transfer
from .weights import WEIGHTS, Weight

__all__ = ["TRANSFERS", "TRANSFER_ALIASES", "WEIGHTS", "KINDS", "Transfer", "Weight",
           "LinkInfo", "LayerKind", "GammaKind", "TdlKind"]

#: Registry: node kind name -> class. Adding a kind = a module here, an entry below and a
#: sample in tests/test_kinds.py.
KINDS = {"layer": LayerKind, "gamma": GammaKind, "tdl": TdlKind}
