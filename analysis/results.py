"""Results: what the results store holds for a set of proxies, read into one
:class:`ProxyResult` per proxy, dataset, data source and setting (scores, truth, cost, provenance
and metrics). ``analysis.report`` writes the report from these.

What is read is a list of :class:`nb201.store.Selection` (proxy name as the registry knows it,
dataset, optionally the data source, arch indices and seeds); :func:`stored_selections` lists
every proxy whose stored rows the registry can resolve (its store name and current version).
Stored outcomes become scores through :func:`nb201.store.read_scores`, as for the ``score``
command: ``c4r4s0e40@20`` reads epoch 20 of the stored ``c4r4s0e40`` curve and set-level proxies
(vote, AZ-NAS) rank within the selected archs. Each stored setting (``nb201.store.Key.setting``)
is its own result, labelled by what differs in its fingerprint when a proxy has several; notes
say which stored runs have not reached the epoch a proxy reads, and which results read on every
stored arch mix archs from several samples. Metrics come from ``analysis.metrics.summarize``
against ``nb201.groundtruth.vector(dataset, truth)``. This module reads the store and the proxy
interface only: no training, proxies or orchestration code.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nb201 import groundtruth as gt
from nb201.catalog import DEFAULT_TRUTH
from nb201.commands import Text, command_line, flags
from nb201.api import Proxy
from nb201.errors import UserError
from nb201.registry import Registry
from nb201.store import Selection, read_scores

from . import tables
from .metrics import summarize


@dataclass(frozen=True, eq=False)
class ProxyResult:
    proxy: Proxy
    label: str
    dataset: str
    source: str
    setting: str            # the computation's digest without the seed (nb201.store.Key)
    indices: np.ndarray
    scores: np.ndarray      # mean over seeds, raw (not oriented)
    truth: np.ndarray
    seeds: tuple[int, ...]
    seconds: np.ndarray     # per arch, summed over seeds
    devices: tuple[str, ...]
    summary: dict
    command: str | None = None
    #: the setting's fingerprint without the seed (``nb201.store.Key.config``); labels settings
    fingerprint: dict = dataclasses.field(default_factory=dict)
    #: where the rows were read: results packs' file names, "" for the store's own rows
    packs: tuple[str, ...] = ("",)
    #: the CPU models the store's own rows were computed on (recorded by the runner; "" before)
    machines: tuple[tuple[str, str], ...] = ()   # (pack or "", CPU model or "")
    #: the commits that wrote the rows, per origin (a result may mix the store's rows and a pack's)
    commits: tuple[tuple[str, str], ...] = ()    # (pack or "", git hash)

    @property
    def gits(self) -> tuple[str, ...]:
        """The commits that wrote the rows, whatever their origin."""
        return tuple(sorted({git for _, git in self.commits}))

    @property
    def origin(self) -> str:
        """Where the rows come from, in words: "this store", a pack's name, or both."""
        return ", ".join("this store" if p == "" else p for p in self.packs)

    def row(self) -> dict:
        s = self.summary
        f = self.proxy.describe().get("factors")
        row = {"proxy": self.proxy.name, "label": self.label, "kind": self.proxy.kind,
               "dataset": self.dataset, "source": self.source, "n": s["n"],
               "seeds": ",".join(map(str, self.seeds)),
               "higher_is_better": self.proxy.higher_is_better,
               "pearson": _nan(s["pearson"]), "nan_scores": s["nan_scores"],
               "seconds_per_arch": float(np.mean(self.seconds)),
               "total_seconds": float(np.sum(self.seconds)), "cost_s": self.proxy.cost_s,
               "device": ", ".join(self.devices), "git": ", ".join(self.gits),
               "origin": self.origin, "command": self.command or ""}
        for m in tables.WITH_CI:
            row[m] = _nan(s[m])
            row[f"{m}_lo"], row[f"{m}_hi"] = (_nan(v) for v in s["ci"][m])
        for k in ("c", "r", "s", "e", "b", "m", "width"):
            row[k] = np.nan if f is None else f.get(k, np.nan)
        row["variant"] = "" if f is None else f.get("variant", "")
        return row


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def stored_selections(registry: Registry, frame: pd.DataFrame
                      ) -> tuple[list[Selection], list[str], list[str]]:
    """Every (store name, dataset) whose name resolves to a proxy with that store name and whose
    rows have the proxy's current version; notes for the rest; and, apart, one line per stored
    proxy that is not registered here, saying how to include it (:func:`unregistered_note`)."""
    out, notes, unreported = [], [], []
    for (name, dataset), rows in frame.groupby(["proxy", "dataset"], sort=True):
        try:
            proxy = registry.get(name)
        except UserError:
            unreported.append(unregistered_note(name, dataset, rows))
            continue
        stale = int((rows["version"] != proxy.version).sum())
        if stale:
            notes.append(f"{stale} stored rows of {name} on {dataset} from another version than "
                         f"the current v{proxy.version} are ignored")
        if proxy.store_name == name and stale < len(rows):
            out.append(Selection(proxy.name, dataset))
    return out, notes, unreported


