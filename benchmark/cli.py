"""The command line: ``python -m benchmark {proxies,info,score,search,report,run}``.

A thin layer over the library, and the one module that wires its layers together: the proxies
(plugins) into the registry, the runner and experiments (orchestration) to the store, and the
results to ``analysis``. With ``--json`` a command prints exactly one JSON object on stdout;
progress and logs go to stderr. Bad input exits with status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager

from analysis.report import ReportSpec, check_out_dir, write_report
from analysis.scorecard import scorecard
from proxies import REGISTRY

from nb201 import groundtruth as gt
from nb201.api import Context, check_seed, resolve_device
from nb201.catalog import DATASETS, dataset_spec
from nb201.complexity import flops_m, params_m
from nb201.errors import UserError
from .executors import LocalExecutor
from .experiments.run import run_experiment
from .experiments.spec import Experiment, load_experiment
from .runner import Request, mean_scores
from nb201.store import DEFAULT_PATH, Store


#: the fields of ``proxies --json`` (the CLI contract)
PROXY_FIELDS = ("name", "kind", "higher_is_better", "version")
NB201_FILE_HELP = ("take the truth from an official NAS-Bench-201 .pth or NATS-Bench tss file "
                   "(needs the nas-bench-201 or nats_bench package)")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise UserError(f"{self.prog}: {message}")


def _emit(obj: dict, as_json: bool, text: str) -> None:
    print(json.dumps(obj, allow_nan=False) if as_json else text)


def cmd_proxies(args) -> None:
    registry = REGISTRY
    rows = [{k: p.describe()[k] for k in PROXY_FIELDS} for p in registry]
    lines = [f"{r['name']:<14} {r['kind']:<10} {'higher' if r['higher_is_better'] else 'lower':<7}"
             f" v{r['version']}" for r in rows]
    lines += [f"(family) {p}" for p in registry.patterns()]
    _emit({"proxies": rows}, args.json, "\n".join(lines))


def cmd_info(args) -> None:
    index = gt.resolve(args.arch)
    arch = gt.arch_of(index)
    if args.nb201_file:
        from nb201.nb201_file import load_truth
        truth = {m: _num(load_truth(args.nb201_file, args.dataset, m, [index])[index])
                 for m in ("test_200", "valid_200", "test_12")}
    else:
        truth = {m: _num(gt.vector(args.dataset, m)[index])
                 for m in ("test_200", "valid_200", "test_12")}
    spec = dataset_spec(args.dataset)
    out = {"index": index, "arch": str(arch), "unique": arch.canonical(),
           "params_m": round(params_m(arch, spec.num_classes), 6),
           "flops_m": round(flops_m(arch, spec.num_classes, spec.resolution), 6),
           "truth": truth}
    text = "\n".join(f"{k:<9} {v}" for k, v in out.items())
    _emit(out, args.json, text)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UserError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise UserError(f"--seeds lists no seeds: {text!r}")
    return tuple(check_seed(s, "--seeds") for s in seeds)


def _indices(args) -> list[int]:
    if args.all:
        return list(range(gt.NUM_ARCHS))
    if args.archs is not None:
        indices = [gt.resolve(t) for t in args.archs.split(",") if t.strip()]
        if not indices:
            raise UserError(f"--archs lists no archs: {args.archs!r}")
        return list(dict.fromkeys(indices))
    return gt.sample(args.sample, args.seed)


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """``--executor`` and ``--ray-address``: the options of every command that computes."""
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where chunks are scored: this process (default) or Ray tasks")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: a Ray cluster's address, or auto for the cluster of "
                        "`ray start --head` on this machine (default: start a local Ray instance)")


@contextmanager
def executor_from(args, start: bool = True):
    """The executor the options ask for; a Ray one is connected on entry and closed on exit (the
    Ray module is imported only then). ``start=False`` (a dry run): the options are checked, and
    the local executor stands in."""
    if args.ray_address and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray")
    if args.executor == "local" or not start:
        yield LocalExecutor()
        return
    from .ray_executor import RayExecutor
    with RayExecutor(args.ray_address) as executor:
        yield executor


def score(request: Request, ctx: Context, store: Store, progress: bool = True,
          executor=None) -> dict:
    """Score ``request.proxy`` on ``request.indices`` (mean over seeds), computing what the store
    lacks, and compare with the truth: the ``score`` command's JSON object."""
    started = time.perf_counter()
    request.check()
    truth = request.truth_values()      # before computing: a bad truth file costs nothing
    scores, seconds = mean_scores(request, ctx, store, progress, executor)
    return scorecard(request.proxy, request.dataset, request.truth, request.indices, scores,
                     truth, seconds, request.seeds, time.perf_counter() - started)


