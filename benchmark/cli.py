"""The command line: ``python -m benchmark {proxies,info,score,search,find,learn,report,run,export,import,prune}``.

A thin layer over the library, and the one module that wires its layers together: the proxies
(plugins) into the registry, the runner and experiments (orchestration) to the store, and the
results to ``analysis`` (through :mod:`benchmark.command_results`). Each command imports what it uses when
it runs, so ``--help`` and a cached ``score`` do not load what they do not need (torch, plotting).
With ``--json`` a command prints exactly one JSON object on stdout; progress and logs go to stderr. Bad input exits with status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from contextlib import contextmanager

from nb201.catalog import (DATASETS, DEFAULT_DATASET, DEFAULT_RESULTS, DEFAULT_TRUTH,
                           EMBEDDED_DATASETS, SELECTION_TRUTH, TRUTHS, check_seed, check_seeds)
from nb201.commands import PROGRAM
from nb201.errors import UserError
from nb201.lists import comma_list
from nb201.options import RunOptions, flag, run_option_fields

from .find import DEFAULT_N0, DEFAULT_OBJECTIVE, DEFAULT_POOL

#: the fields of ``proxies --json`` (the CLI contract)
PROXY_FIELDS = ("name", "kind", "higher_is_better", "version")
NB201_FILE_HELP = ("take the truth from an official NAS-Bench-201 .pth or NATS-Bench tss file "
                   "(needs the nas-bench-201 or nats_bench package)")
RESULTS_HELP = f"SQLite results store (default: {DEFAULT_RESULTS})"
#: the run options each computing command takes (RunOptions fields; flags made from their metadata)
SCORE_OPTIONS = tuple(f.name for f in run_option_fields())
SEARCH_OPTIONS = ("device", "data_dir", "fuse", "amp", "zc_batch")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise UserError(f"{self.prog}: {message}")


def _registry():
    """The proxy registry, filled (importing the proxies loads torch: only commands that need it)."""
    from proxies import REGISTRY
    return REGISTRY


def _load_plugins(text: str | None) -> None:
    if text:
        from proxies import plugins
        plugins.add(comma_list(text, "--plugins", "files"))


def _emit(obj: dict, as_json: bool, text: str) -> None:
    print(json.dumps(obj, allow_nan=False) if as_json else text)


def _tallied(result: dict, store) -> dict:
    """``result`` with the ``store`` object (rows served from the store and its results packs,
    rows computed), which is also printed to stderr as one line."""
    from nb201.store import tally_line
    tally = store.tally.as_dict()
    print(tally_line(tally), file=sys.stderr)
    return {**result, "store": tally}


def cmd_proxies(args) -> None:
    registry = _registry()
    rows = [{k: p.describe()[k] for k in PROXY_FIELDS} for p in registry]
    table = [("name", "kind", "better", "version")] + [
        (r["name"], r["kind"], "higher" if r["higher_is_better"] else "lower", f"v{r['version']}")
        for r in rows]
    widths = [max(len(row[c]) for row in table) for c in range(3)]
    lines = ["  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)) + f"  {row[3]}"
             for row in table]
    lines += ["", "families (any name of the pattern is a proxy):"]
    lines += [f"  {p}" for p in registry.patterns()]
    _emit({"proxies": rows}, args.json, "\n".join(lines))


def cmd_info(args) -> None:
    from .command_results import arch_info, info_text
    out = arch_info(args.arch, args.dataset, args.nb201_file)
    _emit(out, args.json, info_text(out, args.dataset))


def _seeds(text: str) -> tuple[int, ...]:
    items = comma_list(text, "--seeds", "seeds")
    try:
        seeds = [int(t) for t in items]
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, got {text!r}") from None
    return check_seeds(seeds, "--seeds")


def _indices(args) -> list[int]:
    from nb201 import groundtruth as gt
    if args.all:
        return list(range(gt.NUM_ARCHS))
    if args.archs is not None:
        return list(dict.fromkeys(gt.resolve_archs(args.archs)))
    return gt.sample(args.sample, args.seed)


def add_run_options(p: argparse.ArgumentParser, names: tuple[str, ...], override: bool = False,
                    helps: dict[str, str] | None = None) -> None:
    """The flags of the run options ``names``, made from RunOptions' field metadata; with
    ``override`` every default is None (the experiment file's value stands unless given)."""
    fields = {f.name: f for f in run_option_fields()}
    for name in names:
        meta, default = fields[name].metadata, fields[name].default
        help_ = (helps or {}).get(name, meta["help"])
        if meta["kind"] is bool:
            p.add_argument(f"--{flag(name)}", action="store_true", default=None if override
                           else default, help=help_)
        else:
            p.add_argument(f"--{flag(name)}", type=meta["kind"], help=help_,
                           default=None if override else default)


def run_options(args, names: tuple[str, ...]) -> RunOptions:
    """The RunOptions of parsed flags (the others at their defaults)."""
    return RunOptions(**{name: getattr(args, name) for name in names})


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--ray-address``: the options of every command that computes."""
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where chunks are scored: this process (default) or Ray tasks")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: a Ray cluster's address, or auto for the cluster of "
                        "`ray start --head` on this machine (default: start a local Ray instance)")


def add_compute_args(p: argparse.ArgumentParser, options: tuple[str, ...],
                     executor: bool = True) -> None:
    """The flags every command that scores proxies ends with: ``--results``, the run options
    ``options``, ``--quiet`` and (with ``executor``) ``--executor`` and ``--ray-address``."""
    p.add_argument("--results", default=None, help=RESULTS_HELP)
    add_run_options(p, options)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if executor:
        add_executor_args(p)


@contextmanager
def executor_from(args, start: bool = True):
    """The executor the options ask for; a Ray one is connected on entry and closed on exit (the
    Ray module is imported only then). ``start=False`` (a dry run): the options are checked, and
    the local executor stands in."""
    from .executors import LocalExecutor
    if args.ray_address and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray")
    if args.executor == "local" or not start:
        yield LocalExecutor()
        return
    from nb201.extras import require
    require("ray", "--executor ray")
    from .ray_executor import RayExecutor
    with RayExecutor(args.ray_address) as executor:
        yield executor


def cmd_score(args) -> None:
    """Every input is checked (proxy, dataset, archs, seeds, options, truth file, images, the
    --versus proxy) before the store is opened and anything is computed."""
    from nb201.context import Context
    from nb201.store import Store

    from .command_results import score
    from .runner import Request
    proxy = _registry().get(args.proxy)
    check_seed(args.seed, "--seed")
    seeds = _seeds(args.seeds) if args.seeds is not None else (args.seed,)
    indices = _indices(args)
    ctx = Context.of(args.dataset, seeds[0], run_options(args, SCORE_OPTIONS))
    request = Request(proxy, args.dataset, indices, seeds, args.truth, args.nb201_file)
    request.check()                    # archs, proxy vs dataset, truth file
    other = _registry().get(args.versus) if args.versus else None
    if other is not None:
        other.check(args.dataset)
    ctx.check_data([proxy, *([other] if other else [])])   # before the store is opened
    store = Store(args.results)
    with executor_from(args) as executor:
        result = score(request, ctx, store, progress=not args.quiet, executor=executor)
    if other is not None:
        from .learn import versus_result
        mine = [float("nan") if s["score"] is None else s["score"] for s in result["scores"]]
        result["versus"] = versus_result(proxy.name, mine, dataclasses.replace(request, proxy=other),
                                         ctx, store, not args.quiet)
    result = _tallied(result, store)
    _warn(result)
    text = (f"{result['proxy']} on {result['dataset']} (n={result['n']}, truth {result['truth']}): "
            f"Kendall tau {_fmt(result['kendall_tau'])} {_ci(result, 'kendall_tau')}, "
            f"Spearman {_fmt(result['spearman'])}, Pearson {_fmt(result['pearson'])}, "
            f"top-10% retrieval {_fmt(result['retrieval_top10'])} {_ci(result, 'retrieval_top10')}, "
            f"non-finite scores {result['nan_scores']}, {result['seconds']:.1f} s of compute\n"
            f"  scored: {result['scored']}" + _versus_text(result))
    _emit(result, args.json, text)


def _versus_text(result: dict) -> str:
    v = result.get("versus")
    if not v:
        return ""
    lo, hi = v["ci"]
    verdict = ("significantly better" if v["significant"] and lo > 0 else
               "significantly worse" if v["significant"] else "not significantly different")
    return (f"\n  versus {v['b']} on the same {v['n']} archs: Kendall tau {_fmt(v['a_tau'])} "
            f"({v['a']}) against {_fmt(v['b_tau'])} ({v['b']}), difference "
            f"{_fmt(v['difference'])} [{_fmt(lo)}, {_fmt(hi)}] (paired bootstrap): {verdict}")


def _warn(result: dict) -> None:
    """The report's caveat of a result's Kendall tau (analysis.caveats) as a warning on stderr."""
    from analysis.caveats import warning
    lo, hi = result["ci"]["kendall_tau"]
    n = result.get("test_n", result.get("n"))
    if line := warning(n, lo, hi):
        print(line, file=sys.stderr)


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ci(result: dict, key: str) -> str:
    lo, hi = result["ci"][key]
    return "" if lo is None else f"[{lo:.3f}, {hi:.3f}]"


def cmd_search(args) -> None:
    from nb201.context import Context
    from nb201.store import Store

    from .command_results import search_result
    from .search.loop import Limits
    from .search.run import SearchSpec, check, lookup_datasets, search
    from .search.strategy import Options
    options = Options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Options)})
    checked = check(SearchSpec(args.strategy, args.fitness, args.dataset,
                               Limits(args.budget, args.queries), args.runs, args.seed, args.truth,
                               options, args.proxy_seed), _registry())
    lookup = lookup_datasets(args.lookup)
    ctx = Context.of(args.dataset, args.proxy_seed, run_options(args, SEARCH_OPTIONS))
    ctx.check_data(checked.proxies)
    for line in checked.warnings:
        print(f"warning: {line}", file=sys.stderr)
    store = Store(args.results)
    with executor_from(args) as executor:
        found = search(checked, ctx, store, progress=not args.quiet, executor=executor)
    result = _tallied(search_result(checked, found, lookup), store)
    reach = result["reach"]
    text = (f"{result['label']} on {args.dataset}: final {args.truth} "
            f"{_fmt2(result['final_truth_mean'])} +- {_fmt2(result['final_truth_std'])} "
            f"(se {_fmt2(result['final_truth_se'])}) over {args.runs} run{'s' * (args.runs != 1)}; "
            f"{reach['runs_reached']}/{args.runs} reached {reach['target']:.2f} (optimum "
            f"{result['optimum']:.2f} - {reach['within']:g}) at some point, "
            f"{reach['runs_ending_within']}/{args.runs} ended within it, median cost "
            f"{_fmt_s(reach['cost_median'])}; mean charged cost {_fmt_s(result['cost_mean'])}, "
            f"{_fmt2(result['queries_mean'])} queries ({result['computed_runs']} runs computed, "
            f"the rest from the store)"
            + "".join(f"; its final archs on {d}: {_fmt2(v['final_truth_mean'])} +- "
                      f"{_fmt2(v['final_truth_std'])} (se {_fmt2(v['final_truth_se'])})"
                      for d, v in result["lookup"].items()))
    _emit(result, args.json, text)


def cmd_find(args) -> None:
    """Every input (space, budget, objective, pool, data) is checked before the store is opened."""
    from nb201.context import Context
    from nb201.store import Store

    from .find.driver import FindSpec, find
    from .find.race import Rule
    registry = _registry()
    spec = FindSpec(args.space, args.dataset, args.seed, args.budget, args.truth, args.objective,
                    args.pool, proxy_seed=args.proxy_seed, rule=Rule(n0=args.n0))
    candidates = spec.check(registry)
    ctx = Context.of(args.dataset, args.proxy_seed, run_options(args, SEARCH_OPTIONS))
    ctx.check_data([registry.get(name) for name in candidates])
    store = Store(args.results)
    store.check_writable()             # a finder always stores its result
    with executor_from(args) as executor:
        result = find(spec, registry, ctx, store, progress=not args.quiet, executor=executor)
    result = _tallied(result, store)
    lines = [f"finder on {args.dataset} ({len(candidates)} candidates, {result['objective']} "
             f"against {result['truth']}, final sample {result['final_n']} archs; stopped: "
             f"{result['stop']}): spent {result['spent_s']:,.1f} s, brute force "
             f"{result['brute_force_s']:,.1f} s; {result['computed_archs']} archs computed now"]
    lines += [f"  front {r['name']:<18} {r['cost_per_arch_s']:10.4g} s/arch  "
              f"{_fmt(r['fidelity'])} [{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}] n={r['n']}"
              for r in result["front"]]
    lines += [f"  dropped {r['name']:<16} round {r['round']} (n={r['n']}): {r['reason']}"
              for r in result["dropped"]]
    _emit(result, args.json, "\n".join(lines))


def _fmt2(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _fmt_s(x) -> str:
    return "not reached" if x is None else f"{x:,.0f} s"


def cmd_learn(args) -> None:
    """Fit a learned proxy on --train labelled archs and judge it on other archs."""
    from nb201.context import Context

    from .learn import learn
    if args.test != "all" and not args.test.isdigit():
        raise UserError(f"--test must be a number of archs or all, got {args.test!r}")
    test = None if args.test == "all" else int(args.test)
    ctx = Context.of(args.dataset, args.seed, run_options(args, SEARCH_OPTIONS))
    ctx.check_data()
    result = learn(args.features.split(","), args.train, args.dataset, args.seed, _registry(),
                   args.results, ctx, label=args.label, model=args.model, test=test,
                   repeats=args.repeats, versus=args.versus, progress=not args.quiet)
    from nb201.store import tally_line
    print(tally_line(result["store"]), file=sys.stderr)
    _warn(result)
    text = (f"{result['model']} on {','.join(result['features'])} from {args.train} {args.label} "
            f"labels ({result['label_cost_s']:,.0f} s of training): Kendall tau "
            f"{_fmt(result['kendall_tau'])} {_ci(result, 'kendall_tau')}, Spearman "
            f"{_fmt(result['spearman'])}, top-10% retrieval {_fmt(result['retrieval_top10'])} on "
            f"{result['test_n']} other archs against {result['judged_by']}; features "
            f"{result['feature_cost_s']:.3g} s/arch" + _versus_text(result))
    _emit(result, args.json, text)


def cmd_report(args) -> None:
    """Everything stored, or with ``--experiment`` only that experiment's rows: its proxies on
    its archs and seeds (every stored setting: it may have run on another device or data copy),
    and its own searches."""
    from analysis.report import check_out_dir, write_report
    from nb201.store import Store

    from .experiments.spec import load_experiment
    from .command_results import experiment_report
    registry = _registry()
    experiment = load_experiment(args.experiment, registry) if args.experiment else None
    store = Store(args.results, create=False)
    spec = None
    if experiment:
        spec = experiment_report(experiment, store=store, registry=registry)
    try:
        check_out_dir(args.out)
        paths = write_report(registry, store, args.out, spec)
    finally:
        store.close()
    _emit({"report": {k: str(v) for k, v in paths.items()}}, args.json,
          f"report written to {paths['html']}")


def cmd_run(args) -> None:
    from analysis.report import check_out_dir, write_report

    from .experiments.run import run_experiment
    from .experiments.spec import load_experiment
    from .command_results import experiment_report
    registry = _registry()
    exp = load_experiment(args.experiment, registry)
    if not args.dry_run:
        check_out_dir(args.out)          # before hours of computing, not after
    with executor_from(args, start=not args.dry_run) as executor:
        run = run_experiment(exp, registry, args.results, out=args.out, device=args.device,
                             data_dir=args.data_dir, dry_run=args.dry_run, executor=executor)
    summary = run.summary
    if not args.dry_run:
        summary = _tallied(summary, run.store)
        spec = experiment_report(run.experiment, run.plan, run.command, summary)
        files = write_report(registry, run.store, args.out, spec)
        summary["report"] = {k: str(v) for k, v in files.items() if k in ("html", "md", "json")}
        summary["message"] += f"; report: {files['html']}"
    _emit(summary, args.json, summary.get("message", json.dumps(summary)))


def cmd_export(args) -> None:
    """Stored rows (of ``--proxy`` names, on ``--dataset``) into a results pack."""
    from nb201.packs import write_pack
    from nb201.store import Store
    store = Store(args.results, create=False)
    try:
        names = None
        if args.proxy:
            registry = _registry()
            names = sorted({registry.get(p).store_name
                            for text in args.proxy for p in comma_list(text, "--proxy", "proxies")})
        rows = store.rows(names, args.dataset)
    finally:
        store.close()
    if not rows:
        raise UserError(f"{store.path} holds no rows" + (f" of {', '.join(names)}" if names else "")
                        + (f" on {args.dataset}" if args.dataset else "") + "; nothing written")
    header = write_pack(rows, args.out)
    holds = ", ".join(f"{h['proxy']} on {h['dataset']} ({h['rows']}, {h['machine']})"
                      for h in header["holds"])
    _emit({"pack": str(args.out), "header": header}, args.json,
          f"{header['rows']:,} rows written to {args.out}: {holds}")


def cmd_import(args) -> None:
    """A results pack merged into the store (checked whole first: a bad pack writes nothing)."""
    from nb201.packs import read_pack
    from nb201.store import Store
    pack = read_pack(args.pack)
    store = Store(args.results, packs=())
    try:
        result = store.merge(list(pack.rows))
    finally:
        store.close()
    result = {"pack": str(args.pack), "rows": len(pack.rows), **result,
              "machine": pack.header.get("machine", {}), "git": pack.header.get("git")}
    conflicts = result["conflicts"]
    text = (f"{args.pack}: {result['added']:,} rows added, {result['already_stored']:,} already "
            f"stored, {len(conflicts):,} conflicting (kept as stored)")
    for c in conflicts[:10]:
        text += (f"\n  conflict: {c['proxy']} on {c['dataset']}, seed {c['seed']}, arch "
                 f"{c['arch_index']}: stored {c['stored']}, pack {c['pack']}")
    if len(conflicts) > 10:
        text += f"\n  ... and {len(conflicts) - 10} more (--json lists them all)"
    _emit(result, args.json, text)


def cmd_prune(args) -> None:
    """Delete the store's rows that cannot be read (reads skip them with a notice)."""
    from nb201.store import Store
    store = Store(args.results, create=False, packs=())
    try:
        pruned = store.prune()
    finally:
        store.close()
    kinds: dict[tuple[str, str], int] = {}
    for row in pruned:
        kinds[(row["proxy"], row["dataset"])] = kinds.get((row["proxy"], row["dataset"]), 0) + 1
    text = f"{store.path}: {len(pruned):,} unreadable rows deleted" + "".join(
        f"\n  {proxy} on {dataset}: {n:,}" for (proxy, dataset), n in kinds.items())
    _emit({"results": str(store.path), "deleted": len(pruned),
           "rows": [{k: v for k, v in row.items() if k != "rowid"} for row in pruned]},
          args.json, text)


def add_search_options(p: argparse.ArgumentParser) -> None:
    """The strategies' options as flags, made from the fields of ``search.strategy.Options``."""
    from .search.strategy import Options
    for f in dataclasses.fields(Options):
        if f.type in (bool, "bool"):
            p.add_argument(f"--{flag(f.name)}", action="store_true", help=f.metadata["help"])
        else:
            p.add_argument(f"--{flag(f.name)}", type=type(f.default), default=f.default,
                           help=f.metadata["help"])


def build_parser() -> Parser:
    parser = Parser(prog=PROGRAM,
                    description="Score cheap performance proxies on NAS-Bench-201.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.add_argument("--plugins", metavar="FILE[,FILE]",
                       help="Python files that register proxies (also: $NB201_PLUGINS, and the "
                            "nb201.proxies entry points of installed packages)")
        p.set_defaults(func=func)
        return p

    add("proxies", cmd_proxies, "list the registered proxies")

    p = add("info", cmd_info, "one arch: index, string, unique form, params, FLOPs, truth")
    p.add_argument("arch", help="an NB201 index or arch string")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASETS)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)

    p = add("score", cmd_score, "score a proxy on NB201 archs and compare with the truth")
    p.add_argument("--proxy", required=True,
                   help="a registered name, or a training spec like c4r4s0e40@20")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASETS)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, help="N archs drawn with --seed")
    which.add_argument("--archs", help="comma-separated NB201 indices or arch strings")
    which.add_argument("--all", action="store_true", help="all 15,625 archs")
    p.add_argument("--seed", type=int, default=0, help="sample and proxy seed")
    p.add_argument("--seeds", help="comma-separated proxy seeds to average (default: --seed)")
    p.add_argument("--truth", default=DEFAULT_TRUTH, choices=TRUTHS)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)
    p.add_argument("--versus", help="a proxy to compare with on the same archs (paired bootstrap "
                   "of the Kendall tau difference)")
    add_compute_args(p, SCORE_OPTIONS)

    p = add("search", cmd_search, "search NB201 with a proxy (or a ladder of proxies) as fitness; "
            "report the truth of what each run finds against its charged cost")
    p.add_argument("--strategy", required=True, help="random, rea, econas, zc-warmup or top-k")
    p.add_argument("--fitness", required=True,
                   help="a proxy name, a ladder NAME[:COUNT],... (cheapest level first, e.g. "
                        "synflow:64,nb201-12ep-valid:8,nb201-200ep-valid:1) or a preset: econas, "
                        "econas-tiny, table")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASETS)
    p.add_argument("--budget", type=float, help="seconds of charged cost per run (or --queries)")
    p.add_argument("--queries", type=int, help="fitness queries per run (or --budget)")
    p.add_argument("--runs", type=int, default=1, help="independent runs (seeded by --seed and the run)")
    p.add_argument("--seed", type=int, default=0, help="search seed")
    p.add_argument("--truth", default=DEFAULT_TRUTH, choices=TRUTHS,
                   help="what the observer records for the answer (the search never reads it)")
    p.add_argument("--lookup", help="DATASET[,DATASET]: also report the truth of each run's "
                   "final arch on these datasets (NB201: search CIFAR-10, look the answer up)")
    add_search_options(p)
    p.add_argument("--proxy-seed", type=int, default=0, help="seed of the fitness proxies' scores")
    add_compute_args(p, SEARCH_OPTIONS)

    p = add("find", cmd_find, "the proxy finder: race candidate proxies (zero-cost, table, "
            "learned, a grid of reduced training settings) on growing arch samples, drop the "
            "dominated ones early; the Pareto front of fidelity against cost per arch")
    p.add_argument("--space", required=True,
                   help='space-separated tokens: comma lists of proxy names and factor=v1,v2 '
                        'for the training grid (c, r, s, e, b, read=last|all|EPOCHS), e.g. '
                        '"synflow,nwot,params c=8 r=8 s=8 e=2 read=all"')
    p.add_argument("--budget", type=float, required=True,
                   help="seconds of charged compute (stored reads count as if computed)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASETS)
    p.add_argument("--seed", type=int, default=0, help="finder seed: the order of the pool")
    p.add_argument("--truth", default=SELECTION_TRUTH, choices=TRUTHS,
                   help="what fidelity is measured against (default %(default)s: a finder "
                        "selects, so it should not select on the test accuracy)")
    p.add_argument("--objective", default=DEFAULT_OBJECTIVE,
                   help="kendall_tau (default) or retrieval_top10")
    p.add_argument("--pool", type=int, default=DEFAULT_POOL,
                   help="archs the race may read: the first N of the sample of seed 0 (what "
                        "`score --sample N --seed 0` scores; default %(default)s)")
    p.add_argument("--n0", type=int, default=DEFAULT_N0,
                   help="archs of the first round (default %(default)s)")
    p.add_argument("--proxy-seed", type=int, default=0, help="seed of the candidates' scores")
    add_compute_args(p, SEARCH_OPTIONS)

    p = add("learn", cmd_learn, "fit a learned proxy on labelled archs and cheap features; judge "
            "it on other archs")
    p.add_argument("--features", required=True,
                   help="comma-separated: graph (cell features, free) and/or proxy names")
    p.add_argument("--train", type=int, required=True, help="labelled archs (K)")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASETS)
    p.add_argument("--seed", type=int, default=0, help="draws the training and test archs")
    p.add_argument("--label", default=SELECTION_TRUTH,
                   help="%(default)s (default), valid_12 or a training proxy's score")
    p.add_argument("--model", help="gbm (LightGBM) or ridge")     # default: learn.DEFAULT_MODEL
    p.add_argument("--test", default="1000", help="test archs, disjoint from the training ones, "
                   "or all (default 1000)")
    p.add_argument("--repeats", type=int, default=1, help="training-set draws to average")
    p.add_argument("--versus", help="a proxy to compare with on the same test archs (paired "
                   "bootstrap of the Kendall tau difference)")
    add_compute_args(p, SEARCH_OPTIONS, executor=False)

    p = add("report", cmd_report, "write tables, figures and an HTML page from the store")
    p.add_argument("--results", default=None, help=RESULTS_HELP)
    p.add_argument("--out", default="results")
    p.add_argument("--experiment", help="report this experiment's proxies (default: everything stored)")

    p = add("run", cmd_run, "run an experiment file (data/experiments/NAME.toml), then report")
    p.add_argument("experiment", help="experiment name or path to its TOML file")
    p.add_argument("--results", default=None, help=RESULTS_HELP)
    p.add_argument("--out", default="results")
    add_run_options(p, ("device", "data_dir"), override=True, helps={
        "device": "auto, cpu or cuda (default: the experiment's)",
        "data_dir": "DIR (every dataset) or dataset=DIR,... (default: the experiment's "
                    "[data_dirs], else $NB201_DATA_DIR, else the copy shipped in data/: "
                    f"{', '.join(EMBEDDED_DATASETS)})"})
    p.add_argument("--dry-run", action="store_true", help="print the plan and estimate only")
    add_executor_args(p)

    p = add("export", cmd_export, "write stored rows to a results pack (a compressed, versioned "
            "file that another store can import, or that the suite can ship in data/results/)")
    p.add_argument("--results", default=None, help=RESULTS_HELP)
    p.add_argument("--proxy", action="append", metavar="P[,P]",
                   help="only these proxies (repeatable; default: every row)")
    p.add_argument("--dataset", choices=DATASETS, help="only rows on this dataset")
    p.add_argument("--out", required=True, help="the pack to write (NAME.jsonl.gz)")

    p = add("import", cmd_import, "merge a results pack into the store: rows already stored are "
            "skipped, conflicting ones reported and kept as stored; a bad pack writes nothing")
    p.add_argument("pack", help="a results pack (NAME.jsonl.gz)")
    p.add_argument("--results", default=None, help=RESULTS_HELP)

    p = add("prune", cmd_prune, "delete the store's rows that cannot be read (a score that is not "
            "a number: what a plugin could store before outcomes were checked); reads skip them "
            "with a notice naming this command")
    p.add_argument("--results", default=None, help=RESULTS_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _load_plugins(args.plugins)
        args.func(args)
    except UserError as err:
        print(f"error: {' '.join(str(err).splitlines())}", file=sys.stderr)   # always one line
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is in the store; rerun to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:          # stdout closed early (`... | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0
