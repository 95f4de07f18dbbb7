"""Fitness values and their charges: the one module of the search that talks to the proxy
registry (handed to it, never imported), the runner and the results store.

Every fitness value is a stored proxy score, read through :func:`benchmark.runner.mean_scores` with
the shared results store (one seed, ``ctx.seed``): a search reads what ``score`` and ``run`` stored,
and what it computes is there for them. Each value comes with the proxy's
:meth:`~nb201.api.Proxy.charge` (what the proxy stands for; :mod:`benchmark.search.cost` adds
them up). The proxies shipped with the suite charge:

- table proxies that declare ``charge_epochs`` (``nb201-12ep-valid``: 12,
  ``nb201-200ep-valid``: 200): that share of NB201's recorded 200-epoch training time of the
  arch (``train_time_200_s``);
- training proxies (``c8r4s8e6@2``): the stored seconds of the arch's run of the schedule,
  read after epoch ``at`` of ``recipe.epochs``;
- learned proxies: the features' measured seconds per arch, plus their labels' cost once per run
  (:meth:`~nb201.api.Proxy.setup`), paid with the first prediction read;
- every other proxy: its measured seconds, as stored (device: ``device`` of :meth:`Fitness.identity`
  for what this process computes; stored rows keep the seconds of the device that computed them).

Proxies defined by ranks within the scored set (az-nas, vote) rank within each batch a strategy
asks for. Table proxies (a lookup or a formula per arch) are read for all 15,625 archs on first
use: one pass through the store instead of one per query. :func:`warnings` names the levels that
read what a search should not select on (test-set accuracy, or the truth itself).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from nb201 import groundtruth as gt
from nb201.api import Charge, Proxy
from nb201.context import Context
from nb201.devices import device_name
from nb201.registry import Registry
from nb201.store import Key, Store

from ..executors import Executor
from ..runner import Request, mean_scores, reading
from .ladder import Ladder


def resolve(ladder: Ladder, registry: Registry[Proxy]) -> list[Proxy]:
    """The proxies of a ladder's levels in ``registry`` (a UserError names an unknown one)."""
    return [registry.get(name) for name in ladder.names()]


def warnings(proxies: list[Proxy], truth: str) -> list[str]:
    """One line per level that reads NB201's test-set accuracy or ``truth`` itself (a table
    column, ``metric`` of ``proxies/table.py``'s TableMetric): allowed, but such a search selects
    on what it is judged by, so its numbers do not measure a search."""
    out = []
    for proxy in proxies:
        metric = getattr(proxy, "metric", None) or getattr(proxy, "label", None)  # table, learned
        if not isinstance(metric, str):
            continue
        if metric == truth:
            out.append(f"fitness {proxy.name!r} reads {metric}, the truth the answer is judged by")
        elif metric.startswith("test"):
            out.append(f"fitness {proxy.name!r} reads test-set accuracy ({metric}): the search "
                       f"selects on the test set")
    return out


class Fitness:
    """Scores and charges of a ladder's proxies on NB201 indices, cached for the process."""

    def __init__(self, proxies: list[Proxy], ctx: Context, store: Store, progress: bool = False,
                 executor: Executor | None = None):
        """``executor`` computes the scores the store lacks (default: in this process)."""
        self.proxies, self.ctx, self.store, self.progress = proxies, ctx, store, progress
        self.executor = executor
        self._cache: dict[tuple[int, int], tuple[float, Charge]] = {}
        self._setups: dict[int, tuple[str, float]] = {}

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.proxies]

    @property
    def depth(self) -> int:
        return len(self.proxies)

    @property
    def higher_is_better(self) -> list[bool]:
        return [p.higher_is_better for p in self.proxies]

    def evaluate(self, level: int, indices: list[int]) -> tuple[np.ndarray, list[Charge]]:
        proxy = self.proxies[level]
        missing = [i for i in dict.fromkeys(indices) if (level, i) not in self._cache]
        if missing and proxy.lookup:
            missing = [i for i in range(gt.NUM_ARCHS) if (level, i) not in self._cache]
        if missing:
            request = Request(proxy, self.ctx.dataset, missing, (self.ctx.seed,))
            progress = self.progress and len(missing) >= 64
            scores, seconds = mean_scores(request, self.ctx, self.store, progress=progress,
                                          executor=self.executor)
            if level not in self._setups:         # a learned level's labels: once per process
                self._setups[level] = proxy.setup(
                    reading(self.ctx, self.store, progress, self.executor)) or ("", 0.0)
            setup = self._setups[level]
            for i, s, t in zip(missing, scores, seconds):
                charge = proxy.charge(i, float(t), self.ctx.dataset)
                self._cache[(level, i)] = (float(s), replace(charge, setup=setup[0],
                                                             setup_s=setup[1]))
        values = [self._cache[(level, i)] for i in indices]
        return np.array([v[0] for v in values]), [v[1] for v in values]

    def identity(self) -> list[dict]:
        """What each level reads and how it is charged (part of a stored search's identity):
        ``setting`` is the digest of everything that makes its scores (the proxy's fingerprint:
        version, data content, options; :class:`nb201.store.Key`)."""
        return [{"proxy": p.name, "store_name": p.store_name, "version": p.version,
                 "source": p.data_source(self.ctx), "setting": Key.of(p, self.ctx).setting,
                 "seed": self.ctx.seed, "charge": p.charge_basis()}
                for p in self.proxies]

    def device(self) -> str:
        return device_name(self.ctx.device)
