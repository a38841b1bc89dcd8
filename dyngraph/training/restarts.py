"""Restarts on Dask: N trainings from seeds S, S+1, …, run in parallel, every run kept.

Restart k is exactly ``train(net, ..., seed=S + k)``: each worker rebuilds the net from its
spec text and block values (no pickled objects of ours cross the wire, only text, numpy
arrays and plain data), trains with that seed and sends back the trained blocks and the
record. So the runs are bit-identical to sequential ones whatever the number of workers,
and come back in seed order.

The run handed back as ``result.net`` is chosen by validation loss when there is validation
data (``val=`` or ``divide=``), otherwise by training loss — never by test data.
``result.ensemble(k)`` averages the best k runs (k fixed by the caller, not tuned on
validation).

Where they run: ``cluster=None`` — an embedded ``distributed.LocalCluster`` (one process
per core, one thread each, started on first use and reused until the interpreter exits);
``cluster="sequential"`` — in this process; an address ``"tcp://host:8786"`` or a
``distributed.Client`` — that cluster, unchanged.
"""
from __future__ import annotations

import atexit
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from ..language.loader import loads_spec
from ..language.writer import spec_to_yaml
from .train import TrainResult, train

__all__ = ["RestartsResult", "Ensemble", "train_restarts", "local_client", "forked_cluster",
           "run_jobs",
           "make_job", "gather", "restart_seeds", "check_local_options"]

_LOCAL = {"client": None}
_LOCK = threading.Lock()


def forked_cluster(n_workers: int):
    """A ``distributed.LocalCluster`` of ``n_workers`` forked processes, one thread each, no
    dashboard port.

    Forked workers need no ``if __name__ == "__main__":`` guard in the user's script
    (spawned ones would re-run it). But a fork copies the parent's locks as they are: a
    worker forked while a thread of the parent was writing a log line (Dask's event loop
    says a dozen things at INFO while the cluster starts) hangs for good on that stream's
    lock at its own first line — seen in a CI run, both workers waiting on it. So Dask's
    INFO lines are off while the workers are forked, and in the workers for their life;
    the parent's logger level is put back afterwards.
    """
    import logging

    import dask
    from distributed import LocalCluster
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    try:
        with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
            return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                dashboard_address=":0")
    finally:
        log.setLevel(level)


def local_client():
    """The embedded LocalCluster's client (started once, closed at exit)."""
    with _LOCK:
        if _LOCAL["client"] is None:
            from distributed import Client
            _LOCAL["client"] = Client(forked_cluster(os.cpu_count() or 1))
            atexit.register(_close_local)
        return _LOCAL["client"]


def _close_local():
    client = _LOCAL.pop("client", None)
    if client is not None:
        cluster = client.cluster
        client.close()
        cluster.close()


def _client(cluster):
    if cluster is None or cluster == "local":
        return local_client()
    if isinstance(cluster, str):
        from distributed import Client
        return Client(cluster)
    return cluster


def _rebuild(cls, spec_text, values, meta):
    net = cls(loads_spec(spec_text), seed=0)
    for name, value in values.items():
        net._values[name] = np.array(value, dtype=float)
    net.meta = dict(meta)
    return net


def _one_run(cls, spec_text, values, meta, inputs, targets, seed, options):
    """A worker's job: rebuild, train with ``seed``, return plain data."""
    net = _rebuild(cls, spec_text, values, meta)
    r = train(net, inputs, targets, seed=seed, **options)
    return {"values": {k: np.asarray(v) for k, v in r.net._values.items()},
            "meta": r.net.meta, "params": r.params, "history": r.history,
            "stop_reason": r.stop_reason, "best_epoch": r.best_epoch, "method": r.method,
            "effective_params": r.effective_params, "divide": r.divide, "seed": seed}


@dataclass
class Ensemble:
    """The average of several trained nets: ``simulate`` returns the mean output."""

    members: list

    def simulate(self, inputs=None, **kwargs):
        outs = [m.simulate(inputs, **kwargs) for m in self.members]
        if isinstance(outs[0], dict):
            return {k: np.mean([o[k] for o in outs], axis=0) for k in outs[0]}
        return np.mean(outs, axis=0)

    def forecast(self, *args, **kwargs):
        outs = [m.forecast(*args, **kwargs) for m in self.members]
        if isinstance(outs[0], dict):
            return {k: np.mean([o[k] for o in outs], axis=0) for k in outs[0]}
        return np.mean(outs, axis=0)


