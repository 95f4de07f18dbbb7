"""Each command's result, built by library functions: the JSON objects of ``info``, ``score`` and
``search``, and the report spec of an experiment. The CLI, the Python API, tools and tests call
these (the CLI adds parsing and printing). Imports ``analysis``, so the CLI imports this module only in the
commands that use it; the report's plotting is imported only by :func:`experiment_report`."""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from analysis.scorecard import scorecard

from nb201.commands import command_line
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import Store

from .experiments.spec import Experiment
from .runner import Request, mean_scores

if TYPE_CHECKING:
    from analysis.report import ReportSpec


#: the table's values ``info`` shows for every dataset (accuracies in %, NB201's mean over seeds)
INFO_METRICS = ("test_200", "valid_200", "test_12", "valid_12", "train_time_200_s", "latency_s")


def arch_info(token, dataset: str, nb201_file: str | None = None) -> dict:
    """The ``info`` command's JSON object: an arch (NB201 index or string) with its unique form,
    params and FLOPs in millions (C=16, N=5, the dataset's resolution) and its truth on
    ``dataset``; and under ``datasets``, for every dataset: params, FLOPs, the 200- and 12-epoch
    test and validation accuracies, NB201's recorded 200-epoch training time and its latency."""
    from nb201 import groundtruth as gt
    from nb201.catalog import DATASETS, dataset_spec
    from nb201.complexity import flops_m, params_m
    from nb201.numbers import json_number
    index = gt.resolve(str(token))
    arch = gt.arch_of(index)
    dataset_spec(dataset)
    metrics = ("test_200", "valid_200", "test_12")
    if nb201_file:
        from nb201.nb201_file import load_truth
        truth = {m: json_number(load_truth(nb201_file, dataset, m, [index])[index])
                 for m in metrics}
    else:
        truth = {m: json_number(gt.vector(dataset, m)[index]) for m in metrics}

    def sizes(name: str) -> dict:
        spec = dataset_spec(name)
        return {"params_m": round(params_m(arch, spec.num_classes), 6),
                "flops_m": round(flops_m(arch, spec.num_classes, spec.resolution), 6)}

    return {"index": index, "arch": str(arch), "unique": arch.canonical(), **sizes(dataset),
            "truth": truth,
            "datasets": {d: {**sizes(d), **{m: json_number(gt.vector(d, m)[index])
                                            for m in INFO_METRICS}} for d in DATASETS}}


def info_text(info: dict, dataset: str) -> str:
    """:func:`arch_info` for a person: the arch, then one column per dataset."""
    rows = {"params_m": ("params (M)", "{:.4f}"), "flops_m": ("FLOPs (M)", "{:.2f}"),
            "test_200": ("test accuracy, 200 epochs (%)", "{:.2f}"),
            "valid_200": ("valid accuracy, 200 epochs (%)", "{:.2f}"),
            "test_12": ("test accuracy, 12 epochs (%)", "{:.2f}"),
            "valid_12": ("valid accuracy, 12 epochs (%)", "{:.2f}"),
            "train_time_200_s": ("training time, 200 epochs (s)", "{:,.0f}"),
            "latency_s": ("latency (ms)", "{:.2f}")}
    scale = {"latency_s": 1000}

    def cell(key: str, value) -> str:
        return "–" if value is None else rows[key][1].format(value * scale.get(key, 1))

    datasets = list(info["datasets"])
    width = max(len(label) for label, _ in rows.values())
    lines = [f"NB201 index {info['index']}: {info['arch']}",
             f"unique form: {info['unique']}", "",
             f"{'':<{width}}  " + "  ".join(f"{d:>14}" for d in datasets)]
    lines += [f"{label:<{width}}  " + "  ".join(f"{cell(key, info['datasets'][d][key]):>14}"
                                               for d in datasets)
              for key, (label, _) in rows.items()]
    lines += ["", f"NB201's measurements (accuracy: mean over its seeds; CIFAR-10's test accuracy "
                  f"after training on train+valid, its valid accuracy from cifar10-valid); "
                  f"--json gives them under 'datasets', and {dataset}'s truth under 'truth'"]
    return "\n".join(lines)


