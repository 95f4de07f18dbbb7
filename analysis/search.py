"""Search results: statistics over runs, the truth of the best arch against charged cost, the
figure and the table of the report. Pure functions of stored runs (the ``result`` JSON of
``nb201.store.SearchRuns``: a trajectory of ``{cost, queries, best_index, best_truth}`` points,
one per query at which the answer changed plus the last one) and of the dataset's optimum.

Conventions: standard deviations over runs are sample standard deviations (ddof=1) and standard
errors are std / sqrt(runs); with fewer than 2 runs both are None (n/a), not 0. "Reached" means
the answer's truth came within ``WITHIN`` points of the optimum (the best truth of all 15,625
archs) at any point of the run, not necessarily at its end (a ladder can lose such an answer to
one with a better read at a higher level); the cost to reach it is the charged cost of the first
query after which it did. "Ending within" counts the runs whose final answer is within it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nb201.catalog import DEFAULT_TRUTH

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WITHIN = 0.5


def optimum(dataset: str, truth: str) -> float:
    """The best ``truth`` value of ``dataset`` over all archs, NaN-ignoring."""
    from nb201 import groundtruth as gt
    return float(np.nanmax(gt.vector(dataset, truth)))


def _spread(values) -> tuple[float | None, float | None, float | None]:
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None, None, None
    if len(x) < 2:
        return float(x[0]), None, None
    std = float(np.std(x, ddof=1))
    return float(np.mean(x)), std, std / math.sqrt(len(x))


def value_at(trajectory: list[dict], cost: float) -> float:
    """The truth of the answer after everything charged up to ``cost`` (NaN before any answer)."""
    value = math.nan
    for point in trajectory:
        if point["cost"] > cost:
            break
        value = math.nan if point["best_truth"] is None else point["best_truth"]
    return value


def cost_to_reach(trajectory: list[dict], target: float) -> float | None:
    for point in trajectory:
        if point["best_truth"] is not None and point["best_truth"] >= target:
            return float(point["cost"])
    return None


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[(n - 1) // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def reach_of(runs: list[dict], target: float, within: float) -> dict:
    """How many runs reached ``target`` at any point (``runs_reached``), and at what cost; how many
    ended within it (``runs_ending_within``: the final answer's truth >= target)."""
    costs = [cost_to_reach(r["trajectory"], target) for r in runs]
    reached = [c for c in costs if c is not None]
    median = _median([math.inf if c is None else c for c in costs])
    r_mean, _, r_se = _spread(reached)
    ending = sum(r["final_truth"] is not None and r["final_truth"] >= target for r in runs)
    return {"within": within, "target": target, "runs_reached": len(reached),
            "runs_ending_within": int(ending),
            "cost_median": None if math.isinf(median) else median,
            "cost_mean_reached": r_mean, "cost_se_reached": r_se}


def summarize(runs: list[dict], optimum: float, within: float = WITHIN) -> dict:
    """Final truth (mean, std, se), the reach of ``optimum - within`` (:func:`reach_of`) and mean
    cost and queries."""
    mean, std, se = _spread(r["final_truth"] for r in runs)
    return {"runs": len(runs), "final_truth_mean": mean, "final_truth_std": std,
            "final_truth_se": se, "optimum": optimum,
            "reach": reach_of(runs, optimum - within, within),
            "cost_mean": _spread(r["cost"] for r in runs)[0],
            "queries_mean": _spread(r["queries"] for r in runs)[0]}


def looked_up(runs: list[dict], truth) -> dict:
    """The truth of each run's final arch in another table (``truth``: NB201 index -> value, e.g.
    the same arch on another dataset; NB201's protocol of searching CIFAR-10 and looking the
    answer up elsewhere): mean, sample std and standard error over runs."""
    values = [None if r["final_index"] is None else float(truth[r["final_index"]]) for r in runs]
    mean, std, se = _spread(v for v in values if v is None or math.isfinite(v))
    return {"final_truth_mean": mean, "final_truth_std": std, "final_truth_se": se}


def curve(runs: list[dict], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over runs of the answer's truth at each cost of ``grid``; NaN at
    costs where some run has no answer yet."""
    values = np.array([[value_at(r["trajectory"], c) for c in grid] for r in runs])
    se = (values.std(axis=0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1
          else np.zeros(len(grid)))
    return values.mean(axis=0), se


def extent(runs: list[dict], span: float = 200.0) -> tuple[float, float]:
    """The costs a search's curve covers: from its first answer (but not below 1/``span`` of its
    largest cost: answers of near-free levels come at costs of milliseconds) to its largest
    charged cost."""
    firsts = [r["trajectory"][0]["cost"] for r in runs if r["trajectory"]]
    hi = max(r["cost"] for r in runs)
    lo = max(min(firsts) if firsts else 1.0, hi / span, 1e-3)
    return lo, max(hi, lo * 1.01)


def x_range(groups: dict[str, list[dict]]) -> tuple[float, float]:
    """The figure's cost axis: the union of the searches' :func:`extent`."""
    ends = [extent(runs) for runs in groups.values()]
    return min(lo for lo, _ in ends), max(hi for _, hi in ends)


#: a search with fewer runs is drawn without its standard-error band (it would mean nothing)
MIN_BAND_RUNS = 3


def truth_vs_cost(groups: dict[str, list[dict]], optimum: float, truth: str = DEFAULT_TRUTH,
                  within: float = WITHIN) -> Figure | None:
    """Truth of the answer against charged cost (log x): mean over runs with a standard-error
    band per search (searches of fewer than :data:`MIN_BAND_RUNS` runs: no band, and the legend
    says so), each drawn up to its own largest charged cost (a cheap search's curve is not
    extended flat to the others'), the optimum as a line and the reach target as a dotted line;
    the y axis shows every curve whole, from its first answer on."""
    groups = {k: v for k, v in groups.items() if any(r["trajectory"] for r in v)}
    if not groups:
        return None
    import seaborn as sns         # plotting is loaded by what plots (not by the search command)

    from .layout import WIDTH, plt, style
    style()
    lo, hi = x_range(groups)
    fig, ax = plt.subplots(figsize=(WIDTH, 4.8 + 0.25 * len(groups)), layout="constrained")
    colors = sns.color_palette("tab10" if len(groups) <= 10 else "tab20", len(groups))
    lowest = []
    for k, (label, runs) in enumerate(groups.items()):
        costs = np.geomspace(lo, extent(runs)[1], 200)     # up to its own largest cost
        mean, se = curve(runs, costs)
        banded = len(runs) >= MIN_BAND_RUNS
        line, = ax.plot(costs, mean, color=colors[k],
                        label=f"{label} ({len(runs)} runs" + ("" if banded else
                                                             ", too few for a band") + ")",
                        linestyle="-" if k % 2 == 0 or len(groups) <= 10 else "--")
        if banded:
            ax.fill_between(costs, mean - se, mean + se, color=line.get_color(), alpha=0.25,
                            linewidth=0)
        finite = (mean - (se if banded else 0))[np.isfinite(mean)]
        lowest += [float(finite.min())] if finite.size else []
    ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"optimum {optimum:.2f}")
    ax.axhline(optimum - within, color="grey", linestyle=":", linewidth=1,
               label=f"optimum - {within:g}")
    if lowest:                  # every curve whole, from its first answer on
        ax.set_ylim(min(min(lowest), optimum - 2 * within) - 0.5, optimum + 0.3)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("charged cost (s, log scale)")
    ax.set_ylabel(f"{truth} of the search's answer (%)")
    fig.legend(loc="outside lower center", ncol=1, frameon=False)
    return fig


def table(rows: list[dict]) -> pd.DataFrame:
    """One row per (dataset, search): ``rows`` are dicts with dataset, label, budget, runs,
    summary (from :func:`summarize`), at_quarter and at_quarter_se (mean truth at a quarter of the
    budget and its standard error)."""
    out = []
    for row in rows:
        s, reach = row["summary"], row["summary"]["reach"]
        out.append({
            "dataset": row["dataset"], "search": row["label"], "budget": row["budget"],
            "runs": s["runs"], "final truth mean": s["final_truth_mean"],
            "std": s["final_truth_std"], "se": s["final_truth_se"],
            "truth at budget/4": row.get("at_quarter"), "its se": row.get("at_quarter_se"),
            f"reached optimum-{reach['within']:g} at any point":
                f"{reach['runs_reached']}/{s['runs']}",
            f"ended within optimum-{reach['within']:g}":
                f"{reach['runs_ending_within']}/{s['runs']}",
            "median cost to reach (s)": _whole(reach["cost_median"]),
            "mean cost to reach, reached runs (s)": _whole(reach["cost_mean_reached"]),
            "its se (s)": _whole(reach["cost_se_reached"]),
            "mean queries": s["queries_mean"]})
    return pd.DataFrame(out, dtype=object)


def _whole(x) -> int | None:
    return None if x is None else int(round(x))


def _groups(frame: pd.DataFrame, selection) -> list[tuple[dict, list[dict], str | None]]:
    """(spec, runs, command) per stored search: ``selection`` is None (every stored search) or
    (digest, seed, runs, command) tuples."""
    if frame.empty:
        return []
    wanted = ([(d, s, None, None) for (d, s), _ in frame.groupby(["digest", "seed"], sort=False)]
              if selection is None else list(selection))
    out = []
    for digest, seed, runs, command in wanted:
        rows = frame[(frame["digest"] == digest) & (frame["seed"] == seed)]
        if runs is not None:
            rows = rows[rows["run"] < runs]
        if not rows.empty:
            out.append((json.loads(rows["spec"].iloc[0]), [json.loads(r) for r in rows["result"]],
                        command))
    return out


def _limit(spec: dict) -> str:
    if spec.get("budget_s") is not None:
        return f"{spec['budget_s']:g} s"
    return f"{spec['queries']} queries"


def report_parts(frame: pd.DataFrame, selection, out: Path
                 ) -> tuple[pd.DataFrame | None, list[tuple[str, dict]], list[str], list[tuple]]:
    """What the report shows of the stored searches (``SearchRuns.frame()``): the table, the
    figure per dataset [(dataset, {"png", "pdf"})], notes, and (dataset, label, command) rows."""
    from .figures import save
    from nb201.catalog import dataset_rank
    found = _groups(frame, selection)
    if not found:
        return None, [], [], []
    rows, figures, commands = [], {}, []
    labels = [(spec["dataset"], spec["label"]) for spec, _, _ in found]
    for spec, runs, command in found:
        best = optimum(spec["dataset"], spec["truth"])
        summary = summarize(runs, best)
        twice = labels.count((spec["dataset"], spec["label"])) > 1
        name = spec["label"] + (f" ({_limit(spec)})" if twice else "")
        quarter, _, quarter_se = (
            _spread(value_at(r["trajectory"], spec["budget_s"] / 4) for r in runs)
            if spec.get("budget_s") else (None, None, None))
        rows.append({"dataset": spec["dataset"], "label": name, "budget": _limit(spec),
                     "summary": summary, "at_quarter": quarter, "at_quarter_se": quarter_se})
        figures.setdefault((spec["dataset"], spec["truth"], best), {})[name] = runs
        if command:
            commands.append((spec["dataset"], name, command))
    images = []
    for (dataset, truth, best), groups in sorted(figures.items(),
                                                 key=lambda k: dataset_rank(k[0][0])):
        fig = truth_vs_cost(groups, best, truth)
        if fig is not None:
            images.append((dataset, save(fig, out / "figures" / f"g-search-{dataset}")))
    shown = table(sorted(rows, key=lambda r: dataset_rank(r["dataset"])))
    notes = [f"search {r['label']} on {r['dataset']}: no run found an answer within its limits"
             for r in rows if r["summary"]["final_truth_mean"] is None]
    return shown, images, notes, commands
