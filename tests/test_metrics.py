import json

import numpy as np
import pytest
from scipy import stats

from analysis import metrics as M
from nb201.errors import UserError


def tied_pair(n, seed):
    """Correlated scores with many ties (both vectors rounded to a coarse grid)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, n).astype(float)
    y = np.round(x + rng.normal(0, 3, n))
    return x, y


@pytest.mark.parametrize("seed", range(5))
def test_correlations_agree_with_scipy_on_ties(seed):
    x, y = tied_pair(200, seed)
    assert M.kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b").statistic)
    assert M.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert M.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic)


def test_perfect_and_reversed_order():
    x = np.arange(10.0)
    for fn in (M.kendall_tau, M.spearman, M.pearson):
        assert fn(x, x) == pytest.approx(1.0)
        assert fn(-x, x) == pytest.approx(-1.0)
    assert M.retrieval(x, x) == 1.0 and M.retrieval(-x, x, k=0.3) == 0.0


def test_kendall_hand_case_with_tie():
    # pairs of (1,2,2) vs (1,2,3): 2 concordant, 0 discordant, one tie in x only
    # tau_b = 2 / sqrt((3 - 1) * 3)
    assert M.kendall_tau([1, 2, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(6))


def test_constant_or_short_input_is_nan():
    assert np.isnan(M.kendall_tau([1, 1, 1], [1, 2, 3]))
    assert np.isnan(M.pearson([1, 2, 3], [5, 5, 5]))
    assert np.isnan(M.spearman([1], [2]))


def test_retrieval_hand_case():
    truth = np.arange(10, 0, -1.0)  # index 0 is best; true top-30% = {0, 1, 2}
    scores = np.array([9, 1, 2, 8, 3, 7, 4, 5, 6, 0.0])  # proxy top-30% = {0, 3, 5}
    assert M.retrieval(scores, truth, k=0.3) == pytest.approx(1 / 3)
    assert M.retrieval(scores, truth, k=0.1) == 1.0  # n_top = 1: index 0 in both
    assert M.retrieval(scores, truth, k=0.04) == 1.0  # n_top = max(1, round(0.4)) = 1
    assert M.retrieval(scores, truth, k=0.5) == pytest.approx(2 / 5)  # {0,3,5,8,7} vs {0..4}
    assert M.retrieval_curve(scores, truth, [0.1, 0.3, 0.5]) == pytest.approx([1, 1 / 3, 2 / 5])


def test_tie_rule_is_index_order():
    truth = np.arange(10.0)[::-1]  # true top-30% = {0, 1, 2}
    assert M.retrieval(np.zeros(10), truth, k=0.3) == 1.0  # ties -> first indices
    scores = np.zeros(10)
    scores[[7, 8]] = 1.0  # proxy top-3 = {7, 8, 0}
    assert M.retrieval(scores, truth, k=0.3) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(3))
def test_retrieval_paths_agree_on_ties(seed):
    x, y = tied_pair(137, seed)  # retrieval (partition) vs retrieval_curve (stable sort)
    ks = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    assert M.retrieval_curve(x, y, ks) == [M.retrieval(x, y, k) for k in ks]
    order_x, order_y = np.argsort(-x, kind="stable"), np.argsort(-y, kind="stable")
    for K in (1, 7, 30):  # P@K against a direct stable-sort computation
        expected = len(set(order_x[:K]) & set(order_y[:K])) / K
        assert M.precision_at_k(x, y, K) == pytest.approx(expected)


def test_precision_at_k_hand_case():
    truth = np.arange(6.0)  # true top-2 = {5, 4}
    scores = np.array([0, 0, 0, 0, 1, 0.0])  # proxy top-2 = {4, 0} by the tie rule
    assert M.precision_at_k(scores, truth, 2) == 0.5
    assert M.precision_at_k(truth, truth, 3) == 1.0
    with pytest.raises(UserError):
        M.precision_at_k(scores, truth, 7)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_orient_ranks_non_finite_last(higher_is_better):
    raw = np.array([3.0, np.nan, 1.0, np.inf, 2.0, -np.inf])
    v, n_bad = M.orient(raw, higher_is_better)
    assert n_bad == 3
    assert np.all(np.isfinite(v))
    finite, bad = v[[0, 2, 4]], v[[1, 3, 5]]
    assert bad.max() < finite.min() and np.ptp(bad) == 0
    expected = [3.0, 1.0, 2.0] if higher_is_better else [-3.0, -1.0, -2.0]
    assert finite.tolist() == expected
    assert raw[1] != raw[1]  # input left unchanged
    all_bad, count = M.orient([np.nan, np.inf], higher_is_better)
    assert count == 2 and np.all(np.isfinite(all_bad))


def test_bootstrap_ci_contains_estimate_is_deterministic_and_narrows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    y = x + rng.normal(size=1000)
    small = M.bootstrap_ci(M.kendall_tau, x[:50], y[:50], n_boot=300, seed=3)
    assert small == M.bootstrap_ci(M.kendall_tau, x[:50], y[:50], n_boot=300, seed=3)
    assert small != M.bootstrap_ci(M.kendall_tau, x[:50], y[:50], n_boot=300, seed=4)
    big = M.bootstrap_ci(M.kendall_tau, x, y, n_boot=300, seed=3)
    for (lo, hi), n in ((small, 50), (big, 1000)):
        assert lo <= M.kendall_tau(x[:n], y[:n]) <= hi
    assert big[1] - big[0] < (small[1] - small[0]) / 2


KEYS = {"n", "kendall_tau", "spearman", "pearson", "retrieval_top10", "ci", "nan_scores"}


def test_summarize_keys_and_json():
    x, y = tied_pair(100, 0)
    x[[3, 7]] = [np.nan, np.inf]
    out = M.summarize(x, y, n_boot=50)
    assert set(out) == KEYS and set(out["ci"]) == KEYS - {"n", "ci", "nan_scores"}
    assert out["n"] == 100 and out["nan_scores"] == 2
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    lo, hi = out["ci"]["kendall_tau"]
    assert lo <= out["kendall_tau"] <= hi and out["kendall_tau"] > 0
    flipped = M.summarize(-x, y, higher_is_better=False, n_boot=50)
    assert flipped == out
    other_k = M.summarize(x, y, k=0.2, n_boot=10)
    assert set(other_k) == KEYS | {"retrieval_k"} and other_k["retrieval_k"] == 0.2


@pytest.mark.parametrize("scores,truth", [([1.0, 2.0], [1.0, 2.0]), ([5.0] * 4, [1, 2, 3, 4])])
def test_summarize_degenerate_gives_none(scores, truth):
    out = M.summarize(scores, truth, n_boot=20)
    assert set(out) == KEYS
    assert all(out[m] is None and out["ci"][m] == [None, None] for m in out["ci"])
    json.dumps(out, allow_nan=False)


def test_bad_input_raises_user_error():
    with pytest.raises(UserError):
        M.kendall_tau([1, 2, 3], [1, 2])
    with pytest.raises(UserError):
        M.retrieval([1, 2, 3], [1, 2, 3], k=0)
    with pytest.raises(UserError):
        M.summarize([1, 2, 3], [1, np.nan, 3])


def test_paired_difference_finds_the_better_proxy_and_is_narrower_than_unpaired():
    bootstrap_ci, paired_difference = M.bootstrap_ci, M.paired_difference
    rng = np.random.default_rng(3)
    truth = rng.normal(size=150)
    shared = rng.normal(size=150)            # noise both proxies share: pairing cancels it
    good = truth + 0.5 * shared + 0.1 * rng.normal(size=150)
    bad = truth + 0.5 * shared + 0.8 * rng.normal(size=150)
    out = paired_difference(M.kendall_tau, good, bad, truth, n_boot=400, seed=1)
    assert out["difference"] > 0 and out["significant"] and out["a_better"] > 0.975
    lo, hi = out["ci"]
    assert lo > 0
    unpaired = [bootstrap_ci(M.kendall_tau, s, truth, n_boot=400, seed=1) for s in (good, bad)]
    assert hi - lo < (unpaired[0][1] - unpaired[0][0]) + (unpaired[1][1] - unpaired[1][0])
    same = paired_difference(M.kendall_tau, good, good, truth, n_boot=50)
    assert same["difference"] == 0 and not same["significant"]
    tiny = paired_difference(M.kendall_tau, good[:2], bad[:2], truth[:2])
    assert tiny["difference"] is None and tiny["ci"] == [None, None] and not tiny["significant"]
