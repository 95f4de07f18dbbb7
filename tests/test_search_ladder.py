"""Fitness ladders and what a search is charged: parsing and presets, a proxy read twice, the cost
ledger, the charges of table and training proxies."""
import pytest

from nb201 import groundtruth as gt
from nb201.api import Charge
from nb201.errors import UserError
from benchmark.search import STRATEGIES
from benchmark.search.cost import Ledger, increment
from benchmark.search.ladder import PRESETS, Ladder, Level, parse
from benchmark.search.loop import Limits
from benchmark.search.run import SearchSpec, check
from benchmark.search.strategy import Options
from proxies import REGISTRY


def test_ledger_and_increment():
    charge = lambda m: Charge("s", m, 40, 80.0)  # noqa: E731
    assert increment(charge(20), 0) == 40.0 and increment(charge(20), 30) == 0.0
    ledger = Ledger()
    assert ledger.quote(5, charge(20)) == 40.0
    ledger.pay(5, charge(20))
    assert ledger.quote(5, charge(40)) == 40.0 and ledger.quote(5, charge(20)) == 0.0
    assert ledger.quote(6, charge(40)) == 80.0  # another arch starts from scratch
    assert ledger.quote(5, Charge("other", 20, 40, 80.0)) == 40.0  # another schedule too


def test_charges_of_table_and_training_proxies():
    recorded = gt.vector("cifar10", "train_time_200_s")[123]
    twelve = REGISTRY.get("nb201-12ep-valid").charge(123, 0.001, "cifar10")
    assert twelve.seconds == pytest.approx(recorded * 12 / 200) and increment(twelve, 0) == twelve.seconds
    full = REGISTRY.get("nb201-200ep-valid").charge(123, 0.001, "cifar10")
    assert increment(full, 0) == pytest.approx(recorded) and full.schedule != twelve.schedule
    # the 12-epoch test and validation accuracies come from the same NB201 run: paid once
    assert REGISTRY.get("nb201-12ep").charge(123, 0.0, "cifar10") == twelve
    assert REGISTRY.get("params").charge(123, 0.25, "cifar10") == Charge("params", 1, 1, 0.25)
    # a training read is handed Proxy.cost: the run's 10 s per trained epoch x the epochs read
    at2 = REGISTRY.get("c8r4s8e6@2").charge(5, 20.0, "cifar10")
    assert (at2.schedule, at2.upto, at2.of, at2.seconds) == ("c8r4s8e6", 2, 2, 20.0)
    assert increment(REGISTRY.get("c8r4s8e6@4").charge(5, 40.0, "cifar10"), at2.upto) == 20.0


def test_ladder_parse_and_presets():
    assert parse("synflow") == Ladder((Level("synflow"),))
    assert str(parse("a:16, b:8 ,c:4")) == "a:16,b:8,c:4"
    assert str(parse("econas")) == PRESETS["econas"]
    # names may hold colons: only a last ":NUMBER" is a count
    assert parse("naslib:synflow:8,learned:gbm:200:graph") == Ladder(
        (Level("naslib:synflow", 8), Level("learned:gbm:200:graph")))
    for bad, message in (("a:0", "positive integer"), ("a:-1", "positive integer"), (",a", "empty"),
                         ("a:2,a:2", "twice"), ("", "empty")):
        with pytest.raises(UserError, match=message):
            parse(bad)
    with pytest.raises(UserError, match="not the ladder"):
        STRATEGIES.get("rea").from_options(Options()).levels(parse("a:3,b"))
    assert str(STRATEGIES.get("econas").from_options(Options()).levels(parse("a,b:4"))) == "a:16,b:4"


def test_a_ladder_refuses_a_proxy_twice_but_reads_one_schedule_at_two_epochs():
    with pytest.raises(UserError, match="'a' appears twice"):
        parse("a:8,a:4")
    schedule = "c4r4s0e60@20:16,c4r4s0e60@40:8"
    assert parse(schedule).names() == ["c4r4s0e60@20", "c4r4s0e60@40"]
    assert check(SearchSpec("econas", schedule, limits=Limits(queries=3)), REGISTRY).ladder
    with pytest.raises(UserError, match="'params' appears twice"):
        check(SearchSpec("zc-warmup", "params", options=Options(zc_proxy="params")), REGISTRY)
