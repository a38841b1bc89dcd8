"""Initial states learnt with the weights (``train(..., learn_initial=...)``).

A parallel model started from zero where the plant was not at rest pays for the wrong start
with errors over the first steps of the record, and the weights bend to absorb them. The
past values of the delayed nodes are then unknowns like the weights: the joint vector is
θ = [weights; initial states], and BPTT already gives dF/d(initial values)
(``Net.gradient(..., initial_grad=True)``), so any gradient method can fit both.

The learnt values live in the training net's units (scaled, when the data are); ``train``
converts them to user units for ``TrainResult.initial`` and ``net.meta["initial"]``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np

from ..engines.records import DataError
from .scaling import scale_state

__all__ = ["LearntInitial", "learnt_names", "to_meta", "check_learn_initial", "take_initial"]


def check_learn_initial(learn, method, windows, truncate) -> None:
    """Refuse, up front, the options ``learn_initial`` cannot go with."""
    if learn in (False, None):
        return
    if method in ("lm", "br"):
        raise ValueError(f"train: learn_initial needs the gradient w.r.t. the initial states, "
                         f"which BPTT gives; '{method}' works on the RTRL Jacobian, which "
                         f"has no columns for them — use method='lbfgs', 'bfgs', 'adam' or "
                         f"'sgd'")
    if windows is not None:
        raise ValueError("train: learn_initial learns the past of the one record; windows= "
                         "start every window from its own measured past — give one or the "
                         "other")
    if truncate is not None:
        raise ValueError("train: learn_initial needs the whole BPTT (truncate=None): a "
                         "truncated sweep does not reach the initial states")


def take_initial(problem, best, base, record, meta):
    """Split the best joint vector: (weights, learnt states in user units or None). The
    states go into ``meta["initial"]``; a past learnt for other weights is dropped."""
    meta.pop("initial", None)
    if problem.learnt is None:
        return best, None
    states = problem.learnt.learnt(best[problem.n_weights:])
    if record:
        states = scale_state(base, record, states, "out")
    if next(iter(states.values())).shape[0] == 1:
        states = {k: v[0] for k, v in states.items()}
    meta["initial"] = to_meta(states)
    return best[:problem.n_weights], states


def learnt_names(net, learn) -> tuple:
    """``learn_initial`` -> the node names whose past is learnt: True = every layer and
    memory with a past (read through a delay); a name or a list of names picks some."""
    nodes = net.plan.nodes
    with_past = [n for n, v in nodes.items() if v.kind is not None and v.lookback]
    if learn is True:
        if not with_past:
            raise ValueError(f"train: learn_initial: the net '{net.name}' has no node with a "
                             f"past (nothing is read through a delay)")
        return tuple(with_past)
    names = [learn] if isinstance(learn, str) else list(learn)
    if not names:
        raise ValueError("train: learn_initial is an empty list; give True or node names")
    for name in names:
        if name not in nodes:
            raise ValueError(f"train: learn_initial: no node '{name}' (nodes with a past: "
                             f"{', '.join(with_past) or 'none'})")
        if nodes[name].kind is None:
            raise ValueError(f"train: learn_initial: '{name}' is an input; its past is data, "
                             f"not a state of the net — give it in initial= (nodes with a "
                             f"past: {', '.join(with_past) or 'none'})")
        if not nodes[name].lookback:
            raise ValueError(f"train: learn_initial: '{name}' is never read through a delay, "
                             f"so it has no past to learn (nodes with a past: "
                             f"{', '.join(with_past) or 'none'})")
    return tuple(dict.fromkeys(names))


class LearntInitial:
    """The layout of the learnt initial states in the tail of the joint vector.

    Parameters
    ----------
    net : the training net (its plan gives each node's lookback L and size n)
    names : nodes whose past is learnt (:func:`learnt_names`)
    initial : the given initial conditions (training units) or None — where the learnt
              ones start, and the fixed past of the nodes not learnt
    Q : number of sequences; each sequence has its own past, (Q, L, n)
    """

    def __init__(self, net, names, initial: Optional[Mapping], Q: int):
        self.names = tuple(names)
        nodes = net.plan.nodes
        self.shapes = {n: (Q, nodes[n].lookback, nodes[n].size) for n in self.names}
        self.fixed = {k: v for k, v in (initial or {}).items() if k not in self.shapes}
        start = []
        for name, shape in self.shapes.items():
            given = (initial or {}).get(name)
            if given is None:
                start.append(np.zeros(int(np.prod(shape))))
                continue
            a = np.asarray(given, dtype=float)
            if a.ndim == 1 and shape[2] == 1:
                a = a[:, None]
            try:
                start.append(np.broadcast_to(a, shape).ravel())
            except ValueError:
                raise DataError(f"initial '{name}': expected ({shape[1]}, {shape[2]}) or "
                                f"{shape}, got {a.shape}") from None
        self.start = np.concatenate(start)
        self.size = self.start.size

    def values(self, tail) -> Dict[str, np.ndarray]:
        """The whole initial dict (fixed and learnt, (Q, L, n)) from the vector's tail."""
        out, k = dict(self.fixed), 0
        for name, shape in self.shapes.items():
            m = int(np.prod(shape))
            out[name] = np.asarray(tail[k:k + m]).reshape(shape)
            k += m
        return out

    def learnt(self, tail) -> Dict[str, np.ndarray]:
        """The learnt nodes only, (Q, L, n) each."""
        everything = self.values(tail)
        return {name: everything[name] for name in self.shapes}

    def grad(self, tail, grads: Mapping[str, np.ndarray]) -> np.ndarray:
        """dF/d(tail): the states are the tail itself (see :meth:`flat`)."""
        return self.flat(grads)

    def flat(self, grads: Mapping[str, np.ndarray]) -> np.ndarray:
        """dF/d(initial) dict ((Q, L, n) each) -> the vector's tail (a node the loss does
        not reach has zero gradient)."""
        return np.concatenate([np.asarray(grads[n]).ravel() if n in grads
                               else np.zeros(int(np.prod(s))) for n, s in self.shapes.items()])


def to_meta(initial: Mapping[str, np.ndarray]) -> Dict[str, list]:
    """The learnt states as JSON lists (``net.meta["initial"]``; ``initial=`` takes them
    back as they are)."""
    return {name: np.asarray(v, dtype=float).tolist() for name, v in initial.items()}
