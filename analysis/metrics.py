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
    if a.size > NUMPY_TAU_MAX:
        from scipy import stats
        return float(stats.kendalltau(a, b, variant="b").statistic)
    return float(_tau_rows(_dense(a)[None], _dense(b)[None])[0])


def _dense(v: np.ndarray) -> np.ndarray:
    """Dense ranks 0..k-1 (equal values share one): Kendall tau reads only the order."""
    return np.unique(v, return_inverse=True)[1].astype(np.int64).reshape(-1)


#: above this many archs scipy's compiled Kendall tau is the faster (numpy's: 10x scipy's speed at
#: n=60, equal at n=1,000, 2.5x slower at 15,625, over 1,000 bootstrap resamples; scipy.stats
#: costs a second or two to import, so the suite's usual samples never load it)
NUMPY_TAU_MAX = 2048
#: elements per block of rows :func:`_tau_rows` works on at once (memory: a few arrays of this)
_TAU_BLOCK = 1 << 21


def _tau_rows(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair of two (rows, n) arrays of dense ranks, NaN where a row is
    constant; in numpy, O(n log^2 n) per row (Knight's count: sort by (a, b), count the
    inversions of b), many rows at once: a bootstrap's resamples are one call."""
    rows, n = ra.shape
    step = max(1, _TAU_BLOCK // max(n, 1))
    if rows > step:
        return np.concatenate([_tau_rows(ra[i:i + step], rb[i:i + step])
                               for i in range(0, rows, step)])
    k = int(max(ra.max(), rb.max())) + 2
    order = np.argsort(ra * k + rb, axis=1, kind="stable")
    a, b = np.take_along_axis(ra, order, 1), np.take_along_axis(rb, order, 1)
    first = np.ones((rows, 1), dtype=bool)
    new_a = np.hstack([first, a[:, 1:] != a[:, :-1]])
    new_ab = new_a | np.hstack([first, b[:, 1:] != b[:, :-1]])
    sb = np.sort(rb, axis=1)
    new_b = np.hstack([first, sb[:, 1:] != sb[:, :-1]])
    n0 = n * (n - 1) // 2
    n1, n2, n3 = _tied_pairs(new_a), _tied_pairs(new_b), _tied_pairs(new_ab)
    num = (n0 - n1 - n2 + n3 - 2 * _inversions(b, k)).astype(np.float64)
    den = np.sqrt((n0 - n1).astype(np.float64) * (n0 - n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(tau, -1.0, 1.0)


def _tied_pairs(new: np.ndarray) -> np.ndarray:
    """Pairs of equal values per row of a sorted array, given where each run of ties starts."""
    pos = np.arange(new.shape[1])
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    return (pos - start).sum(axis=1)


def _inversions(b: np.ndarray, k: int) -> np.ndarray:
    """Pairs i < j with b[i] > b[j] per row (values 0..k-2), by a bottom-up merge sort: at each
    level, each sorted right half counts the elements of its sorted left half above it (one
    ``searchsorted`` over all blocks, each block's values shifted apart)."""
    rows, n = b.shape
    m = 1 << max(0, n - 1).bit_length()
    arr = np.full((rows, m), k - 1, dtype=np.int64)      # padding: at the end, above every value
    arr[:, :n] = b
    count = np.zeros(rows, dtype=np.int64)
    w = 1
    while w < m:
        blocks = arr.reshape(-1, 2, w)
        nb = blocks.shape[0]
        shift = (np.arange(nb, dtype=np.int64) * k)[:, None]
        left = (blocks[:, 0, :] + shift).ravel()
        right = (blocks[:, 1, :] + shift).ravel()
        ends = np.repeat(np.arange(1, nb + 1, dtype=np.int64) * w, w)
        count += (ends - np.searchsorted(left, right, side="right")).reshape(rows, -1).sum(axis=1)
        arr = np.sort(arr.reshape(-1, 2 * w), axis=1).reshape(rows, m)
        w *= 2
    return count


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


def _avg_rank_rows(v: np.ndarray) -> np.ndarray:
    """:func:`_rank` of each row of ``v`` (average ranks from 1)."""
    rows, n = v.shape
    order = np.argsort(v, axis=1, kind="stable")
    sv = np.take_along_axis(v, order, 1)
    pos = np.arange(n)
    new = np.ones(v.shape, dtype=bool)
    new[:, 1:] = sv[:, 1:] != sv[:, :-1]
    last = np.ones(v.shape, dtype=bool)
    last[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((rows, n))
    np.put_along_axis(ranks, order, (start + end) / 2 + 1, axis=1)
    return ranks


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`_corr` of each row pair; NaN where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def retrieval_band(scores, truth, ks: Sequence[float], n_boot: int = 200, alpha: float = 0.05,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap band of :func:`retrieval_curve` (resampling (score, truth) pairs):
    (lower, upper) per k."""
    a, b = _pair(scores, truth)
    if a.size == 0 or n_boot < 1:
        nan = np.full(len(ks), np.nan)
        return nan, nan
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    curves = np.array([retrieval_curve(a[i], b[i], ks) for i in idx])
    lo, hi = np.quantile(curves, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi


def _resampled(fn: Metric, a: np.ndarray, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """fn on each resample ``a[i], b[i]`` (i a row of ``idx``): Kendall tau, Spearman and Pearson
    on all resamples at once, other metrics one call each."""
    if fn is kendall_tau and a.size <= NUMPY_TAU_MAX:
        return _tau_rows(_dense(a)[idx], _dense(b)[idx])
    if fn in (spearman, pearson):
        step = max(1, _TAU_BLOCK // max(a.size, 1))
        if fn is spearman:
            a, b = _dense(a), _dense(b)          # ranks of a resample follow from dense ranks
        parts = [(a[i], b[i]) for i in (idx[j:j + step] for j in range(0, len(idx), step))]
        if fn is spearman:
            parts = [(_avg_rank_rows(x), _avg_rank_rows(y)) for x, y in parts]
        return np.concatenate([_corr_rows(x.astype(np.float64), y.astype(np.float64))
                               for x, y in parts])
    return np.array([fn(a[i], b[i]) for i in idx], dtype=np.float64)


def bootstrap_ci(fn: Metric, scores, truth, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of fn(scores, truth), resampling (score, truth) pairs.

    The same seed draws the same resamples, so metrics bootstrapped with one seed share
    them. Resamples where fn is NaN (e.g. a constant resample) are dropped; (nan, nan)
    if none is left. One fn call per resample (Kendall tau: one call for all of them).
    """
    a, b = _pair(scores, truth)
    if a.size == 0 or n_boot < 1:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    values = _resampled(fn, a, b, idx)
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
        values = _resampled(fn, a, t, idx) - _resampled(fn, b, t, idx)
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