def cmd_score(args) -> None:
    """Every input is checked (proxy, dataset, archs, seeds, options, truth file, images) before
    the store is opened and anything is computed."""
    proxy = REGISTRY.get(args.proxy)
    check_seed(args.seed, "--seed")
    seeds = _seeds(args.seeds) if args.seeds is not None else (args.seed,)
    indices = _indices(args)
    ctx = Context(args.dataset, seeds[0], resolve_device(args.device), args.data_dir,
                  fuse=args.fuse, amp=args.amp, zc_batch=args.zc_batch, full_curve=args.full_curve)
    request = Request(proxy, args.dataset, indices, seeds, args.truth, args.nb201_file)
    request.check()                    # archs, proxy vs dataset, truth file
    if proxy.needs_images:
        ctx.images                     # loads (and so checks) the data once, before the store
    store = Store(args.results)
    with executor_from(args) as executor:
        result = score(request, ctx, store, progress=not args.quiet, executor=executor)
    text = (f"{result['proxy']} on {result['dataset']} (n={result['n']}, truth {result['truth']}): "
            f"Kendall tau {_fmt(result['kendall_tau'])} {_ci(result, 'kendall_tau')}, "
            f"Spearman {_fmt(result['spearman'])}, Pearson {_fmt(result['pearson'])}, "
            f"top-10% retrieval {_fmt(result['retrieval_top10'])} {_ci(result, 'retrieval_top10')}, "
            f"non-finite scores {result['nan_scores']}, {result['seconds']:.1f} s of compute\n"
            f"  scored: {result['scored']}")
    _emit(result, args.json, text)


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ci(result: dict, key: str) -> str:
    lo, hi = result["ci"][key]
    return "" if lo is None else f"[{lo:.3f}, {hi:.3f}]"


def experiment_report(exp: Experiment, plan=None, command: str | None = None,
                      searches: list[dict] | None = None) -> ReportSpec:
    """What the report of an experiment shows: its selections, on the data sources and settings
    its ``plan`` ran (else every stored one), what was skipped, the command that ran it, and the
    stored searches that its run returned (``searches``; None: every stored search)."""
    sources, settings, skipped = (plan.sources, plan.settings, plan.skipped) if plan else ({}, {}, ())
    return ReportSpec(title=exp.title or f"Experiment {exp.name}",
                      selections=exp.selections(sources, {(p, d) for p, d, _ in skipped}, settings),
                      truth=exp.truth, main=exp.main, description=exp.description,
                      commands=(command or f"python -m benchmark run {exp.name}",),
                      skipped=tuple(skipped), design=exp.design(),
                      searches=None if searches is None else tuple(
                          (s["digest"], s["seed"], s["runs"], e.command())
                          for s, e in zip(searches, exp.searches)))


