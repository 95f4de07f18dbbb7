"""Snapshot the CLI's outputs, to show that a refactoring changed no behaviour.

``capture DIR`` saves the ``--help`` of every command and the JSON of cheap fixed runs of
``proxies``, ``info``, ``score``, ``search``, ``find``, ``learn`` and ``run --dry-run`` (table,
NASLib and learned proxies, small samples; each run on a fresh results store, no training) into
DIR, one file per case. ``compare DIR_A DIR_B`` prints every case whose output differs, ignoring
the fields that hold wall time or the git hash; exit status 1 when any differs.

    python tools/cli_snapshot.py capture /tmp/before      # on the tree before the change
    python tools/cli_snapshot.py capture /tmp/after       # after it
    python tools/cli_snapshot.py compare /tmp/before /tmp/after
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
#: case -> arguments of ``python -m benchmark`` (``--json`` is added, and a fresh ``--results``
#: store to the commands that take one)
RUNS = {
    "proxies": "proxies --json",
    "info-index": "info 6111 --dataset cifar10 --json",
    "info-string": ["info", ARCH, "--dataset", "imagenet16-120", "--json"],
    "score-params": "score --proxy params --dataset cifar10 --sample 50 --seed 0",
    "score-table-versus": "score --proxy nb201-12ep-valid --dataset cifar100 --archs "
                          "1,2,3,5,8,13,21,34,55,89,144,233,377,610,987 --truth valid_200 "
                          "--versus flops",
    "score-random-seeds": "score --proxy random --sample 40 --seed 3 --seeds 0,1",
    "score-naslib": "score --proxy naslib:synflow --dataset imagenet16-120 --sample 30 --seed 2",
    "score-learned-ridge": "score --proxy learned:ridge:40:graph --sample 100 --seed 1",
    "score-learned-gbm": "score --proxy learned:gbm:40:label=valid_12:graph+params --sample 90",
    "search-rea": "search --strategy rea --fitness nb201-12ep-valid --queries 60 --runs 2",
    "search-random-lookup": "search --strategy random --fitness params --queries 40 --runs 2 "
                            "--seed 4 --lookup cifar100,imagenet16-120 --truth valid_200",
    "search-econas": "search --strategy econas --fitness table --queries 80 --runs 1",
    "search-zc-warmup": "search --strategy zc-warmup --fitness nb201-12ep-valid --zc-proxy "
                        "params --pool 100 --zc-move --queries 40 --runs 2",
    "search-top-k": "search --strategy top-k --fitness params,nb201-12ep-valid:5 --queries 40",
    "search-learned": "search --strategy random --fitness learned:ridge:30:graph --queries 30",
    "find-table": ["find", "--space", "params,flops,random,nb201-12ep", "--budget", "1000",
                   "--pool", "60", "--n0", "10"],
    "find-learned": ["find", "--space", "params,flops,learned:ridge:20:graph", "--budget",
                     "1000", "--pool", "50", "--n0", "10", "--truth", "test_200", "--objective",
                     "retrieval_top10", "--seed", "1"],
    "learn-graph": "learn --features graph --train 50 --test 200",
    "learn-ridge": "learn --features graph,params --train 30 --model ridge --test 100 "
                   "--repeats 2 --versus flops --seed 3",
    "learn-label": "learn --features graph,flops --train 40 --test 100 --label valid_12 "
                   "--dataset imagenet16-120",
    "run-search": "run search --dry-run",
    "run-finder": "run finder --dry-run",
    "run-learned": "run learned --dry-run",
    "run-quick": "run quick --dry-run",
}
#: keys whose values are wall time, machine speed or the git hash (dropped before comparing), and
#: keys of text that quotes them (compared with durations and speed factors masked)
VOLATILE = {"seconds", "wall_seconds", "seconds_per_arch", "git", "machine"}
VOLATILE_SUFFIX = "estimate_s"
#: charged seconds of searches whose fitness reads a computed proxy (params, synflow, learned)
SEARCH_COSTS = {"cost", "cost_mean", "cost_mean_reached", "cost_median", "charged_s",
                "from_scratch_s"}
#: measured seconds in the outputs of some cases (a case name or its command): the finder's, a
#: learned proxy's and those searches' charges, and what the search plan estimates from the
#: machine's speed
MEASURED = {"find": {"spent_s", "brute_force_s", "cost_per_arch_s", "by_cost_per_arch_s", "ratio"},
            "learn": {"feature_cost_s"},
            "run": {"reads_per_run"},
            **dict.fromkeys(("search-random-lookup", "search-econas", "search-zc-warmup",
                             "search-top-k", "search-learned"), SEARCH_COSTS)}
MASKED = {"message": re.compile(r"\d[\d,.]*\s*(h|min|s)\b"),
          "basis": re.compile(r"x [\d.]+ \(this CPU's measured speed\)")}


def _run(args: list[str], cwd: Path) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "80", "PYTHONHASHSEED": "0"}      # help wraps at 80 columns
    out = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd, env=env,
                         capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def capture(directory: Path, only: list[str] | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))              # this checkout's commands, whatever is installed
    from benchmark.cli import build_parser
    commands = next(a.choices for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction))
    cases = {f"help-{c or 'main'}": [c, "--help"] if c else ["--help"] for c in ("", *commands)}
    cases.update({name: (a.split() if isinstance(a, str) else list(a))
                  for name, a in RUNS.items()})
    for name, args in cases.items():
        if only and name not in only:
            continue
        tmp = Path(tempfile.mkdtemp(prefix="cli_snapshot_"))
        try:
            if not name.startswith("help-"):
                args = [*args, *([] if "--json" in args else ["--json"])]
                if name.split("-")[0] in ("score", "search", "find", "learn", "run"):
                    args += ["--results", str(tmp / "results.sqlite")]
            rc, out, err = _run(args, ROOT)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out = out.replace(str(tmp), "<TMP>")
        (directory / f"{name}.txt").write_text(f"rc {rc}\n{out}")
        print(f"{name}: rc {rc}" + (f"\n  {err.strip().splitlines()[-1]}" if rc and err else ""),
              file=sys.stderr)


def _strip(value, drop: set[str]):
    if isinstance(value, dict):
        return {k: MASKED[k].sub("<masked>", v) if k in MASKED and isinstance(v, str)
                else _strip(v, drop)
                for k, v in value.items() if k not in drop and not k.endswith(VOLATILE_SUFFIX)}
    if isinstance(value, list):
        return [_strip(v, drop) for v in value]
    return value


def _normal(text: str, case: str):
    rc, _, body = text.partition("\n")
    drop = VOLATILE | MEASURED.get(case, set()) | MEASURED.get(case.split("-")[0], set())
    try:
        return [rc, _strip(json.loads(body), drop)]
    except json.JSONDecodeError:
        return [rc, body]


def _paths(a, b, path: str = "") -> list[str]:
    """Where two normalised outputs differ (paths like ``.plan[3].proxy``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b), key=str)
                for p in (_paths(a[k], b[k], f"{path}.{k}") if k in a and k in b
                          else [f"{path}.{k} (only in one)"])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _paths(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "(whole)"]