def score(request: Request, ctx: Context, store: Store, progress: bool = True,
          executor=None) -> dict:
    """Score ``request.proxy`` on ``request.indices`` (mean over seeds), computing what the store
    lacks, and compare with the truth: the ``score`` command's JSON object."""
    started = time.perf_counter()
    request.check()
    own = frozenset().union(*(request.proxy.excluded(s) for s in request.seeds))
    judged = [i for i in request.indices if i not in own]
    if not judged:
        raise UserError(f"{request.proxy.name}: every arch asked for is one of its training archs "
                        "(a learned proxy is judged on other archs only)")
    left_out = len(request.indices) - len(judged)
    request = dataclasses.replace(request, indices=judged)
    truth = request.truth_values()      # before computing: a bad truth file costs nothing
    scores, seconds = mean_scores(request, ctx, store, progress, executor)
    out = scorecard(request.proxy, request.dataset, request.truth, request.indices, scores,
                    truth, seconds, request.seeds, time.perf_counter() - started)
    if left_out:
        out["excluded_training_archs"] = left_out
    return out


def search_result(checked, found: dict, lookup: tuple[str, ...] = ()) -> dict:
    """The ``search`` command's JSON object: the spec, the summary over runs (truth of what each
    run returns, reach of the optimum at any point and at the end, costs), the truth of each run's
    final arch on the ``lookup`` datasets, the spec's warnings and every run (``found``:
    ``run.search``)."""
    from analysis.search import looked_up, optimum, summarize
    from nb201 import groundtruth as gt
    spec, described = checked.spec, found["spec"]
    summary = summarize(found["runs"], optimum(spec.dataset, spec.truth))
    limits = spec.limits
    return {"strategy": spec.strategy, "fitness": spec.fitness, "dataset": spec.dataset,
            "truth": spec.truth, "runs": spec.runs, "seed": spec.seed,
            "budget_s": limits.budget_s, "queries": limits.queries, "ladder": described["ladder"],
            "options": described["options"], "levels": described["levels"],
            **{k: v for k, v in summary.items() if k != "runs"},
            "lookup": {d: {**looked_up(found["runs"], gt.vector(d, spec.truth)),
                           "optimum": optimum(d, spec.truth)} for d in lookup},
            "warnings": list(checked.warnings),
            "digest": found["digest"], "computed_runs": found["computed_runs"],
            "device": found["device"], "runs_detail": found["runs"], "label": described["label"]}


def experiment_report(exp: Experiment, plan=None, command: str | None = None,
                      done: dict | None = None, store=None, registry=None) -> ReportSpec:
    """What the report of an experiment shows: its selections, on the data sources and settings
    its ``plan`` ran (else every stored one), what was skipped, the command that ran it, and what
    each section adds (:mod:`.experiments.sections`): from its run's summary ``done``, else (None)
    from what ``store`` holds."""
    from analysis.report import ReportSpec

    from .experiments.sections import sections
    sources, settings, skipped = (plan.sources, plan.settings, plan.skipped) if plan else ({}, {}, ())
    included = [(other, other.selections()) for other in exp.includes]
    design = exp.design() + tuple(
        (f"{other.name}: {name}", *rest[:-1],
         f"{rest[-1]} (included for the report: read from the store and the shipped results "
         f"packs, not computed by this run; `{command_line('run', other.name)}` computes "
         "what is missing)")
        for other, _ in included for name, *rest in other.design())
    fields = {}
    for section in sections():
        rows = None if done is None else done.get(section.done_key, [])
        fields.update(section.report(exp, exp.section(section.key), rows, store, registry))
    return ReportSpec(title=exp.title or f"Experiment {exp.name}",
                      selections=exp.selections(sources, {(p, d) for p, d, _ in skipped}, settings)
                      + tuple(sel for _, sels in included for sel in sels),
                      truth=exp.truth, main=exp.main, description=exp.description,
                      commands=(command or command_line("run", exp.name),),
                      skipped=tuple(skipped), design=design,
                      included=tuple((other.name, tuple((s.proxy, s.dataset) for s in sels))
                                     for other, sels in included), **fields)
