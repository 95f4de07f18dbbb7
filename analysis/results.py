"""Results: what the results store holds for a set of proxies, read into one
:class:`ProxyResult` per proxy, dataset and data source (scores, truth, cost, provenance and
metrics). ``analysis.report`` writes the report from these.

What is read is a list of :class:`nb201.store.Selection` (proxy name as the registry knows it,
dataset, optionally the data source, arch indices and seeds); :func:`stored_selections` lists
every proxy whose stored rows the registry can resolve (its store name and current version).
Stored outcomes become scores through :func:`nb201.store.read_scores`, as for the ``score``
command: ``c4r4s0e40@20`` reads epoch 20 of the stored ``c4r4s0e40`` curve and set-level proxies
(vote, AZ-NAS) rank within the selected archs. Metrics come from ``analysis.metrics.summarize``
against ``nb201.groundtruth.vector(dataset, truth)``. This module reads the store and the proxy
interface only: no training, proxies or orchestration code.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nb201 import groundtruth as gt
from nb201.catalog import DEFAULT_TRUTH
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
    gits: tuple[str, ...]
    summary: dict
    command: str | None = None

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
               "command": self.command or ""}
        for m in tables.WITH_CI:
            row[m] = _nan(s[m])
            row[f"{m}_lo"], row[f"{m}_hi"] = (_nan(v) for v in s["ci"][m])
        for k in ("c", "r", "s", "e", "b", "m"):
            row[k] = np.nan if f is None else f[k]
        return row


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def stored_selections(registry: Registry, frame: pd.DataFrame
                      ) -> tuple[list[Selection], list[str]]:
    """Every (store name, dataset) whose name resolves to a proxy with that store name and whose
    rows have the proxy's current version; notes for the rest."""
    out, notes = [], []
    for (name, dataset), rows in frame.groupby(["proxy", "dataset"], sort=True):
        try:
            proxy = registry.get(name)
        except UserError:
            notes.append(f"{len(rows)} stored rows of {name} on {dataset} not reported: no "
                         "proxy of that name is registered")
            continue
        stale = int((rows["version"] != proxy.version).sum())
        if stale:
            notes.append(f"{stale} stored rows of {name} on {dataset} from another version than "
                         f"the current v{proxy.version} are ignored")
        if proxy.store_name == name and stale < len(rows):
            out.append(Selection(proxy.name, dataset))
    return out, notes


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
    if per_arch.empty:
        return None
    indices = per_arch.index.to_numpy(dtype=np.int64)
    kept = rows[rows["arch_index"].isin(indices)]
    per_seed = [dict(zip(sub["arch_index"], sub["outcome"])) for _, sub in kept.groupby("seed")]
    scores, seconds = read_scores(proxy, per_seed, indices.tolist())
    true = gt.vector(sel.dataset, truth)[indices]
    return ProxyResult(proxy, proxy.name, sel.dataset, source, setting, indices, scores, true,
                       tuple(sorted(int(s) for s in kept["seed"].unique())), seconds,
                       tuple(sorted(kept["device"].unique())), tuple(sorted(kept["git"].unique())),
                       summarize(scores, true, higher_is_better=proxy.higher_is_better,
                                 n_boot=n_boot),
                       sel.command)


def collect(registry: Registry, frame: pd.DataFrame, selections, truth: str = DEFAULT_TRUTH,
            n_boot: int = 1000) -> tuple[list[ProxyResult], list[str]]:
    """One :class:`ProxyResult` per selection and data source found in ``frame``
    (``Store.frame()``), and notes on what is missing; proxy names resolve through ``registry``."""
    results, notes = [], []
    for sel in selections:
        try:
            proxy = registry.get(sel.proxy)
        except UserError as err:
            notes.append(f"{sel.proxy}: {err}")
            continue
        rows = frame[(frame["proxy"] == proxy.store_name) & (frame["version"] == proxy.version)
                     & (frame["dataset"] == sel.dataset)]
        if sel.source is not None:
            rows = rows[rows["source"] == sel.source]
        if sel.setting is not None:
            rows = rows[rows["setting"] == sel.setting]
        if sel.seeds is not None:
            rows = rows[rows["seed"].isin(sel.seeds)]
        if sel.indices is not None:
            rows = rows[rows["arch_index"].isin(sel.indices)]
        rows = rows[[proxy.covers(o) for o in rows["outcome"]]]   # e.g. runs not trained to @m yet
        found = [r for (source, setting), sub in rows.groupby(["source", "setting"], sort=True)
                 if (r := _result(proxy, sel, source, setting, sub, truth, n_boot, notes))
                 is not None]
        if not found:
            notes.append(f"{proxy.name} on {sel.dataset}: no stored results")
        results += found
    return _unique_labels(results), notes


def _unique_labels(results: list[ProxyResult]) -> list[ProxyResult]:
    """A proxy reported twice on one dataset (two data sources, two seed sets, or two settings of
    its options) is labelled with its source and seeds, and the setting's digest where those tie."""
    def seeds(r):
        return ",".join(map(str, r.seeds))
    by_label = Counter((r.dataset, r.label) for r in results)
    by_source = Counter((r.dataset, r.label, r.source, seeds(r)) for r in results)
    out = []
    for r in results:
        if by_label[(r.dataset, r.label)] > 1:
            extra = (f", setting {r.setting[:8]}"
                     if by_source[(r.dataset, r.label, r.source, seeds(r))] > 1 else "")
            r = dataclasses.replace(r, label=f"{r.label} ({r.source}, seeds {seeds(r)}{extra})")
        out.append(r)
    return out


def metrics_frame(results: list[ProxyResult]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in results])
