"""Transfer functions: a = f(n), each stating its derivative once (the table ``TRANSFERS``).

Used by the layer kind (it applies them) and the spec language (valid names, the docs table).
Adding a transfer is one entry here (and a sample in tests/test_kinds.py).

Two transfers pick a symbol rather than shape a value: ``argmax`` (the one-hot of the
largest element) and ``sample`` (the one-hot of a draw from the softmax probabilities).
They have no derivative (``differentiable=False``): the engines refuse any gradient through
them up front. ``sample`` draws its uniforms from the random stream of the run
(:func:`random_stream`), one generator per layer, so a layer's draws depend on the seed and
the layer's name only — not on the backend, on chunking, or on other sampling layers.
"""
from __future__ import annotations

import contextvars
import dataclasses
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

__all__ = ["Transfer", "TRANSFERS", "TRANSFER_ALIASES", "random_stream", "NoDerivative"]


class NoDerivative(ValueError):
    """A gradient was asked through a transfer that has none (argmax, sample)."""


@dataclass(frozen=True)
class Transfer:
    """a = f(n), elementwise with derivative ``deriv(n, a)`` = f'(n) — or, for a transfer
    over the whole layer (softmax), with its own ``vjp(n, a, g)``.

    Everything else is derived from those rules: ``vjp`` = g * f'(n) (``g`` may carry extra
    leading axes), and the in-place forms the stepped loops use. ``f_into(n, out)`` is an
    optional in-place forward (a ufunc where one exists). ``uses_n`` says whether the
    derivative needs n or only a (then a layer may compute a in n's place).
    """

    f: Callable[[np.ndarray], np.ndarray]
    deriv: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None
    vjp_rule: Optional[Callable] = None
    linear: bool = False
    uses_n: bool = True
    f_into: Optional[Callable] = None
    #: f(n) as the reference docs show it (docs/spec.md's transfer table is generated).
    formula: str = ""
    #: The same rule for one element, as two Python expressions — f in terms of ``n``, f'
    #: in terms of ``n`` and ``a`` — that the compiled backend turns into its loops
    #: (:mod:`dyngraph.engines.compiled`); None for a transfer over the whole layer. They may
    #: call ``math.*`` and ``tanh`` (bound to a tanh the loops can vectorise).
    scalar: Optional[Tuple[str, str]] = None
    #: False for a transfer without a derivative (a symbol picker): gradients refuse it.
    differentiable: bool = True
    #: True when ``f(n, u)`` also takes uniforms u (shape ``n.shape[:-1]``) from the run's
    #: random stream; :meth:`bound` gives the plain ``f(n)`` of one layer.
    random: bool = False

    @property
    def elementwise(self) -> bool:
        return self.vjp_rule is None

    def bound(self, key: str) -> "Transfer":
        """This transfer with ``f(n)`` drawing from the stream of ``key`` (a layer name);
        itself when it draws nothing."""
        if not self.random:
            return self
        rule = self.f
        return dataclasses.replace(self, f=lambda n: rule(n, _uniforms(key, np.shape(n)[:-1])),
                                   random=False)

    def vjp(self, n, a, g):
        if self.vjp_rule is not None:
            return self.vjp_rule(n, a, g)
        if self.linear:
            return g
        d = self.deriv(n, a)            # a fresh array: scale it in place when g fits it
        if d.shape == g.shape:
            d *= g
            return d
        return g * d

    def apply_into(self, n, out):
        if self.f_into is None:
            out[...] = self.f(n)
        else:
            self.f_into(n, out)

    def f_into_fn(self):
        """The in-place rule itself (no method layer: stepped loops call it T times)."""
        return self.f_into if self.f_into is not None else self.apply_into


def _sigmoid(n):
    out = np.empty(np.shape(n))
    _sigmoid_into(n, out)
    return out


