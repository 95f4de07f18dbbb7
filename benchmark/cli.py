"""The command line: ``python -m benchmark {proxies,info,score,search,report,run}``.

A thin layer over the library. With ``--json`` a command prints exactly one JSON object on
stdout; progress and logs go to stderr. Bad input exits with status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import groundtruth as gt
from .complexity import CLASSES, RESOLUTION, flops_m, params_m
from .context import Context, resolve_device
from .errors import UserError
from .store import DEFAULT_PATH, Store


NB201_FILE_HELP = ("take the truth from an official NAS-Bench-201 .pth or NATS-Bench tss file "
                   "(needs the nas-bench-201 or nats_bench package)")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise UserError(f"{self.prog}: {message}")


def _registry():
    from proxies import REGISTRY
    return REGISTRY


def _emit(obj: dict, as_json: bool, text: str) -> None:
    print(json.dumps(obj, allow_nan=False) if as_json else text)


def cmd_proxies(args) -> None:
    registry = _registry()
    rows = [p.describe() for p in registry]
    lines = [f"{r['name']:<14} {r['kind']:<10} {'higher' if r['higher_is_better'] else 'lower':<7}"
             f" v{r['version']}" for r in rows]
    lines += [f"(family) {p}" for p in registry.patterns()]
    _emit({"proxies": rows}, args.json, "\n".join(lines))


def cmd_info(args) -> None:
    index = gt.resolve(args.arch)
    arch = gt.arch_of(index)
    if args.nb201_file:
        from .nb201_file import load_truth
        truth = {m: _num(load_truth(args.nb201_file, args.dataset, m, [index])[index])
                 for m in ("test_200", "valid_200", "test_12")}
    else:
        truth = {m: _num(gt.vector(args.dataset, m)[index])
                 for m in ("test_200", "valid_200", "test_12")}
    out = {"index": index, "arch": str(arch), "unique": arch.canonical(),
           "params_m": round(params_m(arch, CLASSES[args.dataset]), 6),
           "flops_m": round(flops_m(arch, CLASSES[args.dataset], RESOLUTION[args.dataset]), 6),
           "truth": truth}
    text = "\n".join(f"{k:<9} {v}" for k, v in out.items())
    _emit(out, args.json, text)


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, got {text!r}") from None


def cmd_score(args) -> None:
    from .runner import Request, score
    proxy = _registry().get(args.proxy)
    if args.all:
        indices = list(range(gt.NUM_ARCHS))
    elif args.archs:
        indices = [gt.resolve(t) for t in args.archs.split(",") if t.strip()]
    else:
        indices = gt.sample(args.sample, args.seed)
    indices = list(dict.fromkeys(indices))
    seeds = tuple(_ints(args.seeds, "--seeds")) if args.seeds else (args.seed,)
    ctx = Context(args.dataset, seeds[0], resolve_device(args.device), args.data_dir,
                  fuse=args.fuse, amp=args.amp, zc_batch=args.zc_batch)
    store = Store(args.results)
    request = Request(proxy, args.dataset, indices, seeds, args.truth, args.nb201_file)
    result = score(request, ctx, store, progress=not args.quiet)
    text = (f"{result['proxy']} on {result['dataset']} (n={result['n']}, truth {result['truth']}): "
            f"Kendall tau {_fmt(result['kendall_tau'])} {_ci(result, 'kendall_tau')}, "
            f"Spearman {_fmt(result['spearman'])}, Pearson {_fmt(result['pearson'])}, "
            f"top-10% retrieval {_fmt(result['retrieval_top10'])} {_ci(result, 'retrieval_top10')}, "
            f"non-finite scores {result['nan_scores']}, {result['seconds']:.1f} s of compute")
    _emit(result, args.json, text)


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _ci(result: dict, key: str) -> str:
    lo, hi = result["ci"][key]
    return "" if lo is None else f"[{lo:.3f}, {hi:.3f}]"


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
    found = search(checked, ctx, Store(args.results), progress=not args.quiet)
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
    from analysis.report import write_report
    paths = write_report(Store(args.results), args.out, args.experiment)
    _emit({"report": {k: str(v) for k, v in paths.items()}}, args.json,
          f"report written to {paths['html']}")


def cmd_run(args) -> None:
    from .experiments import run_experiment
    summary = run_experiment(args.experiment, results=args.results, out=args.out,
                             device=args.device, data_dir=args.data_dir, dry_run=args.dry_run)
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
    p.add_argument("--dataset", default="cifar10", type=gt.check_dataset)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)

    p = add("score", cmd_score, "score a proxy on NB201 archs and compare with the truth")
    p.add_argument("--proxy", required=True,
                   help="a registered name, or a training spec like c4r4s0e40@20")
    p.add_argument("--dataset", default="cifar10", type=gt.check_dataset)
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("search", cmd_search, "search NB201 with a proxy (or a ladder of proxies) as fitness; "
            "report the truth of what each run finds against its charged cost")
    p.add_argument("--strategy", required=True, help="random, rea, econas or zc-warmup")
    p.add_argument("--fitness", required=True,
                   help="a proxy name, a ladder NAME[:COUNT],... (cheapest level first, e.g. "
                        "synflow:64,nb201-12ep-valid:8,nb201-200ep-valid:1) or a preset: econas, "
                        "econas-tiny, table")
    p.add_argument("--dataset", default="cifar10", type=gt.check_dataset)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is in the store; rerun to resume", file=sys.stderr)
        return 130
    return 0
