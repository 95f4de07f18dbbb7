"""``[[search]]`` tables of experiment files: parsed and checked with the experiment, planned
and run by ``python -m benchmark run`` after the proxy groups, reported from the store.

    [[search]]
    name = "nb201-rea"              # optional, unique
    description = "..."             # optional
    strategy = "rea"                # or a list: one search per combination
    fitness = "nb201-12ep-valid"    # a proxy, a ladder or a preset (or a list)
    budget = 12000                  # seconds of charged cost (or a list), or: queries = 100
    runs = 100
    datasets = ["cifar10"]          # optional (default: the experiment's)
    seed = 0                        # optional (default: the experiment's)
    population = 10                 # options of `python -m benchmark search` (snake_case):
                                    # sample_size, unique, zc_proxy, pool, zc_move, age

A run's plan estimates what each search's runs not yet stored will compute
(:func:`estimate_searches`; the rule is in :mod:`benchmark.experiments.plan`).

``strategy``, ``fitness``, ``budget``/``queries`` and the options may be lists: one search per
combination (an option a strategy does not read is ignored by it). Every combination is checked
like the command line's (``benchmark.search.run.check``) when the file is loaded; a mistake is
one line naming the file and the table.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
from dataclasses import dataclass

from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.commands import command_line
from nb201.errors import UserError
from nb201.numbers import json_number
from nb201.registry import Registry
from nb201.store import Key

from benchmark.experiments.checker import Checker
from benchmark.experiments.section import Section

from .loop import Limits
from .run import Checked, SearchSpec, check, identity, label, search, what
from .strategy import Options

KEYS = ("name", "description", "strategy", "fitness", "budget", "queries", "runs", "datasets",
        "seed", *(f.name for f in dataclasses.fields(Options)))
OPTION_TYPES = {f.name: type(getattr(Options(), f.name)) for f in dataclasses.fields(Options)}


@dataclass(frozen=True)
class SearchEntry:
    name: str
    checked: Checked

    @property
    def spec(self) -> SearchSpec:
        return self.checked.spec

    def command(self) -> str:
        """The ``search`` command that runs (or reads back) the same runs alone."""
        s, options = self.spec, self.checked.strategy.options()
        limit = (dict(budget=f"{s.limits.budget_s:g}") if s.limits.budget_s is not None
                 else dict(queries=s.limits.queries))
        changed = {k: v for k, v in options.items() if v != getattr(Options(), k)}
        return command_line("search", strategy=s.strategy, fitness=s.fitness, dataset=s.dataset,
                            **limit, runs=s.runs, seed=s.seed, **changed, truth=s.truth, json=True)


def parse_searches(tables, file: str, datasets: tuple[str, ...], seed: int, truth: str,
                   registry: Registry[Proxy]) -> tuple[SearchEntry, ...]:
    """Every (table, combination of list values, dataset) of the ``[[search]]`` tables, checked
    (fitness proxies resolved in ``registry``)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UserError(f"{file}: 'search' must be an array of tables [[search]]")
    entries, names = [], set()
    for number, table in enumerate(tables, start=1):
        name = table.get("name", f"search #{number}")
        c = Checker(f"{file}: [[search]] {name!r}", table, KEYS)
        if not isinstance(name, str) or not name or name in names:
            raise UserError(f"{file}: [[search]] #{number}: 'name' must be a unique non-empty "
                            f"string")
        names.add(name)
        for key in ("strategy", "fitness"):
            if key not in table:
                raise UserError(f"{c.where}: {key!r} is missing")
        try:
            Limits.check_given("budget" in table, "queries" in table)
        except UserError as err:
            raise UserError(f"{c.where}: {err}") from None
        runs, run_seed = c.get("runs", int, 1, "an integer"), c.get("seed", int, seed, "an integer")
        axes = {"strategy": c.values("strategy", str), "fitness": c.values("fitness", str),
                "limits": ([Limits(budget_s=float(b)) for b in c.values("budget", (int, float))]
                           if "budget" in table else
                           [Limits(queries=q) for q in c.values("queries", int)]),
                "dataset": c.values("datasets", str, list(datasets))}
        axes.update({key: c.values(key, kind) for key, kind in OPTION_TYPES.items()
                     if key in table})
        for combination in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combination))
            options = Options(**{k: v for k, v in chosen.items() if k in OPTION_TYPES})
            spec = SearchSpec(chosen["strategy"], chosen["fitness"], chosen["dataset"],
                              chosen["limits"], runs, run_seed, truth, options)
            try:
                entries.append(SearchEntry(name, check(spec, registry)))
            except UserError as err:
                raise UserError(f"{c.where}: {err}") from None
    return tuple(entries)


