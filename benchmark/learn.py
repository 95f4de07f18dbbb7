"""The ``learn`` command: fit a learned proxy (:mod:`proxies.learned`) on K labelled archs and judge
it on archs disjoint from its training set, against a truth that is never its label (``test_200``;
a label of ``valid_200`` is NB201's validation accuracy of other training runs; the output says so).

The proxy's predictions are read through the runner and the store like every score (its features
too), so a rerun computes nothing. ``--repeats R`` draws R training sets (proxy seeds S, S+1, ...);
the test archs of every draw are the first N archs of one order drawn with S that are not in that
draw's training set, so the draws are judged on (almost) the same archs. ``label_cost_s`` is the
proxy's one-off :meth:`~proxies.learned.base.LearnedProxy.setup` (what the K labels cost);
``feature_cost_s`` the features' measured seconds per test arch. ``--versus PROXY`` adds a paired
bootstrap of the Kendall tau difference against PROXY on the same test archs (first draw).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.metrics import kendall_tau, paired_difference, retrieval, summarize
from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import MAX_SEED, SELECTION_TRUTH, check_seed, dataset_spec, derive_rng
from nb201.context import Context
from nb201.errors import UserError
from nb201.numbers import json_number
from nb201.ranking import orient
from nb201.registry import Registry
from nb201.store import Store

from proxies.learned.base import JUDGED_BY, MODELS, training_set

from .experiments.section import Section
from .runner import Request, mean_scores, reading

#: the model of ``learn`` and ``[[learn]]`` tables that name none
DEFAULT_MODEL = "gbm"


def proxy_name(features: list[str], train: int, label: str, model: str) -> str:
    """The learned proxy's registry name for the command's options (``--features`` split)."""
    names = [t.strip() for t in features]
    if not any(names):
        raise UserError(f"--features lists no features: {','.join(features)!r}")
    if any(not n or "+" in n for n in names):
        raise UserError(f"--features: empty or malformed name in {','.join(features)!r}")
    tag = "" if label == SELECTION_TRUTH else f"label={label}:"
    return f"learned:{model}:{train}:{tag}{'+'.join(names)}"


def check_sizes(train: int, test: int | None, repeats: int, seed: int) -> None:
    if train < 1:
        raise UserError(f"--train must be at least 1 arch, got {train}")
    if test is not None and test < 3:
        raise UserError(f"--test must be at least 3 archs (or all), got {test}")
    if train + (test or 1) > gt.NUM_ARCHS:
        raise UserError(f"--train {train} and --test {test or 'all'} do not fit in NB201's "
                        f"{gt.NUM_ARCHS:,} archs (the test archs are disjoint from the training ones)")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    if seed + repeats - 1 > MAX_SEED:
        raise UserError(f"--seed {seed} with --repeats {repeats} runs past the largest seed {MAX_SEED}")


def judged_archs(train_set: np.ndarray, test: int | None, seed: int) -> list[int]:
    """The first ``test`` archs (all: None) of the order drawn with ``seed`` that are not in
    ``train_set``, sorted."""
    order = derive_rng(seed, 1).permutation(gt.NUM_ARCHS)
    rest = order[~np.isin(order, train_set)]
    return sorted(int(i) for i in (rest if test is None else rest[:test]))


def learn(features: list[str], train: int, dataset: str, seed: int, registry: Registry[Proxy],
          results, ctx: Context, label: str = SELECTION_TRUTH, model: str | None = None,
          test: int | None = 1000, repeats: int = 1, versus: str | None = None,
          progress: bool = True) -> dict:
    """Fit and judge a learned proxy (see the module docstring): the ``learn`` command's object.
    Every input is checked before the results store at ``results`` is opened. ``model``: a name
    in :data:`proxies.learned.base.MODELS` (None: :data:`DEFAULT_MODEL`)."""
    model = model or DEFAULT_MODEL
    dataset_spec(dataset)
    check_seed(seed, "--seed")
    check_sizes(train, test, repeats, seed)
    MODELS.get(model)
    proxy = registry.get(proxy_name(features, train, label, model))
    proxy.check(dataset)
    other = registry.get(versus) if versus else None
    if other is not None:
        other.check(dataset)
    store = Store(results)
    truth = gt.vector(dataset, JUDGED_BY)
    runs = []
    for r in range(repeats):
        at = reading(ctx.with_seed(seed + r), store, progress)
        indices = judged_archs(training_set(train, seed + r), test, seed)
        scores, seconds = mean_scores(Request(proxy, dataset, indices, (seed + r,)), at, store,
                                      progress)
        summary = summarize(scores, truth[indices], seed=seed + r)
        runs.append({**summary, "label_cost_s": proxy.setup(at)[1],
                     "feature_cost_s": float(np.mean(seconds)), "indices": indices,
                     "scores": scores})
    first = runs[0]
    mean = {m: _mean(r[m] for r in runs) for m in ("kendall_tau", "spearman", "retrieval_top10")}
    out = {"proxy": proxy.name, "features": list(proxy.features), "label": label,
           "judged_by": JUDGED_BY, "model": model, "dataset": dataset, "seed": seed,
           "train": train, "test_n": first["n"], **mean,
           "ci": {m: first["ci"][m] for m in mean},
           "label_cost_s": _mean(r["label_cost_s"] for r in runs),
           "feature_cost_s": _mean(r["feature_cost_s"] for r in runs),
           "note": (f"trained on {label} of {train} archs, judged on {first['n']} other archs "
                    f"against {JUDGED_BY} (never the label); ci: bootstrap over the test archs of "
                    "the first draw")}
    if repeats > 1:
        out["repeats"] = [{m: r[m] for m in (*mean, "label_cost_s")} for r in runs]
    if other is not None:
        request = Request(other, dataset, first["indices"], (seed,), JUDGED_BY)
        out["versus"] = versus_result(proxy.name, first["scores"], request,
                                      reading(ctx.with_seed(seed), store, progress), store, progress)
    out["store"] = store.tally.as_dict()
    return out


def versus_result(name: str, scores, request: Request, ctx: Context, store: Store,
                  progress: bool = True) -> dict:
    """Paired bootstrap of Kendall tau(``scores``) - tau(``request.proxy``'s scores) on
    ``request.indices`` against ``request``'s truth (the ``--versus`` object of score and learn)."""
    theirs, _ = mean_scores(request, ctx, store, progress)
    a, _ = orient(np.asarray(scores, dtype=float), True)
    b, _ = orient(theirs, request.proxy.higher_is_better)
    truth = request.truth_values()
    diff = paired_difference(kendall_tau, a, b, truth, seed=ctx.seed)
    return {"a": name, "b": request.proxy.name, "metric": "kendall_tau", "truth": request.truth,
            "n": len(truth), "a_tau": json_number(kendall_tau(a, truth)),
            "b_tau": json_number(kendall_tau(b, truth)),
            **diff, "note": "paired bootstrap over the same archs: tau(a) - tau(b), 95% interval"}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# ------------------------------------------------------------------ learning curves ([[learn]])

LEARN_KEYS = ("name", "datasets", "features", "train", "draws", "test", "model", "label", "single")


@dataclass(frozen=True)
class CurveEntry:
    """One ``[[learn]]`` table of an experiment file: learned proxies of each feature set (comma
    lists) fitted on ``train`` labelled archs (each K), ``draws`` training-set draws (proxy seeds
    0..draws-1; the K of one draw are nested), judged on ``test`` archs common to every row (the
    first of an order drawn with the experiment's seed that are in no training set of the table),
    beside the best of the ``single`` proxies on the same archs."""

    name: str
    datasets: tuple[str, ...]
    features: tuple[str, ...]
    train: tuple[int, ...]
    draws: int
    test: int
    model: str
    label: str
    single: tuple[str, ...]
    seed: int = 0

    def proxy(self, features: str, train: int) -> str:
        return proxy_name(features.split(","), train, self.label, self.model)

    def inputs(self, registry: Registry[Proxy]) -> list[tuple[Proxy, list[int]]]:
        """What the table's learned proxies and single proxies read, at seed 0: the single proxies
        on the judged archs, each feature proxy (and a training proxy's label) on the judged archs
        and every draw's training set (what an experiment's plan computes first)."""
        judged = self.judged()
        trained = np.unique(np.concatenate([training_set(max(self.train), d)
                                            for d in range(self.draws)])).tolist()
        out = {name: judged for name in self.single}
        for features in self.features:
            learned = registry.get(self.proxy(features, max(self.train)))
            for proxy in learned.inputs:
                if proxy is not None:
                    out[proxy.name] = sorted(set(out.get(proxy.name, [])) | set(judged)
                                             | set(trained))
            if learned.labeller is not None:
                name = learned.labeller.name
                out[name] = sorted(set(out.get(name, [])) | set(trained))
        return [(registry.get(name), indices) for name, indices in out.items()]

    def judged(self) -> list[int]:
        used = np.unique(np.concatenate([training_set(max(self.train), d)
                                         for d in range(self.draws)]))
        return judged_archs(used, self.test, self.seed)


def parse_curves(tables, file: str, datasets: tuple[str, ...], seed: int,
                 registry: Registry[Proxy]) -> tuple[CurveEntry, ...]:
    """The ``[[learn]]`` tables of an experiment file, checked (one-line UserErrors)."""
    from .experiments.checker import Checker
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UserError(f"{file}: 'learn' must be an array of tables [[learn]]")
    out = []
    for n, table in enumerate(tables, start=1):
        c = Checker(f"{file}: [[learn]] #{n}", table, LEARN_KEYS)
        train = c.get("train", list, None, "a non-empty list of integers")
        if not train or not all(isinstance(k, int) and not isinstance(k, bool) for k in train):
            raise UserError(f"{c.where}: 'train' must be a non-empty list of integers, got {train!r}")
        features = c.strings("features", None)
        if features is None:
            raise UserError(f"{c.where}: 'features' is missing (a list of feature sets)")
        entry = CurveEntry(
            name=c.get("name", str, f"learn{n}", "a string"),
            datasets=c.datasets("datasets", datasets), features=features,
            train=tuple(sorted(set(train))), draws=c.get("draws", int, 5, "an integer"),
            test=c.get("test", int, 1000, "an integer"),
            model=c.get("model", str, DEFAULT_MODEL, "a string"),
            label=c.get("label", str, SELECTION_TRUTH, "a string"), single=c.strings("single", ()),
            seed=seed)
        if entry.draws < 1:
            raise UserError(f"{c.where}: 'draws' must be at least 1, got {entry.draws}")
        try:
            MODELS.get(entry.model)
            check_sizes(min(entry.train), entry.test, 1, 0)
            check_sizes(max(entry.train) * entry.draws, entry.test, 1, 0)
            for dataset in entry.datasets:
                for features in entry.features:
                    for k in entry.train:
                        registry.get(entry.proxy(features, k)).check(dataset)
                for name in entry.single:
                    registry.get(name).check(dataset)
        except UserError as err:
            raise UserError(f"{c.where}: {err}") from None
        out.append(entry)
    return tuple(out)


def curve_rows(entry: CurveEntry, contexts: dict, store: Store, registry: Registry[Proxy],
               compute: bool = True, progress: bool = True) -> list[dict]:
    """One row per (dataset, feature set, K, draw) and per single proxy: tau, top-10% retrieval,
    the label and feature costs, on the entry's judged archs. ``compute=False`` reads the store
    only (a row whose scores are not all stored is left out): what a report of stored results
    shows."""
    indices = entry.judged()
    rows = []
    for dataset in entry.datasets:
        truth = gt.vector(dataset, JUDGED_BY)[indices]
        ctx = contexts[dataset]
        singles = {}
        for name in entry.single:
            proxy = registry.get(name)
            got = _scores(proxy, indices, reading(ctx.with_seed(0), store, progress), store,
                          compute, progress)
            if got is None:
                continue
            a, _ = orient(got[0], proxy.higher_is_better)
            singles[name] = a
            rows.append({"entry": entry.name, "dataset": dataset, "kind": "single", "proxy": name,
                         "features": name, "train": 0, "draw": 0, "n": len(indices),
                         "kendall_tau": kendall_tau(a, truth),
                         "retrieval_top10": _retrieval(a, truth),
                         "label_cost_s": 0.0, "feature_cost_s": float(np.mean(got[1]))})
        best = max(singles, key=lambda n: kendall_tau(singles[n], truth), default=None)
        for features in entry.features:
            for k in entry.train:
                proxy = registry.get(entry.proxy(features, k))
                for draw in range(entry.draws):
                    at = reading(ctx.with_seed(draw), store, progress)
                    got = _scores(proxy, indices, at, store, compute, progress)
                    if got is None:
                        continue
                    a, _ = orient(got[0], True)
                    row = {"entry": entry.name, "dataset": dataset, "kind": "learned",
                           "proxy": proxy.name, "features": features, "train": k, "draw": draw,
                           "n": len(indices), "kendall_tau": kendall_tau(a, truth),
                           "retrieval_top10": _retrieval(a, truth),
                           "label_cost_s": proxy.setup(at)[1],
                           "feature_cost_s": float(np.mean(got[1]))}
                    if best is not None:
                        diff = paired_difference(kendall_tau, a, singles[best], truth, n_boot=500,
                                                 seed=draw)
                        row.update(best_single=best, versus_best=diff["difference"],
                                   versus_best_ci=diff["ci"])
                    rows.append(row)
    return rows


def _scores(proxy: Proxy, indices: list[int], ctx: Context, store: Store, compute: bool,
            progress: bool):
    if not compute:
        from nb201.store import Key, read_scores
        done = store.get(Key.of(proxy, ctx), indices)
        if len(done) < len(indices):
            return None
        return read_scores(proxy, [done], indices)
    return mean_scores(Request(proxy, ctx.dataset, indices, (ctx.seed,)), ctx, store, progress)


def _retrieval(a, truth) -> float:
    return retrieval(a, truth, 0.10)


# ------------------------------------------------------------------ the [[learn]] section

def run_curves(entries, contexts, store, registry, progress=True, executor=None) -> list[dict]:
    """Every entry's learning-curve rows, computing what the store lacks."""
    return [row for entry in entries
            for row in curve_rows(entry, contexts, store, registry, progress=progress)]


def stored_curves(exp, store, registry) -> list[dict]:
    """The learning-curve rows of ``exp`` that the store holds (nothing is computed; the contexts
    are the experiment file's options)."""
    from nb201.catalog import DATASETS
    contexts = {d: Context.of(d, 0, exp.options) for d in DATASETS}
    return [row for entry in exp.curves
            for row in curve_rows(entry, contexts, store, registry, compute=False, progress=False)]


CURVES = Section(
    "learn", lambda tables, d, registry: parse_curves(tables, d.file, d.datasets, d.seed, registry),
    keys=LEARN_KEYS, run=run_curves, done_key="learned", seconds_key="learn_seconds",
    ran=lambda seconds, plan, duration: f"; learning curves in {duration(seconds)}",
    report=lambda exp, entries, done, store, registry: {
        "learned": tuple(stored_curves(exp, store, registry) if done is None else done)})