@dataclass
class RestartsResult:
    """Every run (``runs``, TrainResults in seed order) and the chosen one (``best``,
    ``net``); other attributes (``loss``, ``history``, ``stop_reason`` …) are the chosen
    run's."""

    runs: list
    chosen: int
    criterion: str
    seeds: List[int] = field(default_factory=list)

    @property
    def best(self):
        return self.runs[self.chosen]

    @property
    def net(self):
        return self.best.net

    def __getattr__(self, name):
        if name.startswith("_") or name in ("runs", "chosen", "criterion", "seeds"):
            raise AttributeError(name)
        return getattr(self.runs[self.chosen], name)

    def ranking(self) -> List[int]:
        """Run indices, best first, by the selection criterion."""
        key = (lambda r: r.val_loss) if self.criterion == "val_loss" else (lambda r: r.loss)
        return sorted(range(len(self.runs)),
                      key=lambda i: (not math.isfinite(key(self.runs[i])), key(self.runs[i])))

    def ensemble(self, k: int) -> Ensemble:
        """The best ``k`` runs averaged (choose k in advance, not on validation data)."""
        if int(k) != k or not 1 <= k <= len(self.runs):
            raise ValueError(f"ensemble: k must be 1..{len(self.runs)}, got {k!r}")
        return Ensemble([self.runs[i].net for i in self.ranking()[:int(k)]])

    def __repr__(self):
        return (f"RestartsResult({len(self.runs)} runs, seeds {self.seeds[0]}.."
                f"{self.seeds[-1]}, chosen seed {self.seeds[self.chosen]} by "
                f"{self.criterion}: {self.best!r})")


def train_restarts(net, inputs, targets, restarts: int, seed: int = 0, cluster=None,
                   on_run: Optional[Callable] = None, **options) -> RestartsResult:
    """``restarts`` runs of ``train(net, inputs, targets, seed=seed + k, **options)``.

    Parameters
    ----------
    cluster : None (embedded LocalCluster), "sequential", an address or a Client
    on_run : called with (k, TrainResult) as each run finishes (in finishing order)

    Returns
    -------
    RestartsResult
    """
    seeds = restart_seeds(restarts, seed)
    job = make_job(net, inputs, targets)
    done = None
    if on_run is not None:
        def done(k, packed):
            on_run(k, _unpack(job[0], job[1], packed))
    packed = run_jobs([(job, s, options) for s in seeds], cluster, on_done=done)
    return gather(job, packed, seeds)


# ------------------------------------------------------- shared with the sweep (sweep.py)
def restart_seeds(restarts, seed) -> List[int]:
    """The seeds S, S+1, ..., S+N-1 of N restarts (S = 0 when ``seed`` is None)."""
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"train: restarts must be an integer >= 1, got {restarts!r}")
    seed = 0 if seed is None else int(seed)
    return [seed + k for k in range(int(restarts))]


def make_job(net, inputs, targets) -> tuple:
    """What a worker needs to rebuild ``net`` and train it: its class, spec text, block
    values (numpy arrays), meta (plain data) and the records."""
    return (type(net), spec_to_yaml(net.spec),
            {k: np.asarray(v) for k, v in net._values.items()}, dict(net.meta),
            inputs, targets)


def run_jobs(runs, cluster=None, on_done: Optional[Callable] = None,
             on_error: Optional[Callable] = None) -> list:
    """Run every ``(job, seed, options)`` of ``runs``; all are submitted at once.

    Returns the workers' plain-data results in the order of ``runs``. ``on_done(j, packed)``
    is called as run j finishes (in finishing order; in order when sequential).
    ``on_error(j, err)`` may raise a clearer error for a failed run j (the other runs are
    cancelled first); without it the run's own error is raised.
    """
    packed = [None] * len(runs)
    if cluster == "sequential":
        for j, (job, s, options) in enumerate(runs):
            try:
                packed[j] = _one_run(*job, s, options)
            except Exception as err:
                if on_error is not None:
                    on_error(j, err)
                raise
            if on_done is not None:
                on_done(j, packed[j])
        return packed
    from distributed import as_completed
    client = _client(cluster)
    futures = {client.submit(_one_run, *job, s, options, pure=False): j
               for j, (job, s, options) in enumerate(runs)}
    for future in as_completed(futures):
        j = futures[future]
        try:
            packed[j] = future.result()
        except Exception as err:
            client.cancel(list(futures))
            if on_error is not None:
                on_error(j, err)
            raise
        if on_done is not None:
            on_done(j, packed[j])
    return packed


def gather(job, packed, seeds) -> RestartsResult:
    """The RestartsResult of one net's runs (``packed`` from :func:`run_jobs`, in seed
    order): chosen by validation loss when any run has one, else by training loss."""
    runs = [_unpack(job[0], job[1], p) for p in packed]
    has_val = any(math.isfinite(r.val_loss) for r in runs)
    result = RestartsResult(runs, 0, "val_loss" if has_val else "loss", list(seeds))
    result.chosen = result.ranking()[0]
    return result


def check_local_options(cluster, options, func="train") -> None:
    """callback= and verbose= run in this process: refuse them on a cluster."""
    if cluster != "sequential" and (options.get("callback") or options.get("verbose")):
        raise ValueError(f"{func}: callback and verbose run in this process; with restarts "
                         f"on a cluster use cluster='sequential' (one progress line per run "
                         f"is printed by the CLI)")


def _unpack(cls, spec_text, p):
    net = _rebuild(cls, spec_text, p["values"], p["meta"])
    return TrainResult(net=net, params=p["params"], history=p["history"],
                       stop_reason=p["stop_reason"], best_epoch=p["best_epoch"],
                       method=p["method"], effective_params=p["effective_params"],
                       divide=p["divide"],
                       initial=({k: np.asarray(v, dtype=float)
                                 for k, v in net.meta["initial"].items()}
                                if net.meta.get("initial") else None))
