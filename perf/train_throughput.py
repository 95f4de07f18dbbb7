"""Training throughput: the same archs trained by the engine, by a tight tensor loop and naively
(perf/baselines.py), alternating in one run.

Engine = ``nb201.training.engine.train`` on chunks of K archs (data on the device as uint8,
augmented per batch; on a CPU each network in its own thread with one intra-op thread).
Tight = one network at a time with all threads, the whole split as a tensor, per-batch vectorised
crop and flip, no DataLoader. Naive = NB201's per-image DataLoader loop.

All three train the same archs on the same images (the proxy's split and subset) for the same
number of steps and evaluate on the same held-out images after the same epochs (the ones the
proxy reads: the end, or every epoch with --full-curve); archs/hour = archs / wall time. They
alternate chunk by chunk (K archs by the engine, then the same K by the tight loop, then naively),
so that all meet the same machine load; per-chunk ratios and their median are printed too, with
the 1-minute load average before and after. Usage:

    python perf/train_throughput.py --proxy c4r4s0e2 --archs 8 [--skip-naive] [--device cpu]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import time

import torch

from nb201 import groundtruth as gt
from nb201.context import Context, resolve_device
from nb201.datasets import proxy_split
from nb201.devices import accelerated, device_name, synchronize
from nb201.training import data, engine, sizing
from perf.baselines import naive_train, tight_train
from proxies.training import default_fuse, recipe_for

METHODS = ("engine", "tight", "naive")


def native_data(images, recipe, seed: int) -> tuple:
    """The engine's training and held-out images (same subsets), at native resolution, CPU."""
    train, valid = data.prepare_indices(images, recipe, seed)
    train_x, train_y, valid_x, valid_y = proxy_split(images, seed)
    return train_x[train], train_y[train], valid_x[valid], valid_y[valid]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e2")
    parser.add_argument("--archs", type=int, default=8, help="how many archs (sampled with --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fuse", type=int, default=None, help="K (default: the engine's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--group-size", type=int, default=None,
                        help="networks stacked per fused group (default: the engine's choice)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads: the engine's CPU workers and the tight loop's "
                             "intra-op threads (default: all cores)")
    parser.add_argument("--full-curve", action="store_true", help="evaluate after every epoch")
    parser.add_argument("--tight-channels-last", action="store_true",
                        help="the tight loop in channels-last memory format")
    parser.add_argument("--tight-threads", type=int, default=None,
                        help="intra-op threads of the tight loop (default: --threads, all cores)")
    parser.add_argument("--naive-threads", type=int, default=1,
                        help="torch threads of the naive loop (1: fastest measured on 2 cores)")
    parser.add_argument("--naive-workers", type=int, default=1, help="DataLoader workers (naive)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--skip-tight", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    threads = args.threads or torch.get_num_threads()
    device = resolve_device(args.device)
    recipe, at = recipe_for(args.proxy)
    evaluate_at = set(range(1, at + 1)) if args.full_curve else {at}
    torch.set_num_threads(threads)
    ctx = Context("cifar10", seed=args.seed, device=device, fuse=args.fuse)
    images = ctx.images
    indices = [int(i) for i in gt.sample(args.archs, args.seed)]
    archs = [gt.arch_of(i) for i in indices]
    k = args.fuse or default_fuse(ctx, recipe)
    began = time.perf_counter()
    split = data.prepare(images, recipe, args.seed, device)   # the one resize counts as engine time
    seconds = {"engine": time.perf_counter() - began, "tight": 0.0, "naive": 0.0}
    native = None if args.skip_naive else native_data(images, recipe, args.seed)
    name = device_name(device)
    out = {"proxy": args.proxy, "archs": len(archs), "device": name, "threads": threads, "fuse": k,
           "group_size": args.group_size or (k if accelerated(device) else sizing.CPU_NETWORKS_PER_GROUP),
           "evaluated_epochs": sorted(evaluate_at), "train_images": len(split.train_y),
           "valid_images": len(split.valid_y), "naive_threads": args.naive_threads,
           "naive_workers": args.naive_workers, "tight_channels_last": args.tight_channels_last,
           "tight_threads": args.tight_threads or threads,
           "load_average_before": load_before}
    runs = {m: m == "engine" or not getattr(args, f"skip_{m}") for m in METHODS}
    cpu = dict.fromkeys(METHODS, 0.0)
    curves = {m: [] for m in METHODS}
    chunk_s = {m: [] for m in METHODS}
    for start in range(0, len(archs), k):
        chunk, chunk_idx = archs[start:start + k], indices[start:start + k]
        jobs = {
            "engine": lambda: engine.train(chunk, chunk_idx, split, recipe, args.seed, device,
                                           ctx.amp, group_size=args.group_size, until=at,
                                           evaluate_at=evaluate_at).curves,
            "tight": lambda: [tight_train(a, i, split, recipe, args.seed, device, evaluate_at,
                                          args.tight_channels_last) for a, i in zip(chunk, chunk_idx)],
            "naive": lambda: [naive_train(a, i, native, recipe, images.num_classes, args.seed,
                                          device, args.naive_workers, evaluate_at)
                              for a, i in zip(chunk, chunk_idx)],
        }
        for method in METHODS:
            if not runs[method]:
                continue
            torch.set_num_threads({"naive": args.naive_threads,
                                   "tight": args.tight_threads or threads}.get(method, threads))
            sync(device)
            began, used = time.perf_counter(), _cpu_seconds()
            curves[method] += jobs[method]()
            sync(device)
            gc.collect()                                  # DataLoader workers exit and are reaped
            chunk_s[method].append(time.perf_counter() - began)
            seconds[method] += chunk_s[method][-1]
            cpu[method] += _cpu_seconds() - used
        print(f"{start + len(chunk)}/{len(archs)} archs: " + ", ".join(
            f"{m} {seconds[m]:.1f} s" for m in METHODS if runs[m]), file=sys.stderr)
    torch.set_num_threads(threads)
    for method in METHODS:
        if not runs[method]:
            continue
        out[f"{method}_seconds"] = seconds[method]
        out[f"{method}_archs_per_hour"] = 3600 * len(archs) / seconds[method]
        out[f"{method}_cpu_seconds"] = cpu[method]
        out[f"{method}_final_accuracy"] = [round(c[-1], 2) for c in curves[method]]
        if method != "engine":
            ratios = [b / a for a, b in zip(chunk_s["engine"], chunk_s[method])]
            out[f"ratio_vs_{method}"] = seconds[method] / seconds["engine"]
            out[f"median_chunk_ratio_vs_{method}"] = float(statistics.median(ratios))
            out[f"cpu_ratio_vs_{method}"] = cpu[method] / cpu["engine"]
        print(f"{method}: {len(archs)} archs in {seconds[method]:.1f} s = "
              f"{out[f'{method}_archs_per_hour']:.0f} archs/hour"
              + ("" if method == "engine" else f"; {method} / engine = {out[f'ratio_vs_{method}']:.2f}x "
                 f"(median over chunks {out[f'median_chunk_ratio_vs_{method}']:.2f}x)"), file=sys.stderr)
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the naive DataLoader workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


#: wait for the device's queued work (CUDA), so that a timer reads finished work
sync = synchronize


if __name__ == "__main__":
    main()
