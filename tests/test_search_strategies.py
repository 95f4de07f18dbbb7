"""Search strategies on a small fake fitness table: determinism and no access to the truth (every
registered strategy), the answer's rule, aging, each strategy's reads, the moves, the registry."""
import dataclasses
from dataclasses import dataclass
import math
import sys
from collections import deque

import numpy as np
import pytest

from nb201 import groundtruth as gt
from nb201.api import Charge
from nb201.errors import UserError
from nb201.registry import Registry
from benchmark.search import STRATEGIES
from benchmark.search.econas import split
from benchmark.search.ladder import parse
from benchmark.search.loop import BudgetSpent, Limits, run_one
from benchmark.search.moves import Moves
from benchmark.search.observer import Observer
from benchmark.search.rea import evolve
from benchmark.search.strategy import Options, Strategy


TABLE = np.random.default_rng(7).random(gt.NUM_ARCHS) * 100  # the fake fitness of every arch


class FakeFitness:
    """Level l's score of arch i is TABLE[i] + l; each level's charge is given per level."""

    def __init__(self, charges: list[Charge]):
        self.charges = charges
        self.asked: list[tuple[int, list[int]]] = []

    names = property(lambda self: [f"level{k}" for k in range(len(self.charges))])
    depth = property(lambda self: len(self.charges))
    higher_is_better = property(lambda self: [True] * len(self.charges))

    def evaluate(self, level, indices):
        self.asked.append((level, list(indices)))
        return TABLE[indices] + level, [self.charges[level]] * len(indices)


class Tripwire:
    """A truth table that raises when anything but the observer reads it."""

    def __getitem__(self, index):
        caller = sys._getframe(1).f_locals.get("self")
        if not isinstance(caller, Observer):
            raise AssertionError("the truth was read outside the observer")
        return 50.0 + index % 7


@dataclass(frozen=True)
class Toy(Strategy):
    """A toy strategy added in this test, as a new module would add one: the best of archs drawn
    four at a time."""
    name = "toy"
    summary = "the best of archs drawn four at a time"

    unique: bool

    def run(self, ask, moves, rng, ladder) -> None:
        while True:
            ask(0, moves.sample(rng, 4))


#: the suite's strategies and the toy: the contract test runs every strategy registered here
REGISTERED = STRATEGIES.copy()
REGISTERED.register(Toy)


def fake_run(name, ladder="fake", seed=0, budget=2000.0, charges=None, **options):
    strategy = REGISTERED.get(name).from_options(Options(**options))
    levels = strategy.levels(parse(ladder))
    fitness = FakeFitness(charges or [Charge(f"fake{k}", 1, 1, 10.0) for k in range(len(levels))])
    record = run_one(strategy, levels, fitness, Limits(budget_s=budget), Observer(Tripwire()),
                     Moves(options.get("unique", False)), seed=[seed, 0])
    return record, fitness


#: the ladder and options a strategy runs with in the contract test, where one level ("fake") and the
#: default options do not suit it; every registered strategy is tested
LADDERS = {"econas": "a:8,b:4,c:2", "top-k": "a:150,b:80"}
OPTIONS = {"zc-warmup": {"pool": 50}}


def test_the_contract_test_tunes_only_registered_strategies():
    assert set(LADDERS) | set(OPTIONS) <= set(STRATEGIES.names())


def test_the_contract_test_covers_every_registered_strategy_and_the_toy():
    assert set(REGISTERED.names()) == {*STRATEGIES.names(), "toy"}


def test_the_contract_test_catches_a_strategy_that_reads_the_truth(monkeypatch):
    @dataclass(frozen=True)
    class Cheater(Toy):
        name = "cheater"

        def run(self, ask, moves, rng, ladder) -> None:
            best = int(np.argmax(gt.vector("cifar10", "test_200")))
            while True:
                ask(0, [best])

    monkeypatch.setattr(sys.modules[__name__], "REGISTERED", REGISTERED.copy())
    REGISTERED.register(Cheater)
    with pytest.raises(AssertionError, match="read NB201's table"):
        test_each_strategy_is_deterministic_and_never_reads_the_truth("cheater", monkeypatch)


