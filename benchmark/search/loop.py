"""One search run: the strategy asks, the loop charges, answers and observes, until the budget
(seconds of charged cost, or a number of queries) is spent.

A query is one (level, arch) read for the first time in the run; it is charged
:func:`benchmark.search.cost.increment` seconds. A read of a (level, arch) already read in this
run is answered from memory, free, and counted as a repeat. As in NB201's simulated searches, the
query that would overrun the budget is not made: the run ends before it. The answer of the search
at any moment (the arch it would return) is the best fitness at the highest level read so far.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nb201.errors import UserError

from .cost import Ledger, from_scratch
from .observer import Observer

#: asks in a row that make no new query before a run is declared stalled
MAX_IDLE_ASKS = 10_000


class BudgetSpent(Exception):
    """Raised by ``ask`` when the next query does not fit; ends the run."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """When a run stops: after ``budget_s`` seconds of charged cost, or after ``queries`` fitness
    queries (exactly one of them)."""

    budget_s: float | None = None
    queries: int | None = None

    @staticmethod
    def check_given(budget: bool, queries: bool) -> None:
        if budget == queries:
            raise UserError("give exactly one of budget (--budget SECONDS of charged cost) and "
                            "queries (--queries N fitness queries)")

    def check(self) -> Limits:
        """A UserError unless exactly one limit is given and it is positive (a budget also
        finite: a run's record and the JSON output hold numbers only)."""
        self.check_given(self.budget_s is not None, self.queries is not None)
        if self.budget_s is not None and not (
                isinstance(self.budget_s, (int, float)) and not isinstance(self.budget_s, bool)
                and math.isfinite(self.budget_s) and self.budget_s > 0):
            raise UserError(f"--budget must be > 0 and finite (seconds), got {self.budget_s!r}")
        if self.queries is not None and not (
                isinstance(self.queries, int) and not isinstance(self.queries, bool)
                and self.queries >= 1):
            raise UserError(f"--queries must be an integer >= 1, got {self.queries!r}")
        return self

    def describe(self) -> dict:
        return {"budget_s": None if self.budget_s is None else float(self.budget_s),
                "queries": self.queries}


@dataclass
class LevelCost:
    proxy: str
    evaluations: int = 0
    charged_s: float = 0.0
    from_scratch_s: float = 0.0


@dataclass
class Meter:
    """The ``ask`` function a strategy gets, with the budget, the ledger and the observer."""

    fitness: object          # benchmark.search.fitness.Fitness
    limits: Limits
    observer: Observer
    spent: float = 0.0
    queries: int = 0
    repeats: int = 0
    ledger: Ledger = field(default_factory=Ledger)

    def __post_init__(self):
        self.known: dict[tuple[int, int], float] = {}
        self.best: list[tuple[float, int] | None] = [None] * self.fitness.depth
        self.costs = [LevelCost(name) for name in self.fitness.names]
        self.idle = 0

    def answer(self) -> int | None:
        for best in reversed(self.best):
            if best is not None:
                return best[1]
        return None

    def ask(self, level: int, indices: list[int]) -> list[float]:
        new = [i for i in dict.fromkeys(int(i) for i in indices) if (level, i) not in self.known]
        self.repeats += len(indices) - len(new)
        self.idle = 0 if new else self.idle + 1
        if self.idle > MAX_IDLE_ASKS:
            raise BudgetSpent("stalled")
        if new:
            scores, charges = self.fitness.evaluate(level, new)
            higher = self.fitness.higher_is_better[level]
            for index, score, charge in zip(new, scores, charges):
                self._query(level, index, _oriented(score, higher), charge)
        return [self.known[(level, int(i))] for i in indices]

    def _query(self, level: int, index: int, score: float, charge) -> None:
        if self.limits.queries is not None and self.queries >= self.limits.queries:
            raise BudgetSpent("queries")
        seconds = self.ledger.quote(index, charge)
        if self.limits.budget_s is not None and self.spent + seconds > self.limits.budget_s:
            raise BudgetSpent("budget")
        self.ledger.pay(index, charge)
        self.spent += seconds
        self.queries += 1
        self.known[(level, index)] = score
        cost = self.costs[level]
        cost.evaluations += 1
        cost.charged_s += seconds
        cost.from_scratch_s += from_scratch(charge)
        if self.best[level] is None or score > self.best[level][0]:
            self.best[level] = (score, index)
        self.observer.observe(self.spent, self.queries, self.answer())


def _oriented(score: float, higher_is_better: bool) -> float:
    """Higher is better; every non-finite score (NaN, +inf, -inf) ranks last, below every finite
    one (the suite's one policy, :func:`nb201.ranking.orient`: -inf here, as scores arrive one at
    a time)."""
    score = float(score)
    if not math.isfinite(score):
        return -math.inf
    return score if higher_is_better else -score


def run_one(strategy, ladder, fitness, limits: Limits, observer: Observer, moves, seed) -> dict:
    """Run ``strategy`` on ``ladder`` until the limits stop it; the run's record (JSON-able)."""
    meter = Meter(fitness, limits, observer)
    rng = np.random.default_rng(seed)
    try:
        strategy.run(meter.ask, moves, rng, ladder)
        stop = "finished"
    except BudgetSpent as spent:
        stop = spent.reason
    trajectory = observer.trajectory()
    final = trajectory[-1] if trajectory else {}
    return {"trajectory": trajectory, "final_index": final.get("best_index"),
            "final_truth": final.get("best_truth"), "cost": meter.spent, "queries": meter.queries,
            "repeats": meter.repeats, "stop": stop,
            "cost_by_level": [vars(c).copy() for c in meter.costs]}
