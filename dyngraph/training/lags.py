"""How many past inputs and outputs a model needs: Lipschitz quotients (He & Asada 1993).

For a candidate pair of lag counts (n_y, n_u) the regressor of step t is
φ(t) = [y(t-1), …, y(t-n_y), u(t-1), …, u(t-n_u)], and the Lipschitz quotients are
q_ij = |y_i - y_j| / ‖φ_i - φ_j‖ over pairs of steps. While lags are missing, some pairs have
close regressors but different outputs, so the largest quotients are huge; once the
regressor holds every lag the plant uses, they stop falling. The index
``geometric mean of the p largest q_ij × sqrt(n_y + n_u)`` (p ≈ 1–2 % of the pairs) measures
that; :func:`suggest_lags` returns the smallest lags whose index is within ``tolerance`` of
the lowest one.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["lipschitz_index", "suggest_lags"]


def _regressors(u, y, n_y, n_u):
    """(N, n_y*ny + n_u*nu) regressors and (N, ny) outputs for t = max lag .. T-1."""
    lag = max(n_y, n_u, 1)
    T = y.shape[0]
    cols = [y[lag - k:T - k] for k in range(1, n_y + 1)]
    cols += [u[lag - k:T - k] for k in range(1, n_u + 1)]
    return np.concatenate(cols, axis=1), y[lag:]


def lipschitz_index(u, y, n_y: int, n_u: int, fraction: float = 0.015,
                    max_points: int = 600, seed: int = 0) -> float:
    """The Lipschitz index of lag counts (n_y, n_u) on the record (u, y).

    Parameters
    ----------
    u : (T,) or (T, nu) inputs;  y : (T,) or (T, ny) outputs
    fraction : share of the largest quotients averaged (He & Asada: 0.01–0.02)
    max_points : steps sampled for the pairwise quotients (their count grows as N²)
    """
    u = np.asarray(u, dtype=float).reshape(len(u), -1)
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    phi, out = _regressors(u, y, n_y, n_u)
    if phi.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(phi.shape[0], max_points,
                                                          replace=False))
        phi, out = phi[keep], out[keep]
    from scipy.spatial.distance import pdist   # (at first use, not at dyngraph's import)
    dphi, dy = pdist(phi), pdist(out)
    ok = dphi > 1e-12 * max(dphi.max(initial=0.0), 1e-300)
    q = dy[ok] / dphi[ok]
    p = max(1, int(round(fraction * q.size)))
    top = np.partition(q, q.size - p)[q.size - p:]
    top = np.maximum(top, 1e-300)
    return float(np.exp(np.mean(np.log(top))) * np.sqrt(n_y + n_u))


def suggest_lags(u, y, max_lag: int = 6, tolerance: float = 0.1,
                 seed: Optional[int] = 0) -> Dict[str, object]:
    """Delays for the presets: the smallest lags (fewest in all) whose Lipschitz index is
    within ``tolerance`` of the lowest index of all candidates (n_y = 0..max_lag,
    n_u = 1..max_lag). Beyond the lags the plant uses the index no longer falls (the
    sqrt(n) factor even makes it rise), so the lowest index marks the knee.

    Returns
    -------
    dict with ``input_delays`` and ``feedback_delays`` (``"1:n"`` text, as ``dg.narx``
    takes them), the chosen counts ``n_u``, ``n_y``, and ``index``: {(n_y, n_u): value}.

    Examples
    --------
    >>> import numpy as np, dyngraph as dg
    >>> u = np.random.default_rng(0).uniform(-1, 1, 800)
    >>> y = np.zeros(800)
    >>> for t in range(2, 800):
    ...     y[t] = 0.5 * y[t-1] - 0.3 * y[t-2] + np.tanh(u[t-1])
    >>> s = dg.suggest_lags(u, y, max_lag=4)
    >>> s["feedback_delays"], s["input_delays"]
    ('1:2', '1:1')
    """
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"suggest_lags: max_lag must be an integer >= 1, got {max_lag!r}")
    if len(u) != len(y) or len(y) < 4 * max_lag + 10:
        raise ValueError(f"suggest_lags: u and y must be records of the same length, at least "
                         f"{4 * max_lag + 10} steps (got {len(u)} and {len(y)})")
    index = {(ny, nu): lipschitz_index(u, y, ny, nu, seed=seed)
             for ny in range(0, max_lag + 1) for nu in range(1, max_lag + 1)}
    best = min(index.values())
    fits = [k for k, v in index.items() if v <= (1 + tolerance) * best]
    # Fewest lags in all; at a tie, output lags first (a fed-back output summarises the
    # whole past that input lags only approximate).
    n_y, n_u = min(fits, key=lambda k: (k[0] + k[1], -k[0]))
    return {"feedback_delays": f"1:{n_y}" if n_y else None, "input_delays": f"1:{n_u}",
            "n_y": n_y, "n_u": n_u, "index": index}