@pytest.mark.parametrize("name", sorted(REGISTERED.names()))
def test_each_strategy_is_deterministic_and_never_reads_the_truth(name, monkeypatch):
    def no_truth(*args, **kwargs):
        raise AssertionError("a strategy read NB201's table")
    monkeypatch.setattr(gt, "vector", no_truth)
    ladder, options = LADDERS.get(name, "fake"), OPTIONS.get(name, {})
    first, _ = fake_run(name, ladder, **options)
    again, _ = fake_run(name, ladder, **options)
    other, _ = fake_run(name, ladder, seed=1, **options)
    assert first == again and first != other
    assert first["stop"] == "budget" and first["cost"] <= 2000.0
    assert first["queries"] == round(first["cost"] / 10.0)
    assert first["trajectory"] and first["final_index"] == first["trajectory"][-1]["best_index"]
    costs = [p["cost"] for p in first["trajectory"]]
    assert costs == sorted(costs)


def test_the_answer_is_the_best_fitness_at_the_highest_level():
    record, fitness = fake_run("random", budget=500.0)
    asked = [i for _, batch in fitness.asked for i in batch][:record["queries"]]
    assert record["final_index"] == max(asked, key=lambda i: TABLE[i])
    ladder, fitness = fake_run("econas", "a:8,b:4,c:2", budget=400.0)
    top = [i for level, batch in fitness.asked if level == 2 for i in batch]
    assert ladder["final_index"] == max(top, key=lambda i: TABLE[i])


@pytest.mark.parametrize("higher", [True, False])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_search_never_prefers_a_non_finite_fitness(bad, higher):
    """Every non-finite fitness ranks last, whatever the direction (nb201.ranking's policy): a
    proxy that overflows to +inf for one arch does not make that arch the answer."""
    class Direction(FakeFitness):
        higher_is_better = property(lambda self: [higher])

        def evaluate(self, level, indices):
            scores, charges = super().evaluate(level, indices)
            return np.where(np.array(indices) == indices[0] if self.asked == [(level, indices)]
                            else False, bad, scores if higher else -scores), charges

    fitness = Direction([Charge("fake", 1, 1, 10.0)])
    strategy = STRATEGIES.get("random").from_options(Options())
    record = run_one(strategy, parse("fake"), fitness, Limits(queries=20),
                     Observer(Tripwire()), Moves(False), seed=[0, 0])
    asked = [i for _, batch in fitness.asked for i in batch][:record["queries"]]
    assert record["final_index"] == max(asked[1:], key=lambda i: TABLE[i])


def test_rea_population_ages_the_best_member_dies():
    population = deque([(100.0, 0), (1.0, 1), (1.0, 2)])  # oldest first; arch 0 is the best
    parents, calls = [], {"n": 0}

    def ask(level, indices):
        calls["n"] += 1
        if calls["n"] > 20:
            raise BudgetSpent("queries")
        return [0.0]

    def mutate(parent):
        parents.append(parent)
        return 1000 + len(parents)

    with pytest.raises(BudgetSpent):
        evolve(ask, None, np.random.default_rng(0), population, 3, 0, mutate)
    assert len(parents) == 21 and 0 not in parents[1:]  # gone after the first child: it aged out
    assert 0 not in [m[1] for m in population] and len(population) == 3


def test_rea_population_and_tournament_follow_the_options():
    record, fitness = fake_run("rea", budget=300.0, population=5, sample_size=2)
    first = [i for _, batch in fitness.asked[:5] for i in batch]
    assert len(first) == 5 and all(len(b) == 1 for _, b in fitness.asked)
    neighbours = {a for i in first for a in Moves().neighbours(i)}
    assert fitness.asked[5][1][0] in neighbours  # the first child mutates a member


def test_zc_warmup_seeds_the_population_with_the_zero_cost_top():
    record, fitness = fake_run("zc-warmup", budget=5000.0, pool=40, population=4)
    level, pool = fitness.asked[0]
    assert level == 0 and len(pool) == len(set(pool)) == 40
    seeded = [batch[0] for level, batch in fitness.asked[1:5]]
    assert all(level == 1 for level, _ in fitness.asked[1:5])
    assert seeded == sorted(pool, key=lambda i: -TABLE[i])[:4]
    guided, fitness = fake_run("zc-warmup", budget=5000.0, pool=40, population=4, zc_move=True)
    assert any(level == 0 and len(b) == 24 for level, b in fitness.asked[1:])  # neighbours scored


