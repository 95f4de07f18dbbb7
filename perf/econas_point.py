"""The EcoNAS point on this CPU: seconds per arch, useful GFLOP/s and the share of the machine's
own matmul rate, for the engine's trainers side by side in one run (same archs, same batches).

    python perf/econas_point.py [--proxy c4r4s0e40@20] [--sample 8] [--seed 0] [--trainers direct,torch]

Each trainer trains the ``--sample`` archs of ``--seed`` (what ``score --sample 8 --seed 0``
draws) as ``score`` would: ``engine.train`` on all cores, up to the epoch read, evaluated there.
FLOPs are NB201's forward FLOPs at the proxy's width and resolution (``nb201.complexity``: convs
and the classifier, 2 per multiply-add) times 3 for a training step (forward, input and weight
gradients) per training image and epoch, plus one forward pass per evaluated image. The matmul
rate is a 2048 x 2048 float32 product on all threads, the best of 10, measured in this run.
Per arch: its seconds (as stored: its worker's CPU time over the workers), its GFLOP/s, and its
cost relative to what its FLOPs predict at the sample's median rate (1.0: as its FLOPs predict;
2.0: twice as dear). Also the plan's estimate for these archs (what ``run --dry-run`` prints for
a fresh store: the proxy's ``cost_s`` x this CPU's speed factor) against the measured wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

from nb201 import complexity
from nb201 import groundtruth as gt
from nb201.catalog import dataset_spec
from nb201.context import Context
from nb201.training import data, engine, sizing
from nb201.training.direct import reads_input
from proxies import REGISTRY
from proxies.training import recipe_for


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """The best rate of a ``size`` x ``size`` float32 matmul on ``threads`` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(repeats))
        return 2 * size ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run_flops(index: int, recipe, at: int, train_images: int, valid_images: int,
              native: int) -> float:
    """Useful FLOPs of one run: 3 x forward per training image and epoch, 1 x per evaluation."""
    forward = complexity.flops_m(gt.arch_of(index), 10, recipe.resolution(native), recipe.width) * 1e6
    return forward * (3 * train_images * at + valid_images)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e40@20")
    parser.add_argument("--sample", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainers", default=",".join(engine.KERNELS))
    args = parser.parse_args(argv)
    trainers = args.trainers.split(",")
    recipe, at = recipe_for(args.proxy)
    threads = torch.get_num_threads()
    ctx = Context("cifar10", seed=args.seed, device="cpu")
    split = data.prepare(ctx.images, recipe, args.seed, "cpu")
    indices = [int(i) for i in gt.sample(args.sample, args.seed)]
    archs = [gt.arch_of(i) for i in indices]
    native = dataset_spec("cifar10").resolution
    flops = [run_flops(i, recipe, at, len(split.train_y), len(split.valid_y), native) for i in indices]
    proxy = REGISTRY.get(args.proxy)
    # what `run --dry-run` prints for these archs on a fresh store: cost_s x this CPU's speed
    estimate = len(indices) * proxy.cost_s * sizing.cpu_speed_factor()
    out = {"proxy": args.proxy, "archs": indices, "threads": threads, "cpu": _cpu_name(),
           "plan_estimate_s": estimate, "cpu_speed_factor": sizing.cpu_speed_factor(),
           "load_average_before": os.getloadavg()[0], "matmul_gflops": matmul_gflops(threads),
           "matmul_gflops_one_thread": matmul_gflops(1), "flops_per_arch": flops, "trainers": {}}
    for trainer in trainers:
        began = time.perf_counter()
        result = engine.train(archs, indices, split, recipe, args.seed, "cpu", until=at,
                              evaluate_at=[at], trainer=trainer)
        wall = time.perf_counter() - began
        per_arch = [s.segments[-1][2] for s in result.states]
        rates = [f / s / 1e9 for f, s in zip(flops, per_arch)]
        median = statistics.median(rates)
        gflops = sum(flops) / wall / 1e9
        # an arch whose cells ignore their input is trained as its last cell and head only
        # (nb201.training.direct.reads_input): its FLOPs are not worked for
        worked = sum(f for f, a in zip(flops, archs) if reads_input(a) or trainer != "direct")
        out["trainers"][trainer] = {
            "wall_s": wall, "s_per_arch": wall / len(archs), "gflops": gflops,
            "gflops_worked": worked / wall / 1e9,
            "share_of_matmul": gflops / out["matmul_gflops"],
            "arch_seconds": per_arch, "arch_gflops": rates,
            "cost_vs_flops": [median / r for r in rates],
            "scores": [s.curve[at - 1] for s in result.states]}
        if trainer == engine.kernels("cpu", None, recipe, recipe.resolution(native)):
            out["plan_estimate_ratio"] = estimate / wall
            print(f"plan's estimate {estimate:.1f} s = {estimate / wall:.2f}x the measured {wall:.1f} s",
                  file=sys.stderr)
        print(f"{trainer}: {wall:.1f} s, {wall / len(archs):.1f} s/arch, {gflops:.1f} GFLOP/s = "
              f"{100 * gflops / out['matmul_gflops']:.1f}% of the matmul rate "
              f"({out['matmul_gflops']:.0f} GFLOP/s; FLOPs worked for: {worked / wall / 1e9:.1f} "
              f"GFLOP/s)", file=sys.stderr)
    if len(trainers) > 1:
        first = out["trainers"][trainers[0]]["wall_s"]
        out["ratios"] = {t: out["trainers"][t]["wall_s"] / first for t in trainers[1:]}
        print(" ".join(f"{t} / {trainers[0]} = {r:.2f}x" for t, r in out["ratios"].items()),
              file=sys.stderr)
    print("arch   MFLOP/img  " + "  ".join(f"{t}: s  GFLOP/s  cost/FLOPs" for t in trainers),
          file=sys.stderr)
    for k, index in enumerate(indices):
        mflop = complexity.flops_m(archs[k], 10, recipe.resolution(native), recipe.width)
        cols = "  ".join(f"{r['arch_seconds'][k]:6.1f} {r['arch_gflops'][k]:6.1f} "
                         f"{r['cost_vs_flops'][k]:5.2f}" for r in out["trainers"].values())
        print(f"{index:5d}  {mflop:8.3f}  {cols}", file=sys.stderr)
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
