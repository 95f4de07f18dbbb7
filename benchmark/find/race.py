"""The finder's decision rule, pure: given every live candidate's oriented scores on a prefix of
one arch order and its cost per arch, which candidates are dropped and which stop growing. No
store, no proxies: it is tested on synthetic fidelities (tests/test_finder.py); the driver
(:mod:`benchmark.find.driver`) reads the scores and applies it round after round.

The rule (docs/FINDER.md says it in words):

- Rounds score every growing candidate on the first n archs of a seeded permutation of the pool,
  n = n0, n0*growth, n0*growth^2, ... (the last round the whole pool).
- Fidelity = the objective (Kendall tau or top-10% retrieval against the truth) on a candidate's
  archs, with a percentile bootstrap CI (``analysis.metrics.bootstrap_ci``).
- A candidate A is *dropped* when a live B with cost per arch <= A's has a paired bootstrap CI of
  fidelity(B) - fidelity(A), on the archs both were scored on (a common prefix), that lies above
  0 (``analysis.metrics.paired_difference``). The challengers of A are the live B that are no
  dearer and better on the point estimate, tried from the best down, at most ``challengers`` of
  them. Drops of one round are decided together, on the evidence at the round's start.
- A candidate whose fidelity is undefined (constant scores) is dropped as soon as a no-dearer
  candidate has a defined one.
- A live candidate *stops growing* (settles) when its CI is narrower than ``narrow`` and it is not
  contested: every other live candidate whose CI overlaps its CI is separated from it by a paired
  CI that excludes 0. Settled candidates keep the archs they have.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.metrics import bootstrap_ci, paired_difference
from nb201.errors import UserError

from . import DEFAULT_N0

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Rule:
    """The racing rule's parameters (docs/FINDER.md)."""

    n0: int = DEFAULT_N0    # archs of the first round
    growth: int = 2         # factor by which the sample grows per round
    narrow: float = 0.2     # a CI narrower than this may stop growing (if not contested)
    challengers: int = 3    # no-dearer, better candidates tried against each candidate per round
    n_boot: int = 400       # bootstrap resamples (unpaired CIs and paired differences)
    alpha: float = 0.05     # 1 - confidence of every interval

    def check(self) -> Rule:
        """Raise a one-line UserError on parameters the rule cannot use."""
        if isinstance(self.n0, bool) or not isinstance(self.n0, int) or self.n0 < 3:
            raise UserError(f"n0 must be an integer >= 3 (archs of the first round), got {self.n0!r}")
        if isinstance(self.growth, bool) or not isinstance(self.growth, int) or self.growth < 2:
            raise UserError(f"growth must be an integer >= 2, got {self.growth!r}")
        if not (isinstance(self.narrow, (int, float)) and 0 < self.narrow <= 2):
            raise UserError(f"narrow must be a CI width in (0, 2], got {self.narrow!r}")
        if isinstance(self.challengers, bool) or not isinstance(self.challengers, int) \
                or self.challengers < 1:
            raise UserError(f"challengers must be an integer >= 1, got {self.challengers!r}")
        if isinstance(self.n_boot, bool) or not isinstance(self.n_boot, int) or self.n_boot < 100:
            raise UserError(f"n_boot must be an integer >= 100, got {self.n_boot!r}")
        if not (isinstance(self.alpha, float) and 0 < self.alpha < 0.5):
            raise UserError(f"alpha must be a number in (0, 0.5), got {self.alpha!r}")
        return self

    def sizes(self, pool: int) -> list[int]:
        """The sample size of each round on a pool of ``pool`` archs: n0, n0*growth, ..., pool."""
        if pool < 3:
            raise UserError(f"the pool must hold at least 3 archs, got {pool}")
        out = [min(self.n0, pool)]
        while out[-1] < pool:
            out.append(min(out[-1] * self.growth, pool))
        return out


@dataclass(frozen=True)
class Entry:
    """What the rule knows of one live candidate: its oriented scores (higher is better, finite)
    on the first ``len(scores)`` archs of the order, and its cost per arch."""

    scores: np.ndarray
    cost: float

    @property
    def n(self) -> int:
        return int(len(self.scores))


@dataclass(frozen=True)
class Fidelity:
    value: float          # NaN where undefined
    lo: float
    hi: float
    n: int

    @property
    def width(self) -> float:
        return self.hi - self.lo if math.isfinite(self.hi - self.lo) else math.inf

    def json(self) -> dict:
        return {"fidelity": _num(self.value), "ci": [_num(self.lo), _num(self.hi)], "n": self.n}


@dataclass(frozen=True)
class Drop:
    by: str                   # the dominating candidate
    difference: float | None  # fidelity(by) - fidelity(dropped) on their common archs
    ci: tuple                 # its paired CI (None, None) for an undefined fidelity
    n: int                    # the common archs
    reason: str


