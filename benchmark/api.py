"""The suite as a Python library: one :class:`Benchmark` per dataset and results store.

    from benchmark.api import Benchmark

    bench = Benchmark("cifar10", results="results/results.sqlite")
    bench.info(123)                       # index, arch string, unique form, params, FLOPs, truth
    archs = bench.sample(100, seed=0)     # NB201 indices (the CLI's --sample N --seed S)
    bench.truth(archs)                    # numpy array of test_200 (or truth="valid_200", ...)
    scores = bench.scores("synflow", archs)           # computed once, then read from the store
    bench.compare("synflow", archs)       # the score command's JSON object: tau, rho, CIs, ...
    bench.search("rea", "nb201-12ep-valid", budget=12000, runs=10)
    bench.find("params,flops,synflow", budget=600)   # the proxy finder: the ``find`` object
    bench.learn("graph,params", train=50)            # a learned proxy: the ``learn`` object
    bench.report("results")                          # tables, figures, HTML from the store

Everything goes through the same functions as the command line (``benchmark.command_results``), so a
score computed here is in the store for ``python -m benchmark score`` and ``report``, and the other
way round. Proxies of your own register with :func:`register` (or ``nb201.api.REGISTRY`` in a file
named by ``--plugins`` / ``$NB201_PLUGINS``). Every argument is checked by the rules the command
line checks it by (the same functions): bad input raises :class:`nb201.errors.UserError` (a
``ValueError``) with a one-line message, before anything is computed or written. Archs are NB201
indices (integers) or arch strings, in a list, or one comma-separated string as ``--archs`` takes
them.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import (DEFAULT_DATASET, DEFAULT_RESULTS, DEFAULT_TRUTH, SELECTION_TRUTH,
                           check_seed, check_seeds, dataset_spec)
from nb201.context import Context
from nb201.errors import UserError
from nb201.lists import comma_list
from nb201.options import RunOptions
from nb201.store import Store

from . import command_results
from .find import DEFAULT_N0, DEFAULT_OBJECTIVE, DEFAULT_POOL
from .runner import Request, mean_scores

__all__ = ["Benchmark", "register", "proxies"]


def _registry():
    from proxies import REGISTRY
    return REGISTRY


def register(proxy: Proxy) -> Proxy:
    """Add ``proxy`` to the suite's registry (scored like a shipped proxy from then on)."""
    if not isinstance(proxy, Proxy):
        raise UserError(f"register() takes a proxy (an nb201.api.Proxy), got {proxy!r}")
    try:
        return _registry().register(proxy)
    except ValueError as err:          # a name already registered
        raise UserError(str(err)) from None


def _known(given: dict, fields: list[str], what: str) -> None:
    """A UserError naming the first of ``given``'s keys that is not one of ``fields``."""
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise UserError(f"unknown {what} {unknown[0]!r}; {what}s: {', '.join(sorted(fields))}")


def proxies() -> list[dict]:
    """Every registered proxy: name, kind, direction, version, what its cost counts."""
    return [p.describe() for p in _registry()]


