"""``[[find]]`` tables of experiment files: the proxy finder run by ``python -m benchmark run``
after the groups and searches, its stored result shown in the report.

    [[find]]
    name = "cheap proxies"          # optional, unique
    description = "..."             # optional
    space = "synflow,nwot,params c=8 r=8 s=8 e=2 read=all"    # the SPEC of `find --space`
    budget = 600                    # seconds of charged compute
    pool = 200                      # archs the race may read: gt.sample(pool, the file's seed)
    n0 = 25                         # archs of the first round
    objective = "kendall_tau"       # or retrieval_top10
    truth = "valid_200"             # or test_200
    seed = 0                        # the finder seed (default: the file's)
    datasets = ["cifar10"]          # default: the file's

Every table is checked like the command line's (:meth:`FindSpec.check`) when the file is loaded.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from nb201.commands import command_line
from nb201.errors import UserError
from nb201.registry import Registry

from benchmark.experiments.checker import Checker
from benchmark.experiments.section import Section

from .driver import FindSpec, find
from .race import Rule

KEYS = ("name", "description", "space", "budget", "pool", "n0", "objective", "truth", "seed",
        "datasets")


@dataclass(frozen=True)
class FindEntry:
    name: str
    spec: FindSpec
    candidates: tuple[str, ...]
    description: str = ""

    @property
    def digest(self) -> str:
        from nb201.provenance import config_digest
        return config_digest(self.spec.config(self.candidates))

    def command(self) -> str:
        s = self.spec
        return command_line("find", space=s.space, budget=f"{s.budget_s:g}", dataset=s.dataset,
                            seed=s.seed, truth=s.truth, objective=s.objective, pool=s.pool,
                            n0=s.rule.n0, json=True)


def parse_finds(tables, file: str, datasets: tuple[str, ...], seed: int,
                registry: Registry) -> tuple[FindEntry, ...]:
    """Every (table, dataset) of the ``[[find]]`` tables, checked (names resolved in
    ``registry``); the pool is drawn with the file's ``seed``."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UserError(f"{file}: 'find' must be an array of tables [[find]]")
    entries, names = [], set()
    for number, table in enumerate(tables, start=1):
        name = table.get("name", f"find #{number}")
        c = Checker(f"{file}: [[find]] {name!r}", table, KEYS)
        if not isinstance(name, str) or not name or name in names:
            raise UserError(f"{file}: [[find]] #{number}: 'name' must be a unique non-empty string")
        names.add(name)
        for key in ("space", "budget"):
            if key not in table:
                raise UserError(f"{c.where}: {key!r} is missing")
        for dataset in c.datasets("datasets", datasets):
            spec = FindSpec(c.get("space", str, "", "a string"), dataset,
                            c.get("seed", int, seed, "an integer"),
                            float(c.get("budget", (int, float), 0, "a number")),
                            c.get("truth", str, FindSpec.truth, "a string"),
                            c.get("objective", str, FindSpec.objective, "a string"),
                            c.get("pool", int, FindSpec.pool, "an integer"), pool_seed=seed,
                            rule=Rule(n0=c.get("n0", int, Rule.n0, "an integer")))
            try:
                candidates = spec.check(registry)
            except UserError as err:
                raise UserError(f"{c.where}: {err}") from None
            entries.append(FindEntry(name, spec, candidates,
                                     c.get("description", str, "", "a string")))
    return tuple(entries)


def run_finds(entries, contexts, store, registry: Registry, progress: bool = True,
              executor=None) -> list[dict]:
    """Run every finder (what is stored is read, the rest computed); per entry: name, digest,
    dataset, spent_s, brute_force_s, computed_archs."""
    done = []
    for n, entry in enumerate(entries, start=1):
        s = entry.spec
        print(f"[find {n}/{len(entries)}] {entry.name} on {s.dataset}: {len(entry.candidates)} "
              f"candidates, budget {s.budget_s:g} s", file=sys.stderr, flush=True)
        result = find(s, registry, contexts[s.dataset].with_seed(s.proxy_seed), store, progress,
                      executor)
        done.append({"name": entry.name, "digest": result["digest"], "dataset": s.dataset,
                     "spent_s": result["spent_s"], "brute_force_s": result["brute_force_s"],
                     "computed_archs": result["computed_archs"]})
    return done


def plan_lines(entries, duration) -> list[str]:
    """Per finder: its candidates, pool and budget (not estimated)."""
    return [f"  find {f.name!r} on {f.spec.dataset}: {len(f.candidates)} candidates on up to "
            f"{f.spec.pool} archs, at most {duration(f.spec.budget_s)} of charged compute (stored "
            f"reads count; not in the estimate below)" for f in entries]


FINDS = Section(
    "find", lambda tables, d, registry: parse_finds(tables, d.file, d.datasets, d.seed, registry),
    keys=KEYS, plan=lambda entries, plan, duration: plan_lines(entries, duration),
    run=run_finds, done_key="finds", seconds_key="find_seconds",
    ran=lambda seconds, plan, duration: f"; finders in {duration(seconds)}",
    report=lambda exp, entries, done, store, registry: {
        "finds": tuple((f.digest, f.command()) for f in entries)})
