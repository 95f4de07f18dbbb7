"""Rank-agreement metrics between a proxy's scores and the ground truth.

Pure functions over two 1-D score vectors of equal length. Everywhere in this module
"higher is better": call `orient` first for proxies where lower is better.

NaN/inf policy (the only one in the suite, `nb201.ranking.orient`): every non-finite
score (NaN, +inf, -inf) becomes one finite value below every finite score, so these archs
rank last and tie among themselves; `summarize` reports how many there were as "nan_scores".
The correlation functions below expect finite inputs (run `orient` first).

Tie rule for the top-k sets (`retrieval`, `precision_at_k`): archs are ordered by
score, descending, ties kept in index order (stable sort), and the first m are taken.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from nb201.errors import UserError
from nb201.numbers import json_number
from nb201.ranking import orient, vector as _vector

Metric = Callable[[np.ndarray, np.ndarray], float]


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    a, b = _vector(x, "scores"), _vector(y, "truth")
    if a.shape != b.shape:
        raise UserError(f"scores and truth differ in length: {a.size} vs {b.size}")
    return a, b


def _rank(v: np.ndarray) -> np.ndarray:
    """Average ranks from 1 (as scipy.stats.rankdata, several times faster on 15k values)."""
    order = np.argsort(v)
    sv = v[order]
    first = np.flatnonzero(np.r_[True, sv[1:] != sv[:-1]])  # start of each run of ties
    end = np.append(first[1:], v.size)
    ranks = np.empty(v.size)
    ranks[order] = np.repeat((first + end + 1) / 2, end - first)
    return ranks


def _degenerate(a: np.ndarray, b: np.ndarray) -> bool:
    """True where a correlation is undefined: fewer than 2 values or a constant vector."""
    return a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0


def kendall_tau(x, y) -> float:
    """Kendall tau-b (ties handled), as scipy.stats.kendalltau; NaN if undefined."""
    a, b = _pair(x, y)
    if _degenerate(a, b):
        return float("nan")
    return float(stats.kendalltau(a, b, variant="b").statistic)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    # sums of products rather than `@`: multi-threaded BLAS dot products slow bootstrap
    # loops down many times over on a busy machine with few cores (measured on 2 cores)
    a, b = a - a.mean(), b - b.mean()
    r = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    return float(np.clip(r, -1.0, 1.0))


def spearman(x, y) -> float:
    """Spearman rank correlation (Pearson of average ranks, as scipy.stats.spearmanr)."""
    a, b = _pair(x, y)
    if _degenerate(a, b):
        return float("nan")
    return _corr(_rank(a), _rank(b))


def pearson(x, y) -> float:
    """Pearson linear correlation (as scipy.stats.pearsonr); NaN if undefined."""
    a, b = _pair(x, y)
    if _degenerate(a, b):
        return float("nan")
    return _corr(a, b)


def _top_mask(v: np.ndarray, m: int) -> np.ndarray:
    """Mask of the m best values under the module tie rule, in O(n) (no full sort)."""
    cut = np.partition(v, v.size - m)[v.size - m]  # the m-th largest value
    mask = v > cut
    mask[np.flatnonzero(v == cut)[: m - int(mask.sum())]] = True
    return mask


def _order(v: np.ndarray) -> np.ndarray:
    """Indices from best to worst: descending, ties in index order (module tie rule)."""
    return np.argsort(-v, kind="stable")


def _n_top(n: int, k: float) -> int:
    if not 0 < k <= 1:
        raise UserError(f"k must be a fraction in (0, 1], got {k}")
    return max(1, round(k * n))


def retrieval(scores, truth, k: float = 0.10) -> float:
    """Share of the true top-k fraction that is also in the proxy's top-k fraction.

    Both sets have n_top = max(1, round(k * n)) archs (Python's round: halves go to the
    even integer), chosen by the module tie rule (descending, ties in index order).
    NaN for an empty input.
    """
    a, b = _pair(scores, truth)
    if a.size == 0:
        return float("nan")
    m = _n_top(a.size, k)
    return float((_top_mask(a, m) & _top_mask(b, m)).sum()) / m


def precision_at_k(scores, truth, K: int) -> float:
    """Share of the proxy's top-K archs that are in the true top-K (module tie rule)."""
    a, b = _pair(scores, truth)
    if not 1 <= K <= a.size:
        raise UserError(f"K must be between 1 and the number of archs ({a.size}), got {K}")
    return float((_top_mask(a, K) & _top_mask(b, K)).sum()) / K


