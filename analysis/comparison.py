"""The report's main table: proxies compared on the same archs, as a reviewer reads a NAS paper.

For each dataset and kind of proxy (table, zero-cost, training, learned) one **shared sample**:
among the arch sets the results of that kind were read on, the one that the most proxies x archs
cover (every proxy whose archs include it is a member; ties go to more proxies, then to more
archs). Each member is read again on exactly that sample (:func:`analysis.results.collect`, so
set-level proxies combine within it), and compared with the **best of its kind** there (highest
Kendall tau) by a paired bootstrap of the tau difference on those archs
(:func:`analysis.metrics.paired_difference`). Beside it: the **published** values it is compared
with (:mod:`analysis.published`, with their source) and the **full space** numbers
(:mod:`analysis.fullspace`: all 15,625 archs, where the suite has them). A proxy of no shared
sample is in the table of every result (``all``), which keeps each proxy on all of its archs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from nb201.api import KINDS
from nb201.catalog import dataset_rank
from nb201.ranking import orient
from nb201.registry import Registry
from nb201.store import Selection

from . import fullspace, published
from .caveats import caveat
from .metrics import kendall_tau, paired_difference
from .results import ProxyResult, collect
from .tables import WITH_CI

#: the verdicts of the paired test against the best of the kind
VERDICTS = {"best": "the best of its kind on this sample",
            "worse": "significantly below the best (the paired 95% CI of the tau difference "
                     "excludes 0)",
            "n.s.": "not distinguishable from the best (the paired 95% CI includes 0)"}


@dataclass(frozen=True)
class Block:
    """One kind of proxy on one dataset: its shared sample and its members read on it."""

    dataset: str
    kind: str
    indices: tuple[int, ...]
    members: tuple[ProxyResult, ...]     # read on ``indices`` (labels of the full results)
    left_out: tuple[str, ...]            # labels of results of the kind not on the sample


def shared_sample(results: list[ProxyResult]) -> tuple[tuple[int, ...], list[ProxyResult]]:
    """The arch set that the most proxies x archs cover, and the results that cover it."""
    best, best_key = ((), []), (-1, -1, -1)
    for candidate in {tuple(sorted(map(int, r.indices))) for r in results}:
        wanted = set(candidate)
        members = [r for r in results if wanted <= set(map(int, r.indices))]
        key = (len(candidate) * len(members), len(members), len(candidate))
        if key > best_key:
            best, best_key = (candidate, members), key
    return best


def blocks(registry: Registry, frame: pd.DataFrame, results: list[ProxyResult], truth: str,
           n_boot: int) -> list[Block]:
    """One :class:`Block` per dataset and kind with results, kinds in :data:`KINDS` order."""
    out = []
    for dataset in sorted({r.dataset for r in results}, key=dataset_rank):
        for kind in KINDS:
            mine = [r for r in results if r.dataset == dataset and r.proxy.kind == kind]
            if not mine:
                continue
            indices, members = shared_sample(mine)
            selections = [Selection(r.proxy.name, dataset, r.source, indices, r.seeds, r.command,
                                    r.setting) for r in members]
            again, _ = collect(registry, frame, selections, truth, n_boot)
            read = {(a.proxy.name, a.source, a.setting): a for a in again}
            again = [replace(read[(m.proxy.name, m.source, m.setting)], label=m.label)
                     for m in members if (m.proxy.name, m.source, m.setting) in read]
            out.append(Block(dataset, kind, indices, tuple(again),
                             tuple(r.label for r in mine if r not in members)))
    return out


def _oriented(r: ProxyResult) -> np.ndarray:
    return orient(r.scores, r.proxy.higher_is_better)[0]


def main_table(blocks_: list[Block], n_boot: int, full: fullspace.FullSpace) -> pd.DataFrame:
    """The main table: per block, its members best tau first, with the paired test against the
    best (``vs_best`` with its CI, and ``verdict``), the published values and the full-space
    numbers (``full``)."""
    rows = []
    for block in blocks_:
        ranked = sorted(block.members, key=lambda r: -(r.summary["kendall_tau"]
                                                        if r.summary["kendall_tau"] is not None
                                                        else -np.inf))
        best = ranked[0]
        for r in ranked:
            s = r.summary
            row = {"dataset": block.dataset, "kind": block.kind, "label": r.label, "n": s["n"]}
            for m in WITH_CI:
                row[m] = _nan(s[m])
                row[f"{m}_lo"], row[f"{m}_hi"] = (_nan(v) for v in s["ci"][m])
            if r is best:
                row.update(vs_best=np.nan, vs_best_lo=np.nan, vs_best_hi=np.nan, verdict="best")
            else:
                d = paired_difference(kendall_tau, _oriented(r), _oriented(best), r.truth,
                                      n_boot=n_boot)
                lo, hi = d["ci"]
                row.update(vs_best=_nan(d["difference"]), vs_best_lo=_nan(lo),
                           vs_best_hi=_nan(hi),
                           verdict="worse" if d["significant"] and hi is not None and hi < 0
                           else "n.s." if d["difference"] is not None else "")
            row["full_space"] = full.cell(r)
            row["published"] = published.cell(r.proxy.name, block.dataset)
            row["seconds_per_arch"] = float(np.mean(r.seconds))
            row["origin"] = r.origin
            row["caveat"] = caveat(row["kendall_tau_lo"], row["kendall_tau_hi"])
            rows.append(row)
    return pd.DataFrame(rows)


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def caption(blocks_: list[Block]) -> str:
    """What the main table shows, with each block's shared sample and what it left out."""
    parts = [f"{b.dataset}, {b.kind}: {len(b.members)} proxies on the same {len(b.indices):,} "
             f"archs" + (f" (not on them, so only in the table of every result: "
                         f"{', '.join(b.left_out)})" if b.left_out else "")
             for b in blocks_]
    return ("Each kind of proxy on one shared arch sample (the one that the most proxies x archs "
            "cover), best Kendall tau first; 'vs best' is the paired bootstrap of the Kendall "
            "tau difference from the best of its kind on the same archs (95% CI; "
            + "; ".join(f"{k}: {v}" for k, v in VERDICTS.items()) + "). 'Full space': the "
            "proxy on all 15,625 archs where the suite has it (table proxies, and NASLib's "
            "shipped scores of the same zero-cost proxy). 'Published': the values of "
            f"{published.FILE.name} in the suite's data, with their source (cited at the end "
            "of this caption). "
            "Samples: " + "; ".join(parts) + ".")
