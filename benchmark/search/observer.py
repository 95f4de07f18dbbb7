"""The observer: after every query, the arch the search would return now and that arch's truth.

The run loop owns the observer and hands the strategy only its ``ask`` function, so the truth
table is out of the strategy's reach (tests/test_search_strategies.py passes a truth table that
raises when anything but the observer reads it). The trajectory keeps one point per query at which
the answer changed, plus the last query: a step function of the charged cost, without loss.
"""
from __future__ import annotations

from nb201.numbers import json_number


class Observer:
    def __init__(self, truth):
        """``truth``: NB201 index -> true accuracy (anything indexable by an int)."""
        self._truth = truth
        self._changes: list[dict] = []
        self._last: dict | None = None

    def observe(self, cost: float, queries: int, best_index: int) -> None:
        """Called by the loop after every charged query."""
        if not self._changes or self._changes[-1]["best_index"] != best_index:
            self._changes.append({"cost": cost, "queries": queries, "best_index": best_index,
                                  "best_truth": json_number(self._truth[best_index])})
            self._last = None
        else:
            self._last = {**self._changes[-1], "cost": cost, "queries": queries}

    def trajectory(self) -> list[dict]:
        return self._changes + ([self._last] if self._last else [])
