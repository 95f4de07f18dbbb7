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

import numpy as np

from analysis.metrics import kendall_tau, paired_difference, summarize
from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import MAX_SEED, check_seed, dataset_spec
from nb201.context import Context
from nb201.errors import UserError
from nb201.ranking import orient
from nb201.registry import Registry
from nb201.store import Store

from .runner import Request, mean_scores, reading

JUDGED_BY = "test_200"


def proxy_name(features: list[str], train: int, label: str, model: str) -> str:
    """The learned proxy's registry name for the command's options (``--features`` split)."""
    names = [t.strip() for t in features]
    if not any(names):
        raise UserError(f"--features lists no features: {','.join(features)!r}")
    if any(not n or "+" in n for n in names):
        raise UserError(f"--features: empty or malformed name in {','.join(features)!r}")
    tag = "" if label == "valid_200" else f"label={label}:"
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
    order = np.random.default_rng([seed, 1]).permutation(gt.NUM_ARCHS)
    rest = order[~np.isin(order, train_set)]
    return sorted(int(i) for i in (rest if test is None else rest[:test]))


def learn(features: list[str], train: int, dataset: str, seed: int, registry: Registry[Proxy],
          results, ctx: Context, label: str = "valid_200", model: str = "gbm",
          test: int | None = 1000, repeats: int = 1, versus: str | None = None,
          progress: bool = True) -> dict:
    """Fit and judge a learned proxy (see the module docstring): the ``learn`` command's object.
    Every input is checked before the results store at ``results`` is opened."""
    from proxies.learned.base import MODELS, training_set
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
    return out


def versus_result(name: str, scores, request: Request, ctx: Context, store: Store,
                  progress: bool = True) -> dict:
    """Paired bootstrap of Kendall tau(``scores``) - tau(``request.proxy``'s scores) on
    ``request.indices`` against ``request``'s truth (the ``--versus`` object of score and learn)."""
    theirs, _ = mean_scores(request, ctx, store, progress)
    a, _ = orient(np.asarray(scores, dtype=float), True)
    b, _ = orient(theirs, request.proxy.higher_is_better)
    diff = paired_difference(kendall_tau, a, b, request.truth_values(), seed=ctx.seed)
    return {"a": name, "b": request.proxy.name, "metric": "kendall_tau", "truth": request.truth,
            **diff, "note": "paired bootstrap over the same archs: tau(a) - tau(b), 95% interval"}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None
