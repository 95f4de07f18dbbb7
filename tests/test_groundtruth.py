import numpy as np
import pytest

from nb201 import groundtruth as gt
from nb201.catalog import DATASETS, DEFAULT_TRUTH, SELECTION_TRUTH, TRUTHS, check_truth
from nb201.errors import UserError


def test_table_order_and_published_bests():
    assert str(gt.arch_of(0)) == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+"
                                  "|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    for dataset, index, best in [("cifar10", 6111, 94.373), ("cifar100", 9930, 73.513),
                                 ("imagenet16-120", 857, 47.311)]:
        v = gt.vector(dataset, "test_200")
        assert int(np.argmax(v)) == index
        assert v[index] == pytest.approx(best, abs=1e-3)


def test_vectors_have_every_arch_and_seed_counts_match():
    for dataset in DATASETS:
        for metric in ("test_200", "valid_200", "test_12", "valid_12", "params"):
            assert np.isfinite(gt.vector(dataset, metric)).all()
        n = gt.vector(dataset, "valid_200_nseeds")
        assert set(np.unique(n)) == {2.0, 3.0}
        assert np.isnan(gt.vector(dataset, "valid_200_s2")).sum() == (n == 2).sum() == 7456


def test_index_and_string_resolve_both_ways():
    for i in (0, 1, 6111, 15624):
        assert gt.index_of(gt.arch_of(i)) == i
        assert gt.resolve(str(i)) == i == gt.resolve(str(gt.arch_of(i)))


@pytest.mark.parametrize("token", ["15625", "-1", "|none~0|"])
def test_bad_tokens(token):
    with pytest.raises(UserError):
        gt.resolve(token)


def test_bad_dataset_and_metric():
    with pytest.raises(UserError):
        gt.vector("mnist", "test_200")
    with pytest.raises(UserError):
        gt.vector("cifar10", "test_201")


def test_sample_is_deterministic_distinct_and_nested():
    a, b = gt.sample(100, 3), gt.sample(100, 3)
    assert a == b and len(set(a)) == 100
    assert gt.sample(10, 3) == a[:10]
    assert gt.sample(100, 4) != a
    with pytest.raises(UserError):
        gt.sample(0, 0)


def test_the_truths_are_metrics_of_the_table_and_check_truth_names_them():
    assert {DEFAULT_TRUTH, SELECTION_TRUTH} <= set(TRUTHS) <= set(gt.METRICS)
    assert check_truth("valid_200") == "valid_200"
    with pytest.raises(UserError, match=r"^x\.toml: 'truth' must be one of test_200, valid_200, "
                                        r"got 'test_12'$"):
        check_truth("test_12", "x.toml: 'truth'")


def test_one_seeding_rule_draws_what_the_stored_samples_and_scores_were_drawn_with():
    """derive_rng is numpy's generator of the parts' SeedSequence: the samples, the learned
    proxies' training and judged archs and the random proxy keep the values stored before it
    (pinned below, drawn with np.random.default_rng(seed) and default_rng([seed, purpose]))."""
    from benchmark.learn import judged_archs
    from nb201.catalog import derive_rng
    from nb201.context import Context
    from proxies import REGISTRY
    from proxies.learned.base import training_set
    for parts in ((0,), (3,), (3, 1), (7, 1234)):
        assert derive_rng(*parts).random(3).tolist() == np.random.default_rng(parts).random(3).tolist()
    assert gt.sample(4, 0) == [11759, 10533, 8177, 7648]
    assert training_set(4, 2).tolist() == [2853, 6707, 7173, 9398] == sorted(gt.sample(4, 2))
    assert judged_archs(np.array([1, 2]), 3, 5) == [4402, 5043, 14996]
    random = REGISTRY.get("random")
    assert [random.value(None, i, Context("cifar10", 3)) for i in (0, 7)] == [
        0.08564916714362436, 0.6822299076083322]
