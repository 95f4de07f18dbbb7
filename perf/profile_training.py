"""Where a training step's time goes, per op class, with either of the engine's trainers: one
network at a time on one thread (as each engine worker runs it), in milliseconds per step.

    python perf/profile_training.py --proxy c4r4s0e2 --archs 13835,6311 [--steps 20] [--trainer direct,torch]

``--archs`` is a number (sampled with ``--seed``) or a list of NB201 indices. The torch trainer is
profiled with torch.profiler (self CPU time per operator, grouped by :data:`KINDS`); the direct
trainer by timing each kernel call of its recorded passes (grouped by :data:`DIRECT_KINDS`). In
both, ``python and other`` is the step's wall time less what the ops account for (the
interpreter, autograd's bookkeeping, profiler overhead for torch). Prints JSON: per trainer and
arch, the ms per step of each op class and in all, and the seconds per 1,000 evaluated images.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import time

import torch
from torch.profiler import ProfilerActivity, profile

from nb201 import groundtruth as gt
from nb201.context import Context
from nb201.training import data, direct, direct_trainer, engine

#: torch operator name -> op class
KINDS = {"conv backward (input and weight)": ("convolution_backward",),
         "conv forward": ("mkldnn_convolution", "convolution", "conv2d"),
         "batch norm": ("batch_norm",), "relu": ("relu", "threshold", "clamp_min"),
         "optimizer": ("_foreach", "sgd"), "adds, zeros, copies": ("add", "mul", "copy", "div",
                                                                   "sub", "fill", "zero"),
         "data (crop, flip, normalise), permutes": ("index", "gather", "select", "pad", "cat",
                                                    "split", "slice", "constant_pad"),
         "pooling": ("pool", "mean"), "loss": ("cross_entropy", "log_softmax", "nll"),
         "matrix products (small-map convs, head)": ("mm", "einsum", "bmm", "linear", "addmm")}
#: direct kernel -> op class (the same classes)
DIRECT_KINDS = {"conv forward": ("conv3", "conv1", "dense_weights"),
                "conv backward (input and weight)": ("conv3_scatter", "conv3_weight_grad",
                                                     "conv1_weight_grad", "dense_weights_grad",
                                                     "conv3 (input gradient)", "conv1 (input gradient)"),
                "matrix products (small-map convs, head)": ("_mm", "linear", "linear_grad"),
                "batch norm": ("bn_train", "bn_grad", "bn_eval", "bn_of_zeros", "channel_sums"),
                "relu": ("relu_pad", "relu_grad"), "adds, zeros, copies": ("add",),
                "pooling": ("box3", "box3_grad", "pool2", "pool2_grad", "pool_features",
                            "pool_features_grad"),
                "loss": ("cross_entropy",), "optimizer": ("sgd",),
                "data (crop, flip, normalise), permutes": ("gather_batch", "images_to_padded")}


def kind_of(name: str, kinds: dict) -> str:
    name = name.lower()
    for kind, keys in kinds.items():
        if any(k == name if kinds is DIRECT_KINDS else k in name for k in keys):
            return kind
    return "python and other"


def torch_profile(trainer, batches) -> dict[str, float]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        began = time.perf_counter()
        for batch in batches:
            trainer.step(*batch)
        wall = time.perf_counter() - began
    totals: dict[str, float] = collections.Counter()
    for event in prof.key_averages():
        if event.key.startswith(("aten::", "Optimizer")):
            totals[kind_of(event.key.removeprefix("aten::"), KINDS)] += event.self_cpu_time_total / 1e6
    return _per_step(totals, wall, len(batches))


def direct_profile(trainer, batches) -> dict[str, float]:
    totals: dict[str, float] = collections.Counter()

    def timed(fn, name):
        def call(*args):
            began = time.perf_counter()
            fn(*args)
            totals[name] += time.perf_counter() - began
        return call

    def name_of(fn, args) -> str:
        name = getattr(fn, "__name__", "other")
        if name in ("conv3", "conv1") and args[5]:             # transposed: an input gradient
            return f"{name} (input gradient)"
        return name

    for d in trainer.nets:
        for program in d.programs.values():
            program[:] = [(timed(fn, name_of(fn, args)), args) for fn, args in program]
    kernels = {name: getattr(direct.k, name) for name in ("gather_batch", "sgd")}
    try:
        for name, fn in kernels.items():
            setattr(direct.k, name, timed(fn, name))
        began = time.perf_counter()
        for batch in batches:
            trainer.step(*batch)
        wall = time.perf_counter() - began
    finally:
        for name, fn in kernels.items():
            setattr(direct.k, name, fn)
    grouped = collections.Counter()
    for name, seconds in totals.items():
        grouped[kind_of(name, DIRECT_KINDS)] += seconds
    return _per_step(grouped, wall, len(batches))


def _per_step(totals, wall: float, steps: int) -> dict[str, float]:
    out = {k: round(1e3 * v / steps, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    out["python and other"] = round(1e3 * (wall - sum(totals.values())) / steps, 3)
    out["step"] = round(1e3 * wall / steps, 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e2")
    parser.add_argument("--archs", default="13835,6311")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainer", default=",".join(engine.KERNELS))
    args = parser.parse_args(argv)
    from proxies.training import recipe_for
    torch.set_num_threads(1)
    recipe, _ = recipe_for(args.proxy)
    split = data.prepare(Context("cifar10", seed=args.seed).images, recipe, args.seed, "cpu")
    split = data.Split(split.train_x, split.train_y, split.valid_x[:args.eval_images],
                       split.valid_y[:args.eval_images], split.padding, split.num_classes,
                       split.resolution)
    batches = data.epoch_batches(len(split.train_y), recipe.batch_size, split.padding, args.seed, 0)
    batches = (batches * (1 + args.steps // max(1, len(batches))))[:args.steps + 2]
    indices = ([int(i) for i in args.archs.split(",")] if "," in args.archs or not args.archs.isdigit()
               or int(args.archs) > 64 else gt.sample(int(args.archs), args.seed))
    out = {"proxy": args.proxy, "load_average_before": os.getloadavg()[0], "trainers": {}}
    for name in args.trainer.split(","):
        if name == "direct":
            direct_trainer.warm()
        rows = out["trainers"][name] = {}
        for index in indices:
            net = engine.init_network(gt.arch_of(int(index)), recipe, split.num_classes, args.seed,
                                      int(index))
            trainer = engine.make_trainer(name, [net], None, recipe, split, torch.device("cpu"), None)
            for batch in batches[:2]:                       # warm-up (and recording)
                trainer.step(*batch)
            profiler = direct_profile if name == "direct" else torch_profile
            row = profiler(trainer, batches[2:])
            began = time.perf_counter()
            trainer.accuracies()
            row["eval_s_per_1000_images"] = round((time.perf_counter() - began) / len(split.valid_y) * 1e3, 4)
            rows[str(index)] = row
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
