"""Sweeps: training over a grid of model configurations, every run on Dask at once.

``sweep(builder, grid, inputs, targets, restarts=R, seed=S)`` runs the product of ``grid``
— lists of values for the builder's arguments (``hidden``, ``input_delays``, ...) and for
training options (``method``, ``epochs``, ``mu``, ...) — and trains every cell with ``R``
restarts. A cell is exactly::

    train(builder(**its builder arguments), inputs, targets, restarts=R, seed=S,
          **train_kwargs, **its training options)

bit for bit, whatever runs it: the nets are built in this process and only their spec
text, block values (numpy arrays) and plain data go to the workers, through the restarts'
own runner (:func:`.restarts.run_jobs`), which submits the runs of every cell at once so no
worker waits for a cell to finish.

Why here, in ``training``, and not in ``model`` beside the presets: a sweep needs nothing of
the presets but a callable that makes a net from keyword arguments. It takes that callable
— ``dg.narx`` or any function of the user's — reads its argument names from its signature,
and never imports ``Net`` (nets are rebuilt on workers with their own class, as restarts
do). The command line maps preset names to the preset functions (``dyngraph sweep narx``).

Selection never looks at test data. Each cell's restarts choose their run as restarts do;
cells are then ranked by validation loss when there is validation data (``val=`` or
``divide=``) and by training loss otherwise — the best run's (``select="val"``) or the
median over the cell's restarts (``select="median"``, less swayed by one lucky seed).
"""
from __future__ import annotations

import inspect
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from . import train as _train
from .restarts import check_local_options, gather, make_job, restart_seeds, run_jobs

__all__ = ["sweep", "SweepResult", "Table", "expand_grid", "grid_keys", "build_cell", "TRAIN_KEYS", "SELECT"]

#: train's keyword arguments that a grid may vary (besides the method options).
TRAIN_KEYS = ("method", "epochs", "loss", "max_fail", "goal", "min_grad", "normalize", "init",
              "time_limit", "backend", "windows")
_OPTION_KEYS = tuple(sorted({k for opts in _train._OPTIONS.values() for k in opts}))
#: Keys a grid may not vary, and why.
_FIXED = {
    "seed": "restart k of every cell starts from seed + k; give seed= to the sweep "
            "(--seed)",
    "val": "every cell is judged on the same validation data; give val= to the sweep (--val)",
    "divide": "every cell is judged on the same validation blocks; give divide= to the sweep "
              "(--divide)",
    "weights": "give weights= to the sweep", "initial": "give initial= to the sweep",
    "restarts": "give restarts= to the sweep", "cluster": "give cluster= to the sweep",
    "callback": "not a grid value", "verbose": "not a grid value",
}
#: How cells are ranked: by the best restart's loss or by the median over the restarts.
SELECT = ("val", "median")


