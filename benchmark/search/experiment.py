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

``strategy``, ``fitness``, ``budget``/``queries`` and the options may be lists: one search per
combination (an option a strategy does not read is ignored by it). Every combination is checked
like the command line's (``benchmark.search.service.check``) when the file is loaded; a mistake is
one line naming the file and the table.
"""
from __future__ import annotations

import dataclasses
import itertools
import sys
from dataclasses import dataclass

from nb201.api import Proxy
from nb201.errors import UserError
from nb201.registry import Registry

from .loop import Limits
from .service import Checked, SearchSpec, check, describe, digest, label, search
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
        limit = (f"--budget {s.limits.budget_s:g}" if s.limits.budget_s is not None
                 else f"--queries {s.limits.queries}")
        flags = "".join(f" --{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                        for k, v in options.items() if v != getattr(Options(), k))
        return (f"python -m benchmark search --strategy {s.strategy} --fitness {s.fitness} "
                f"--dataset {s.dataset} {limit} --runs {s.runs} --seed {s.seed}"
                f"{flags} --truth {s.truth} --json")


def _list(value, where: str, key: str, kind) -> list:
    """A value or a non-empty list of values of ``kind`` (bools are not ints here)."""
    values = value if isinstance(value, list) else [value]
    ok = (lambda v: isinstance(v, bool)) if kind is bool else \
        (lambda v: isinstance(v, kind) and not isinstance(v, bool))
    if not values or not all(ok(v) for v in values):
        what = kind.__name__ if isinstance(kind, type) else "number"
        raise UserError(f"{where}: {key!r} must be a {what} or a non-empty list of them, "
                        f"got {value!r}")
    return values


def parse_searches(tables, file: str, datasets: tuple[str, ...], seed: int, truth: str,
                   registry: Registry[Proxy]) -> tuple[SearchEntry, ...]:
    """Every (table, combination of list values, dataset) of the ``[[search]]`` tables, checked
    (fitness proxies resolved in ``registry``)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UserError(f"{file}: 'search' must be an array of tables [[search]]")
    entries, names = [], set()
    for number, table in enumerate(tables, start=1):
        name = table.get("name", f"search #{number}")
        where = f"{file}: [[search]] {name!r}"
        unknown = [k for k in table if k not in KEYS]
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
        if not isinstance(name, str) or not name or name in names:
            raise UserError(f"{file}: [[search]] #{number}: 'name' must be a unique non-empty "
                            f"string")
        names.add(name)
        for key in ("strategy", "fitness"):
            if key not in table:
                raise UserError(f"{where}: {key!r} is missing")
        try:
            Limits.check_given("budget" in table, "queries" in table)
        except UserError as err:
            raise UserError(f"{where}: {err}") from None
        for key in ("runs", "seed"):
            if key in table:
                _list(table[key], where, key, int)
                if isinstance(table[key], list):
                    raise UserError(f"{where}: {key!r} must be an integer, got {table[key]!r}")
        axes = {"strategy": _list(table["strategy"], where, "strategy", str),
                "fitness": _list(table["fitness"], where, "fitness", str),
                "limits": ([Limits(budget_s=float(b)) for b in
                            _list(table["budget"], where, "budget", (int, float))]
                           if "budget" in table else
                           [Limits(queries=q)
                            for q in _list(table["queries"], where, "queries", int)]),
                "dataset": _list(table.get("datasets", list(datasets)), where, "datasets", str)}
        axes.update({key: _list(table[key], where, key, kind)
                     for key, kind in OPTION_TYPES.items() if key in table})
        for combination in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combination))
            options = Options(**{k: v for k, v in chosen.items() if k in OPTION_TYPES})
            spec = SearchSpec(chosen["strategy"], chosen["fitness"], chosen["dataset"],
                              chosen["limits"], table.get("runs", 1), table.get("seed", seed),
                              truth, options)
            try:
                entries.append(SearchEntry(name, check(spec, registry)))
            except UserError as err:
                raise UserError(f"{where}: {err}") from None
    return tuple(entries)


def plan_lines(entries, contexts, store) -> list[str]:
    """One line per search: what it is and how many of its runs are stored."""
    from nb201.store import SearchRuns
    from .fitness import Fitness
    lines = []
    for entry in entries:
        s = entry.spec
        fitness = Fitness(entry.checked.proxies, contexts[s.dataset], store)
        stored = len(SearchRuns(store).get(digest(describe(entry.checked, fitness)), s.seed,
                                           list(range(s.runs))))
        limit = (f"budget {s.limits.budget_s:g} s" if s.limits.budget_s is not None
                 else f"{s.limits.queries} queries")
        lines.append(f"  search {label(entry.checked)} on {s.dataset}, {limit}: {s.runs} runs, "
                     f"{stored} stored, {s.runs - stored} to run")
    return lines


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
