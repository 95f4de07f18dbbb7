"""Learned proxies: a model fitted on K labelled archs, from cheap features, judged on other archs.

A learned proxy is defined by
- **features**: ``graph`` (:mod:`nb201.encoding`: zero-compute cell features) and/or registered
  proxies, whose scores are read through the runner and the store like every score (cached;
  missing values, e.g. ``naslib:*`` on archs NASLib did not score, stay NaN for the model);
- a **label**: NB201's ``valid_200`` (default) or ``valid_12``, or a training proxy's score;
- a **model**: ``gbm`` (LightGBM, NaN-aware) or ``ridge`` (scikit-learn: median imputation with
  missing-value indicators, standardisation, ridge with its penalty chosen by cross-validation);
- a **training set**: K archs drawn with the seed (``--repeats R``: R draws, seeds (seed, r)).
It is judged on archs disjoint from its training set, against a truth that is never its label:
``test_200`` (a label of ``valid_200`` is NB201's validation accuracy of other training runs; the
output says so). ``label_cost_s`` is what the K labels cost: NB201's recorded training time of
each arch (200 or 12 epochs of it) for table labels, the stored seconds for a training proxy's;
``feature_cost_s`` is the features' measured seconds per arch.
"""
from __future__ import annotations

import numpy as np

from analysis.metrics import summarize
from nb201 import encoding
from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import check_seed, dataset_spec
from nb201.context import Context
from nb201.errors import UserError
from nb201.registry import Registry
from nb201.store import Store

from .runner import Request, mean_scores

#: table labels: NB201 metric -> epochs of NB201 training behind one label
TABLE_LABELS = {"valid_200": 200, "valid_12": 12}
JUDGED_BY = "test_200"
MODELS = ("gbm", "ridge")
GRAPH = "graph"


def parse_features(given: list[str], registry: Registry[Proxy], dataset: str) -> list[str]:
    """The feature names (``--features`` split at commas), checked: known, distinct, usable on
    ``dataset``."""
    text = ",".join(given)
    names = [t.strip() for t in given if t.strip()]
    if not names:
        raise UserError(f"--features lists no features: {text!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--features names a feature twice: {text!r}")
    for name in names:
        if name != GRAPH:
            registry.get(name).check(dataset)
    return names


def check_label(label: str, registry: Registry[Proxy], dataset: str) -> Proxy | None:
    """None for a table label, else the training proxy whose score is the label."""
    if label in TABLE_LABELS:
        return None
    try:
        proxy = registry.get(label)
    except UserError:
        proxy = None
    if proxy is None or proxy.kind != "training":
        raise UserError(f"--label must be a score a model can learn: {', '.join(TABLE_LABELS)} or "
                        f"a training proxy (e.g. c4r4s0e40@20), got {label!r}")
    proxy.check(dataset)
    return proxy