def retrieval_curve(scores, truth, ks: Sequence[float]) -> list[float]:
    """`retrieval` for each fraction in ks (sorting each vector once)."""
    a, b = _pair(scores, truth)
    if a.size == 0:
        return [float("nan")] * len(ks)
    order_a, order_b = _order(a), _order(b)
    out = []
    for k in ks:
        m = _n_top(a.size, k)
        in_a = np.zeros(a.size, dtype=bool)
        in_a[order_a[:m]] = True
        out.append(float(in_a[order_b[:m]].sum()) / m)
    return out


def bootstrap_ci(fn: Metric, scores, truth, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of fn(scores, truth), resampling (score, truth) pairs.

    The same seed draws the same resamples, so metrics bootstrapped with one seed share
    them. Resamples where fn is NaN (e.g. a constant resample) are dropped; (nan, nan)
    if none is left. One fn call per resample: Kendall tau via scipy is O(n log n).
    """
    a, b = _pair(scores, truth)
    if a.size == 0 or n_boot < 1:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    values = np.array([fn(a[i], b[i]) for i in idx], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def summarize(scores, truth, higher_is_better: bool = True, k: float = 0.10,
              n_boot: int = 1000, seed: int = 0) -> dict:
    """All metrics of one proxy against the truth, as a JSON-serialisable dict.

    Applies `orient` to scores; truth must be finite (higher is better). Keys: n,
    kendall_tau, spearman, pearson, retrieval_top10 (named so by the CLI contract even
    for another k, then "retrieval_k": k is added), ci (metric -> [lo, hi]) and
    nan_scores. With n < 3 or constant scores or truth every metric and bound is None.
    """
    s, n_bad = orient(scores, higher_is_better)
    s, t = _pair(s, truth)
    if not np.all(np.isfinite(t)):
        raise UserError("truth contains NaN or inf values")
    metrics: dict[str, Metric] = {
        "kendall_tau": kendall_tau,
        "spearman": spearman,
        "pearson": pearson,
        "retrieval_top10": functools.partial(retrieval, k=k),
    }
    _n_top(s.size, k)  # validate k even when the input is degenerate
    defined = s.size >= 3 and not _degenerate(s, t)
    out: dict = {"n": int(s.size)}
    ci: dict = {}
    for name, fn in metrics.items():
        value = fn(s, t) if defined else float("nan")
        bounds = bootstrap_ci(fn, s, t, n_boot, seed=seed) if defined else (float("nan"),) * 2
        out[name] = json_number(value)
        ci[name] = [json_number(bounds[0]), json_number(bounds[1])]
    out["ci"] = ci
    out["nan_scores"] = n_bad
    if k != 0.10:
        out["retrieval_k"] = k
    return out


def paired_difference(fn: Metric, scores_a, scores_b, truth, n_boot: int = 1000,
                      alpha: float = 0.05, seed: int = 0) -> dict:
    """Paired percentile bootstrap of fn(a, truth) - fn(b, truth) on the same archs.

    Each resample draws archs (with replacement) once and computes both proxies' metric on it, so
    the arch-to-arch variation both proxies share cancels: the interval is much narrower than the
    difference of two unpaired intervals. Scores are expected oriented and finite (`orient`).
    Returns {"difference", "ci": [lo, hi], "a_better": share of resamples where a > b,
    "significant": the interval excludes 0}; every number None where fn is undefined.
    """
    a, t = _pair(scores_a, truth)
    b, _ = _pair(scores_b, truth)
    diff = fn(a, t) - fn(b, t) if a.size >= 3 else float("nan")
    lo = hi = share = float("nan")
    if np.isfinite(diff) and n_boot >= 1:
        idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
        values = np.array([fn(a[i], t[i]) - fn(b[i], t[i]) for i in idx], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
            share = float(np.mean(values > 0))
    return {"difference": json_number(diff), "ci": [json_number(lo), json_number(hi)],
            "a_better": json_number(share),
            "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0))}


def pareto_front(cost, quality) -> np.ndarray:
    """Mask of the points no other point beats on both axes (lower cost, higher quality): sorted
    by cost, then quality descending (a stable sort: exact ties go to the first index), each point
    that is better than every cheaper one. A NaN quality is never on the front."""
    cost, quality = np.asarray(cost, float), np.asarray(quality, float)
    order = np.lexsort((-quality, cost))
    mask = np.zeros(cost.size, dtype=bool)
    best = -np.inf
    for i in order:
        if quality[i] > best:
            mask[i] = True
            best = quality[i]
    return mask
