"""What the report shows of the proxy finder's stored results (``nb201.store.FindResults``): a
table of every candidate (on the front, or dropped in which round and by what), a figure per
finder run (fidelity with its CI against cost per arch, the front and the dropped candidates) and
a note per run with the compute it spent against brute force's. Reads the stored JSON only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nb201.catalog import dataset_rank

CAPTION = ("Proxy finder: every candidate of each finder run, its fidelity (the run's objective "
           "against its truth, 95% bootstrap CI, on its n archs) and charged seconds per arch; "
           "'front' candidates were never dominated, 'dropped' ones were dominated in the round "
           "given by the candidate named in 'by' (no dearer, paired CI of the difference above "
           "0; docs/FINDER.md). 'spent' is what the run charged, 'brute force' what every "
           "candidate on the final sample would have charged.")


def _label(result: dict) -> str:
    return f"{result['objective']} vs {result['truth']}, seed {result['seed']}, " \
           f"{result['digest'][:8]}"


def table(results: list[dict]) -> pd.DataFrame:
    rows = []
    for r in results:
        common = {"dataset": r["dataset"], "finder": _label(r),
                  "spent (s)": round(r["spent_s"], 1), "brute force (s)": round(r["brute_force_s"], 1)}
        for c in r["front"]:
            rows.append({**common, "label": c["name"], "kind": c["kind"], "status": "front",
                         "n": c["n"], "fidelity": c["fidelity"], "fidelity_lo": c["ci"][0],
                         "fidelity_hi": c["ci"][1], "seconds_per_arch": c["cost_per_arch_s"],
                         "by": ""})
        for c in r["dropped"]:
            rows.append({**common, "label": c["name"], "kind": c["kind"],
                         "status": f"dropped in round {c['round']}", "n": c["n"],
                         "fidelity": c["fidelity"], "fidelity_lo": c["ci"][0],
                         "fidelity_hi": c["ci"][1], "seconds_per_arch": c["cost_per_arch_s"],
                         "by": c["by"]})
    return pd.DataFrame(rows, dtype=object)


def front_figure(result: dict):
    """Fidelity (95% CI) against charged seconds per arch (log) of one finder run: the front
    (filled, joined by the point-estimate Pareto steps) and the dropped candidates (hollow, grey,
    labelled with the round they were dropped in)."""
    from .figures import _log_x
    from .layout import WIDTH, place_labels, plt, style
    rows = [(c, True) for c in result["front"]] + [(c, False) for c in result["dropped"]]
    rows = [(c, f) for c, f in rows if c["fidelity"] is not None]
    if not rows:
        return None
    style()
    fig, ax = plt.subplots(figsize=(WIDTH, 5.6), layout="constrained")
    cost = np.maximum([c["cost_per_arch_s"] for c, _ in rows], 1e-7)
    for (c, on_front), x in zip(rows, cost):
        y, (lo, hi) = c["fidelity"], c["ci"]
        err = [[y - lo if lo is not None else 0], [hi - y if hi is not None else 0]]
        color = "tab:blue" if on_front else "0.6"
        ax.errorbar([x], [y], yerr=err, fmt="o", capsize=2, color=color,
                    mfc=color if on_front else "white", alpha=0.9)
    front = sorted((x, c["fidelity"]) for (c, f), x in zip(rows, cost)
                   if f and c.get("on_point_front"))
    if front:
        ax.step([x for x, _ in front], [y for _, y in front], where="post", color="black", lw=1.1)
    ax.plot([], [], "o", color="tab:blue", label="front (never dominated)")
    ax.plot([], [], "o", color="0.6", mfc="white", label="dropped (round)")
    _log_x(ax, cost)
    ax.set_xlabel("charged seconds per arch (log scale)")
    ax.set_ylabel(f"{result['objective']} vs {result['truth']} (95% CI)")
    ax.set_title(f"{result['dataset']}: spent {result['spent_s']:,.0f} s, brute force "
                 f"{result['brute_force_s']:,.0f} s (n = {result['final_n']})")
    fig.legend(loc="outside lower center", ncol=2, frameon=False)
    place_labels(ax, list(cost), [c["fidelity"] for c, _ in rows],
                 [c["name"] if f else f"{c['name']} (r{c['round']})" for c, f in rows],
                 weights={i: "bold" for i, (c, f) in enumerate(rows)
                          if f and c.get("on_point_front")})
    return fig


def report_parts(results: list[dict], commands: dict[str, str], out: Path
                 ) -> tuple[pd.DataFrame | None, list, list[str], list[tuple]]:
    """The table, the figures [(label, {"png", "pdf"})], notes and (dataset, label, command) rows
    of the stored finder results; ``commands`` by digest."""
    from .figures import save
    if not results:
        return None, [], [], []
    results = sorted(results, key=lambda r: (dataset_rank(r["dataset"]), r["digest"]))
    images, notes, rows = [], [], []
    for r in results:
        fig = front_figure(r)
        if fig is not None:
            images.append((f"{r['dataset']} ({_label(r)})",
                           save(fig, out / "figures" / f"h-finder-{r['dataset']}-{r['digest'][:8]}")))
        ratio = "" if r["ratio"] is None else f" ({r['ratio']:.2f} of it)"
        best = ", ".join(f"<= {b['up_to_s']:g} s/arch: {b['best']}" for b in r["best_by_bracket"])
        notes.append(f"finder {_label(r)} on {r['dataset']}: {len(r['candidates'])} candidates, "
                     f"{len(r['dropped'])} dropped, final sample {r['final_n']} archs, stopped: "
                     f"{r['stop']}; spent {r['spent_s']:,.1f} s against brute force "
                     f"{r['brute_force_s']:,.1f} s{ratio}; best per compute bracket: {best}")
        if r["digest"] in commands:
            rows.append((r["dataset"], _label(r), commands[r["digest"]]))
    return table(results), images, notes, rows