def draws(train: int, test: int | None, seed: int, repeats: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per repeat: (training archs, test archs), disjoint, drawn with (seed, repeat)."""
    out = []
    for r in range(repeats):
        order = np.random.default_rng([seed, r]).permutation(gt.NUM_ARCHS)
        rest = order[train:]
        out.append((np.sort(order[:train]), np.sort(rest if test is None else rest[:test])))
    return out


def check_sizes(train: int, test: int | None, repeats: int) -> None:
    if train < 1:
        raise UserError(f"--train must be at least 1 arch, got {train}")
    if test is not None and test < 3:
        raise UserError(f"--test must be at least 3 archs (or all), got {test}")
    if train + (test or 1) > gt.NUM_ARCHS:
        raise UserError(f"--train {train} and --test {test or 'all'} do not fit in NB201's "
                        f"{gt.NUM_ARCHS:,} archs (the test archs are disjoint from the training ones)")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")


def make_model(kind: str, seed: int):
    if kind == "gbm":
        import lightgbm
        return lightgbm.LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=15,
                                      min_child_samples=5, subsample=0.8, subsample_freq=1,
                                      colsample_bytree=0.8, random_state=seed, n_jobs=1,
                                      verbose=-1)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                       keep_empty_features=True),
                         StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))


def learn(features: list[str], train: int, dataset: str, seed: int, registry: Registry[Proxy],
          results, ctx: Context, label: str = "valid_200", model: str = "gbm",
          test: int | None = 1000, repeats: int = 1, progress: bool = True) -> dict:
    """Fit and judge a learned proxy (see the module docstring): the ``learn`` command's object.
    Every input is checked before the results store at ``results`` is opened."""
    dataset_spec(dataset)
    check_seed(seed, "--seed")
    check_sizes(train, test, repeats)
    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    features = parse_features(features, registry, dataset)
    label_proxy = check_label(label, registry, dataset)
    store = Store(results)
    splits = draws(train, test, seed, repeats)
    every = np.unique(np.concatenate([np.concatenate(s) for s in splits]))
    x, cost_per_arch = _features(features, every, registry, store, ctx, progress)
    position = {int(i): k for k, i in enumerate(every)}
    truth = gt.vector(dataset, JUDGED_BY)
    runs = []
    for r, (train_idx, test_idx) in enumerate(splits):
        y, label_cost = _labels(label, label_proxy, train_idx, dataset, store, ctx, progress)
        keep = np.isfinite(y)
        fitted = make_model(model, seed + r).fit(x[[position[int(i)] for i in train_idx[keep]]],
                                                 y[keep])
        predicted = fitted.predict(x[[position[int(i)] for i in test_idx]])
        summary = summarize(predicted, truth[test_idx], seed=seed + r)
        runs.append({**summary, "label_cost_s": label_cost, "labelled": int(keep.sum())})
    first = runs[0]
    mean = {m: _mean(r[m] for r in runs) for m in ("kendall_tau", "spearman", "retrieval_top10")}
    out = {"features": features, "label": label, "judged_by": JUDGED_BY, "model": model,
           "dataset": dataset, "seed": seed, "train": train, "test_n": first["n"], **mean,
           "ci": {m: first["ci"][m] for m in mean},
           "label_cost_s": _mean(r["label_cost_s"] for r in runs),
           "feature_cost_s": cost_per_arch,
           "note": (f"trained on {label} of {train} archs, judged on {first['n']} other archs "
                    f"against {JUDGED_BY} (never the label); ci: bootstrap over the test archs of "
                    "the first draw")}
    if repeats > 1:
        out["repeats"] = [{m: r[m] for m in (*mean, "label_cost_s")} for r in runs]
    return out


def _features(names, indices, registry, store, ctx, progress) -> tuple[np.ndarray, float]:
    """The feature matrix of ``indices`` and the features' measured seconds per arch."""
    columns, seconds = [], 0.0
    for name in names:
        if name == GRAPH:
            columns.append(encoding.table()[indices])
            continue
        proxy = registry.get(name)
        request = Request(proxy, ctx.dataset, [int(i) for i in indices], (ctx.seed,))
        scores, spent = mean_scores(request, ctx, store, progress)
        columns.append(np.where(np.isfinite(scores), scores, np.nan)[:, None])
        seconds += float(np.mean(spent))
    return np.hstack(columns), seconds


def _labels(label, proxy, indices, dataset, store, ctx, progress) -> tuple[np.ndarray, float]:
    """The labels of ``indices`` and what they cost (seconds)."""
    if proxy is None:
        recorded = gt.vector(dataset, "train_time_200_s")[indices]
        cost = float(np.nansum(recorded) * TABLE_LABELS[label] / 200)
        return gt.vector(dataset, label)[indices].astype(np.float64), cost
    request = Request(proxy, dataset, [int(i) for i in indices], (ctx.seed,))
    scores, spent = mean_scores(request, ctx, store, progress)
    return np.asarray(scores, dtype=np.float64), float(np.sum(spent))


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None
