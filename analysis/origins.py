"""Where a report and its rows come from: the provenance table (the code, the machine, the
results' commits, the truth, the sample sizes, the devices and CPUs) and the "Where the rows
come from" table (this store and each results pack, with the CPUs their rows record, and each
pack's commit and date)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from nb201.catalog import TRUTHS, dataset_rank
from nb201.packs import machine
from nb201.provenance import DISTRIBUTION, SUITE_VERSION, git_hash, installed_version

from .pages import ORIGIN_COLUMNS
from .results import ProxyResult

def code() -> str:
    """The code that wrote the report: the checkout's commit, or the installed version."""
    commit = git_hash()
    if commit != "unknown":
        return commit
    return (f"not a git checkout: {DISTRIBUTION} {installed_version() or SUITE_VERSION} installed "
            "as a package")


def this_machine() -> str:
    m = machine()
    return f"{m['cpu']} ({m['cores']} cores), {m['system']}, Python {m['python']}"


def devices(results: list[ProxyResult]) -> str:
    """The devices of the reported rows, with the CPU models the store's rows record."""
    used = ", ".join(sorted({d for r in results for d in r.devices})) or "–"
    cpus = sorted({m for r in results for _, m in r.machines if m})
    return used + (f" (CPU: {', '.join(cpus)})" if cpus else "")


def provenance(results: list[ProxyResult], truth: str, store_path: Path,
               n_boot: int) -> list[tuple[str, str]]:
    """The provenance table's rows (key, value)."""
    ns = sorted({r.summary["n"] for r in results})
    return [
        ("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("code (git)", code()),
        ("machine (this report)", this_machine()),
        ("results written by (git)",
         ", ".join(sorted({g for r in results for g in r.gits})) or "–"),
        ("suite version", SUITE_VERSION),
        ("results store", str(store_path)),
        ("truth", f"{truth}: {TRUTHS.get(truth, truth)} "
                  "(data/nb201_groundtruth.csv.gz)"),
        ("datasets", ", ".join(sorted({r.dataset for r in results}, key=dataset_rank)) or "–"),
        ("sample sizes (archs)", ", ".join(map(str, ns)) or "–"),
        ("seeds", ", ".join(sorted({",".join(map(str, r.seeds)) for r in results})) or "–"),
        ("devices", devices(results)),
        ("bootstrap", f"{n_boot:,} resamples of the (score, truth) pairs, percentile 95% "
                      "intervals"),
    ]


def origins(results: list[ProxyResult], store) -> pd.DataFrame:
    """One row per origin of the reported rows: this store and each results pack, with the CPUs
    their rows record (a pack's rows that record none: the machine that wrote it, from its
    header), and a pack's commit and date."""
    headers = {pack.path.name: pack.header for pack in store.packs}
    by_origin: dict[str, list[ProxyResult]] = {}
    for r in results:
        for pack in r.packs:
            by_origin.setdefault(pack, []).append(r)
    rows = []
    for pack, rs in sorted(by_origin.items()):
        proxies = ", ".join(sorted({f"{r.label} ({r.dataset})" for r in rs}))
        cpus = sorted({m for r in rs for p, m in r.machines if p == pack and m})
        if pack:
            h = headers.get(pack, {})
            m = h.get("machine", {})
            if not cpus or any(p == pack and not cpu for r in rs for p, cpu in r.machines):
                cpus.append(f"{m.get('cpu', 'unknown')} ({m.get('cores', '?')} cores; the "
                            "machine that wrote the pack, for rows that record none)")
            rows.append((f"pack {pack}", ", ".join(cpus), str(h.get("git", "unknown")),
                         str(h.get("created", "")), len(rs), proxies))
        else:
            rows.append((f"this store ({store.path})",
                         ", ".join(cpus) or "not recorded (rows written before the CPU was)",
                         ", ".join(sorted({g for r in rs for p, g in r.commits if p == ""})), "",
                         len(rs), proxies))
    return pd.DataFrame(rows, columns=ORIGIN_COLUMNS)
