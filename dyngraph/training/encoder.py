"""An initial-state encoder for sub-sequence training (the SUBNET idea).

Cutting a record into windows (:mod:`.windows`) starts each window from its measured past,
which is all a NARX model needs: its states *are* delayed inputs and outputs. A state-space
model x(t) = f(x(t−1), u(t−1)), y(t) = g(x(t)) has states nobody measured; starting them from
zero in every window makes the first steps of each window wrong and the weights bend to
absorb it. Beintema, Tóth & Schoukens (2021, "Nonlinear state-space identification using
deep encoder networks") estimate each window's initial state from the p measured steps
before it with a small network trained jointly with the model:

    z_w   = [u(s_w − p) … u(s_w − 1); y(s_w − p) … y(s_w − 1)]        (m,)
    x̂_0,w = W_2 tanh(W_1 z_w + b_1) + b_2                                (k,)

where k stacks every unmeasured delayed node's past (L_v steps of n_v values, oldest first,
as ``initial=`` takes them). The model's BPTT already gives dF/d(initial values)
(``initial_grad=True``); the chain rule through the two layers above is written out here,
so the joint vector θ = [weights; W_1, b_1, W_2, b_2] trains with any gradient method.

Arrays here are in training units (scaled, when the data are); :class:`Encoder` converts
at the boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..engines.records import DataError
from .windows import measured_lookback, window_starts

__all__ = ["EncodedInitial", "Encoder", "encoder_arg", "encoder_past", "check_encoder",
           "encoded_initial"]


def encoder_arg(encoder) -> Optional[Tuple[int, int]]:
    """``encoder=`` -> (past p, hidden h): an int p (h = 16) or a dict {past, hidden}."""
    if encoder is None or encoder is False:
        return None
    if isinstance(encoder, Mapping):
        extra = set(encoder) - {"past", "hidden"}
        if extra or "past" not in encoder:
            raise ValueError(f"train: encoder takes {{'past': p, 'hidden': h}}, got "
                             f"{dict(encoder)!r}")
        past, hidden = encoder["past"], encoder.get("hidden", 16)
    else:
        past, hidden = encoder, 16
    for name, v in (("past", past), ("hidden", hidden)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"train: encoder {name} must be an integer >= 1, got {v!r}")
    return int(past), int(hidden)


def check_encoder(encoder, method, windows, learn_initial) -> None:
    """Refuse, up front, what an encoder cannot go with."""
    if encoder is None:
        return
    if windows is None:
        raise ValueError("train: encoder= estimates each window's initial state from the "
                         "steps before it; give windows= as well")
    if method in ("lm", "br"):
        raise ValueError(f"train: encoder= trains through the gradient w.r.t. the initial "
                         f"states, which BPTT gives; '{method}' works on the RTRL Jacobian, "
                         f"which has no columns for them — use method='lbfgs', 'bfgs', "
                         f"'adam' or 'sgd'")
    if learn_initial not in (False, None):
        raise ValueError("train: give learn_initial= (one learnt past for the record) or "
                         "encoder= (a past estimated per window), not both")


def encoder_past(X: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray],
                 starts: Sequence[int], past: int) -> np.ndarray:
    """The encoder inputs z of every window.

    Parameters
    ----------
    X, Y : dict name -> (T, Q, n) internal-layout inputs and targets (training units)
    starts : first target step s_w of each window (each ≥ ``past``)
    past : p

    Returns
    -------
    Z : (W * Q, m) — window-major, the record's sequences inside (as
        :func:`~.windows.cut_windows` orders them); m = p · (Σ n_inputs + Σ n_outputs)
    """
    parts = []
    for a in list(X.values()) + list(Y.values()):
        w = np.stack([a[s - past:s] for s in starts])               # (W, p, Q, n)
        parts.append(w.transpose(0, 2, 1, 3).reshape(len(starts) * a.shape[1], -1))
    Z = np.concatenate(parts, axis=1)
    if np.isnan(Z).any():
        raise DataError("train: encoder: the measured past before a window holds NaN; the "
                        "encoder needs the p steps before every window")
    return Z


class EncodedInitial:
    """Initial states computed by the encoder from the tail of the joint vector; the same
    interface as :class:`~.initial.LearntInitial` (``start``, ``size``, ``values``,
    ``grad``).

    Parameters
    ----------
    shapes : dict node -> (L, n) of every encoded node
    fixed : dict node -> (W * Q, L, n), the measured pasts the windows start from
    Z : (W * Q, m) encoder inputs (:func:`encoder_past`)
    hidden : h
    rng : numpy Generator for the first weights
    """

    def __init__(self, shapes: Mapping[str, Tuple[int, int]], fixed, Z, hidden, rng):
        self.shapes = dict(shapes)
        self.names = tuple(self.shapes)
        self.fixed = dict(fixed)
        self.Z = Z
        m, h = Z.shape[1], hidden
        k = sum(L * n for L, n in self.shapes.values())
        self.dims = (h, m, k)
        # Fan-in uniform first layer; a small second so the first states are near zero,
        # where a window started without an encoder begins.
        W1 = rng.uniform(-1, 1, (h, m)) / np.sqrt(m)
        W2 = rng.uniform(-1, 1, (k, h)) * 0.1 / np.sqrt(h)
        self.start = np.concatenate([W1.ravel(), np.zeros(h), W2.ravel(), np.zeros(k)])
        self.size = self.start.size

    def unpack(self, tail):
        """W_1 (h, m), b_1 (h,), W_2 (k, h), b_2 (k,) from the vector's tail."""
        h, m, k = self.dims
        tail = np.asarray(tail)
        i = np.cumsum([0, h * m, h, k * h, k])
        return (tail[i[0]:i[1]].reshape(h, m), tail[i[1]:i[2]],
                tail[i[2]:i[3]].reshape(k, h), tail[i[3]:i[4]])

    def _split(self, X0) -> Dict[str, np.ndarray]:
        out, c = {}, 0
        for name, (L, n) in self.shapes.items():
            out[name] = X0[:, c:c + L * n].reshape(-1, L, n)
            c += L * n
        return out

    def learnt(self, tail) -> Dict[str, np.ndarray]:
        """The encoded nodes' pasts, (W * Q, L, n) each."""
        W1, b1, W2, b2 = self.unpack(tail)
        H = np.tanh(self.Z @ W1.T + b1)
        return self._split(H @ W2.T + b2)

    def values(self, tail) -> Dict[str, np.ndarray]:
        """The whole initial dict: the measured pasts and the encoded ones."""
        return {**self.fixed, **self.learnt(tail)}

    def grad(self, tail, grads: Mapping[str, np.ndarray]) -> np.ndarray:
        """dF/d(initial) dict ((W * Q, L, n) each) -> dF/d(tail), by the chain rule through
        the encoder."""
        W1, b1, W2, b2 = self.unpack(tail)
        H = np.tanh(self.Z @ W1.T + b1)                               # (N, h)
        G = np.concatenate([np.asarray(grads[n]).reshape(len(self.Z), -1) if n in grads
                            else np.zeros((len(self.Z), L * m))
                            for n, (L, m) in self.shapes.items()], axis=1)      # (N, k)
        dH = (G @ W2) * (1.0 - H ** 2)
        return np.concatenate([(dH.T @ self.Z).ravel(), dH.sum(0), (G.T @ H).ravel(),
                               G.sum(0)])

    def encoder(self, tail, past, inputs, outputs, record) -> "Encoder":
        W1, b1, W2, b2 = self.unpack(tail)
        return Encoder(past=past, inputs=tuple(inputs), outputs=tuple(outputs),
                       states=tuple((n, L, m) for n, (L, m) in self.shapes.items()),
                       W1=W1.copy(), b1=b1.copy(), W2=W2.copy(), b2=b2.copy(),
                       scaling=record or None)


