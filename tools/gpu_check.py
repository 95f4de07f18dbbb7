"""One prepared check for a GPU machine (run it through tools/gpu_check.sh): under 8 minutes on one
H100/H200, it writes its figures as JSON to ``--out`` (one file per phase and ``summary.json``).

1. Training throughput at ``c4r4s0e40`` (embedded CIFAR-10, the suite's held-out split): the
   engine on ``--archs`` archs (256) trains to epoch 2, then continues the same runs to epoch 40
   if the projection fits the phase budget (else the 40-epoch time is projected from the measured
   epochs); the tight tensor loop and NB201's DataLoader loop (perf/baselines.py) train a few of
   the same archs for a few epochs, timed per arch and epoch and projected to 40 epochs (the same
   steps and one evaluation of the held-out images at the end). Archs per hour and ratios.
2. Every zero-cost proxy on up to ``--zc-archs`` archs (512), each within its share of the budget.
3. With the time left: the zero-cost paper's EcoNAS point ``zc-paper:c4r4s0e40b2048@20`` on as
   many archs as fit, chunk by chunk into a results store; Spearman and Kendall tau against
   NB201's ``valid_200`` (cifar10-valid networks, the paper's truth is their test accuracy) and
   ``test_200``.

``--device cpu --tiny`` is a CPU-sized dry run of the same code (minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from nb201 import groundtruth as gt
from nb201.context import Context, resolve_device
from benchmark.library import score
from benchmark.runner import Request, compute
from nb201.store import Store
from nb201.training import data, engine, sizing
from perf.baselines import naive_train, tight_train
from perf.train_throughput import native_data, sync
from perf.zero_cost_throughput import measure
from proxies import REGISTRY
from proxies.training import recipe_for
from proxies.zero_cost.harness import ZeroCostProxy

FULL = dict(train_proxy="c4r4s0e40", archs=256, tight_archs=4, tight_epochs=2, naive_archs=1,
            naive_epochs=1, naive_workers=8, zc_archs=512, econas="zc-paper:c4r4s0e40b2048@20",
            budget=450.0, train_share=0.4, zc_share=0.3)
TINY = dict(train_proxy="c4r4s100e2", archs=4, tight_archs=1, tight_epochs=1, naive_archs=1,
            naive_epochs=1, naive_workers=1, zc_archs=2, econas="zc-paper:c4r4s100e2b256@1",
            budget=1200.0, train_share=0.4, zc_share=0.3)


class Clock:
    def __init__(self, budget: float):
        self.start, self.budget = time.perf_counter(), budget

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)


def throughput(cfg: dict, ctx: Context, budget: float) -> dict:
    began = time.perf_counter()
    device, seed = ctx.device, ctx.seed
    recipe, epochs = recipe_for(cfg["train_proxy"])
    split = data.prepare(ctx.images, recipe, seed, device)
    indices = [int(i) for i in gt.sample(cfg["archs"], seed)]
    archs = [gt.arch_of(i) for i in indices]
    chunk = sizing.auto_fuse(device, recipe, 32)
    out = {"proxy": cfg["train_proxy"], "archs": len(archs), "chunk": chunk, "epochs": epochs,
           "train_images": len(split.train_y), "valid_images": len(split.valid_y)}
    first = min(2, epochs)
    sync(device)
    t = time.perf_counter()
    states = []
    for at in range(0, len(archs), chunk):
        states += engine.train(archs[at:at + chunk], indices[at:at + chunk], split, recipe, seed,
                               device, until=first, evaluate_at=()).states
    sync(device)
    measured = time.perf_counter() - t
    per_epoch = measured / first
    remaining = per_epoch * (epochs - first) * 1.1
    if remaining < budget - (time.perf_counter() - began) - 30:
        t = time.perf_counter()
        for at in range(0, len(archs), chunk):
            engine.train(archs[at:at + chunk], indices[at:at + chunk], split, recipe, seed, device,
                         until=epochs, evaluate_at=(epochs,), states=states[at:at + chunk])
        sync(device)
        out["engine_seconds"] = measured + time.perf_counter() - t
        out["engine_seconds_basis"] = f"measured: {first} epochs, then continued to {epochs}"
    else:
        out["engine_seconds"] = per_epoch * epochs
        out["engine_seconds_basis"] = f"projected from {first} measured epochs (no evaluation)"
    out["engine_archs_per_hour"] = 3600 * len(archs) / out["engine_seconds"]
    native = native_data(ctx.images, recipe, seed)
    for method, n, ep in (("tight", cfg["tight_archs"], cfg["tight_epochs"]),
                          ("naive", cfg["naive_archs"], cfg["naive_epochs"])):
        ep = min(ep, epochs)
        sync(device)
        t = time.perf_counter()
        for a, i in zip(archs[:n], indices[:n]):
            if method == "tight":
                tight_train(a, i, split, recipe, seed, device, {ep})
            else:
                naive_train(a, i, native, recipe, split.num_classes, seed, device,
                            cfg["naive_workers"], {ep})
        sync(device)
        per_arch_epoch = (time.perf_counter() - t) / n / ep
        out[f"{method}_archs_timed"], out[f"{method}_epochs_timed"] = n, ep
        out[f"{method}_seconds_per_arch_projected"] = per_arch_epoch * epochs
        out[f"{method}_archs_per_hour"] = 3600 / (per_arch_epoch * epochs)
        out[f"engine_vs_{method}"] = out["engine_archs_per_hour"] / out[f"{method}_archs_per_hour"]
    out["seconds"] = time.perf_counter() - began
    return out


def zero_cost(cfg: dict, ctx: Context, budget: float) -> dict:
    names = [p.name for p in REGISTRY if isinstance(p, ZeroCostProxy)]
    indices = gt.sample(cfg["zc_archs"], seed=1)
    rows = [measure(REGISTRY.get(n), indices, ctx, budget_s=budget / len(names)) for n in names]
    total = sum(r["seconds_per_arch"] for r in rows)
    return {"archs_asked": len(indices), "rows": rows, "all_proxies_seconds_per_arch": total,
            "all_proxies_minutes_for_15625": total * gt.NUM_ARCHS / 60}


def econas(cfg: dict, ctx: Context, clock: Clock, store_path: Path) -> dict:
    proxy = REGISTRY.get(cfg["econas"])
    store = Store(store_path)
    order = [int(i) for i in gt.sample(gt.NUM_ARCHS, 0)]
    chunk = proxy.chunk_size(ctx)
    done, last = [], None
    while clock.left() > 20 and len(done) < len(order):
        if last is not None and last * 1.2 > clock.left() - 10:
            break
        part = sorted(order[len(done):len(done) + chunk])
        t = time.perf_counter()
        compute(proxy, part, ctx, store, progress=False)
        last = time.perf_counter() - t
        done += part
    result = {"proxy": proxy.name, "description": proxy.description, "archs": len(done),
              "chunk": chunk, "seconds_per_chunk": last}
    if len(done) >= 3:
        for truth in ("valid_200", "test_200"):
            card = score(Request(proxy, "cifar10", done, (ctx.seed,), truth), ctx, store, progress=False)
            result[truth] = {k: card[k] for k in ("n", "spearman", "kendall_tau", "ci")}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="CPU-sized dry run")
    parser.add_argument("--out", default="results/gpu_check")
    parser.add_argument("--budget", type=float, default=None, help="seconds for all phases")
    parser.add_argument("--store", default="results/gpu_check.sqlite",
                        help="results store of the EcoNAS point (its unfinished runs' states beside it)")
    args = parser.parse_args(argv)
    cfg = dict(TINY if args.tiny else FULL)
    clock = Clock(args.budget or cfg["budget"])
    device = resolve_device(args.device)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    summary = {"device": name, "torch": torch.__version__, "tiny": args.tiny,
               "load_average_before": os.getloadavg()[0], "config": cfg}
    ctx = Context("cifar10", seed=0, device=device)
    ctx.images                                             # decode once, counted in the budget
    summary["data_seconds"] = time.perf_counter() - clock.start
    share = lambda key: min(clock.budget * cfg[key], clock.left() - 30)  # noqa: E731
    phases = (("train_throughput", lambda: throughput(cfg, ctx, share("train_share"))),
              ("zero_cost", lambda: zero_cost(cfg, ctx, share("zc_share"))),
              ("econas_point", lambda: econas(cfg, ctx, clock, Path(args.store))))
    for phase, run in phases:
        t = time.perf_counter()
        summary[phase] = run()
        summary[phase]["phase_seconds"] = time.perf_counter() - t
        (out_dir / f"{phase}.json").write_text(json.dumps(summary[phase], indent=1))
        print(f"{phase}: {time.perf_counter() - t:.0f} s, {clock.left():.0f} s left", file=sys.stderr)
    summary["seconds"] = time.perf_counter() - clock.start
    summary["load_average_after"] = os.getloadavg()[0]
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ("device", "seconds", "data_seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
