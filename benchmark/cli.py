"""The command line: ``python -m benchmark {proxies,info,score,report,run}``.

A thin layer over the library, and the one module that wires its layers together: the proxies
(plugins) into the registry, the runner and experiments (orchestration) to the store, and the
results to ``analysis``. With ``--json`` a command prints exactly one JSON object on stdout;
progress and logs go to stderr. Bad input exits with status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from analysis.report import ReportSpec, write_report
from analysis.scorecard import scorecard
from proxies import REGISTRY

from . import groundtruth as gt
from .api import Context, resolve_device
from .catalog import check_dataset, dataset_spec
from .complexity import flops_m, params_m
from .errors import UserError
from .experiments.run import run_experiment
from .experiments.spec import Experiment, load_experiment
from .runner import Request, mean_scores
from .store import DEFAULT_PATH, Store


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
        from .nb201_file import load_truth
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


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, got {text!r}") from None


def score(request: Request, ctx: Context, store: Store, progress: bool = True,
          executor=None) -> dict:
    """Score ``request.proxy`` on ``request.indices`` (mean over seeds), computing what the store
    lacks, and compare with the truth: the ``score`` command's JSON object."""
    started = time.perf_counter()
    scores, seconds = mean_scores(request, ctx, store, progress, executor)
    return scorecard(request.proxy, request.dataset, request.truth, request.indices, scores,
                     request.truth_values(), seconds, request.seeds, time.perf_counter() - started)


def cmd_score(args) -> None:
    proxy = REGISTRY.get(args.proxy)
    if args.all:
        indices = list(range(gt.NUM_ARCHS))
    elif args.archs:
        indices = [gt.resolve(t) for t in args.archs.split(",") if t.strip()]
    else:
        indices = gt.sample(args.sample, args.seed)
    indices = list(dict.fromkeys(indices))
    seeds = tuple(_ints(args.seeds, "--seeds")) if args.seeds else (args.seed,)
    ctx = Context(args.dataset, seeds[0], resolve_device(args.device), args.data_dir,
                  fuse=args.fuse, amp=args.amp, zc_batch=args.zc_batch, full_curve=args.full_curve)
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


def experiment_report(exp: Experiment, sources: dict | None = None, skipped=(),
                      command: str | None = None) -> ReportSpec:
    """What the report of an experiment shows: its selections, on the data sources it ran on
    (``sources``, else every stored one), with what was skipped and the command that ran it."""
    return ReportSpec(title=exp.title or f"Experiment {exp.name}",
                      selections=exp.selections(sources, {(p, d) for p, d, _ in skipped}),
                      truth=exp.truth, main=exp.main, description=exp.description,
                      commands=(command or f"python -m benchmark run {exp.name}",),
                      skipped=tuple(skipped), design=exp.design())


def cmd_report(args) -> None:
    store = Store(args.results)
    spec = experiment_report(load_experiment(args.experiment, REGISTRY)) if args.experiment else None
    paths = write_report(REGISTRY, store, args.out, spec)
    _emit({"report": {k: str(v) for k, v in paths.items()}}, args.json,
          f"report written to {paths['html']}")


def cmd_run(args) -> None:
    store = Store(args.results)
    run = run_experiment(args.experiment, REGISTRY, store, out=args.out, device=args.device,
                         data_dir=args.data_dir, dry_run=args.dry_run)
    summary = run.summary
    if not args.dry_run:
        spec = experiment_report(run.experiment, run.plan.sources, run.plan.skipped, run.command)
        files = write_report(REGISTRY, store, args.out, spec)
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
    p.add_argument("--dataset", default="cifar10", type=check_dataset)
    p.add_argument("--nb201-file", help=NB201_FILE_HELP)

    p = add("score", cmd_score, "score a proxy on NB201 archs and compare with the truth")
    p.add_argument("--proxy", required=True,
                   help="a registered name, or a training spec like c4r4s0e40@20")
    p.add_argument("--dataset", default="cifar10", type=check_dataset)
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