def compare(a: Path, b: Path, only_common: bool = False) -> int:
    names = sorted({p.name for p in a.glob("*.txt")} & {p.name for p in b.glob("*.txt")}
                   if only_common else
                   {p.name for p in a.glob("*.txt")} | {p.name for p in b.glob("*.txt")})
    differ = 0
    for name in names:
        pa, pb = a / name, b / name
        if not (pa.exists() and pb.exists()):
            print(f"{name}: only in {a if pa.exists() else b}")
            differ += 1
        elif ((na := _normal(pa.read_text(), pa.stem))
              != (nb := _normal(pb.read_text(), pb.stem))):
            where = _paths(na, nb)
            print(f"{name}: differs at {', '.join(where[:5])}"
                  + (f" and {len(where) - 5} more" if len(where) > 5 else ""))
            differ += 1
    print(f"{len(names) - differ} of {len(names)} identical (ignoring {', '.join(sorted(VOLATILE))}, "
          f"*{VOLATILE_SUFFIX} and measured seconds; masking times in {', '.join(MASKED)})")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("capture")
    p.add_argument("dir", type=Path)
    p.add_argument("--only", help="comma-separated case names")
    p = sub.add_parser("compare")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--common", action="store_true", help="only the cases both directories hold")
    args = parser.parse_args(argv)
    if args.command == "capture":
        capture(args.dir, args.only.split(",") if args.only else None)
        return 0
    return compare(args.a, args.b, args.common)


if __name__ == "__main__":
    sys.exit(main())
