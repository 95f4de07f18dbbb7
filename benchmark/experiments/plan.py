"""Planning an experiment against the results store: which archs each (proxy, dataset, data source,
seed) run still lacks, cheapest run first, and how long they will take. Proxies that read images
are skipped on datasets whose images cannot be loaded. A run's seconds per arch are the mean of
the proxy's stored rows on that dataset and device when there are any; else its ``cost_s`` (a
guess for an idle 2-core CPU) times the median measured/``cost_s`` ratio of the same kind of
proxy on this device; else ``cost_s``. :func:`format_plan` prints the plan with the estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nb201.api import Proxy
from nb201.registry import Registry
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import Key, Store

if TYPE_CHECKING:
    from .spec import Experiment

KIND_ORDER = {"table": 0, "zero-cost": 1, "training": 2}


@dataclass(frozen=True)
class Unit:
    """One stored run: a proxy (joined with the other names it serves, e.g. @m reads:
    :meth:`Proxy.joined`) on one dataset, data source and seed, over the union of its groups'
    archs."""

    proxy: Proxy
    serves: tuple[str, ...]
    dataset: str
    seed: int
    source: str
    indices: tuple[int, ...]
    missing: tuple[int, ...]
    seconds_per_arch: float
    basis: str

    @property
    def estimate_s(self) -> float:
        return len(self.missing) * self.seconds_per_arch

    def describe(self) -> dict:
        return {"proxy": self.proxy.store_name, "serves": list(self.serves), "kind": self.proxy.kind,
                "dataset": self.dataset, "seed": self.seed, "source": self.source,
                "archs": len(self.indices), "stored": len(self.indices) - len(self.missing),
                "missing": len(self.missing), "seconds_per_arch": self.seconds_per_arch,
                "basis": self.basis, "estimate_s": self.estimate_s}


@dataclass(frozen=True)
class Plan:
    units: tuple[Unit, ...]
    skipped: tuple[tuple[str, str, str], ...]   # (proxy, dataset, reason)
    sources: dict = field(default_factory=dict)  # (proxy name, dataset) -> data source
    settings: dict = field(default_factory=dict)  # (proxy name, dataset) -> Key.setting
    device: str = "cpu"

    @property
    def missing(self) -> int:
        return sum(len(u.missing) for u in self.units)

    @property
    def estimate_s(self) -> float:
        return sum(u.estimate_s for u in self.units)


def _calibration(registry: Registry, store: Store, device: str) -> dict[str, tuple[float, int]]:
    """Per proxy kind, the median ratio of measured seconds per arch to ``cost_s`` over every
    proxy stored with its current version on this device: it corrects the estimates of the same
    kind's unmeasured runs (cost_s is a guess for an idle 2-core CPU)."""
    ratios = {}
    for name, version, mean in store.mean_seconds(device):
        try:
            proxy = registry.get(name)
        except UserError:
            continue
        if proxy.version == version and proxy.store_name == name and proxy.cost_s > 0 and mean:
            ratios.setdefault(proxy.kind, []).append(mean / proxy.cost_s)
    return {kind: (float(np.median(r)), len(r)) for kind, r in ratios.items()}


def make_plan(exp: Experiment, registry: Registry, store: Store, contexts: dict[str, Context],
              device_name: str) -> Plan:
    """What each (proxy, dataset, seed) still needs. ``contexts``: one Context per dataset."""
    sources: dict[tuple[str, str], str] = {}
    settings: dict[tuple[str, str], str] = {}
    skipped: dict[tuple[str, str], str] = {}
    runs: dict[Key, tuple[Proxy, dict, dict]] = {}
    image_source: dict[str, str | UserError] = {}
    for group in exp.groups:
        indices = exp.indices(group)
        for dataset in group.datasets:
            for name in group.proxies:
                proxy = registry.get(name)
                if proxy.needs_images:
                    if dataset not in image_source:
                        try:
                            image_source[dataset] = contexts[dataset].images.source
                        except UserError as err:
                            image_source[dataset] = err
                    found = image_source[dataset]
                    if isinstance(found, UserError):
                        skipped[(name, dataset)] = str(found)
                        continue
                    source = found
                else:
                    source = proxy.source
                sources[(name, dataset)] = source
                for seed in group.seeds:
                    key = Key.of(proxy, contexts[dataset].with_seed(seed))
                    settings[(name, dataset)] = key.setting
                    _, serves, wanted = runs.setdefault(key, (proxy, {}, {}))
                    serves[name] = None
                    wanted.update(dict.fromkeys(indices))
    measured = {key: store.seconds_per_arch(key, device_name) for key in runs}
    ratios = _calibration(registry, store, device_name)
    units = []
    for key, (proxy, serves, wanted) in runs.items():
        proxy = proxy.joined([registry.get(name) for name in serves])
        stored = store.get(key, list(wanted))
        missing = tuple(i for i in wanted if i not in stored or not proxy.covers(stored[i]))
        mean, count = measured[key]
        factor, based_on = ratios.get(proxy.kind, (1.0, 0))
        if count:
            per_arch, basis = mean, f"measured ({count} rows)"
        elif based_on:
            per_arch = proxy.cost_s * factor
            basis = f"cost_s x {factor:.3g} (calibrated on {based_on} stored {proxy.kind} runs)"
        else:
            per_arch, basis = proxy.cost_s, "cost_s (2-core CPU)"
        units.append(Unit(proxy, tuple(serves), key.dataset, key.seed, key.source, tuple(wanted),
                          missing, per_arch, basis))
    units.sort(key=lambda u: (u.estimate_s, KIND_ORDER.get(u.proxy.kind, 3)))
    return Plan(tuple(units), tuple((p, d, why) for (p, d), why in skipped.items()), sources,
                settings, device_name)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_plan(exp: Experiment, plan: Plan) -> str:
    head = (f"experiment {exp.name} ({exp.path}): {len({p for g in exp.groups for p in g.proxies})} "
            f"proxies, datasets {', '.join(sorted({d for g in exp.groups for d in g.datasets}))}, "
            f"device {plan.device}")
    rows = [("proxy (serves)", "dataset", "seed", "source", "archs", "stored", "missing", "s/arch",
             "basis", "estimate")]
    for u in plan.units:
        extra = [s for s in u.serves if s != u.proxy.store_name]
        rows.append((u.proxy.store_name + (f" ({', '.join(extra)})" if extra else ""), u.dataset,
                     str(u.seed), u.source, str(len(u.indices)), str(len(u.indices) - len(u.missing)),
                     str(len(u.missing)), f"{u.seconds_per_arch:.3g}", u.basis, duration(u.estimate_s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"  {p} on {d}: {why}" for p, d, why in plan.skipped]
    lines.append(f"estimated time: {duration(plan.estimate_s)} for {plan.missing:,} missing results "
                 f"({sum(1 for u in plan.units if u.missing)} runs)")
    return "\n".join(lines)
