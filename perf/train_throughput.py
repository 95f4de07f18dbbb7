"""Training throughput: the same archs trained naively and with the fused engine, in one run.

Naive = what NB201's reference code does, one arch at a time: a torch DataLoader over a Dataset
that augments each image on its own (random crop with zero padding 4 at 32x32, horizontal flip,
resize to the proxy's resolution, normalisation; validation images resized and normalised one by
one), NB201's network, SGD with NB201's per-epoch cosine, validation after every epoch.
Fused = ``benchmark.training.engine.train`` on chunks of K archs (data on the device as uint8,
augmented per batch, networks stacked along channels).

Both train the same archs on the same proxy split for the same number of steps and evaluate on the
same validation images; archs/hour = archs / wall time. The two alternate chunk by chunk (K archs
fused, then the same K naively), so that both meet the same machine load; the per-chunk ratios
and their median are printed too. Usage:

    python perf/train_throughput.py --proxy c4r4s10e1 --archs 16 [--fuse K] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import gc
import random
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


from benchmark import groundtruth as gt
from benchmark.api import Context, resolve_device
from benchmark.datasets import proxy_split
from benchmark.training import engine
from benchmark.training.recipe import Recipe
from proxies.training import default_fuse, recipe_for


class PerSampleImages(Dataset):
    """NB201-style per-image transforms on uint8 CHW tensors (torchvision is not used here)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, train: bool):
        self.x, self.y, self.recipe, self.train = x, y, recipe, train
        self.native = x.shape[-1]
        self.resolution = recipe.resolution(self.native)
        self.mean = torch.tensor(recipe.mean).view(3, 1, 1)
        self.std = torch.tensor(recipe.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = self.x[i]
        if self.train:
            if random.random() < 0.5:
                img = img.flip(-1)
            p = self.recipe.crop_padding
            img = F.pad(img, (p, p, p, p))
            dy, dx = random.randint(0, 2 * p), random.randint(0, 2 * p)
            img = img[:, dy:dy + self.native, dx:dx + self.native]
        img = img.float() / 255
        if self.resolution != self.native:
            img = F.interpolate(img[None], size=(self.resolution, self.resolution), mode="bilinear",
                                antialias=True, align_corners=False)[0]
        return (img - self.mean) / self.std, self.y[i]


def naive_train(arch, index: int, data: tuple, recipe: Recipe, num_classes: int, seed: int,
                device: torch.device, workers: int) -> list[float]:
    """One arch, NB201's reference loop. Returns the validation accuracy after each epoch."""
    random.seed(seed)
    torch.manual_seed(seed)
    train_x, train_y, valid_x, valid_y = data
    net = engine.init_network(arch, recipe, num_classes, seed, index).to(device)
    optimizer = engine.make_optimizer(net, recipe)
    loader = dict(batch_size=recipe.batch_size, num_workers=workers, persistent_workers=workers > 0)
    train_loader = DataLoader(PerSampleImages(train_x, train_y, recipe, True), shuffle=True, **loader)
    valid_loader = DataLoader(PerSampleImages(valid_x, valid_y, recipe, False), shuffle=False, **loader)
    curve = []
    for epoch in range(recipe.epochs):
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        net.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in valid_loader:
                correct += (net(x.to(device)).argmax(1) == y.to(device)).sum().item()
        curve.append(100.0 * correct / len(valid_y))
    return curve


def native_data(images, recipe: Recipe, seed: int) -> tuple:
    """The engine's training and validation images (same subsets), at native resolution, CPU."""
    train, valid = engine.prepare_indices(images, recipe, seed)
    train_x, train_y, valid_x, valid_y = proxy_split(images, seed)
    return train_x[train], train_y[train], valid_x[valid], valid_y[valid]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s10e1")
    parser.add_argument("--archs", type=int, default=16, help="how many archs (sampled with --seed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fuse", type=int, default=None, help="K (default: the engine's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--group-size", type=int, default=None,
                        help="networks stacked per fused group (default: the engine's choice)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads = the engine's CPU workers (default: all cores)")
    parser.add_argument("--naive-threads", type=int, default=1,
                        help="torch threads of the naive loop (1: fastest measured on 2 cores)")
    parser.add_argument("--naive-workers", type=int, default=1, help="DataLoader workers (naive)")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args(argv)
    threads = args.threads or torch.get_num_threads()
    device = resolve_device(args.device)
    recipe, _ = recipe_for(args.proxy)
    torch.set_num_threads(threads)
    ctx = Context("cifar10", seed=args.seed, device=device, fuse=args.fuse)
    images = ctx.images
    indices = [int(i) for i in gt.sample(args.archs, args.seed)]
    archs = [gt.arch_of(i) for i in indices]
    k = args.fuse or default_fuse(ctx, recipe)
    began = time.perf_counter()
    split = engine.prepare(images, recipe, args.seed, device)   # the one resize counts as fused time
    prepare_s = time.perf_counter() - began
    data = native_data(images, recipe, args.seed)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out = {"proxy": args.proxy, "archs": len(archs), "device": name, "threads": threads,
           "fuse": k, "group_size": args.group_size or engine.CPU_NETWORKS_PER_GROUP
           if device.type == "cpu" else args.group_size or k, "naive_threads": args.naive_threads, "naive_workers": args.naive_workers,
           "train_images": len(split.train_y), "valid_images": len(split.valid_y)}
    # chunk by chunk, fused then naive on the same archs, so both see the same machine load
    fused_s, naive_s = prepare_s, 0.0
    fused_cpu = naive_cpu = 0.0
    fused_curves, naive_curves, chunk_ratios = [], [], []
    for start in range(0, len(archs), k):
        chunk, chunk_idx = archs[start:start + k], indices[start:start + k]
        torch.set_num_threads(threads)
        _sync(device)
        began, cpu = time.perf_counter(), _cpu_seconds()
        fused_curves += engine.train(chunk, chunk_idx, split, recipe, args.seed, device, ctx.amp,
                                     group_size=args.group_size).curves
        _sync(device)
        fused_chunk = time.perf_counter() - began
        fused_s += fused_chunk
        fused_cpu += _cpu_seconds() - cpu
        if args.skip_naive:
            continue
        torch.set_num_threads(args.naive_threads)
        began, cpu = time.perf_counter(), _cpu_seconds()
        naive_curves += [naive_train(a, i, data, recipe, images.num_classes, args.seed, device,
                                     args.naive_workers) for a, i in zip(chunk, chunk_idx)]
        _sync(device)
        gc.collect()                                  # DataLoader workers exit and are reaped
        naive_chunk = time.perf_counter() - began
        naive_s += naive_chunk
        naive_cpu += _cpu_seconds() - cpu
        chunk_ratios.append(naive_chunk / fused_chunk)
        print(f"{start + len(chunk)}/{len(archs)} archs: fused {fused_s:.1f} s, naive {naive_s:.1f} s",
              file=sys.stderr)
    torch.set_num_threads(threads)
    out["fused_seconds"] = fused_s
    out["fused_archs_per_hour"] = 3600 * len(archs) / fused_s
    out["fused_cpu_seconds"] = fused_cpu
    print(f"fused (K={k}): {len(archs)} archs in {fused_s:.1f} s = "
          f"{out['fused_archs_per_hour']:.0f} archs/hour", file=sys.stderr)
    if not args.skip_naive:
        out["naive_seconds"] = naive_s
        out["naive_archs_per_hour"] = 3600 * len(archs) / naive_s
        out["naive_cpu_seconds"] = naive_cpu
        out["cpu_ratio"] = naive_cpu / fused_cpu
        out["ratio"] = naive_s / fused_s
        # on a shared machine one chunk can catch a burst of load: the median is robust to that
        out["chunk_ratios"] = [round(r, 2) for r in chunk_ratios]
        out["median_chunk_ratio"] = float(statistics.median(chunk_ratios))
        out["final_accuracy"] = {"fused": [round(c[-1], 2) for c in fused_curves],
                                 "naive": [round(c[-1], 2) for c in naive_curves]}
        print(f"naive: {len(archs)} archs in {naive_s:.1f} s = {out['naive_archs_per_hour']:.0f} "
              f"archs/hour; fused / naive = {out['ratio']:.2f}x (median over chunks "
              f"{out['median_chunk_ratio']:.2f}x)", file=sys.stderr)
    print(json.dumps(out))
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the naive DataLoader workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