@dataclass(frozen=True)
class Encoder:
    """A trained initial-state encoder (``train(..., encoder=...)``): the past p steps of a
    record's inputs and outputs -> the initial states to simulate on from there.

    Attributes
    ----------
    past : p, the measured steps it reads
    inputs, outputs : the names it reads, in order
    states : (node, L, n) of each state it gives
    W1 (h, m), b1 (h,), W2 (k, h), b2 (k,) : its weights, in training units
    scaling : the net's scaling record (None: unscaled)

    Use :meth:`initial` to start a simulation; ``net.meta["encoder"]`` holds the same as
    JSON (:meth:`to_meta` / :meth:`from_meta`) so a saved model keeps it.
    """

    past: int
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    states: Tuple[Tuple[str, int, int], ...]
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    scaling: Optional[dict] = None

    def initial(self, net, inputs, targets) -> Dict[str, np.ndarray]:
        """Initial states for ``net.simulate`` on the steps right after a measured past.

        Parameters
        ----------
        net : the trained net (it knows the data's scaling)
        inputs, targets : the records *before* the simulation starts, in the forms
                          :meth:`Net.simulate` takes; their last ``past`` steps are read

        Returns
        -------
        initial : dict node -> (L, n) for one sequence, (Q, L, n) for Q
        """
        from .scaling import scale_inputs, scale_outputs
        from .records import read_records
        X, Y = read_records(net, inputs, targets, "encoder ")
        T, Q = next(iter(Y.values())).shape[:2]
        if T < self.past:
            raise DataError(f"encoder: needs the {self.past} steps before the start, got {T}")
        if self.scaling:
            X, Y = scale_inputs(net, self.scaling, X), scale_outputs(net, self.scaling, Y)
        Z = encoder_past({n: X[n] for n in self.inputs}, {n: Y[n] for n in self.outputs},
                         [T], self.past)
        X0 = np.tanh(Z @ self.W1.T + self.b1) @ self.W2.T + self.b2
        out, c = {}, 0
        for name, L, n in self.states:
            v = X0[:, c:c + L * n].reshape(Q, L, n)
            out[name] = v[0] if Q == 1 else v
            c += L * n
        return out

    def to_meta(self) -> dict:
        return {"past": self.past, "inputs": list(self.inputs), "outputs": list(self.outputs),
                "states": [list(s) for s in self.states], "W1": self.W1.tolist(),
                "b1": self.b1.tolist(), "W2": self.W2.tolist(), "b2": self.b2.tolist()}

    @classmethod
    def from_meta(cls, net) -> "Encoder":
        """The encoder a trained net carries in ``net.meta["encoder"]``."""
        m = net.meta.get("encoder")
        if not m:
            raise ValueError(f"the net '{net.name}' carries no encoder (train it with "
                             f"windows= and encoder=)")
        return cls(past=int(m["past"]), inputs=tuple(m["inputs"]), outputs=tuple(m["outputs"]),
                   states=tuple((s[0], int(s[1]), int(s[2])) for s in m["states"]),
                   W1=np.asarray(m["W1"], float).reshape(len(m["b1"]), -1),
                   b1=np.asarray(m["b1"], float),
                   W2=np.asarray(m["W2"], float).reshape(len(m["b2"]), -1),
                   b2=np.asarray(m["b2"], float), scaling=net.meta.get("scaling") or None)


def encoded_initial(work, X, Y, encoder, windows, first, stop, measured, seed) -> "EncodedInitial":
    """The encoder of ``train(..., encoder=(p, h))`` over the windows starting at
    ``first``: every delayed node that the windows do not start from a measurement."""
    past, hidden = encoder
    nodes = work.plan.nodes
    shapes = {n: (v.lookback, v.size) for n, v in nodes.items()
              if v.kind is not None and v.lookback and n not in measured}
    if not shapes:
        raise ValueError(f"train: encoder: every delayed node of '{work.name}' starts its "
                         f"windows from a measurement; there is no state to encode (a NARX "
                         f"model needs none — use a state-space or recurrent model)")
    length, step = windows
    starts = window_starts(first, stop, measured_lookback(work, X, Y), length, step)
    Z = encoder_past(X, Y, starts, past)
    rng = np.random.default_rng([0 if seed is None else int(seed), 0x5B])
    return EncodedInitial(shapes, measured, Z, hidden, rng)