def unregistered_note(name: str, dataset: str, rows: pd.DataFrame) -> str:
    """Why the stored rows of ``name`` are not reported (no proxy of that name is registered) and
    how to include them: the plugin that computed them (recorded with each row by the runner),
    named again with ``--plugins``."""
    plugin = next((run["plugin"] for text in rows["config"]
                   if (run := json.loads(text).get("run", {})).get("plugin")), None)
    head = (f"{len(rows):,} stored rows of {name} on {dataset} are not reported: no proxy of "
            f"that name is registered in this command")
    if plugin is None:
        return (f"{head}; register it (a plugin file named with --plugins or $NB201_PLUGINS, or "
                "an nb201.proxies entry point) and run the report again")
    if plugin.startswith("entry point "):
        return f"{head}; it was computed by the {plugin}: install that package and report again"
    return (f"{head}; it was computed by the plugin {plugin}: include it with `python -m "
            f"benchmark report --plugins {plugin}` (or NB201_PLUGINS={plugin})")


def _result(proxy: Proxy, sel: Selection, source: str, setting: str, rows: pd.DataFrame,
            truth: str, n_boot: int, notes: list[str]) -> ProxyResult | None:
    per_arch = rows.groupby("arch_index").agg(seconds=("seconds", "sum"),
                                              seeds=("seed", "nunique"))
    if sel.seeds is not None:
        per_arch = per_arch[per_arch["seeds"] == len(set(sel.seeds))]
    if sel.indices is not None:
        wanted = [i for i in dict.fromkeys(sel.indices) if i in per_arch.index]
        if len(wanted) < len(set(sel.indices)):
            notes.append(f"{proxy.name} on {sel.dataset} ({source}): {len(wanted)} of "
                         f"{len(set(sel.indices))} archs stored with every seed; reported on those")
        per_arch = per_arch.loc[wanted]
    elif per_arch["seeds"].nunique() > 1:
        notes.append(f"{proxy.name} on {sel.dataset} ({source}): archs have different numbers of "
                     "stored seeds; each arch's score is the mean of its own")
    own = frozenset().union(*(proxy.excluded(int(s)) for s in rows["seed"].unique()))
    if own & set(per_arch.index):
        dropped = per_arch.index.isin(list(own))
        notes.append(f"{proxy.name} on {sel.dataset}: {int(dropped.sum())} of its own training "
                     "archs left out (a learned proxy is judged on other archs only)")
        per_arch = per_arch[~dropped]
    if per_arch.empty:
        return None
    indices = per_arch.index.to_numpy(dtype=np.int64)
    kept = rows[rows["arch_index"].isin(indices)]
    per_seed = [dict(zip(sub["arch_index"], sub["outcome"])) for _, sub in kept.groupby("seed")]
    scores, seconds = read_scores(proxy, per_seed, indices.tolist())
    true = gt.vector(sel.dataset, truth)[indices]
    return ProxyResult(proxy, proxy.name, sel.dataset, source, setting, indices, scores, true,
                       tuple(sorted(int(s) for s in kept["seed"].unique())), seconds,
                       tuple(sorted(kept["device"].unique())),
                       summarize(scores, true, higher_is_better=proxy.higher_is_better,
                                 n_boot=n_boot),
                       sel.command, _fingerprint(rows), *_origins(kept))


