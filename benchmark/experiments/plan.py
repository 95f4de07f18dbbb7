"""Planning an experiment against the results store: which archs each (proxy, dataset, data source,
seed) run still lacks, cheapest run first (or in the groups' order: ``order = "groups"``), what its ``[[search]]`` tables will score, and how long
all of it will take. Proxies that read images are skipped on datasets whose images cannot be
loaded. :func:`format_plan` prints the plan with the estimate; each line names its basis.

Seconds per arch of a proxy setting on a device (:class:`Rates`), first rule that applies:

1. the median of the stored per-arch seconds of that setting (:attr:`nb201.store.Key.setting`,
   every seed) on this device: "median of N stored" (a median, so a few rows stored on a loaded
   machine do not move it);
2. else the median of the proxy version's rows on the dataset and device under its other
   settings (another data source or option): "median of N stored (other settings)";
3. else its ``cost_s`` (a guess for an idle 2-core CPU) times R: the median, over the K other
   proxies of its kind measured on this device, of each one's median seconds / its ``cost_s``,
   clipped to [0.5, 2], when K >= 3 (fewer say too little about the machine: one proxy measured
   on a loaded machine must not scale every other): "cost_s x R (median ratio of K measured
   zero-cost proxies)", naming the ratio before clipping when it was clipped;
4. else ``cost_s`` times this CPU's speed against the CPU ``cost_s`` describes
   (:func:`nb201.training.sizing.cpu_speed_factor`, a fraction of a second of a fixed torch
   workload): "cost_s x F (this CPU's measured speed)"; on a GPU ``cost_s`` as it is: "cost_s
   (2-core CPU)".

A ``[[search]]``'s estimate (:func:`benchmark.search.experiment.estimate_searches`): the fitness
scores that its runs not yet stored will compute and the store lacks, at the same rates. A run with
a budget of B charged seconds (or Q queries) reads at most about min(B / s, Q) archs at a level
whose proxy costs s seconds per arch (zero-cost and training proxies are charged their compute
seconds; zc-warmup without zc_move reads its ``pool`` at level 0). Runs share the store, so a
level's proxy setting needs at most min(reads per run x runs, 15,625) distinct archs, less those
stored for it and those the same run computes first (its proxy groups, earlier searches). Table
proxies are read for all 15,625 archs once, at their rate (~0 s): a search with table fitness
computes nothing (nb201-12ep-valid charges NB201's recorded training time, not compute). The bound
is loose (it ignores what the other levels of a run are charged): an upper estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nb201.api import Proxy
from nb201.commands import command_line
from nb201.registry import Registry
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import Key, Store
from nb201.training import sizing
from benchmark.search.experiment import SearchEstimate, estimate_searches

from .sections import sections

if TYPE_CHECKING:
    from .spec import Experiment


@dataclass(frozen=True)
class Unit:
    """One stored run: a proxy (joined with the other names it serves, e.g. @m reads:
    :meth:`Proxy.joined`) on one dataset, data source and seed, over the archs one group adds
    to it: the first group that names the run gives its archs, a later one only those not named
    before (a larger sample of the same run is a second unit, computed in that group's place)."""

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
        return {"proxy": self.proxy.store_name, "serves": list(self.serves),
                "kind": self.proxy.kind,
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
    searches: tuple[SearchEstimate, ...] = ()

    @property
    def missing(self) -> int:
        """Results the proxy groups lack."""
        return sum(len(u.missing) for u in self.units)

    @property
    def groups_s(self) -> float:
        return sum(u.estimate_s for u in self.units)

    @property
    def search_missing(self) -> int:
        """Fitness scores the searches may compute (an upper estimate)."""
        return sum(s.missing for s in self.searches)

    @property
    def searches_s(self) -> float:
        return sum(s.estimate_s for s in self.searches)

    @property
    def estimate_s(self) -> float:
        """The proxy groups and the searches."""
        return self.groups_s + self.searches_s


#: the calibration ratio of unmeasured proxies is clipped to this range
CLIP = (0.5, 2.0)
#: calibrate on at least this many measured proxies of the kind, else use cost_s as it is
MIN_MEASURED = 3


def _ratios(registry: Registry, seconds: dict) -> dict[str, dict[str, float]]:
    """Per kind, per proxy measured with its current version: the median of its stored seconds
    (every dataset) over its ``cost_s``."""
    rows: dict[str, list] = {}
    for (name, version, _), settings in seconds.items():
        try:
            proxy = registry.get(name)
        except UserError:
            continue
        if proxy.version == version and proxy.store_name == name and proxy.cost_s > 0:
            rows.setdefault(name, []).extend(s for values in settings.values() for s in values)
    ratios: dict[str, dict[str, float]] = {}
    for name, values in rows.items():
        proxy = registry.get(name)
        ratios.setdefault(proxy.kind, {})[name] = float(np.median(values)) / proxy.cost_s
    return ratios


class Rates:
    """Seconds per arch of a proxy setting on one device, with its basis in words (the rules of
    the module docstring)."""

    def __init__(self, registry: Registry, store: Store, device: str):
        self.device = device            # "cpu" or a GPU's name (runner.device_name)
        self.seconds = store.seconds_by_setting(device)
        self.ratios = _ratios(registry, self.seconds)

    def of(self, proxy: Proxy, key: Key) -> tuple[float, str]:
        settings = self.seconds.get((key.proxy, key.version, key.dataset), {})
        if settings.get(key.setting):
            rows = settings[key.setting]
            return float(np.median(rows)), f"median of {len(rows)} stored"
        rows = [s for values in settings.values() for s in values]
        if rows:
            return float(np.median(rows)), f"median of {len(rows)} stored (other settings)"
        return self.calibrated(proxy)

    def calibrated(self, proxy: Proxy) -> tuple[float, str]:
        """``cost_s`` scaled by the other measured proxies of its kind (at least MIN_MEASURED)."""
        others = [r for name, r in self.ratios.get(proxy.kind, {}).items()
                  if name != proxy.store_name]
        if len(others) < MIN_MEASURED:
            if self.device != "cpu":
                return proxy.cost_s, "cost_s (2-core CPU)"
            factor = sizing.cpu_speed_factor()
            return proxy.cost_s * factor, f"cost_s x {factor:.2f} (this CPU's measured speed)"
        ratio = float(np.median(others))
        factor = min(max(ratio, CLIP[0]), CLIP[1])
        clipped = f": {ratio:.3g}, clipped to [{CLIP[0]:g}, {CLIP[1]:g}]" if factor != ratio else ""
        return proxy.cost_s * factor, (f"cost_s x {factor:.3g} (median ratio of {len(others)} "
                                       f"measured {proxy.kind} proxies{clipped})")


def make_plan(exp: Experiment, registry: Registry, store: Store, contexts: dict[str, Context],
              device_name: str) -> Plan:
    """What each (proxy, dataset, seed) still needs, and what each search will compute.
    ``contexts``: one Context per dataset."""
    sources: dict[tuple[str, str], str] = {}
    settings: dict[tuple[str, str], str] = {}
    skipped: dict[tuple[str, str], str] = {}
    # key -> (proxy, the names it serves, {position: the archs first named there})
    runs: dict[Key, tuple[Proxy, dict, dict[int, dict]]] = {}
    image_source: dict[str, str | UserError] = {}
    # the groups' proxies, and what the [[learn]] tables' proxies read (seed 0, not reported as
    # groups: their rows go into sources and settings only for groups); position: the group's
    # place in the file (the learning curves after every group)
    wants = [(n, exp.indices(g), d, name, g.seeds, True) for n, g in enumerate(exp.groups)
             for d in g.datasets for name in g.proxies]
    wants += [(len(exp.groups), indices, d, proxy.name, (0,), False) for entry in exp.curves
              for proxy, indices in entry.inputs(registry) for d in entry.datasets]
    for position, indices, dataset, name, seeds, reported in wants:
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
        if reported:
            sources[(name, dataset)] = source
        for seed in seeds:
            key = Key.of(proxy, contexts[dataset].with_seed(seed))
            if reported:
                settings[(name, dataset)] = key.setting
            _, serves, segments = runs.setdefault(key, (proxy, {}, {}))
            serves[name] = None
            named = {i for segment in segments.values() for i in segment}
            segments.setdefault(position, {}).update(
                dict.fromkeys(i for i in indices if i not in named))
    rates = Rates(registry, store, device_name)
    placed = [(position, key, _unit(key, proxy.joined([registry.get(name) for name in serves]),
                                    serves, segment, store, rates))
              for key, (proxy, serves, segments) in runs.items()
              for position, segment in segments.items() if segment]
    missing: dict[Key, int] = {}
    for _, key, unit in placed:
        missing[key] = missing.get(key, 0) + len(unit.missing)
    estimates = estimate_searches(exp.searches, contexts, store, rates.of, missing)
    # in the order the groups name them (stable: runs first named in one group keep their order)
    units = [unit for _, _, unit in sorted(placed, key=lambda p: p[0])]
    if exp.order == "cheapest":
        units.sort(key=lambda u: (u.estimate_s, u.proxy.cost_rank))
    return Plan(tuple(units), tuple((p, d, why) for (p, d), why in skipped.items()), sources,
                settings, device_name, estimates)


def _unit(key: Key, proxy: Proxy, serves: dict, wanted: dict, store: Store, rates: Rates) -> Unit:
    stored = store.get(key, list(wanted))
    missing = tuple(i for i in wanted if i not in stored or not proxy.covers(stored[i]))
    per_arch, basis = rates.of(proxy, key)
    return Unit(proxy, tuple(serves), key.dataset, key.seed, key.source, tuple(wanted), missing,
                per_arch, basis)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_plan(exp: Experiment, plan: Plan) -> str:
    proxies = len({p for g in exp.groups for p in g.proxies})
    head = (f"experiment {exp.name} ({exp.path}): {proxies} "
            f"proxies, datasets {', '.join(sorted({d for g in exp.groups for d in g.datasets}))}, "
            f"device {plan.device}")
    rows = [("proxy (serves)", "dataset", "seed", "source", "archs", "stored", "missing", "s/arch",
             "basis", "estimate")]
    named = set()                       # a run a later group grows: "+N" archs
    for u in plan.units:
        extra = [s for s in u.serves if s != u.proxy.store_name]
        run = (u.proxy.store_name, u.dataset, u.seed, u.source)
        archs = f"+{len(u.indices)}" if run in named else str(len(u.indices))
        named.add(run)
        rows.append((u.proxy.store_name + (f" ({', '.join(extra)})" if extra else ""), u.dataset,
                     str(u.seed), u.source, archs,
                     str(len(u.indices) - len(u.missing)), str(len(u.missing)),
                     f"{u.seconds_per_arch:.3g}", u.basis, duration(u.estimate_s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                      for r in rows]
    lines += [f"  {p} on {d}: {why}" for p, d, why in plan.skipped]
    for section in sections():
        lines += section.plan(exp.section(section.key), plan, duration)
    lines += [f"  report includes {other.name}: its groups ({', '.join(g.name for g in other.groups)}"
              f") as the store and the results packs hold them, never computed by this run "
              f"(`{command_line('run', other.name)}` computes what is missing)"
              for other in exp.includes]
    lines.append(f"estimated time: {duration(plan.estimate_s)} for {plan.missing:,} missing "
                 f"results ({sum(1 for u in plan.units if u.missing)} runs)"
                 + _searches_total(plan))
    return "\n".join(lines)


def _searches_total(plan: Plan) -> str:
    if not plan.searches:
        return ""
    return (f" and up to {plan.search_missing:,} fitness scores of {len(plan.searches)} searches "
            f"({duration(plan.groups_s)} + {duration(plan.searches_s)})")
