"""Where a training step's time goes: torch.profiler over the engine's steps and evaluation for a
few archs, one network at a time on one thread (as each engine worker runs), grouped by operator.

    python perf/profile_training.py --proxy c4r4s0e2 --archs 4 [--steps 20] [--eval-images 5000]

Prints, per phase (train steps, evaluation), the operators' share of self CPU time, and the
seconds per step and per 1,000 evaluated images.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from nb201 import groundtruth as gt
from nb201.context import Context
from nb201.training import data, engine
from nb201.training.fused import fuse
from proxies.training import recipe_for

#: operator name -> the part of the network it belongs to
KINDS = {"conv": ("convolution", "conv2d", "mkldnn_convolution"),
         "batch norm": ("batch_norm",), "relu": ("relu", "threshold", "clamp_min"),
         "sgd step": ("_foreach", "sgd"), "elementwise add/mul/copy": ("add", "mul", "copy", "div",
                                                                       "sub", "fill", "zero"),
         "indexing (crop, flip, permute)": ("index", "gather", "select", "pad", "cat", "split",
                                            "slice", "constant_pad"),
         "pooling": ("pool", "mean"), "loss": ("cross_entropy", "log_softmax", "nll"),
         "linear": ("mm", "einsum", "bmm", "linear", "addmm")}


def kind_of(name: str) -> str:
    name = name.lower()
    for kind, keys in KINDS.items():
        if any(k in name for k in keys):
            return kind
    return "other"


def one_network(index: int, recipe, num_classes: int, seed: int):
    """NB201 arch ``index`` as one engine worker trains it on a CPU: a fused group of one network
    in the engine's per-stage memory layout, and its optimizer."""
    net = engine.init_network(gt.arch_of(index), recipe, num_classes, seed, index)
    model = engine.apply_layout(fuse([net]), torch.device("cpu"))
    return model, engine.make_optimizer(model, recipe)


def shares(prof) -> dict[str, float]:
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith(("aten::", "Optimizer")):
            kind = kind_of(event.key)
            totals[kind] = totals.get(kind, 0.0) + event.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: round(100 * v / whole, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e2")
    parser.add_argument("--archs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    recipe, _ = recipe_for(args.proxy)
    split = data.prepare(Context("cifar10", seed=args.seed).images, recipe, args.seed, "cpu")
    batches = data.epoch_batches(len(split.train_y), recipe.batch_size, split.padding, args.seed, 0)
    batches = (batches * (1 + args.steps // max(1, len(batches))))[:args.steps]
    out = {"proxy": args.proxy, "load_average_before": os.getloadavg()[0], "step_s": [], "eval_s_per_1000": []}
    train_prof, eval_prof = [], []
    for index in gt.sample(args.archs, args.seed):
        model, optimizer = one_network(int(index), recipe, split.num_classes, args.seed)
        for idx, dy, dx, flips in batches[:2]:        # warm-up
            engine.train_step(model, optimizer, data.batch_images(split, recipe, idx, dy, dx, flips,
                                                                  model.input_format), split.train_y[idx])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            began = time.perf_counter()
            for idx, dy, dx, flips in batches:
                x = data.batch_images(split, recipe, idx, dy, dx, flips, model.input_format)
                engine.train_step(model, optimizer, x, split.train_y[idx])
            out["step_s"].append((time.perf_counter() - began) / len(batches))
        train_prof.append(shares(prof))
        n = min(args.eval_images, len(split.valid_y))
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            began = time.perf_counter()
            engine.evaluate(model, split.valid_x[:n], split.valid_y[:n], recipe)
            out["eval_s_per_1000"].append((time.perf_counter() - began) / n * 1000)
        eval_prof.append(shares(prof))
    out["train_shares_%"] = {k: round(sum(p.get(k, 0) for p in train_prof) / len(train_prof), 1)
                             for k in train_prof[0]}
    out["eval_shares_%"] = {k: round(sum(p.get(k, 0) for p in eval_prof) / len(eval_prof), 1)
                            for k in eval_prof[0]}
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
