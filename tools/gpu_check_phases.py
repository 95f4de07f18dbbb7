"""The GPU check's phases (tools/gpu_check.py), in order of value, each a function of the check,
its record (the phase's file) and its deadline (time.time()):

1. :func:`econas_point`: the suite's EcoNAS point (``c4r4s0e40@20``, read after epoch 10 as well)
   on as many archs as fit, and on at least ``point_min_archs`` if they fit in ``point_reach`` of
   the time left;
2. :func:`zc_paper`: the zero-cost paper's EcoNAS point ``zc-paper:c4r4s0e40b2048@20`` on the
   same archs;
3. :func:`factors`: the other proxies of the shipped CPU study (``data/experiments/
   econas-cpu.toml``: the point read after epoch 40, one factor changed at a time), a chunk of
   each in turn;
4. :func:`zero_cost`: every zero-cost proxy on all 15,625 archs as far as its share goes,
   cheapest first (``ntk_cond`` on at most ``ntk_archs``);
5. :func:`throughput`: the tight tensor loop and NB201's DataLoader loop (perf/baselines.py) on a
   few archs for one epoch, against the engine's time per arch and epoch in phase 1.
"""
from __future__ import annotations

import dataclasses
import math
import time

from tools.gpu_check_train import MARGIN, chunks, train

#: the phases in order, with the share of the time left that each gets (of the shares of the
#: phases still to run: what one leaves goes to the next)
SHARES = {"econas_point": 0.4, "zc_paper": 0.22, "factors": 0.2, "zero_cost": 0.1,
          "throughput": 0.08}


def econas_point(check, record: dict, deadline: float) -> None:
    """The EcoNAS point on as many archs as fit (past its share until ``point_min_archs``)."""
    name, *reads = check.names([check.cfg["point"], *check.cfg["point_reads"]])
    end = check.clock.started + check.clock.budget - check.cfg["reserve"]
    reach = time.time() + (end - time.time()) * check.cfg["point_reach"]
    runner = chunks(check, record, name, tuple(reads))
    train(check, record, [runner] if runner else [], deadline, check.cfg["point_min_archs"], reach)


def zc_paper(check, record: dict, deadline: float) -> None:
    """The zero-cost paper's EcoNAS point, on the same archs first."""
    runner = chunks(check, record, check.names([check.cfg["zc_paper"]])[0])
    train(check, record, [runner] if runner else [], deadline)


def factors(check, record: dict, deadline: float) -> None:
    """The shipped CPU study's proxies not run by the phases before (in its file's order),
    one chunk each in turn, so that the time goes to as many of them as fit."""
    from benchmark.experiments.spec import load_experiment
    from proxies import REGISTRY
    study = load_experiment(check.cfg["study"], REGISTRY)
    done = set(check.names([check.cfg["point"], *check.cfg["point_reads"]]))
    names = list(dict.fromkeys(n for n in check.names(p for g in study.groups for p in g.proxies)
                               if n not in done))
    record["study"] = check.cfg["study"]
    runners = [r for r in (chunks(check, record, n) for n in names) if r is not None]
    train(check, record, runners, deadline)


def zero_cost(check, record: dict, deadline: float) -> None:
    """Every zero-cost proxy, cheapest first, each with an equal share of the time left."""
    from proxies import REGISTRY
    from proxies.zero_cost.harness import ZeroCostProxy
    found = sorted((p for p in REGISTRY if isinstance(p, ZeroCostProxy)), key=lambda p: p.cost_s)
    found = [check.proxy(p.name) for p in found]
    for k, proxy in enumerate(found):
        mine = time.time() + (deadline - time.time()) / (len(found) - k)
        cap = check.cfg["ntk_archs"] if proxy.name == "ntk_cond" else check.cfg["zc_archs"]
        check.guarded(record, proxy.name, lambda entry, proxy=proxy, mine=mine, cap=cap:
                      score_zero_cost(check, entry, proxy, cap, mine))