def _origins(rows: pd.DataFrame) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...],
                                           tuple[tuple[str, str], ...]]:
    """(the packs the rows were read from, "" for the store's own; (pack, CPU model) for each CPU
    the rows of each origin record: ``run.machine`` of their config, "" where not recorded;
    (pack, git hash) for each commit that wrote the rows of each origin)."""
    packs = rows["pack"] if "pack" in rows.columns else pd.Series([""] * len(rows), index=rows.index)
    configs = rows["config"] if "config" in rows.columns else pd.Series([], dtype=object)
    machines = {(packs[i], json.loads(text).get("run", {}).get("machine", ""))
                for i, text in configs.items()}
    commits = {(packs[i], git) for i, git in rows["git"].items()}
    return tuple(sorted(set(packs))) or ("",), tuple(sorted(machines)), tuple(sorted(commits))


def _fingerprint(rows: pd.DataFrame) -> dict:
    """The fingerprint (without the seed) the rows of one setting share; {} when not stored."""
    if "config" not in rows.columns or rows.empty:
        return {}
    config = json.loads(rows["config"].iloc[0])
    return {k: v for k, v in config.get("fingerprint", {}).items() if k != "seed"}


def _rows(frame: pd.DataFrame, proxy: Proxy, sel: Selection) -> pd.DataFrame:
    """The stored rows ``sel`` reads: the proxy's store name and version on its dataset, narrowed
    to its source, setting, seeds and archs where it names them."""
    rows = frame[(frame["proxy"] == proxy.store_name) & (frame["version"] == proxy.version)
                 & (frame["dataset"] == sel.dataset)]
    for column, wanted in (("source", sel.source), ("setting", sel.setting)):
        if wanted is not None:
            rows = rows[rows[column] == wanted]
    if sel.seeds is not None:
        rows = rows[rows["seed"].isin(sel.seeds)]
    if sel.indices is not None:
        rows = rows[rows["arch_index"].isin(sel.indices)]
    return rows


def collect(registry: Registry, frame: pd.DataFrame, selections, truth: str = DEFAULT_TRUTH,
            n_boot: int = 1000) -> tuple[list[ProxyResult], list[str]]:
    """One :class:`ProxyResult` per selection, data source and setting found in ``frame``
    (``Store.frame()``), and notes on what is missing: stored runs that do not hold the epoch a
    proxy reads, and results read on every stored arch whose archs are not one sample. Proxy
    names resolve through ``registry``."""
    results, notes, whole = [], [], []
    for sel in selections:
        try:
            proxy = registry.get(sel.proxy)
        except UserError as err:
            notes.append(f"{sel.proxy}: {err}")
            continue
        stored = _rows(frame, proxy, sel)
        covered = np.array([proxy.covers(o) for o in stored["outcome"]], dtype=bool)
        rows = stored[covered]                 # e.g. runs not at @m yet (a mask: never columns)
        found = [r for (source, setting), sub in rows.groupby(["source", "setting"], sort=True)
                 if (r := _result(proxy, sel, source, setting, sub, truth, n_boot, notes))
                 is not None]
        if len(rows) < len(stored):
            notes.append(_uncovered_note(proxy, sel, stored, rows, bool(found)))
        elif not found:
            notes.append(f"{proxy.name} on {sel.dataset}: no stored results")
        results += found
        whole += [sel.indices is None] * len(found)
    results = _unique_labels(results)
    notes += [note for r, every in zip(results, whole) if every and (note := _samples_note(r))]
    return results, notes


# ------------------------------------------------------------------ notes on what was stored

def sample_prefix(indices, seeds=(0,)) -> tuple[int, int]:
    """(k, seed): the longest start of a seeded sample (``nb201.groundtruth.sample``, whose
    smaller samples are prefixes of the larger) that ``indices`` holds, over ``seeds``; ``indices``
    is that one sample when k is its size."""
    held = np.zeros(gt.NUM_ARCHS, dtype=bool)
    held[np.asarray(list(indices), dtype=np.int64)] = True
    best, best_seed = -1, 0
    for seed in sorted(set(seeds)):
        start = held[np.asarray(gt.sample(gt.NUM_ARCHS, seed))]
        k = int(start.size if start.all() else np.argmin(start))
        if k > best:
            best, best_seed = k, seed
    return best, best_seed


def _sample_seeds(seeds) -> tuple[int, ...]:
    """The sample seeds to try: 0 (the default ``--seed``) and the proxy seeds."""
    return tuple(sorted({0, *(int(s) for s in seeds)}))