def cmd_search(args) -> None:
    import numpy as np

    from analysis.search import summarize

    from .search.loop import Limits
    from .search.service import SearchSpec, check, search
    from .search.strategy import Options
    options = Options(population=args.population, sample_size=args.sample_size, unique=args.unique,
                      zc_proxy=args.zc_proxy, pool=args.pool, zc_move=args.zc_move, age=args.age)
    checked = check(SearchSpec(args.strategy, args.fitness, args.dataset,
                               Limits(args.budget, args.queries), args.runs, args.seed, args.truth,
                               options, args.proxy_seed))
    ctx = Context(args.dataset, args.proxy_seed, resolve_device(args.device), args.data_dir,
                  fuse=args.fuse, zc_batch=args.zc_batch)
    store = Store(args.results)
    with executor_from(args) as executor:
        found = search(checked, ctx, store, progress=not args.quiet, executor=executor)
    spec = found["spec"]
    optimum = float(np.nanmax(gt.vector(args.dataset, args.truth)))
    summary = summarize(found["runs"], optimum)
    result = {"strategy": args.strategy, "fitness": args.fitness, "dataset": args.dataset,
              "truth": args.truth, "runs": args.runs, "seed": args.seed,
              "budget_s": args.budget, "queries": args.queries, "ladder": spec["ladder"],
              "options": spec["options"], "levels": spec["levels"],
              **{k: v for k, v in summary.items() if k != "runs"},
              "digest": found["digest"], "computed_runs": found["computed_runs"],
              "device": found["device"], "runs_detail": found["runs"]}
    reach = summary["reach"]
    text = (f"{spec['label']} on {args.dataset}: final {args.truth} "
            f"{_fmt2(summary['final_truth_mean'])} +- {_fmt2(summary['final_truth_std'])} "
            f"(se {_fmt2(summary['final_truth_se'])}) over {args.runs} runs; "
            f"{reach['runs_reached']}/{args.runs} reached {reach['target']:.2f} (optimum "
            f"{optimum:.2f} - {reach['within']:g}), median cost "
            f"{_fmt_s(reach['cost_median'])}; mean charged cost {_fmt_s(summary['cost_mean'])}, "
            f"{_fmt2(summary['queries_mean'])} queries ({found['computed_runs']} runs computed, "
            f"the rest from the store)")
    _emit(result, args.json, text)


