"""Running an experiment: plan what the store lacks, print the plan and a time estimate (proxy
groups and searches: :mod:`.plan`) to stderr, and compute the missing results through
:func:`benchmark.runner.compute` (cheapest first, committed chunk by chunk, so a killed run
resumes). Writing the report is the caller's (the CLI wires this module and ``analysis.report``)."""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

from nb201.commands import command_line
from nb201.registry import Registry
from nb201.context import Context, resolve_device
from nb201.datasets import check_data_dir
from nb201.devices import device_name
from nb201.catalog import DATASETS
from benchmark.executors import Executor
from benchmark.runner import compute
from nb201.store import DEFAULT_PATH, Key, Store

from .plan import Plan, duration, format_plan, make_plan
from .sections import sections
from .spec import EXPERIMENTS_DIR, Experiment, load_experiment, parse_data_dir


@dataclass(frozen=True)
class Run:
    """What :func:`run_experiment` did: the experiment, its plan, and a JSON-able summary."""

    experiment: Experiment
    plan: Plan
    summary: dict
    command: str
    store: Store


def command(exp: Experiment, results, out, device, data_dir) -> str:
    """The ``run`` command line that reproduces this run."""
    return command_line("run", exp.name if exp.path.parent == EXPERIMENTS_DIR else exp.path,
                        results=results, out=out, device=device or None, data_dir=data_dir or None)


def prepare(exp: Experiment, registry: Registry, results=DEFAULT_PATH, device: str | None = None,
            data_dir: str | None = None) -> tuple[dict, Store, Plan]:
    """The contexts per dataset (the file's run options, ``device`` and ``data_dir`` overriding
    them; every data dir given is checked), the store, and the plan: what a run of ``exp`` would
    compute (nothing is computed)."""
    dirs = parse_data_dir(data_dir)
    options = exp.options if device is None else dataclasses.replace(exp.options, device=device)
    options = dataclasses.replace(options, device=resolve_device(options.device))  # once
    contexts = {d: Context.of(d, 0, options, data_dir=dirs if isinstance(dirs, str) else
                              (dirs or {}).get(d, exp.data_dir(d)))
                for d in DATASETS}
    for data_dir in dict.fromkeys(c.data_dir for c in contexts.values()):
        check_data_dir(data_dir)        # every one given (or $NB201_DATA_DIR), read or not
    store = Store(results)
    return contexts, store, make_plan(exp, registry, store, contexts,
                                      device_name(contexts["cifar10"].device))


def run_experiment(name, registry: Registry, results=DEFAULT_PATH, out="results",
                   device: str | None = None, data_dir: str | None = None, dry_run: bool = False,
                   progress: bool = True, executor: Executor | None = None) -> Run:
    """Plan, print the plan and estimate (stderr), compute what is missing into the store at
    ``results`` (opened once every input has been checked).

    ``device`` overrides the experiment's; ``data_dir`` is one folder for every dataset or
    ``dataset=DIR,...`` (overrides the file's ``[data_dirs]``). The summary has a one-line
    "message"."""
    started = time.perf_counter()
    exp = load_experiment(name, registry)
    contexts, store, plan = prepare(exp, registry, results, device, data_dir)
    print(format_plan(exp, plan), file=sys.stderr, flush=True)
    summary = {"experiment": exp.name, "file": str(exp.path), "device": plan.device,
               "dry_run": dry_run, "plan": [u.describe() for u in plan.units],
               "skipped": [{"proxy": p, "dataset": d, "reason": r} for p, d, r in plan.skipped],
               "missing": plan.missing, "estimate_s": plan.estimate_s,
               "groups_estimate_s": plan.groups_s, "searches_estimate_s": plan.searches_s,
               "search_plan": [s.describe() for s in plan.searches]}
    line = command(exp, store.path, out, device, data_dir)
    if dry_run:
        scores = (f" and up to {plan.search_missing:,} fitness scores of searches"
                  if plan.searches else "")
        summary["message"] = (f"{exp.name}: {plan.missing:,} results{scores} to compute, estimated "
                              f"{duration(plan.estimate_s)} on {plan.device} (dry run: nothing "
                              f"computed)")
        return Run(exp, plan, summary, line, store)
    todo = [u for u in plan.units if u.missing]
    for unit in plan.units:                   # complete in the store: served as they are
        if not unit.missing:
            store.served(Key.of(unit.proxy, contexts[unit.dataset].with_seed(unit.seed)),
                         unit.indices)
    compute_started = time.perf_counter()
    for n, unit in enumerate(todo, start=1):
        print(f"[{n}/{len(todo)}] {unit.proxy.store_name} on {unit.dataset}, seed {unit.seed}: "
              f"{len(unit.missing)} archs (estimate {duration(unit.estimate_s)})",
              file=sys.stderr, flush=True)
        compute(unit.proxy, list(unit.indices), contexts[unit.dataset].with_seed(unit.seed), store,
                progress=progress, executor=executor)
    computed_s = time.perf_counter() - compute_started   # what the estimate covers
    ran = ""
    for section in sections():                # the groups' units were computed above
        entries = exp.section(section.key)
        if section.run is None or not entries:
            continue
        section_started = time.perf_counter()
        summary[section.done_key] = section.run(entries, contexts, store, registry, progress,
                                                executor)
        summary[section.seconds_key] = time.perf_counter() - section_started
        ran += section.ran(summary[section.seconds_key], plan, duration)
    summary.update(computed=plan.missing, compute_seconds=computed_s,
                   wall_seconds=time.perf_counter() - started)
    summary["message"] = (f"{exp.name}: {plan.missing:,} results computed in "
                          f"{duration(computed_s)} "
                          f"(estimated {duration(plan.groups_s)}){ran}")
    return Run(exp, plan, summary, line, store)
