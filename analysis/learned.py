"""The report's learning-curve section: learned proxies against K labelled archs
(``benchmark.learn.curve_rows`` rows: one per dataset, feature set, K and training-set draw, and
one per single proxy on the same judged archs).

Table: per (dataset, feature set, K) the mean over draws of Kendall tau and top-10% retrieval with
a 95% t-interval of that mean, the charged label cost (mean over draws), the features' seconds per
arch, and how many draws beat the best single proxy significantly (a paired bootstrap of the tau
difference on the same archs whose 95% interval lies above 0). Figure: per dataset, tau and
retrieval against K, and tau against the total charged cost (K labels plus the features of every
scored arch; a single proxy: its seconds per arch times the scored archs).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

CAPTION = ("Learned proxies against the number K of labelled archs: mean over training-set draws "
           "[95% t-interval of the mean], judged against test_200 on archs in no training set; "
           "'beats best single' counts the draws whose paired bootstrap interval of the tau "
           "difference to the best single proxy (same archs) lies above 0. 'N NASLib scores': "
           "that many naslib:* features, as the experiment file lists them.")
FIGURE = ("Learning curves: Kendall tau and top-10% retrieval against K (mean and 95% t-interval "
          "over training-set draws; dashed: the best single proxy on the same archs), and tau "
          "against the total charged cost (labels + features of the scored archs).")


def interval(values) -> tuple[float, float, float]:
    """Mean and 95% t-interval of the mean (the mean twice for one value)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return np.nan, np.nan, np.nan
    if v.size == 1:
        return float(v[0]), float(v[0]), float(v[0])
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def summary(rows: list[dict]) -> pd.DataFrame:
    """One row per (dataset, feature set, K) of learned rows, and one per single proxy."""
    frame = pd.DataFrame(rows)
    out = []
    for (dataset, kind, features, k), g in frame.groupby(
            ["dataset", "kind", "features", "train"], sort=False):
        tau, tau_lo, tau_hi = interval(g["kendall_tau"])
        ret, ret_lo, ret_hi = interval(g["retrieval_top10"])
        row = {"dataset": dataset, "kind": kind, "features": features, "K": int(k),
               "draws": len(g), "n": int(g["n"].iloc[0]), "kendall_tau": tau,
               "tau_lo": tau_lo, "tau_hi": tau_hi, "retrieval_top10": ret, "ret_lo": ret_lo,
               "ret_hi": ret_hi, "label_cost_s": float(g["label_cost_s"].mean()),
               "feature_s_per_arch": float(g["feature_cost_s"].mean())}
        if kind == "learned" and "versus_best_ci" in g:
            lows = [ci[0] for ci in g["versus_best_ci"] if isinstance(ci, (list, tuple))]
            row["best_single"] = g["best_single"].iloc[0]
            row["beats_best_single"] = sum(lo is not None and lo > 0 for lo in lows)
        out.append(row)
    return pd.DataFrame(out)


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's table (display strings)."""
    def fmt(x, lo, hi):
        if not np.isfinite(x):
            return "n/a"
        return f"{x:.3f}" if lo == hi else f"{x:.3f} [{lo:.3f}, {hi:.3f}]"
    out = []
    for r in frame.itertuples():
        learned = r.kind == "learned"
        beats = getattr(r, "beats_best_single", None)
        out.append({"dataset": r.dataset, "proxy": (f"learned: {short(r.features)}" if learned
                                                    else f"single: {r.features}"),
                    "K": r.K if learned else "-", "draws": r.draws, "judged archs": r.n,
                    "Kendall tau": fmt(r.kendall_tau, r.tau_lo, r.tau_hi),
                    "top-10% retrieval": fmt(r.retrieval_top10, r.ret_lo, r.ret_hi),
                    "label cost (h)": f"{r.label_cost_s / 3600:,.1f}",
                    "features s/arch": f"{r.feature_s_per_arch:.3g}",
                    "beats best single": (f"{int(beats)}/{r.draws} ({r.best_single})"
                                          if learned and beats is not None
                                          and isinstance(r.best_single, str) else "-")})
    return pd.DataFrame(out, dtype=object)


def short(features: str) -> str:
    """A feature set's legend label: more than two NASLib scores are counted, not listed."""
    names = features.split(",")
    naslib = [n for n in names if n.startswith("naslib:")]
    if len(naslib) <= 2:
        return features
    return ",".join([n for n in names if not n.startswith("naslib:")]
                    + [f"{len(naslib)} NASLib scores"])


def figure(frame: pd.DataFrame, dataset: str):
    """Tau and retrieval against K, tau against total charged cost, for one dataset."""
    from .layout import WIDTH, plt, style
    data = frame[frame["dataset"] == dataset]
    learned, single = data[data["kind"] == "learned"], data[data["kind"] == "single"]
    if learned.empty:
        return None
    style()
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 4.8), layout="constrained")
    best = (single.sort_values("kendall_tau").iloc[-1] if not single.empty else None)
    for features, g in learned.groupby("features", sort=False):
        g = g.sort_values("K")
        for ax, (m, lo, hi) in zip(axes[:2], (("kendall_tau", "tau_lo", "tau_hi"),
                                             ("retrieval_top10", "ret_lo", "ret_hi"))):
            ax.errorbar(g["K"], g[m], yerr=[g[m] - g[lo], g[hi] - g[m]], marker="o", ms=4,
                        capsize=3, label=short(features))
        total = g["label_cost_s"] + g["feature_s_per_arch"] * (g["n"] + g["K"])
        axes[2].plot(total / 3600, g["kendall_tau"], marker="o", ms=4, label=short(features))
    if best is not None:
        for ax, m in zip(axes[:2], ("kendall_tau", "retrieval_top10")):
            ax.axhline(best[m], ls="--", color="0.4", label=f"best single: {best['features']}")
        cost = max(best["feature_s_per_arch"] * best["n"], 1.0) / 3600
        axes[2].scatter([cost], [best["kendall_tau"]], marker="*", s=120, color="0.2",
                        label=f"best single: {best['features']}", zorder=3)
    for ax, label in zip(axes, ("Kendall tau", "top-10% retrieval", "Kendall tau")):
        ax.set_ylabel(label)
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_xlabel("K (labelled archs)")
    per_label = float((learned["label_cost_s"] / learned["K"]).mean())
    if per_label > 0:
        top = axes[0].secondary_xaxis("top", functions=(lambda k: k * per_label / 3600,
                                                         lambda h: h * 3600 / per_label))
        top.set_xlabel("label cost (hours of NB201 training)")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("total charged cost (h): labels + features")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 2),
               frameon=False)
    fig.suptitle(f"Learned proxies on {dataset}")
    return fig


def report_parts(rows, out: Path) -> tuple[pd.DataFrame | None, list, list[str]]:
    """(table, [(dataset, {"png", "pdf"})], notes) of the learning-curve rows; None without rows."""
    from nb201.catalog import dataset_rank

    from .figures import save
    if not rows:
        return None, [], []
    frame = summary(list(rows))
    images = []
    for dataset in sorted(frame["dataset"].unique(), key=dataset_rank):
        fig = figure(frame, dataset)
        if fig is not None:
            images.append((dataset, save(fig, out / "figures" / f"i-learned-{dataset}")))
    notes = [f"learned proxies on {d}: judged on {int(n)} archs in no training set, against "
             "test_200 (their label is valid_200 or another score, never the truth)"
             for d, n in frame.groupby("dataset")["n"].first().items()]
    return table(frame), images, notes
