"""``dg.train``: one training run (:func:`.train.train`), or restarts on Dask
(:func:`.restarts.train_restarts`) when ``restarts=`` is given."""
from __future__ import annotations

from . import restarts as _restarts
from . import train as _train

__all__ = ["train"]


def train(net, inputs, targets, *args, restarts=None, cluster=None, **kwargs):
    if restarts is None:
        if cluster is not None:
            raise ValueError("train: cluster= is for restarts=N")
        return _train.train(net, inputs, targets, *args, **kwargs)
    if args:
        raise TypeError("train: with restarts=, give method and epochs by keyword")
    _restarts.check_local_options(cluster, kwargs)
    seed = kwargs.pop("seed", None)
    return _restarts.train_restarts(net, inputs, targets, restarts, seed=seed,
                                    cluster=cluster, **kwargs)


train.__doc__ = (_train.train.__doc__ or "") + """
Restarts
--------
restarts : N runs, run k being exactly ``train(..., seed=seed + k)`` (seed default 0), in
           parallel on Dask; returns a :class:`~dyngraph.training.restarts.RestartsResult`
           (``runs`` in seed order, ``net`` the run with the lowest validation loss — or
           training loss without validation data —, ``ensemble(k)``)
cluster : None (an embedded LocalCluster, one process per core), "sequential" (this
          process), a scheduler address "tcp://host:8786" or a ``distributed.Client``
"""
