"""NASLib's published zero-cost scores as table proxies (proxies/naslib.py): values from the
shipped files, missing archs as NaN, the datasets NASLib covers, and the ImageNet16-120 file's arch
strings (converted from NASLib's op tuples when it was shipped) checked against our own params."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nb201 import groundtruth as gt
from nb201.complexity import params_m
from nb201.context import Context
from nb201.errors import UserError
from proxies import REGISTRY
from proxies.naslib import scores


def test_scores_are_the_shipped_values_and_missing_archs_are_nan():
    table = scores("cifar10")
    assert table.shape[0] == gt.NUM_ARCHS and table["synflow"].notna().sum() == 9445
    present = int(np.flatnonzero(table["synflow"].notna())[0])
    missing = int(np.flatnonzero(table["synflow"].isna())[0])
    proxy = REGISTRY.get("naslib:synflow")
    outcomes = proxy.score([gt.arch_of(present), gt.arch_of(missing)], [present, missing],
                           Context("cifar10"))
    assert outcomes[0].score == table["synflow"][present] and math.isnan(outcomes[1].score)


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet16-120"])
def test_naslib_params_agree_with_our_count_on_every_arch(dataset):
    """NASLib's params column against the exact count of our network: the arch strings of each
    file are right (the ImageNet16-120 file came with NASLib's op tuples only)."""
    table = scores(dataset)
    rows = np.flatnonzero(table["params"].notna())[::25]
    classes = {"cifar10": 10, "imagenet16-120": 120}[dataset]
    ours = [params_m(gt.arch_of(int(i)), classes) for i in rows]
    assert stats.spearmanr(ours, table["params"].to_numpy()[rows])[0] > 0.999


def test_naslib_proxies_check_their_names_and_datasets():
    assert REGISTRY.get("naslib:jacov").source == "naslib-reference"
    with pytest.raises(UserError, match="unknown NASLib score 'synflwo'"):
        REGISTRY.get("naslib:synflwo")
    with pytest.raises(UserError, match="cifar10, imagenet16-120 only"):
        REGISTRY.get("naslib:synflow").check("cifar100")


def test_a_naslib_score_costs_what_the_suites_own_implementation_takes():
    """Reading a published score is free, computing it is not: each is charged the suite's own
    per-arch seconds of the same proxy (NASLib's files record no time)."""
    from proxies.naslib import COST_S, NAMES
    assert set(COST_S) == set(NAMES)
    ctx = Context("cifar10")
    for name in ("synflow", "grasp", "flops"):
        proxy = REGISTRY.get(f"naslib:{name}")
        [outcome] = proxy.score([gt.arch_of(7)], [7], ctx)
        assert outcome.seconds < 0.5 and proxy.cost_s == 0       # the lookup: what a plan expects
        cost = proxy.cost(outcome)
        assert cost == COST_S[name] == proxy.charge(7, cost, "cifar10").seconds
    assert COST_S["grasp"] > COST_S["synflow"] > COST_S["flops"]