def score_zero_cost(check, entry: dict, proxy, cap: int, deadline: float) -> None:
    """``proxy`` on the first ``cap`` archs: one arch, then chunks of ``zc_chunk`` as many as
    its measured seconds per arch allow before ``deadline``."""
    from benchmark.runner import compute
    order, done, seconds, computed = check.order()[:cap], 0, 0.0, 0
    entry.update(cap=cap, chunks=0)
    while done < len(order):
        n = 1 if computed == 0 else check.cfg["zc_chunk"]
        left = deadline - time.time()
        if left <= 0:
            entry["stopped"] = "no time left"
            break
        if computed:
            n = min(n, int(left / (seconds / computed * MARGIN)))
            if n < 1:
                entry["stopped"] = f"{left:.1f} s left, {seconds / computed:.3f} s per arch"
                break
        part = order[done:done + n]
        started = time.perf_counter()
        compute(proxy, part, check.ctx, check.store, progress=False)
        seconds += time.perf_counter() - started
        done, computed, entry["chunks"] = done + len(part), computed + len(part), entry["chunks"] + 1
        entry.update(archs=done, seconds=seconds, seconds_per_arch=seconds / computed)
        check.saved("zero_cost")
    else:
        entry.setdefault("stopped", f"all {len(order)} archs asked for are scored")
    entry["projected_seconds_for_15625"] = entry.get("seconds_per_arch", math.nan) * 15625
    entry["agreement"] = check.agreement(proxy, order[:done])
    check.out.log(f"{proxy.name}: {done} archs, {entry.get('seconds_per_arch', math.nan):.4f} s/arch")


def throughput(check, record: dict, deadline: float) -> None:
    """The tight loop and the DataLoader loop, one epoch of a few archs each, against the
    engine's seconds per arch and epoch in phase 1 (its chunks, probes included). The loops
    evaluate the share of the held-out images that the point evaluates per epoch (2 reads of
    20 epochs: a tenth), so that each does the engine's work per arch and epoch. The fastest arch
    of each counts (the first pays for cuDNN's choices; the DataLoader loop's for its workers'
    start)."""
    from nb201 import groundtruth as gt
    from nb201.catalog import dataset_spec
    from nb201.devices import synchronize
    from nb201.training import data, sizing
    from perf.baselines import naive_train, tight_train
    from perf.train_throughput import native_data
    name, *reads = check.names([check.cfg["point"], *check.cfg["point_reads"]])
    proxy = check.proxy(name, tuple(reads))
    held_out = proxy.recipe.valid_images or sizing.image_pools(proxy.recipe,
                                                               dataset_spec("cifar10"))[1]
    share = math.ceil(held_out * len(proxy.epochs_read) / max(proxy.epochs_read))
    recipe = dataclasses.replace(proxy.recipe, valid_images=share)
    record.update(proxy=name, valid_images=share)
    point = (check.phases.get("econas_point", {}).get("proxies") or [{}])[0]
    chunks = [c for c in point.get("chunks", []) if c.get("epochs")]
    if chunks:
        per = sum(c["seconds"] for c in chunks) / sum(c["computed"] * c["epochs"] for c in chunks)
        record["engine"] = {"seconds_per_arch_epoch": per, "archs_per_hour_at_40_epochs":
                            3600 / (per * recipe.epochs), "chunks": len(chunks)}
    indices = check.order()[:max(check.cfg["tight_archs"], check.cfg["naive_archs"])]
    archs = [gt.arch_of(i) for i in indices]
    split = data.prepare(check.ctx.images, recipe, check.ctx.seed, check.device)
    for method, n in (("tight", check.cfg["tight_archs"]), ("naive", check.cfg["naive_archs"])):
        if deadline - time.time() < check.cfg["floor"]:
            record.setdefault("proxies", []).append(
                {"proxy": method, "stopped": f"skipped: {deadline - time.time():.0f} s left"})
            continue

        def body(entry, method=method, n=n):
            native = native_data(check.ctx.images, recipe, check.ctx.seed) if method == "naive" else None
            each = []
            for arch, index in zip(archs[:n], indices[:n]):
                synchronize(check.device)
                started = time.perf_counter()
                if method == "tight":
                    tight_train(arch, index, split, recipe, 0, check.device, {1})
                else:
                    naive_train(arch, index, native, recipe, split.num_classes, 0, check.device,
                                check.cfg["naive_workers"], {1})
                synchronize(check.device)
                each.append(time.perf_counter() - started)
            per = min(each)           # the fastest arch: the baselines' best case
            entry.update(archs=n, epochs=1, seconds_each=each, seconds_per_arch_epoch=per,
                         archs_per_hour_at_40_epochs=3600 / (per * recipe.epochs))
            if "engine" in record:
                entry["engine_speedup"] = per / record["engine"]["seconds_per_arch_epoch"]
            check.saved("throughput")
        check.guarded(record, method, body)

