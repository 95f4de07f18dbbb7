"""Running the finder: read every growing candidate's scores on the round's archs through the
runner and the store (stored rows are read, missing ones computed and committed chunk by chunk,
so a rerun computes nothing and a killed run resumes), apply the rule of
:mod:`benchmark.find.race`, and account for the compute.

Accounting (docs/FINDER.md, "Accounting"). A candidate's cost per arch, which the rule and the
brackets compare, is the median over its archs of what a search would be charged for the read
(:meth:`nb201.api.Proxy.charge`), plus its one-off cost (:meth:`nb201.api.Proxy.setup`: a learned
candidate's labels) spread over the pool. ``spent_s`` charges every (schedule, arch) the finder
read once, for the longest read of that schedule (reads of one schedule share one run), and every
one-off cost once; stored reads count as if computed. ``brute_force_s`` is, summed over the
schedules, the mean charge per arch of each one's dearest read x the final sample size, plus the
one-off costs: what scoring every candidate on as many archs would have charged.
``computed_archs`` is what this invocation actually computed. A learned candidate's training archs
are left out of the pool, so that it is judged on other archs only.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.metrics import kendall_tau, pareto_front, retrieval
from nb201 import groundtruth as gt
from nb201.catalog import (DEFAULT_DATASET, SELECTION_TRUTH, check_seed, check_truth, dataset_spec,
                           derive_seed)
from nb201.context import Context
from nb201.errors import UserError
from nb201.provenance import SUITE_VERSION, config_digest, git_hash
from nb201.ranking import orient
from nb201.registry import Registry
from nb201.store import FindResults, Store, read_scores

from benchmark.executors import Executor, LocalExecutor
from benchmark.runner import compute, reading

from . import DEFAULT_OBJECTIVE, DEFAULT_POOL
from .race import Entry, Judge, Rule, best_per_bracket
from .space import parse_space

#: bump when the finder's rule or accounting changes (stored results carry it)
VERSION = 1
OBJECTIVES: dict[str, Callable] = {"kendall_tau": kendall_tau,
                                   "retrieval_top10": functools.partial(retrieval, k=0.10)}
#: the purpose mixed into the finder seed for the arch order (nb201.catalog.derive_seed)
ORDER_PURPOSE = 22


@dataclass(frozen=True)
class FindSpec:
    """One finder run: the space, the dataset and truth, the objective, the compute budget
    (charged seconds), the pool (``pool`` archs drawn with ``pool_seed``: gt.sample), the finder
    seed (the order of the pool), the proxies' seed and the rule's parameters."""

    space: str
    dataset: str = DEFAULT_DATASET
    seed: int = 0
    budget_s: float = math.inf
    truth: str = SELECTION_TRUTH
    objective: str = DEFAULT_OBJECTIVE
    pool: int = DEFAULT_POOL
    pool_seed: int = 0
    proxy_seed: int = 0
    rule: Rule = Rule()

    def check(self, registry: Registry) -> tuple[str, ...]:
        """Every input, before anything is computed: the candidates (resolved), or a one-line
        UserError."""
        dataset_spec(self.dataset)
        check_seed(self.seed, "--seed")
        check_seed(self.pool_seed, "pool seed")
        check_seed(self.proxy_seed, "proxy seed")
        if isinstance(self.budget_s, bool) or not isinstance(self.budget_s, (int, float)) \
                or not self.budget_s > 0:
            raise UserError(f"--budget must be a positive number of seconds, got {self.budget_s!r}")
        check_truth(self.truth)
        if self.objective not in OBJECTIVES:
            raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}, got "
                            f"{self.objective!r}")
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) \
                or not 3 <= self.pool <= gt.NUM_ARCHS:
            raise UserError(f"--pool must be an integer 3..{gt.NUM_ARCHS}, got {self.pool!r}")
        self.rule.check()
        return parse_space(self.space, registry, self.dataset)

    def config(self, candidates: tuple[str, ...]) -> dict:
        return {"space": self.space, "candidates": list(candidates), "dataset": self.dataset,
                "seed": self.seed, "budget_s": self.budget_s if math.isfinite(self.budget_s)
                else None, "truth": self.truth, "objective": self.objective, "pool": self.pool,
                "pool_seed": self.pool_seed, "proxy_seed": self.proxy_seed,
                "rule": dataclasses.asdict(self.rule), "version": VERSION}

    def order(self, proxies=()) -> list[int]:
        """The pool in the finder seed's order: round k reads its first n_k archs. Archs that one
        of the candidates ``proxies`` must not be judged on (a learned proxy's training archs at
        the proxy seed: :meth:`nb201.api.Proxy.excluded`) are left out of the pool."""
        own = frozenset().union(*(p.excluded(self.proxy_seed) for p in proxies))
        pool = [i for i in gt.sample(self.pool, self.pool_seed) if i not in own]
        perm = np.random.default_rng(derive_seed(self.seed, ORDER_PURPOSE)).permutation(len(pool))
        return [pool[i] for i in perm]


class Counting:
    """An executor that counts the archs it computed (wrapping another)."""

    def __init__(self, inner: Executor):
        self.inner, self.archs = inner, 0

    def map(self, proxy, chunks, ctx):
        for chunk, outcomes in self.inner.map(proxy, chunks, ctx):
            self.archs += len(chunk)
            yield chunk, outcomes


class Reader:
    """Reads candidates' scores on a prefix of the order through the runner and keeps the
    accounting: charged seconds per (schedule, arch)."""

    def __init__(self, proxies: dict, order: list[int], ctx: Context, store: Store,
                 progress: bool, executor: Counting):
        self.proxies, self.order, self.ctx, self.store = proxies, order, ctx, store
        self.progress, self.executor = progress, executor
        self.scores: dict[str, np.ndarray] = {}
        self.charges: dict[str, np.ndarray] = {}
        self.schedule: dict[str, str] = {}
        self.charged: dict[tuple[str, int], float] = {}
        self.setups: dict[str, tuple[str, float]] = {}

    def setup(self, proxy) -> float:
        """A candidate's one-off cost (a learned proxy's labels), charged once to ``spent_s`` and
        spread over the pool in its cost per arch."""
        if proxy.name not in self.setups:
            found = proxy.setup(reading(self.ctx, self.store, self.progress, self.executor))
            self.setups[proxy.name] = found or ("", 0.0)
            if found:                      # keyed by what it buys: shared labels are paid once
                self.charged[(found[0], -1)] = found[1]
        return self.setups[proxy.name][1]

    @property
    def setup_s(self) -> float:
        """The one-off costs, each paid once (learned proxies sharing labels share their cost)."""
        return float(sum(dict(self.setups.values()).values()))

    def read(self, names, n: int) -> None:
        indices = self.order[:n]
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(self.proxies[name].store_name, []).append(name)
        for group in groups.values():
            first, *others = [self.proxies[name] for name in group]
            outcomes = compute(first.joined(others), indices, self.ctx, self.store,
                               self.progress, self.executor)
            for name in group:
                proxy = self.proxies[name]
                scores, seconds = read_scores(proxy, [outcomes], indices)
                charges = [proxy.charge(i, s, self.ctx.dataset) for i, s in zip(indices, seconds)]
                self.scores[name] = orient(scores, proxy.higher_is_better)[0]
                self.setup(proxy)
                self.charges[name] = np.array([c.seconds for c in charges])
                for i, c in zip(indices, charges):
                    self.schedule[name] = c.schedule
                    self.charged[(c.schedule, i)] = max(self.charged.get((c.schedule, i), 0.0),
                                                        c.seconds)

    def cost(self, name: str) -> float:
        """Median charged seconds per arch (what the rule compares), plus the candidate's one-off
        cost spread over the pool."""
        return float(np.median(self.charges[name])) + self.setups[name][1] / len(self.order)

    def per_arch(self, names) -> float:
        """What reading ``names`` on one more arch charges: per schedule, the mean charge per arch
        of its dearest read (reads of one schedule share one run; one-off costs apart)."""
        schedules: dict[str, float] = {}
        for name in names:
            mean = float(np.mean(self.charges[name]))
            schedules[self.schedule[name]] = max(schedules.get(self.schedule[name], 0.0), mean)
        return sum(schedules.values())

    @property
    def spent_s(self) -> float:
        return float(sum(self.charged.values()))


def find(spec: FindSpec, registry: Registry, ctx: Context, store: Store, progress: bool = True,
         executor: Executor | None = None) -> dict:
    """Run the finder (every input checked first) and store its result; returns the ``find``
    command's JSON object."""
    candidates = spec.check(registry)
    proxies = {name: registry.get(name) for name in candidates}
    order = spec.order(proxies.values())
    truth = gt.vector(spec.dataset, spec.truth)[order]
    sizes = spec.rule.sizes(len(order))
    counting = Counting(executor or LocalExecutor())
    reader = Reader(proxies, order, ctx, store, progress, counting)
    judge = Judge(OBJECTIVES[spec.objective], spec.rule, spec.seed)
    live, growing = list(candidates), set(candidates)
    dropped, rounds, stopped, fidelity = [], [], {}, {}
    stop = ""
    for number, n in enumerate(sizes):
        reader.read(sorted(growing), n)
        entries = {name: Entry(reader.scores[name], reader.cost(name)) for name in live}
        verdict = judge(entries, truth, growing)
        fidelity.update(verdict.fidelity)
        for name, drop in sorted(verdict.drops.items()):
            dropped.append({"name": name, "kind": proxies[name].kind, "round": number, "n": n,
                            "cost_per_arch_s": entries[name].cost,
                            **verdict.fidelity[name].json(), "by": drop.by,
                            "by_cost_per_arch_s": entries[drop.by].cost,
                            "difference": drop.difference, "difference_ci": list(drop.ci),
                            "common_n": drop.n, "reason": drop.reason})
            live.remove(name)
            growing.discard(name)
        for name in verdict.settled:
            stopped[name] = f"settled in round {number} (CI narrower than {spec.rule.narrow:g}, " \
                            "not contested)"
            growing.discard(name)
        rounds.append({"round": number, "n": n, "live": len(live),
                       "dropped": sorted(verdict.drops), "settled": sorted(verdict.settled),
                       "spent_s": reader.spent_s})
        if not growing:
            stop = "every live candidate settled"
            break
        if number + 1 == len(sizes):
            stop = "pool exhausted"
            break
        extra = sizes[number + 1] - n
        if reader.spent_s + extra * reader.per_arch(growing) > spec.budget_s:
            stop = (f"budget: round {number + 1} ({sizes[number + 1]} archs) would exceed "
                    f"{spec.budget_s:g} s")
            break
    final_n = max(len(reader.scores[name]) for name in candidates)
    for name in growing:
        stopped[name] = stop
    front_costs = {name: reader.cost(name) for name in live}
    ranked = sorted(live)             # exact ties on the front go to the first name
    mask = pareto_front([front_costs[n] for n in ranked], [fidelity[n].value for n in ranked])
    on_front = {n for n, on in zip(ranked, mask) if on}
    front = sorted(({"name": name, "kind": proxies[name].kind, "cost_per_arch_s": front_costs[name],
                     **fidelity[name].json(), "on_point_front": name in on_front,
                     "stopped": stopped[name]} for name in live),
                    key=lambda row: (row["cost_per_arch_s"], row["name"]))
    brute = final_n * reader.per_arch(candidates) + reader.setup_s
    config = spec.config(candidates)
    result = {**config, "front": front, "dropped": dropped, "rounds": rounds, "stop": stop,
              "final_n": final_n, "spent_s": reader.spent_s, "brute_force_s": brute,
              "ratio": reader.spent_s / brute if brute > 0 else None,
              "best_by_bracket": best_per_bracket(front_costs,
                                                  {name: fidelity[name].value for name in live}),
              "digest": config_digest(config), "git": git_hash(), "suite_version": SUITE_VERSION,
              "device": _device(ctx, proxies), "computed_archs": counting.archs}
    FindResults(store).put(result)
    return result


def _device(ctx: Context, proxies: dict) -> str:
    """The device class the computing candidates ran on ("none" if every one is a lookup)."""
    if all(p.lookup for p in proxies.values()):
        return "none"
    return ctx.device.type