def _sigmoid_into(n, out):
    # σ(n) = (1 + tanh(n/2)) / 2: never overflows, and numpy's tanh is SIMD-vectorised,
    # several times faster than scipy's expit, which more than pays for the cheap passes.
    np.multiply(n, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5


def _one_minus_square(a):
    d = a * a                         # one temporary, reused in place
    np.subtract(1.0, d, out=d)
    return d


def _sigmoid_deriv(a):
    d = 1.0 - a
    d *= a
    return d


def _copy_into(n, out):
    out[...] = n


def _softmax(n):
    z = np.exp(n - n.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _one_hot(index, like):
    out = np.zeros(np.shape(like))
    np.put_along_axis(out, np.asarray(index)[..., None], 1.0, axis=-1)
    return out


def _argmax(n):
    return _one_hot(np.argmax(n, axis=-1), n)     # np.argmax: the first of tied maxima


def _sample(n, u):
    # Inverse CDF of the softmax probabilities: the first symbol whose cumulative
    # probability exceeds u. Scaling u by the last cumulative sum keeps a rounding shortfall
    # of the sum below 1 from ever running past the last symbol.
    c = np.cumsum(_softmax(n), axis=-1)
    index = np.sum(c < (u * c[..., -1])[..., None], axis=-1)
    return _one_hot(np.minimum(index, np.shape(n)[-1] - 1), n)


def _no_vjp(name):
    def vjp(n, a, g):
        raise NoDerivative(f"transfer '{name}' has no derivative")
    return vjp


_STREAM: contextvars.ContextVar = contextvars.ContextVar("dyngraph_random_stream",
                                                         default=None)


class random_stream:
    """The random stream of the ``sample`` transfers run inside the block (``with
    random_stream(seed): ...``).

    Each layer draws from its own generator, seeded by (``seed``, CRC-32 of the layer's
    name), in time order (then sequence): the same seed gives the same symbols whichever
    backend, chunking or evaluation order runs the layers. Streams nest; the innermost wins.
    ``seed=None`` carries on the stream already open, or opens seed 0 when there is none
    (so a run without a seed is still reproducible).

    A class rather than a generator-based context manager: every simulation enters one, and
    this costs half the time (~0.7 against ~1.4 µs).
    """

    __slots__ = ("_seed", "_token")

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self._seed, self._token = seed, None

    def __enter__(self):
        if self._seed is None and _STREAM.get() is not None:
            return None
        self._token = _STREAM.set({"seed": int(self._seed or 0), "generators": {}})
        return None

    def __exit__(self, *exc):
        if self._token is not None:
            _STREAM.reset(self._token)
            self._token = None
        return False


def _uniforms(key, shape):
    stream = _STREAM.get()
    if stream is None:
        raise RuntimeError(f"layer '{key}' samples (transfer 'sample') but no random stream "
                           "is open: run it through Net.simulate/forecast (seed=) or inside "
                           "dyngraph.kinds.transfers.random_stream(seed)")
    gens = stream["generators"]
    if key not in gens:
        gens[key] = np.random.default_rng([stream["seed"], zlib.crc32(str(key).encode())])
    return gens[key].random(shape)


TRANSFERS: Dict[str, Transfer] = {
    "linear": Transfer(lambda n: n, lambda n, a: np.ones_like(a), linear=True, uses_n=False,
                       f_into=_copy_into, formula="n", scalar=("n", "1.0")),
    "tanh": Transfer(np.tanh, lambda n, a: _one_minus_square(a), uses_n=False,
                     f_into=np.tanh, formula="tanh(n)",
                     scalar=("tanh(n)", "1.0 - a * a")),
    "sigmoid": Transfer(_sigmoid, lambda n, a: _sigmoid_deriv(a), uses_n=False,
                        f_into=_sigmoid_into, formula="1 / (1 + e^(−n))",
                        scalar=("0.5 * tanh(0.5 * n) + 0.5", "(1.0 - a) * a")),
    "relu": Transfer(lambda n: np.maximum(n, 0.0), lambda n, a: (n > 0).astype(float),
                     formula="max(0, n)",
                     scalar=("n if n > 0.0 else 0.0", "1.0 if n > 0.0 else 0.0")),
    "softplus": Transfer(lambda n: np.logaddexp(0.0, n), lambda n, a: _sigmoid(n),
                         formula="log(1 + e^n)",
                         scalar=("max(n, 0.0) + math.log1p(math.exp(-abs(n)))",
                                 "0.5 * tanh(0.5 * n) + 0.5")),
    "satlin": Transfer(lambda n: np.clip(n, 0.0, 1.0),
                       lambda n, a: ((n > 0) & (n < 1)).astype(float),
                       formula="clip(n, 0, 1)",
                       scalar=("min(max(n, 0.0), 1.0)", "1.0 if 0.0 < n < 1.0 else 0.0")),
    "satlins": Transfer(lambda n: np.clip(n, -1.0, 1.0),
                        lambda n, a: ((n > -1) & (n < 1)).astype(float),
                        formula="clip(n, −1, 1)",
                        scalar=("min(max(n, -1.0), 1.0)", "1.0 if -1.0 < n < 1.0 else 0.0")),
    # Step functions: derivative zero almost everywhere (gradient methods cannot train them).
    "hardlim": Transfer(lambda n: (n >= 0).astype(float), lambda n, a: np.zeros_like(a),
                        formula="1 if n ≥ 0 else 0 (derivative 0: not trainable by gradients)",
                        scalar=("1.0 if n >= 0.0 else 0.0", "0.0")),
    "hardlims": Transfer(lambda n: np.where(n >= 0, 1.0, -1.0),
                         lambda n, a: np.zeros_like(a),
                         formula="1 if n ≥ 0 else −1 (derivative 0)",
                         scalar=("1.0 if n >= 0.0 else -1.0", "0.0")),
    "softmax": Transfer(_softmax, vjp_rule=lambda n, a, g: a * (g - (g * a).sum(
        axis=-1, keepdims=True)), uses_n=False,
        formula="e^(n_i) / Σ_j e^(n_j), over the layer's elements"),
    # Symbol pickers for generation (no derivative: simulate only).
    "argmax": Transfer(_argmax, vjp_rule=_no_vjp("argmax"), uses_n=False, differentiable=False,
                       formula="one-hot of the largest n_i (ties: the first); no derivative"),
    "sample": Transfer(_sample, vjp_rule=_no_vjp("sample"), uses_n=False, differentiable=False,
                       random=True,
                       formula="one-hot of a draw from softmax(n) (seeded stream); "
                               "no derivative"),
}

#: MATLAB names accepted in specs.
TRANSFER_ALIASES = {"purelin": "linear", "tansig": "tanh", "logsig": "sigmoid",
                    "poslin": "relu"}