def _samples_note(r: ProxyResult) -> str:
    """A note when the archs of ``r`` (read on every stored arch) are not one seeded sample:
    rows stored by several commands, which the metrics mix; "" when they are one."""
    n = len(r.indices)
    k, seed = sample_prefix(r.indices, _sample_seeds(r.seeds))
    if k == n:
        return ""
    parts = (f"the first {k} archs of the seed-{seed} sample (`{flags(sample=k, seed=seed)}`) and "
             f"{n - k} others" if k else "not the start of a seeded sample")
    return (f"{r.label} on {r.dataset}: its {n} stored archs come from several samples: {parts}; "
            f"reported on all {n} (pass --experiment to report one experiment's archs)")


def _score_command(proxy: Proxy, sel: Selection, stored: pd.DataFrame,
                   missing: list[int]) -> str:
    """The command that scores ``sel`` again: its own, else a ``score`` command on the stored
    sample (or on the ``missing`` archs when the stored ones are not one sample)."""
    if sel.command:
        return sel.command
    archs, seeds = sorted(set(stored["arch_index"])), sorted(set(stored["seed"]))
    k, seed = sample_prefix(archs, _sample_seeds(seeds))
    which = (dict(sample=k, seed=seed) if k == len(archs) else
             dict(archs=missing) if len(missing) <= 20 else
             dict(archs=Text(f"<its {len(missing)} archs>")))
    return command_line("score", proxy=proxy.name, dataset=sel.dataset, **which, seeds=seeds)


def _uncovered_note(proxy: Proxy, sel: Selection, stored: pd.DataFrame, covered: pd.DataFrame,
                    reported: bool) -> str:
    """How many stored runs hold what ``proxy`` reads (a training proxy: the epoch m it reads),
    and the command that continues the others."""
    runs, archs = len(stored), stored["arch_index"].nunique()
    size = f"{runs} stored runs" + (f" ({archs} archs x {stored['seed'].nunique()} seeds)"
                                    if runs != archs else "")
    m = (proxy.describe().get("factors") or {}).get("m")
    reached = sum(len(o.curve or []) >= m for o in stored["outcome"]) if m else len(covered)
    what = (f"have reached epoch {m}" if m and reached == len(covered) else
            f"have evaluated epoch {m} ({reached} have reached it)" if m else
            f"hold what {proxy.name} reads")
    missing = sorted(set(stored["arch_index"]) - set(covered["arch_index"]))
    return (f"{proxy.name} on {sel.dataset}: {len(covered)} of {size} {what}"
            + ("; reported on those" if reported else "")
            + f" (run `{_score_command(proxy, sel, stored, missing)}` to continue them)")


def _flat(config: dict, prefix: str = "") -> dict:
    """A nested fingerprint as {dotted key: value}."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:8] if isinstance(value, str) and len(text) > 12 else text


def _differs(r: ProxyResult, tied: list[ProxyResult]) -> str:
    """What sets the setting of ``r`` apart from the others in ``tied``, e.g. ``batch_size=64``
    (the fingerprints' differing fields); the setting's digest when no fingerprint is stored."""
    mine = _flat(r.fingerprint)
    others = [_flat(o.fingerprint) for o in tied if o is not r]
    keys = sorted({k for o in others for k in {*o, *mine} if o.get(k) != mine.get(k)})
    if not mine or not keys:
        return f"setting {r.setting[:8]}"
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(mine.get(k))}" for k in keys)


def _unique_labels(results: list[ProxyResult]) -> list[ProxyResult]:
    """A proxy reported twice on one dataset (two data sources, two seed sets, or two settings of
    its options) is labelled with its source and seeds, and where those tie with what differs
    between the settings' fingerprints (e.g. ``batch_size=64``)."""
    def seeds(r):
        return ",".join(map(str, r.seeds))
    same: dict[tuple, list[ProxyResult]] = {}
    for r in results:
        same.setdefault((r.dataset, r.label), []).append(r)
    out = []
    for r in results:
        group = same[(r.dataset, r.label)]
        if len(group) > 1:
            tied = [o for o in group if (o.source, seeds(o)) == (r.source, seeds(r))]
            extra = f", {_differs(r, tied)}" if len(tied) > 1 else ""
            r = dataclasses.replace(r, label=f"{r.label} ({r.source}, seeds {seeds(r)}{extra})")
        out.append(r)
    return out


def metrics_frame(results: list[ProxyResult]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in results])