def test_econas_promotes_the_best_and_splits_parents():
    assert split(16, 3) == [6, 5, 5] and split(8, 2) == [4, 4] and split(3, 3) == [1, 1, 1]
    record, fitness = fake_run("econas", "a:8,b:4,c:2", budget=800.0)
    first = fitness.asked[0][1]
    assert fitness.asked[0][0] == 0 and len(first) == 8
    level, promoted = fitness.asked[1]
    assert level == 1 and promoted == sorted(first, key=lambda i: -TABLE[i])[:4]
    assert record["cost_by_level"][0]["evaluations"] >= 8


def test_econas_draws_parents_before_promotion():
    """Cycle 1 draws its parents from the pools as they stand before its promotions: only level
    0's pool has members then, so only its share (3 of 8 over 3 levels) of parents is drawn."""
    record, fitness = fake_run("econas", "a:8,b:4,c:2", budget=800.0)
    (_, first), (promoted_to, _), (level, children) = fitness.asked[:3]
    assert promoted_to == 1 and level == 0 and 1 <= len(children) <= split(8, 3)[0]
    assert all(any(c in Moves().neighbours(a) for a in first) for c in children)


def test_top_k_reads_every_arch_then_the_top_of_the_cheap_level():
    charges = [Charge("zc", 1, 1, 0.001), Charge("t", 1, 1, 10.0)]
    record, fitness = fake_run("top-k", "a,b:5", budget=1e6, charges=charges)
    (level0, everything), (level1, top) = fitness.asked
    assert level0 == 0 and sorted(everything) == list(range(gt.NUM_ARCHS))
    assert level1 == 1 and top == sorted(everything, key=lambda i: -TABLE[i])[:5]
    assert record["stop"] == "finished" and record["final_index"] == top[0]
    _, unique = fake_run("top-k", "a:100,b:5", budget=1e6, charges=charges, unique=True)
    assert len(set(unique.asked[0][1])) == 100 and len(unique.asked[1][1]) == 5
    with pytest.raises(UserError, match="needs a count at every level above the first"):
        STRATEGIES.get("top-k").from_options(Options()).levels(parse("a,b"))


def test_the_ladder_charges_only_trained_epochs():
    """One 6-epoch schedule read at 2, 4, 6: each level pays 2/6 of the run's 60 s; reading
    from scratch would have cost 20, 40 and 60 s."""
    charges = [Charge("c8r4s8e6", m, 6, 60.0) for m in (2, 4, 6)]
    record, _ = fake_run("econas", "a:8,b:4,c:2", budget=1000.0, charges=charges)
    by_level = record["cost_by_level"]
    for level, per_level in enumerate(by_level):
        assert per_level["charged_s"] == pytest.approx(20.0 * per_level["evaluations"])
        assert per_level["from_scratch_s"] == pytest.approx(20.0 * (level + 1) * per_level["evaluations"])
    assert by_level[2]["evaluations"] > 0
    assert record["cost"] == pytest.approx(sum(p["charged_s"] for p in by_level))


def test_moves_unique_space_and_neighbours():
    moves, unique = Moves(), Moves(unique=True)
    assert moves.size == gt.NUM_ARCHS and unique.size == 6466
    rng = np.random.default_rng(0)
    drawn = unique.sample(rng, 200)
    representatives = set(np.unique(unique._representative))
    assert set(drawn) <= representatives
    assert all(unique.mutate(i, rng) in representatives for i in drawn[:20])
    assert len(moves.neighbours(0)) == 24 and 0 not in moves.neighbours(0)
    assert len(set(moves.sample(rng, 500, distinct=True))) == 500


def test_strategy_registry_refuses_duplicates_and_suggests():
    registry = Registry("strategy", lambda cls: cls.name)

    @dataclasses.dataclass(frozen=True)
    class Thing(Strategy):
        name = "thing"

    registry.register(Thing)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Thing)
    with pytest.raises(UserError, match="did you mean 'thing'"):
        registry.get("thnig")
    assert {"random", "rea", "econas", "zc-warmup"} <= set(STRATEGIES.names())