@dataclass(frozen=True)
class LevelEstimate:
    """One stored proxy setting a search reads (levels that read one stored run are one, joined:
    ``c4r4s0e40@20`` and ``@40``): at most how many distinct archs its runs not yet stored read,
    how many the store holds, and its seconds per arch with their basis."""

    key: Key
    proxy: Proxy
    serves: tuple[str, ...]
    reads_per_run: float        # math.inf: no bound below the number of archs
    archs: int
    stored: int
    before: int                 # computed earlier in the same run (proxy groups, searches)
    seconds_per_arch: float
    basis: str

    @property
    def missing(self) -> int:
        return max(0, self.archs - self.stored - self.before)

    @property
    def estimate_s(self) -> float:
        return self.missing * self.seconds_per_arch

    def reads(self, runs: int) -> str:
        if self.proxy.lookup:
            return "a table, read for every arch once"
        if math.isinf(self.reads_per_run):
            return f"no bound on reads x {runs} runs"
        return f"<= {self.reads_per_run:,.0f} reads/run x {runs} runs"

    def describe(self) -> dict:
        return {"proxy": self.proxy.store_name, "serves": list(self.serves),
                "kind": self.proxy.kind, "reads_per_run": json_number(self.reads_per_run),
                "archs": self.archs, "stored": self.stored, "before": self.before,
                "missing": self.missing,
                "seconds_per_arch": self.seconds_per_arch, "basis": self.basis,
                "estimate_s": self.estimate_s}


@dataclass(frozen=True)
class SearchEstimate:
    """What a search's runs not yet stored will compute (an upper estimate), or why it cannot be
    planned (``problem``: images that cannot be loaded, ...)."""

    entry: SearchEntry
    stored_runs: int
    levels: tuple[LevelEstimate, ...] = ()
    problem: str = ""

    @property
    def to_run(self) -> int:
        return self.entry.spec.runs - self.stored_runs

    @property
    def missing(self) -> int:
        return sum(level.missing for level in self.levels)

    @property
    def estimate_s(self) -> float:
        return sum(level.estimate_s for level in self.levels)

    def describe(self) -> dict:
        s = self.entry.spec
        return {"name": self.entry.name, "label": label(self.entry.checked), "dataset": s.dataset,
                **s.limits.describe(), "runs": s.runs, "stored_runs": self.stored_runs,
                "levels": [level.describe() for level in self.levels], "missing": self.missing,
                "estimate_s": self.estimate_s, "problem": self.problem or None}


def stored_searches(entries, store) -> list[tuple[str, int, int, str]]:
    """The stored searches of ``entries``, read back without running them: (digest, seed, runs,
    command) of every stored search that is an entry (:func:`~.run.what`, and its seed), on
    any device or data copy."""
    from nb201.store import SearchRuns
    frame = SearchRuns(store).frame()
    stored = {(row.digest, row.seed): json.loads(row.spec)
              for row in frame.drop_duplicates(["digest", "seed"]).itertuples()}
    out = []
    for entry in entries:
        wanted = what(entry.checked)
        out += [(digest, seed, entry.spec.runs, entry.command())
                for (digest, seed), spec in stored.items()
                if seed == entry.spec.seed and {k: spec.get(k) for k in wanted} == wanted]
    return out


def estimate_searches(entries, contexts, store, rate, before=None) -> tuple[SearchEstimate, ...]:
    """Per search, the fitness scores its runs not yet stored will compute that the store lacks
    (the rule is in :mod:`benchmark.experiments.plan`); ``rate(proxy, key)``: seconds per arch of
    a proxy setting and its basis in words; ``before``: Key -> archs the same run computes first
    (the proxy groups). A setting's archs counted by one search are not counted again later."""
    before = dict(before or {})
    found = []
    for entry in entries:
        ctx = contexts[entry.spec.dataset].with_seed(entry.spec.proxy_seed)
        found.append(_estimate(entry, ctx, store, rate, before))
        for level in found[-1].levels:
            before[level.key] = before.get(level.key, 0) + level.missing
    return tuple(found)


def _estimate(entry: SearchEntry, ctx, store, rate, before: dict) -> SearchEstimate:
    from nb201.store import SearchRuns
    s, proxies = entry.spec, entry.checked.proxies
    try:
        found = SearchRuns(store).get(identity(entry.checked, ctx, store), s.seed,
                                      list(range(s.runs)))
        keys = [Key.of(proxy, ctx) for proxy in proxies]
    except UserError as err:
        return SearchEstimate(entry, 0, problem=str(err))
    shared: dict = {}
    for level, (proxy, key) in enumerate(zip(proxies, keys)):
        shared.setdefault(key, []).append((level, proxy))
    to_run = s.runs - len(found)
    return SearchEstimate(entry, len(found), tuple(
        _level(entry, key, reads, to_run, store, rate, before.get(key, 0))
        for key, reads in shared.items()))


