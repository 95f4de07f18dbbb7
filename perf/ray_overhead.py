"""The Ray executor's overhead against the local executor, on the same work, in one run.

Measures, in this order (nothing is written outside a temporary folder):

1. start-up: ``ray.init`` of a local instance, then the first task of each worker slot (a cold
   worker: Python, torch and the suite imported, the proxy resolved, its dataset loaded);
2. the cost of one task: ``--empty`` tasks that score no arch (the proxy resolved by name, the
   context rebuilt, the data source read, the result sent back), one at a time (latency) and all
   submitted at once (throughput);
3. the same work, ``runner.compute`` of ``--proxy`` on ``--archs`` archs into a fresh store, by the
   local executor (this process, torch's default threads), the local executor with one torch
   thread (what each Ray worker gets), and the Ray executor (warm workers, one task per slot),
   alternating ``--repeats`` times so all meet the same machine load; the ratios are printed,
   with the seconds per runner chunk that the proxy measured inside ``score`` (for Ray: in the
   worker, so wall minus chunk time is what Ray added).

Ray runs its workers at niceness 15 (its default, ``RAY_worker_niceness``), which matters only on
a machine shared with other work; the JSON line records it. ``RAY_worker_niceness=0 python
perf/ray_overhead.py ...`` measures without it.

Usage::

    python perf/ray_overhead.py --proxy synflow --archs 16 [--repeats 2] [--empty 100]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray
import torch

from nb201 import groundtruth as gt
from nb201.catalog import DEFAULT_DATASET
from nb201.context import Context, resolve_device
from benchmark.executors import LocalExecutor
from benchmark.ray_executor import RESOURCES, RayExecutor, _remote_score
from benchmark.runner import compute
from nb201.store import Store
from proxies import REGISTRY


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proxy", default="synflow")
    ap.add_argument("--archs", type=int, default=16)
    ap.add_argument("--dataset", default=DEFAULT_DATASET)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--empty", type=int, default=100, help="empty tasks for the per-task cost")
    args = ap.parse_args(argv)

    proxy = REGISTRY.get(args.proxy)
    ctx = Context(args.dataset, 0, device=resolve_device("cpu"))
    indices = gt.sample(args.archs, 0)
    task = _remote_score.options(**RESOURCES["cpu"])
    out = {"proxy": proxy.name, "archs": len(indices), "load_before": os.getloadavg(),
           "torch_threads": torch.get_num_threads()}

    executor = RayExecutor()
    out["ray_init_s"] = timed(executor._connect)
    slots = int(ray.cluster_resources()["CPU"])
    out["first_task_per_slot_s"] = timed(lambda: ray.get(
        [task.remote("proxies", proxy.name, [], ctx) for _ in range(slots)]))
    out["task_latency_ms"] = 1000 * statistics.median(
        timed(lambda: ray.get(task.remote("proxies", proxy.name, [], ctx)))
        for _ in range(max(1, args.empty // 5)))
    out["task_throughput_ms"] = 1000 * timed(lambda: ray.get(
        [task.remote("proxies", proxy.name, [], ctx) for _ in range(args.empty)])
        ) / args.empty

    out["worker_niceness"] = ray.get(ray.remote(num_cpus=1)(lambda: os.nice(0)).remote())
    chunks = -(-len(indices) // proxy.chunk_size(ctx))

    def run(name, make_executor, threads=None):
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            done = compute(proxy, indices, ctx, Store(Path(tmp) / "r.sqlite"), False,
                           make_executor())
            seconds = time.perf_counter() - start
        torch.set_num_threads(before)
        walls.setdefault(name, []).append(seconds)
        # seconds the proxy measured inside score(), per runner chunk (in the worker for Ray)
        chunk_s.setdefault(name, []).append(sum(o.seconds for o in done.values()) / chunks)
        print(f"{name}: {seconds:.2f} s", file=sys.stderr, flush=True)

    walls: dict[str, list[float]] = {}
    chunk_s: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        run("local", LocalExecutor)
        run("local_1_thread", LocalExecutor, threads=1)
        run("ray", lambda: executor)
    executor.close()
    out["wall_s"] = {k: statistics.median(v) for k, v in walls.items()}
    out["runs_s"] = walls
    out["chunks"] = chunks
    out["chunk_s"] = {k: statistics.median(v) for k, v in chunk_s.items()}
    out["ray_over_local"] = out["wall_s"]["ray"] / out["wall_s"]["local"]
    out["ray_over_local_1_thread"] = out["wall_s"]["ray"] / out["wall_s"]["local_1_thread"]
    out["load_after"] = os.getloadavg()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