# --------------------------------------------------------------------------- the grid
def _builder_params(builder):
    """(names of the builder's keyword arguments, whether it takes **kwargs)."""
    try:
        params = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):            # no signature to read: accept any name
        return (), True
    names = tuple(p.name for p in params
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def grid_keys(builder) -> str:
    """The keys a grid over ``builder`` may hold, as text for messages."""
    names, any_name = _builder_params(builder)
    valid = ", ".join(n for n in names if n not in _FIXED) or "(none)"
    return (f"builder arguments {valid}{' (or any name)' if any_name else ''}; training "
            f"options {', '.join(TRAIN_KEYS + _OPTION_KEYS)}")


def _values(key, values):
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise ValueError(f"sweep: grid[{key!r}] must be a list of values, got {values!r} "
                         f"(one value: [{values!r}])")
    values = list(values)
    if not values:
        raise ValueError(f"sweep: grid[{key!r}] is an empty list; give at least one value")
    return values


def expand_grid(builder, grid, train_kwargs=None) -> List[tuple]:
    """The cells of ``grid`` in order (the last key varies fastest), each
    ``(builder_args, train_args)``; every key is checked first.

    Raises
    ------
    ValueError
        an empty grid or list, a key that is neither an argument of ``builder`` nor a
        training option (the message names the valid keys), a key that cannot be swept,
        or a key also given as a fixed training keyword
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"sweep: the grid must be a non-empty dict of lists, e.g. "
                         f"{{'hidden': [[5], [10]]}}; got {grid!r}")
    names, any_name = _builder_params(builder)
    train_keys = TRAIN_KEYS + _OPTION_KEYS
    fixed = dict(train_kwargs or {})
    where = {}
    for key in grid:
        if not isinstance(key, str):
            raise ValueError(f"sweep: grid keys are argument names, got {key!r}")
        if key in _FIXED:
            raise ValueError(f"sweep: '{key}' cannot be a grid key: {_FIXED[key]}")
        if key in fixed:
            raise ValueError(f"sweep: '{key}' is both a grid key and a fixed keyword argument")
        in_builder, in_train = key in names, key in train_keys
        if in_builder and in_train:
            raise ValueError(f"sweep: '{key}' is both an argument of the builder and a "
                             f"training option; rename the builder's argument")
        if in_train or in_builder or any_name:
            where[key] = "train" if in_train else "builder"
            continue
        raise ValueError(f"sweep: unknown grid key '{key}'; valid keys: {grid_keys(builder)}")
    values = [_values(key, grid[key]) for key in grid]
    cells = []
    for combo in itertools.product(*values):
        b, t = {}, {}
        for key, value in zip(grid, combo):
            (t if where[key] == "train" else b)[key] = value
        cells.append((b, t))
    return cells


def build_cell(builder, i, builder_args, config):
    """``builder(**builder_args)`` for cell ``i``; a failure is a ValueError naming the cell
    (its number and grid values ``config``)."""
    try:
        net = builder(**builder_args)
    except Exception as err:
        raise ValueError(f"sweep: cell {i} ({_label(config)}): {err}") from err
    if not (hasattr(net, "spec") and hasattr(net, "_values")):
        raise ValueError(f"sweep: cell {i} ({_label(config)}): the builder returned "
                         f"{type(net).__name__}, not a net")
    return net


def _check_train_kwargs(train_kwargs):
    known = set(inspect.signature(_train.train).parameters) | set(_OPTION_KEYS)
    unknown = sorted(set(train_kwargs) - known
                     | set(train_kwargs) & {"net", "inputs", "targets", "seed"})
    if unknown:
        raise TypeError(f"sweep: unexpected keyword argument(s) {', '.join(unknown)}")


def _label(config) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


# --------------------------------------------------------------------------- the table
def _show(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return value if isinstance(value, str) else repr(value)


class Table:
    """The sweep table without pandas: rows (dicts) in ranking order, printed aligned.

    ``table[i]`` is row i (a dict), ``table["n_params"]`` a column (a list); iterating gives
    the rows.
    """

    def __init__(self, columns, rows):
        self.columns = list(columns)
        self.rows = [dict(r) for r in rows]

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, item):
        if isinstance(item, str):
            if item not in self.columns:
                raise KeyError(item)
            return [r[item] for r in self.rows]
        return self.rows[item]

    def __str__(self):
        cells = [self.columns] + [[_show(r[c]) for c in self.columns] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip()
                         for row in cells)

    __repr__ = __str__


def _make_table(columns, rows):
    """A pandas DataFrame indexed by cell when pandas is installed, else a :class:`Table`."""
    try:
        import pandas as pd
    except ImportError:
        return Table(columns, rows)
    frame = pd.DataFrame(rows, columns=columns)
    return frame.set_index("cell")


# --------------------------------------------------------------------------- the result
@dataclass
class SweepResult:
    """What :func:`sweep` returns.

    Attributes
    ----------
    table : one row per cell, best first — the grid values, ``n_params``, the best and the
            median validation loss over the cell's restarts (``best_val``, ``median_val``;
            ``best_loss``, ``median_loss`` — training loss — without validation data), the
            chosen run's ``train_loss``, ``epochs`` and ``stop`` reason, and ``time_s`` (the
            seconds of training summed over the cell's restarts). A pandas DataFrame indexed
            by cell number when pandas is installed, else a :class:`Table`.
    cells : every cell's RestartsResult, in grid order
    configs : every cell's grid values (a dict), in grid order
    chosen : the index of the best cell; ``best`` its RestartsResult, ``best_net`` its net,
             ``best_config`` its grid values
    criterion : 'val_loss' or 'loss'; select : 'val' or 'median'
    seeds : the restart seeds of every cell; wall_time : seconds for the whole sweep
    """

    table: object
    cells: list
    configs: List[Dict[str, object]]
    chosen: int
    criterion: str
    select: str
    seeds: List[int] = field(default_factory=list)
    wall_time: float = float("nan")

    @property
    def best(self):
        return self.cells[self.chosen]

    @property
    def best_net(self):
        return self.best.net

    @property
    def best_config(self) -> Dict[str, object]:
        return dict(self.configs[self.chosen])

    def __str__(self):
        by = "validation" if self.criterion == "val_loss" else "training"
        how = "best run's" if self.select == "val" else "median"
        return (f"sweep of {len(self.cells)} cells x {len(self.seeds)} restarts (seeds "
                f"{self.seeds[0]}..{self.seeds[-1]}), ranked by the {how} {by} loss; chosen "
                f"cell {self.chosen}: {_label(self.configs[self.chosen])}\n{self.table_text()}")

    def table_text(self) -> str:
        """The whole table as text (a DataFrame's every column, not pandas' screenful)."""
        to_string = getattr(self.table, "to_string", None)
        return (to_string(float_format=_show) if callable(to_string) else str(self.table))

    __repr__ = __str__


def _cell_scores(result, criterion):
    values = np.array([getattr(r, criterion) for r in result.runs], dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan
    return float(finite.min()), float(np.median(finite))


def _result(cells, configs, n_params, criterion, select, seeds, wall):
    short = "val" if criterion == "val_loss" else "loss"
    rows = []
    for i, (res, config) in enumerate(zip(cells, configs)):
        best, median = _cell_scores(res, criterion)
        chosen = res.best
        rows.append({"cell": i, **config, "n_params": n_params[i], f"best_{short}": best,
                     f"median_{short}": median, "train_loss": chosen.loss,
                     "epochs": int(chosen.history["epoch"][-1]), "stop": chosen.stop_reason,
                     "time_s": float(sum(r.history["time"][-1] for r in res.runs))})
    key = f"best_{short}" if select == "val" else f"median_{short}"
    rows.sort(key=lambda r: (not math.isfinite(r[key]), r[key], r["cell"]))
    columns = ["cell", *configs[0], "n_params", f"best_{short}", f"median_{short}",
               "train_loss", "epochs", "stop", "time_s"]
    return SweepResult(_make_table(columns, rows), cells, configs, rows[0]["cell"],
                       criterion, select, seeds, wall)


# --------------------------------------------------------------------------- the entry point
def sweep(builder: Callable, grid: Mapping[str, list], inputs, targets, *, restarts: int = 1,
          seed: int = 0, cluster=None, select: str = "val",
          on_cell: Optional[Callable] = None, **train_kwargs) -> SweepResult:
    """Train every configuration of ``grid`` with ``restarts`` seeds; rank the cells.

    Parameters
    ----------
    builder : callable
        Makes a net from keyword arguments: a preset (``dg.narx``, ``dg.layrec``, ...) or
        any function returning a net; called in this process, once per cell.
    grid : dict name -> list of values
        Builder arguments (``{"input_delays": ["1:2", "1:5"], "hidden": [[5], [10]]}``)
        and training options (``method``, ``epochs``, ``loss``, ``normalize``, ``init``,
        ``max_fail``, ``goal``, ``min_grad``, ``time_limit``, ``backend`` and the method
        options ``mu``, ``lr``, ``clip``, ...). The cells are the product, the last key
        varying fastest. A value fixed for every cell is a one-element list. ``seed``,
        ``val`` and ``divide`` are arguments of the sweep, not of the grid.
    inputs, targets : the training record, as for :func:`~dyngraph.train`
    restarts : runs per cell; run k of every cell is ``train(..., seed=seed + k)``
    seed : the first restart's seed
    cluster : None (the embedded LocalCluster, one process per core), "sequential" (this
        process), a scheduler address ``"tcp://host:8786"`` or a ``distributed.Client``;
        every run of every cell is submitted at once
    select : 'val' — rank cells by their best run's loss —, or 'median' — by the median
        over their restarts. The loss is the validation loss when there is validation
        data (``val=`` or ``divide=``), else the training loss; never the test loss.
    on_cell : called as ``on_cell(i, config, restarts_result)`` as each cell finishes
    **train_kwargs : given to every run: ``val``, ``divide``, ``epochs``, ``method``, ...

    Returns
    -------
    SweepResult
        ``.table`` (one row per cell, best first), ``.best`` (the chosen cell's
        RestartsResult), ``.best_net``, ``.cells`` (every cell's, in grid order).

    Raises
    ------
    ValueError
        a bad grid (see :func:`expand_grid`); a builder failing on a cell, or a run
        failing, with the cell's number and values in the message

    Examples
    --------
    >>> import numpy as np, dyngraph as dg
    >>> u = np.random.default_rng(0).uniform(-1, 1, 300)
    >>> y = np.tanh(np.convolve(u, [0.0, 0.6, 0.3])[:300])
    >>> s = dg.sweep(dg.narx, {"input_delays": ["1:1", "1:2"], "hidden": [[2], [4]]}, u, y,
    ...              restarts=2, cluster="sequential", epochs=5, divide=(0.8, 0.2))
    >>> len(s.cells), s.criterion, s.best.criterion
    (4, 'val_loss', 'val_loss')
    >>> sorted(s.best_config)
    ['hidden', 'input_delays']
    >>> s.best_net.n_params == s.best.net.n_params
    True
    """
    if select not in SELECT:
        extra = " (test data never selects)" if select == "test" else ""
        raise ValueError(f"sweep: select must be one of {', '.join(SELECT)}, got "
                         f"{select!r}{extra}")
    _check_train_kwargs(train_kwargs)
    check_local_options(cluster, train_kwargs, "sweep")
    seeds = restart_seeds(restarts, seed)
    cells = expand_grid(builder, grid, train_kwargs)
    configs = [{k: (b[k] if k in b else t[k]) for k in grid} for b, t in cells]
    start = time.perf_counter()
    jobs, n_params = [], []
    for i, (b, _) in enumerate(cells):
        net = build_cell(builder, i, b, configs[i])
        jobs.append(make_job(net, inputs, targets))
        n_params.append(int(net.n_params))
    R = len(seeds)
    runs = [(jobs[i], s, {**train_kwargs, **t}) for i, (_, t) in enumerate(cells)
            for s in seeds]
    packed = [None] * len(runs)
    results: List[object] = [None] * len(cells)
    left = [R] * len(cells)

    def done(j, p):
        i = j // R
        packed[j] = p
        left[i] -= 1
        if left[i] == 0:
            results[i] = gather(jobs[i], packed[i * R:(i + 1) * R], seeds)
            if on_cell is not None:
                on_cell(i, dict(configs[i]), results[i])

    def failed(j, err):
        i = j // R
        kind = TypeError if isinstance(err, TypeError) else ValueError
        raise kind(f"sweep: cell {i} ({_label(configs[i])}), seed {seeds[j % R]}: "
                   f"{err}") from err

    run_jobs(runs, cluster, on_done=done, on_error=failed)
    wall = time.perf_counter() - start
    has_val = any(math.isfinite(r.val_loss) for res in results for r in res.runs)
    return _result(results, configs, n_params, "val_loss" if has_val else "loss", select,
                   seeds, wall)