class Benchmark:
    """NB201 on one dataset, with a results store. ``options``: :class:`nb201.options.RunOptions`
    fields (device, data_dir, fuse, amp, zc_batch, full_curve), checked as the CLI checks them."""

    def __init__(self, dataset: str = DEFAULT_DATASET, results=DEFAULT_RESULTS, **options):
        dataset_spec(dataset)
        _known(options, [f.name for f in dataclasses.fields(RunOptions)], "option")
        self.dataset = dataset
        self.options = RunOptions(**options)
        self.options.check(where=repr)
        self._context(0).check_data()    # device, amp, zc_batch, a data dir given
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
        return command_results.arch_info(self.index(arch), self.dataset)

    def index(self, arch) -> int:
        """The NB201 index of an arch string (or index)."""
        return gt.resolve_archs([arch], "arch")[0]

    def sample(self, n: int, seed: int = 0) -> list[int]:
        """``n`` distinct indices drawn with ``seed`` (smaller samples are prefixes of larger)."""
        return gt.sample(n, check_seed(seed), what="n")

    def truth(self, indices, truth: str = DEFAULT_TRUTH) -> np.ndarray:
        """The table's ``truth`` (test_200, valid_200, test_12, valid_12, ...) of ``indices``."""
        return gt.vector(self.dataset, truth)[gt.resolve_archs(indices, "indices")]

    # ---------------------------------------------------------------- scoring

    def proxy(self, name: str) -> Proxy:
        if not isinstance(name, str):
            raise UserError(f"proxy must be a proxy's name, got {name!r}")
        return _registry().get(name)

    def scores(self, proxy: str, indices, seeds=(0,), progress: bool = True) -> np.ndarray:
        """The proxy's scores of ``indices`` (mean over ``seeds``), computing what the store
        lacks."""
        request = self._request(proxy, indices, seeds)
        return mean_scores(request, self._context(request.seeds[0]), self.store, progress)[0]

    def compare(self, proxy: str, indices, seeds=(0,), truth: str = DEFAULT_TRUTH,
                progress: bool = True) -> dict:
        """Score and compare with the truth: Kendall tau, Spearman, Pearson, top-10% retrieval,
        bootstrap CIs, every arch's row (the ``score`` command's object)."""
        request = self._request(proxy, indices, seeds, truth)
        return command_results.score(request, self._context(request.seeds[0]), self.store, progress)

    # ---------------------------------------------------------------- search

    def search(self, strategy: str, fitness: str, budget: float | None = None,
               queries: int | None = None, runs: int = 1, seed: int = 0,
               truth: str = DEFAULT_TRUTH, proxy_seed: int = 0, lookup: tuple[str, ...] = (),
               progress: bool = True, **options) -> dict:
        """Run (or read back) a search with ``fitness`` (a proxy, a ladder or a preset): the
        ``search`` command's object. ``options``: the strategy options (population, ...)."""
        from .search.loop import Limits
        from .search.run import SearchSpec, check, lookup_datasets, search
        from .search.strategy import Options
        _known(options, [f.name for f in dataclasses.fields(Options)], "strategy option")
        spec = SearchSpec(strategy, fitness, self.dataset, Limits(budget, queries), runs, seed,
                          truth, Options(**options), proxy_seed)
        checked = check(spec, _registry())
        lookup = lookup_datasets(lookup or None)
        ctx = self._context(proxy_seed)
        ctx.check_data(checked.proxies)
        found = search(checked, ctx, self.store, progress)
        return command_results.search_result(checked, found, lookup)

    # ---------------------------------------------------------------- finder, learned, report

    def find(self, space: str, budget: float, seed: int = 0, truth: str = SELECTION_TRUTH,
             objective: str = DEFAULT_OBJECTIVE, pool: int = DEFAULT_POOL, n0: int = DEFAULT_N0,
             proxy_seed: int = 0, progress: bool = True) -> dict:
        """Race the candidates of ``space`` (the ``find --space`` SPEC) within ``budget`` seconds
        of charged compute: the ``find`` command's object."""
        from .find.driver import FindSpec, find
        from .find.race import Rule
        if not isinstance(space, str):
            raise UserError(f"space must be a string of candidates (as --space), got {space!r}")
        if isinstance(budget, int) and not isinstance(budget, bool):
            budget = float(budget)          # as --budget reads it (part of the stored digest)
        registry = _registry()
        spec = FindSpec(space, self.dataset, seed, budget, truth, objective, pool,
                        proxy_seed=proxy_seed, rule=Rule(n0=n0))
        candidates = spec.check(registry)
        ctx = self._context(proxy_seed)
        ctx.check_data([registry.get(name) for name in candidates])
        self.store.check_writable()
        return find(spec, registry, ctx, self.store, progress=progress)

    def learn(self, features, train: int, label: str = SELECTION_TRUTH, model: str | None = None,
              test: int | str | None = 1000, repeats: int = 1, versus: str | None = None,
              seed: int = 0, progress: bool = True) -> dict:
        """Fit a learned proxy on ``train`` labelled archs and judge it on ``test`` others (an
        integer, or "all"): the ``learn`` command's object. ``features``: a list or a comma
        string (as ``--features``)."""
        from .learn import learn
        features = (comma_list(features, "features", "feature sets") if isinstance(features, str)
                    else list(features) if isinstance(features, (list, tuple)) else features)
        if not isinstance(features, list) or not features or \
                not all(isinstance(f, str) for f in features):
            raise UserError(f"features must be feature names (a list or a comma string), got "
                            f"{features!r}")
        for name, value in (("train", train), ("repeats", repeats), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{name} must be an integer, got {value!r}")
        if test == "all":
            test = None
        elif test is not None and (isinstance(test, bool) or not isinstance(test, int)):
            raise UserError(f"test must be a number of archs or \"all\", got {test!r}")
        ctx = self._context(seed)
        return learn(features, train, self.dataset, seed, _registry(), self.store.path, ctx,
                     label=label, model=model, test=test, repeats=repeats, versus=versus,
                     progress=progress)

    def report(self, out="results", experiment: str | None = None) -> dict:
        """Write the report of the store (with ``experiment``: only that experiment's rows) into
        ``out``: the written files by name ("html", "md", "json", tables, figures)."""
        from analysis.report import check_out_dir, write_report

        from .experiments.spec import load_experiment
        registry = _registry()
        spec = None
        if experiment is not None:
            exp = load_experiment(experiment, registry)
            spec = command_results.experiment_report(exp, store=self.store, registry=registry)
        check_out_dir(out)
        return write_report(registry, self.store, out, spec)

    # ---------------------------------------------------------------- helpers

    def _request(self, proxy: str, indices, seeds, truth: str = DEFAULT_TRUTH) -> Request:
        request = Request(self.proxy(proxy), self.dataset,
                          list(dict.fromkeys(gt.resolve_archs(indices, "indices"))),
                          check_seeds(seeds), truth)
        request.check()
        self._context(request.seeds[0]).check_data([request.proxy])
        return request

    def _context(self, seed: int) -> Context:
        return Context.of(self.dataset, seed, self.options)
