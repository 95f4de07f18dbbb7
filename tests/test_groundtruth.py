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