def _fmt2(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _fmt_s(x) -> str:
    return "not reached" if x is None else f"{x:,.0f} s"


def cmd_report(args) -> None:
    experiment = load_experiment(args.experiment, REGISTRY) if args.experiment else None
    store = Store(args.results, create=False)
    try:
        check_out_dir(args.out)
        paths = write_report(REGISTRY, store, args.out,
                             experiment_report(experiment) if experiment else None)
    finally:
        store.close()
    _emit({"report": {k: str(v) for k, v in paths.items()}}, args.json,
          f"report written to {paths['html']}")


def cmd_run(args) -> None:
    exp = load_experiment(args.experiment, REGISTRY)
    if not args.dry_run:
        check_out_dir(args.out)          # before hours of computing, not after
    with executor_from(args, start=not args.dry_run) as executor:
        run = run_experiment(exp, REGISTRY, args.results, out=args.out, device=args.device,
                             data_dir=args.data_dir, dry_run=args.dry_run, executor=executor)
    summary = run.summary
    if not args.dry_run:
        spec = experiment_report(run.experiment, run.plan, run.command,
                                 summary.get("searches", []))
        files = write_report(REGISTRY, run.store, args.out, spec)
        summary["report"] = {k: str(v) for k, v in files.items() if k in ("html", "md", "json")}
        summary["message"] += f"; report: {files['html']}"
    _emit(summary, args.json, summary.get("message", json.dumps(summary)))


def build_parser() -> Parser:
    parser = Parser(prog="python -m benchmark",
                    description="Score cheap performance proxies on NAS-Bench-201.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(func=func)
        return p

    add("proxies", cmd_proxies, "list the registered proxies")

    p = add("info", cmd_info, "one arch: index, string, unique form, params, FLOPs, truth")
    p.add_argument("arch", help="an NB201 index or arch string")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)

    p = add("score", cmd_score, "score a proxy on NB201 archs and compare with the truth")
    p.add_argument("--proxy", required=True,
                   help="a registered name, or a training spec like c4r4s0e40@20")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, help="N archs drawn with --seed")
    which.add_argument("--archs", help="comma-separated NB201 indices or arch strings")
    which.add_argument("--all", action="store_true", help="all 15,625 archs")
    p.add_argument("--seed", type=int, default=0, help="sample and proxy seed")
    p.add_argument("--seeds", help="comma-separated proxy seeds to average (default: --seed)")
    p.add_argument("--truth", default="test_200", choices=gt.TRUTHS)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--results", default=str(DEFAULT_PATH), help="SQLite results store")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder or archive (else $NB201_DATA_DIR, else embedded CIFAR-10)")
    p.add_argument("--fuse", type=int, default=None, help="networks trained at once (default: auto)")
    p.add_argument("--amp", choices=["bf16"], default=None, help="bf16 autocast (CUDA)")
    p.add_argument("--zc-batch", type=int, default=64, help="images in the zero-cost minibatch")
    p.add_argument("--full-curve", action="store_true",
                   help="training proxies: evaluate after every epoch trained (default: only the "
                        "epochs read; a stored run is not retrained for it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_args(p)

    p = add("search", cmd_search, "search NB201 with a proxy (or a ladder of proxies) as fitness; "
            "report the truth of what each run finds against its charged cost")
    p.add_argument("--strategy", required=True, help="random, rea, econas or zc-warmup")
    p.add_argument("--fitness", required=True,
                   help="a proxy name, a ladder NAME[:COUNT],... (cheapest level first, e.g. "
                        "synflow:64,nb201-12ep-valid:8,nb201-200ep-valid:1) or a preset: econas, "
                        "econas-tiny, table")
    p.add_argument("--dataset", default="cifar10", choices=DATASETS)
    limit = p.add_mutually_exclusive_group(required=True)
    limit.add_argument("--budget", type=float, help="seconds of charged cost per run")
    limit.add_argument("--queries", type=int, help="fitness queries per run")
    p.add_argument("--runs", type=int, default=1, help="independent runs (seeded by --seed and the run)")
    p.add_argument("--seed", type=int, default=0, help="search seed")
    p.add_argument("--truth", default="test_200", choices=gt.TRUTHS,
                   help="what the observer records for the answer (the search never reads it)")
    p.add_argument("--population", type=int, default=10, help="rea, zc-warmup: population size")
    p.add_argument("--sample-size", type=int, default=3, help="rea, zc-warmup: tournament size")
    p.add_argument("--unique", action="store_true",
                   help="search NB201's 6,466 isomorphism classes instead of its 15,625 cells")
    p.add_argument("--zc-proxy", default="synflow", help="zc-warmup: the zero-cost proxy")
    p.add_argument("--pool", type=int, default=3000, help="zc-warmup: archs scored by --zc-proxy")
    p.add_argument("--zc-move", action="store_true",
                   help="zc-warmup: mutate to the best neighbour by --zc-proxy 75%% of the time")
    p.add_argument("--age", type=int, default=10,
                   help="econas: cycles without an update after which an arch leaves the pools")
    p.add_argument("--proxy-seed", type=int, default=0, help="seed of the fitness proxies' scores")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--results", default=str(DEFAULT_PATH), help="SQLite results store")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder or archive (else $NB201_DATA_DIR, else embedded CIFAR-10)")
    p.add_argument("--fuse", type=int, default=None, help="networks trained at once (default: auto)")
    p.add_argument("--zc-batch", type=int, default=64, help="images in the zero-cost minibatch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_args(p)

    p = add("report", cmd_report, "write tables, figures and an HTML page from the store")
    p.add_argument("--results", default=str(DEFAULT_PATH))
    p.add_argument("--out", default="results")
    p.add_argument("--experiment", help="report this experiment's proxies (default: everything stored)")

    p = add("run", cmd_run, "run an experiment file (data/experiments/NAME.toml), then report")
    p.add_argument("experiment", help="experiment name or path to its TOML file")
    p.add_argument("--results", default=str(DEFAULT_PATH))
    p.add_argument("--out", default="results")
    p.add_argument("--device", default=None, help="override the experiment's device")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dry-run", action="store_true", help="print the plan and estimate only")
    add_executor_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
