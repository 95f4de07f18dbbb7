"""The suite as a Python library: one :class:`Benchmark` per dataset and results store.

    from benchmark.api import Benchmark

    bench = Benchmark("cifar10", results="results/results.sqlite")
    bench.info(123)                       # index, arch string, unique form, params, FLOPs, truth
    archs = bench.sample(100, seed=0)     # NB201 indices (the CLI's --sample N --seed S)
    bench.truth(archs)                    # numpy array of test_200 (or truth="valid_200", ...)
    scores = bench.scores("synflow", archs)           # computed once, then read from the store
    bench.compare("synflow", archs)       # the score command's JSON object: tau, rho, CIs, ...
    bench.search("rea", "nb201-12ep-valid", budget=12000, runs=10)

Everything goes through the same functions as the command line (``benchmark.library``), so a
score computed here is in the store for ``python -m benchmark score`` and ``report``, and the other
way round. Proxies of your own register with :func:`register` (or ``nb201.api.REGISTRY`` in a file
named by ``--plugins`` / ``$NB201_PLUGINS``). Bad input raises :class:`nb201.errors.UserError`.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import DEFAULT_RESULTS, DEFAULT_TRUTH, check_seed, dataset_spec
from nb201.context import Context
from nb201.errors import UserError
from nb201.options import RunOptions
from nb201.store import Store

from . import library
from .runner import Request, mean_scores

__all__ = ["Benchmark", "register", "proxies"]


def _registry():
    from proxies import REGISTRY
    return REGISTRY


def register(proxy: Proxy) -> Proxy:
    """Add ``proxy`` to the suite's registry (scored like a shipped proxy from then on)."""
    return _registry().register(proxy)


def proxies() -> list[dict]:
    """Every registered proxy: name, kind, direction, version, what its cost counts."""
    return [p.describe() for p in _registry()]


class Benchmark:
    """NB201 on one dataset, with a results store. ``options``: :class:`nb201.options.RunOptions`
    fields (device, data_dir, fuse, amp, zc_batch, full_curve), checked as the CLI checks them."""

    def __init__(self, dataset: str = "cifar10", results=DEFAULT_RESULTS, **options):
        dataset_spec(dataset)
        fields = {f.name for f in dataclasses.fields(RunOptions)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise UserError(f"unknown option {unknown[0]!r}; options: {', '.join(sorted(fields))}")
        self.dataset = dataset
        self.options = RunOptions(**options)
        self.options.check(where=repr)
        self.store = Store(results)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Benchmark:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- the space and its truth

    def info(self, arch) -> dict:
        """An arch (NB201 index or arch string): the ``info`` command's object."""
        return library.arch_info(arch, self.dataset)

    def index(self, arch) -> int:
        """The NB201 index of an arch string (or index)."""
        return gt.resolve(str(arch))

    def sample(self, n: int, seed: int = 0) -> list[int]:
        """``n`` distinct indices drawn with ``seed`` (smaller samples are prefixes of larger)."""
        return gt.sample(n, check_seed(seed))

    def truth(self, indices, truth: str = DEFAULT_TRUTH) -> np.ndarray:
        """The table's ``truth`` (test_200, valid_200, test_12, valid_12, ...) of ``indices``."""
        return gt.vector(self.dataset, truth)[list(self._indices(indices))]

    # ---------------------------------------------------------------- scoring

    def proxy(self, name: str) -> Proxy:
        return _registry().get(name)

    def scores(self, proxy: str, indices, seeds=(0,), progress: bool = True) -> np.ndarray:
        """The proxy's scores of ``indices`` (mean over ``seeds``), computing what the store
        lacks."""
        request = self._request(proxy, indices, seeds)
        return mean_scores(request, self._context(seeds[0]), self.store, progress)[0]

    def compare(self, proxy: str, indices, seeds=(0,), truth: str = DEFAULT_TRUTH,
                progress: bool = True) -> dict:
        """Score and compare with the truth: Kendall tau, Spearman, Pearson, top-10% retrieval,
        bootstrap CIs, every arch's row (the ``score`` command's object)."""
        request = self._request(proxy, indices, seeds, truth)
        return library.score(request, self._context(seeds[0]), self.store, progress)

    # ---------------------------------------------------------------- search

    def search(self, strategy: str, fitness: str, budget: float | None = None,
               queries: int | None = None, runs: int = 1, seed: int = 0,
               truth: str = DEFAULT_TRUTH, proxy_seed: int = 0, lookup: tuple[str, ...] = (),
               progress: bool = True, **options) -> dict:
        """Run (or read back) a search with ``fitness`` (a proxy, a ladder or a preset): the
        ``search`` command's object. ``options``: the strategy options (population, ...)."""
        from .search.loop import Limits
        from .search.service import SearchSpec, check, lookup_datasets, search
        from .search.strategy import Options
        spec = SearchSpec(strategy, fitness, self.dataset, Limits(budget, queries), runs, seed,
                          truth, Options(**options), proxy_seed)
        checked = check(spec, _registry())
        lookup = lookup_datasets(",".join(lookup)) if lookup else ()
        found = search(checked, self._context(proxy_seed), self.store, progress)
        return library.search_result(checked, found, lookup)

    # ---------------------------------------------------------------- helpers

    def _indices(self, indices) -> list[int]:
        return [self.index(i) if isinstance(i, str) else int(i) for i in indices]

    def _request(self, proxy: str, indices, seeds, truth: str = DEFAULT_TRUTH) -> Request:
        request = Request(self.proxy(proxy), self.dataset,
                          list(dict.fromkeys(self._indices(indices))),
                          tuple(check_seed(s) for s in seeds), truth)
        request.check()
        return request

    def _context(self, seed: int) -> Context:
        return Context.of(self.dataset, seed, self.options)