@dataclass(frozen=True)
class Verdict:
    fidelity: dict[str, Fidelity]
    drops: dict[str, Drop]
    settled: tuple[str, ...]


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class Judge:
    """Applies the rule; remembers each fidelity and paired comparison by (names, n) so that
    candidates that stopped growing are not bootstrapped again (same archs, same seed, same
    answer)."""

    def __init__(self, metric: Metric, rule: Rule, seed: int):
        self.metric, self.rule, self.seed = metric, rule, seed
        self._fid: dict[tuple, Fidelity] = {}
        self._pair: dict[tuple, dict] = {}

    def fidelity(self, name: str, entry: Entry, truth: np.ndarray) -> Fidelity:
        key = (name, entry.n)
        if key not in self._fid:
            t = truth[:entry.n]
            value = self.metric(entry.scores, t)
            lo, hi = (bootstrap_ci(self.metric, entry.scores, t, self.rule.n_boot,
                                   self.rule.alpha, self.seed)
                      if math.isfinite(value) else (math.nan, math.nan))
            self._fid[key] = Fidelity(value, lo, hi, entry.n)
        return self._fid[key]

    def paired(self, b: str, a: str, entries: dict[str, Entry], truth: np.ndarray) -> dict:
        """paired_difference of fidelity(b) - fidelity(a) on their common prefix."""
        m = min(entries[a].n, entries[b].n)
        key = (b, a, m)
        if key not in self._pair:
            self._pair[key] = {**paired_difference(
                self.metric, entries[b].scores[:m], entries[a].scores[:m], truth[:m],
                self.rule.n_boot, self.rule.alpha, self.seed), "n": m}
        return self._pair[key]

    def __call__(self, entries: dict[str, Entry], truth: np.ndarray,
                 growing: set[str]) -> Verdict:
        """The verdict of one round on the live candidates ``entries``; ``growing`` are those that
        were scored further this round (only they can settle)."""
        names = sorted(entries)
        fid = {name: self.fidelity(name, entries[name], truth) for name in names}
        drops: dict[str, Drop] = {}
        for a in names:
            mine = fid[a].value
            rivals = [b for b in names if b != a and entries[b].cost <= entries[a].cost
                      and math.isfinite(fid[b].value)
                      and (not math.isfinite(mine) or fid[b].value > mine)]
            rivals.sort(key=lambda b: (-fid[b].value, entries[b].cost, b))
            if rivals and not math.isfinite(mine):
                drops[a] = Drop(rivals[0], None, (None, None), entries[a].n,
                                "fidelity undefined (constant scores)")
                continue
            for b in rivals[:self.rule.challengers]:
                found = self.paired(b, a, entries, truth)
                lo = found["ci"][0]
                if lo is not None and lo > 0:
                    drops[a] = Drop(b, found["difference"], tuple(found["ci"]), found["n"],
                                    f"{b} is no dearer and better: paired CI of the difference "
                                    f"above 0 on {found['n']} common archs")
                    break
        settled = []
        for a in names:
            if a in drops or a not in growing or not fid[a].width < self.rule.narrow:
                continue
            overlapping = [b for b in names if b != a and b not in drops
                           and not (fid[b].hi < fid[a].lo or fid[b].lo > fid[a].hi)]
            if all(self.paired(b, a, entries, truth)["significant"] for b in overlapping):
                settled.append(a)
        return Verdict(fid, drops, tuple(settled))


#: the cheapest compute bracket: a millisecond per arch (a lookup; timings below it are noise)
FLOOR_DECADE = -3


def best_per_bracket(costs: dict[str, float], values: dict[str, float]) -> list[dict]:
    """For each compute bracket "at most 10^k seconds per arch" (k from -3, a millisecond: cheaper
    is a lookup whose measured time is noise, to the decade of the dearest candidate): the
    candidate of highest fidelity among those that cost no more (ties: the cheaper, then the
    name). Candidates with undefined fidelity are left out."""
    known = {k: c for k, c in costs.items() if math.isfinite(values.get(k, math.nan))}
    if not known:
        return []
    high = max(FLOOR_DECADE, math.ceil(math.log10(max(max(known.values()), 1e-9))))
    out = []
    for k in range(FLOOR_DECADE, high + 1):
        best = best_within(known, values, 10.0 ** k)
        if best is not None:
            out.append({"up_to_s": 10.0 ** k, "best": best})
    return out


def best_within(costs: dict[str, float], values: dict[str, float], up_to: float) -> str | None:
    """The candidate of highest fidelity among those costing at most ``up_to`` per arch (ties:
    the cheaper, then the name); None when none does. Undefined fidelities are left out."""
    within = [n for n, c in costs.items()
              if c <= up_to and math.isfinite(values.get(n, math.nan))]
    return min(within, key=lambda n: (-values[n], costs[n], n)) if within else None
