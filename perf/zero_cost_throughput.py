"""Zero-cost scoring throughput: archs per second for every zero-cost proxy, and the projected time
for all 15,625 NB201 archs.

Each proxy scores the same archs (``--archs`` of ``nb201.groundtruth.sample(n, seed=1)``)
exactly as the runner would (full NB201 network C=16, N=5, a minibatch of ``--zc-batch`` images of
``--dataset``, default CIFAR-10, per-arch seeds), after one untimed warm-up arch. Nothing is stored.
Besides wall time it reports the process's CPU time per arch (all its threads): on a shared
machine the wall time depends on the other work, the CPU time much less (with ``--threads 1``, it
is the seconds of one core an arch costs).
The machine's 1-minute load average is printed before and after the run (other work on the
machine slows a CPU measurement). ``vote`` computes its three components itself, so the
"all" row counts synflow, jacov and snip twice, as scoring every proxy from scratch does.

    python perf/zero_cost_throughput.py [--archs 8] [--dataset cifar100] [--device cpu|cuda] [--threads 1] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


import torch

from nb201 import groundtruth as gt
from nb201.catalog import DATASETS
from nb201.options import RunOptions
from nb201.context import Context, resolve_device
from nb201.devices import accelerated, device_name


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(proxy, indices: list[int], ctx, budget_s: float | None = None, chunk: int = 16) -> dict:
    """Score ``indices`` (after one untimed warm-up arch); with ``budget_s``, in chunks of
    ``chunk`` archs until the budget is spent (``archs`` says how many were scored)."""
    archs = [gt.arch_of(i) for i in indices]
    proxy.score(archs[:1], indices[:1], ctx)           # warm-up: data, lazy init, allocator
    step = len(indices) if budget_s is None else chunk
    start, cpu_start = time.perf_counter(), time.process_time()
    outcomes = []
    for at in range(0, len(indices), step):
        outcomes += proxy.score(archs[at:at + step], indices[at:at + step], ctx)
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    wall = time.perf_counter() - start
    per_arch = wall / len(outcomes)
    return {"proxy": proxy.name, "archs": len(outcomes), "seconds_per_arch": per_arch,
            "cpu_seconds_per_arch": (time.process_time() - cpu_start) / len(outcomes),
            "archs_per_second": 1 / per_arch, "hours_for_15625": per_arch * gt.NUM_ARCHS / 3600,
            "max_arch_seconds": max(o.seconds for o in outcomes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default="cifar10", choices=DATASETS)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--zc-batch", type=int, default=RunOptions().zc_batch)
    parser.add_argument("--proxies", default=None, help="comma-separated (default: every zero-cost proxy)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from proxies import REGISTRY
    from proxies.zero_cost.harness import ZeroCostProxy

    names = args.proxies.split(",") if args.proxies else \
        [p.name for p in REGISTRY if isinstance(p, ZeroCostProxy)]
    device = resolve_device(args.device)
    ctx = Context(args.dataset, seed=0, device=device, zc_batch=args.zc_batch)
    indices = gt.sample(args.archs, seed=1)
    load_before = os.getloadavg()[0]
    rows = []
    for name in names:
        rows.append(measure(REGISTRY.get(name), indices, ctx))
        r = rows[-1]
        print(f"{name:<10} {r['archs_per_second']:8.3f} archs/s  {r['cpu_seconds_per_arch']:7.3f} CPU s/arch  "
              f"{r['hours_for_15625']:7.2f} h for 15,625", file=sys.stderr)
    total = sum(r["seconds_per_arch"] for r in rows)
    machine = (device_name(device) if accelerated(device) else
               f"{cpu_name()}, {torch.get_num_threads()} torch threads")
    load = (load_before, os.getloadavg()[0])
    result = {"device": machine, "torch": torch.__version__, "dataset": args.dataset,
              "zc_batch": args.zc_batch,
              "archs": args.archs, "load_average_1min": load, "rows": rows,
              "all_proxies_seconds_per_arch": total,
              "all_proxies_hours_for_15625": total * gt.NUM_ARCHS / 3600}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"device: {machine}; torch {torch.__version__}; {args.dataset}; batch {args.zc_batch}; "
              f"{args.archs} archs per proxy; "
              f"load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after "
              f"on {os.cpu_count()} CPUs")
        print("| proxy | archs/s | s/arch | CPU s/arch | projected for 15,625 archs |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['proxy']} | {r['archs_per_second']:.3f} | {r['seconds_per_arch']:.3f} | "
                  f"{r['cpu_seconds_per_arch']:.3f} | {r['hours_for_15625']:.2f} h |")
        cpu = sum(r["cpu_seconds_per_arch"] for r in rows)
        print(f"| all {len(rows)} | {1 / total:.3f} | {total:.3f} | {cpu:.3f} | "
              f"{result['all_proxies_hours_for_15625']:.1f} h |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