def _level(entry: SearchEntry, key: Key, reads, to_run: int, store, rate,
           before: int) -> LevelEstimate:
    """The estimate of one proxy setting read at ``reads`` (level, proxy) of a search."""
    proxies = [proxy for _, proxy in reads]
    proxy = proxies[0].joined(proxies)
    per_run = max(_reads_per_run(entry, level, p, rate(p, key)[0]) for level, p in reads)
    archs = 0 if to_run == 0 else math.ceil(min(gt.NUM_ARCHS, per_run * to_run))
    outcomes = store.get(key, list(range(gt.NUM_ARCHS))) if archs else {}
    stored = sum(1 for outcome in outcomes.values() if proxy.covers(outcome))
    per_arch, basis = rate(proxy, key)
    return LevelEstimate(key, proxy, tuple(p.name for p in proxies), per_run, archs, stored,
                         before, per_arch, basis)


def _reads_per_run(entry: SearchEntry, level: int, proxy: Proxy, per_arch: float) -> float:
    """At most about how many archs one run reads at ``level``: a table is read for every arch;
    else min(budget / seconds per arch, queries) (a non-table proxy is charged its compute
    seconds), and the strategy's own bound (``Strategy.max_reads``)."""
    if proxy.lookup:
        return gt.NUM_ARCHS
    limits = entry.spec.limits
    if limits.queries is not None:
        bound = float(limits.queries)
    else:
        bound = limits.budget_s / per_arch if per_arch > 0 else math.inf
    return min(bound, entry.checked.strategy.max_reads(level))


def plan_lines(estimates, duration) -> list[str]:
    """Per search: what it is, its runs stored and to run and its estimate; then one line per
    proxy setting it reads, with the basis of its estimate. ``duration``: seconds in words."""
    lines = []
    for e in estimates:
        s = e.entry.spec
        limit = (f"budget {s.limits.budget_s:g} s" if s.limits.budget_s is not None
                 else f"{s.limits.queries} queries")
        head = (f"  search {label(e.entry.checked)} on {s.dataset}, {limit}: {s.runs} runs, "
                f"{e.stored_runs} stored, {e.to_run} to run")
        if e.problem:
            lines.append(f"{head}; not estimated: {e.problem}")
            continue
        lines.append(f"{head}; estimate {duration(e.estimate_s)} for up to {e.missing:,} "
                     f"fitness scores")
        lines += [_level_line(level, e.to_run, duration) for level in e.levels]
    return lines


def _level_line(level: LevelEstimate, runs: int, duration) -> str:
    earlier = f" + {level.before:,} computed earlier in this run" if level.before else ""
    return (f"    {level.proxy.store_name}: {level.reads(runs)} -> {level.archs:,} archs, "
            f"{level.stored:,} stored{earlier}, {level.missing:,} missing x "
            f"{level.seconds_per_arch:.3g} s/arch ({level.basis}) = {duration(level.estimate_s)}")


def run_searches(entries, contexts, store, progress: bool = True, executor=None) -> list[dict]:
    """Run every search's missing runs, computing the fitness scores the store lacks with
    ``executor`` (default: in this process); per search: digest, seed, runs, label, dataset,
    computed."""
    done = []
    for n, entry in enumerate(entries, start=1):
        s = entry.spec
        print(f"[search {n}/{len(entries)}] {label(entry.checked)} on {s.dataset}: {s.runs} runs",
              file=sys.stderr, flush=True)
        for line in entry.checked.warnings:
            print(f"warning: {line}", file=sys.stderr, flush=True)
        found = search(entry.checked, contexts[s.dataset].with_seed(s.proxy_seed), store, progress,
                       executor)
        done.append({"name": entry.name, "digest": found["digest"], "seed": s.seed, "runs": s.runs,
                     "dataset": s.dataset, "label": found["spec"]["label"],
                     "computed_runs": found["computed_runs"]})
    return done


def _report(exp, entries, done, store, registry) -> dict:
    """The stored searches to report: those the run returned (``done``), else every stored one
    that is an entry."""
    if done is None:
        return {"searches": tuple(stored_searches(entries, store))}
    return {"searches": tuple((s["digest"], s["seed"], s["runs"], e.command())
                              for s, e in zip(done, entries))}


SEARCHES = Section(
    "search", lambda tables, d, registry: parse_searches(tables, d.file, d.datasets, d.seed,
                                                         d.truth, registry),
    keys=KEYS, plan=lambda entries, plan, duration: plan_lines(plan.searches, duration),
    run=lambda entries, contexts, store, registry, progress, executor: run_searches(
        entries, contexts, store, progress, executor),
    done_key="searches", seconds_key="search_seconds",
    ran=lambda seconds, plan, duration: (f"; searches in {duration(seconds)} (estimated "
                                         f"{duration(plan.searches_s)})"),
    report=_report)
