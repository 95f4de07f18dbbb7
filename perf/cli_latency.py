"""Wall time of the commands a researcher runs most, once their results are stored: a cached
``score`` of a table proxy, ``proxies`` and ``info``, each run ``--runs`` times (median and
range), in this checkout ("after") and in a temporary clone of another commit ("before"; default
5854503, the commit before issue 34's work), alternating between the two so that both see the
same load. Both trees run with this interpreter (its packages), each from its own root, with a
results store and a cache of its own, warmed by one untimed run of every command; the machine's
load average is printed before and after (on a shared machine the times are inflated, the ratios
much less, and the CPU seconds each command used, user + system, are what it would take on an
idle machine, give or take its waits for the disk).

    .venv/bin/python perf/cli_latency.py [--before COMMIT] [--runs 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the timed commands: (name, arguments of `python -m benchmark`); {results} is the tree's store
COMMANDS = (
    ("score (cached, params, n=50)",
     ["score", "--proxy", "params", "--dataset", "cifar10", "--sample", "50", "--seed", "0",
      "--results", "{results}", "--json", "--quiet"]),
    ("proxies", ["proxies", "--json"]),
    ("info", ["info", "123", "--dataset", "cifar10", "--json"]),
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def clone(commit: str, where: Path) -> Path:
    """A clone of this repository at ``commit`` (its objects hard-linked: cheap)."""
    tree = where / "before"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "checkout", "--quiet", "--detach", commit], check=True)
    return tree


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: Path, args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``python -m benchmark ARGS`` run from ``tree``; fails
    loudly."""
    start, cpu = time.perf_counter(), _cpu()
    done = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=tree, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{tree}: python -m benchmark {' '.join(args)} failed:\n{done.stderr}")
    return seconds, _cpu() - cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default="5854503", help="the commit to compare with (a clone)")
    p.add_argument("--runs", type=int, default=5, help="timed runs of each command per tree")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="nb201-cli-latency-"))
    try:
        trees = {"before": clone(args.before, work), "after": ROOT}
        envs = {}
        for name, tree in trees.items():
            env = {k: v for k, v in os.environ.items() if not k.startswith("NB201_")}
            env.update(NB201_CACHE_DIR=str(work / f"cache-{name}"), PYTHONPATH=str(tree))
            envs[name] = env
        stores = {name: str(work / f"{name}.sqlite") for name in trees}

        def argv_of(command: list[str], name: str) -> list[str]:
            return [a.format(results=stores[name]) for a in command]

        load_before = os.getloadavg()
        for name, tree in trees.items():          # warm: store the scores, fill the caches
            for _, command in COMMANDS:
                run(tree, argv_of(command, name), envs[name])
        times = {(label, name): [] for label, _ in COMMANDS for name in trees}
        cpus = {(label, name): [] for label, _ in COMMANDS for name in trees}
        for _ in range(args.runs):
            for label, command in COMMANDS:
                for name, tree in trees.items():
                    wall, cpu = run(tree, argv_of(command, name), envs[name])
                    times[(label, name)].append(wall)
                    cpus[(label, name)].append(cpu)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [{"command": label,
             **{f"{name}_median_s": statistics.median(times[(label, name)]) for name in trees},
             **{f"{name}_s": times[(label, name)] for name in trees},
             **{f"{name}_cpu_median_s": statistics.median(cpus[(label, name)]) for name in trees}}
            for label, _ in COMMANDS]
    for row in rows:
        row["ratio"] = row["before_median_s"] / row["after_median_s"]
    out = {"before": args.before, "runs": args.runs, "cpu": cpu_model(), "cores": os.cpu_count(),
           "load_average_before": load_before, "load_average_after": load_after, "rows": rows}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['cpu']} ({out['cores']} cores); load average (1, 5, 15 min) "
          f"{', '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{', '.join(f'{x:.2f}' for x in load_after)} after")
    print(f"median of {args.runs} runs (min-max) of the wall time, and the median CPU time "
          f"(user + system); before = commit {args.before}, after = this tree")
    print(f"{'command':<30} {'before: wall':>22} {'CPU':>7} {'after: wall':>20} {'CPU':>7} "
          f"{'ratio':>6}")
    for row in rows:
        cells = [f"{row[f'{n}_median_s']:.2f} s ({min(row[f'{n}_s']):.2f}-{max(row[f'{n}_s']):.2f})"
                 for n in ("before", "after")]
        print(f"{row['command']:<30} {cells[0]:>22} {row['before_cpu_median_s']:>5.2f} s "
              f"{cells[1]:>20} {row['after_cpu_median_s']:>5.2f} s {row['ratio']:>5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
