"""Report figures (matplotlib, Agg backend, seaborn style). Each function takes the data of one
dataset and returns a Figure, or None when its data is absent (the report then says so).

- (a) :func:`factor_sweeps`: Kendall tau against each reduction factor, one line per fixed setting
- (b) :func:`same_iterations`: same number of iterations, more samples/fewer epochs or the reverse
- (c) :func:`cost_vs_tau`: measured seconds per arch (log) against Kendall tau, with the Pareto
  front drawn from its cheapest to its best point
- (d) :func:`score_vs_truth`: proxy score against the true accuracy
- (e) :func:`retrieval_vs_k`: top-k% retrieval for k from 1% to 50%
- (f) :func:`correlation_matrix`: Kendall tau between proxies (and the truth)

``frame`` arguments are metrics frames (see ``analysis.tables``) restricted to one dataset. In
(a)-(c) a point whose Kendall tau is not a measurement (``analysis.tables.caveat``: its CI is too
wide or spans zero) is drawn hollow.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from . import metrics, tables  # noqa: E402
from .metrics import pareto_front  # noqa: E402  (the front is a metric; figure (c) draws it)

FACTORS = (("c", "channels divided by c"), ("r", "resolution divided by r"),
           ("s", "training samples divided by s"), ("e", "epochs e of the schedule"),
           ("m", "epoch m read from one schedule"))
KS = tuple(k / 100 for k in range(1, 51))
_KEYS = ("c", "r", "s", "e", "b", "m")


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)


def _hollow(ax, x, y, rows: pd.DataFrame, color) -> None:
    """Redraw the points of ``rows`` that carry a caveat as hollow circles."""
    mask = (tables.caveats(rows) != "").to_numpy()
    if mask.any():
        ax.plot(np.asarray(x)[mask], np.asarray(y)[mask], ls="none", marker="o", mfc="white",
                mec=color, mew=1.5, zorder=4)


HOLLOW = f"hollow: 95% CI wider than {tables.MAX_CI_WIDTH} or spanning 0, not a measurement"


def _hollow_handle() -> Line2D:
    return Line2D([], [], ls="none", marker="o", mfc="white", mec="grey", mew=1.5)


def _hollow_legend(ax, frame: pd.DataFrame, **kw) -> None:
    """The axis' legend, with an entry for hollow points when ``frame`` has any."""
    handles, labels = ax.get_legend_handles_labels()
    if (tables.caveats(frame) != "").any():
        handles.append(_hollow_handle())
        labels.append(HOLLOW)
    ax.legend(handles, labels, **kw)


def _errorbar(ax, x, rows: pd.DataFrame, **kw) -> None:
    y = rows["kendall_tau"].to_numpy(float)
    lo = np.nan_to_num(y - rows["kendall_tau_lo"].to_numpy(float))
    hi = np.nan_to_num(rows["kendall_tau_hi"].to_numpy(float) - y)
    bars = ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, **kw)
    _hollow(ax, x, y, rows, bars.lines[0].get_color())


def _setting(row, skip: tuple[str, ...]) -> str:
    """A label for the factors held fixed, e.g. ``r4 s1 e40@20``."""
    parts = [f"{k}{int(row[k])}" for k in ("c", "r", "s") if k not in skip]
    if "e" not in skip:
        parts.append(f"e{int(row['e'])}" + ("" if "m" in skip or row["m"] == row["e"] else f"@{int(row['m'])}"))
    if int(row["b"]) != 256:
        parts.append(f"b{int(row['b'])}")
    return " ".join(parts)


def _sweeps(train: pd.DataFrame, factor: str) -> list[tuple[str, pd.DataFrame]]:
    """Lines of one panel: training proxies that differ only in ``factor``."""
    if factor == "e":  # schedules read at the same share of their epochs (m/e)
        train = train.assign(share=(train["m"] / train["e"]).round(3))
        fixed = ["c", "r", "s", "b", "share"]
        skip: tuple[str, ...] = ("e", "m")
    elif factor == "m":
        fixed, skip = ["c", "r", "s", "e", "b"], ("m",)
    else:
        fixed, skip = [k for k in _KEYS if k != factor], (factor,)
    lines = []
    for _, rows in train.groupby(fixed, sort=True):
        if rows[factor].nunique() >= 2:
            rows = rows.sort_values(factor)
            label = _setting(rows.iloc[0], skip)
            if factor == "e" and rows.iloc[0]["share"] != 1:
                label += f" @{rows.iloc[0]['share']:g}e"
            lines.append((label, rows))
    return lines


def _training(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["kind"] == "training")].dropna(subset=["c", "kendall_tau"])


def factor_sweeps(frame: pd.DataFrame) -> Figure | None:
    """(a) Kendall tau (95% CI) against each reduction factor; a line per fixed other setting."""
    train = _training(frame)
    panels = [(f, title, _sweeps(train, f)) for f, title in FACTORS]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    _style()
    cols = min(3, len(panels))
    rows_n = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.8 * rows_n), squeeze=False,
                             sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (factor, title, lines) in zip(axes.flat, panels):
        for label, rows in lines:
            _errorbar(ax, rows[factor].to_numpy(float), rows, label=label)
        ax.set_xscale("log", base=2)
        values = sorted({int(v) for _, rows in lines for v in rows[factor]})
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
        ax.set_xlabel(title)
        ax.legend(fontsize=8, title="fixed", title_fontsize=8)
    for row in axes:
        row[0].set_ylabel("Kendall tau vs truth (95% CI)")
    drawn = pd.concat([rows for _, _, lines in panels for _, rows in lines])
    if (tables.caveats(drawn) != "").any():  # one note for every panel
        fig.legend([_hollow_handle()], [HOLLOW], loc="lower center", fontsize=9, frameon=False)
        fig.tight_layout(rect=(0, 0.06 / rows_n, 1, 1))
        return fig
    fig.tight_layout()
    return fig


def same_iterations(frame: pd.DataFrame) -> Figure | None:
    """(b) At a fixed number of iterations (epochs x sample fraction), more samples and fewer
    epochs against fewer samples and more epochs (whole schedules only)."""
    train = _training(frame)
    train = train[train["m"] == train["e"]]
    if train.empty:
        return None
    train = train.assign(budget=train["e"] / train["s"])
    lines = [(key, rows.sort_values("s")) for key, rows in train.groupby(["c", "r", "b", "budget"])
             if rows["s"].nunique() >= 2]
    if not lines:
        return None
    _style()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (c, r, b, budget), rows in lines:
        x = 1 / rows["s"].to_numpy(float)
        label = f"c{int(c)} r{int(r)}{'' if b == 256 else f' b{int(b)}'}: {budget:g} full-data epochs"
        _errorbar(ax, x, rows, label=label)
        for xi, (_, row) in zip(x, rows.iterrows()):
            ax.annotate(f"s{int(row['s'])} e{int(row['e'])}", (xi, row["kendall_tau"]),
                        textcoords="offset points", xytext=(4, 6), fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("share of the training samples (epochs scaled to keep the iterations)")
    ax.set_ylabel("Kendall tau vs truth (95% CI)")
    _hollow_legend(ax, pd.concat([rows for _, rows in lines]), fontsize=7)
    fig.tight_layout()
    return fig


def plain_number(x: float) -> str:
    """A tick label without mathtext: ``0.001``, ``20``, ``1e-6`` (outside 1e-4..1e5)."""
    if 1e-4 <= x < 1e5:
        return np.format_float_positional(x, precision=4, trim="-")
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


#: tick mantissas tried from the densest; the last entries keep every 2nd or 3rd decade
_MANTISSAS = ((1, 2, 5), (1, 3), (1,))


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Ticks for a log axis from ``lo`` to ``hi``: the densest of 1-2-5, 1-3 or whole decades
    (then every 2nd, 3rd ... decade) that puts at most ``most`` ticks in the range."""
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for mantissas in _MANTISSAS:
        ticks = [m * 10.0 ** d for d in decades for m in mantissas if lo <= m * 10.0 ** d <= hi]
        if len(ticks) <= most:
            return ticks
    step = -(-len(ticks) // most)
    return ticks[::step]


def _log_x(ax, x: np.ndarray) -> None:
    """A log x axis padded around ``x``, with :func:`log_ticks` labelled plainly (no minor
    labels, so that labels never crowd each other)."""
    lo, hi = float(np.min(x)) / 1.6, float(np.max(x)) * 1.6
    ax.set_xscale("log")
    ax.minorticks_off()
    ticks = log_ticks(lo, hi)
    ax.set_xticks(ticks, [plain_number(t) for t in ticks])
    ax.set_xlim(lo, hi)


def cost_vs_tau(frame: pd.DataFrame) -> Figure | None:
    """(c) Measured seconds per arch (log) against Kendall tau, with the cost-fidelity Pareto front.
    Proxies whose values are read from NB201's table (source ``nb201-table``) are left out: their
    measured cost is a lookup, not the training that produced them."""
    rows = frame[(frame["source"] != "nb201-table")].dropna(subset=["kendall_tau", "seconds_per_arch"])
    if rows.empty:
        return None
    _style()
    cost = np.maximum(rows["seconds_per_arch"].to_numpy(float), 1e-6)
    tau = rows["kendall_tau"].to_numpy(float)
    front = pareto_front(cost, tau)
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    kinds = sorted(rows["kind"].unique())
    palette = dict(zip(kinds, sns.color_palette("deep", len(kinds))))
    for kind in kinds:
        sel = (rows["kind"] == kind).to_numpy()
        lo = np.nan_to_num(tau[sel] - rows["kendall_tau_lo"].to_numpy(float)[sel])
        hi = np.nan_to_num(rows["kendall_tau_hi"].to_numpy(float)[sel] - tau[sel])
        ax.errorbar(cost[sel], tau[sel], yerr=[lo, hi], fmt="o", capsize=2, color=palette[kind],
                    label=kind, alpha=0.85)
        _hollow(ax, cost[sel], tau[sel], rows[sel], palette[kind])
    order = np.argsort(cost[front])
    fx, fy = cost[front][order], tau[front][order]
    ax.step(fx, fy, where="post", color="black", lw=1.2, label="Pareto front")  # first to last
    ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="black", zorder=3)
    labels = rows["label"].to_numpy()
    named = set(np.flatnonzero(front)) | set(np.argsort(-tau)[:5] if len(rows) > 15 else range(len(rows)))
    for i in sorted(named):
        ax.annotate(labels[i], (cost[i], tau[i]), textcoords="offset points", xytext=(5, 3),
                    fontsize=7, fontweight="bold" if front[i] else "normal")
    _log_x(ax, cost)
    ax.set_xlabel("measured seconds per arch (log scale)")
    ax.set_ylabel("Kendall tau vs truth (95% CI)")
    _hollow_legend(ax, rows, fontsize=8)
    fig.tight_layout()
    return fig


def _log_axis(x: np.ndarray) -> bool:
    finite = x[np.isfinite(x)]
    return finite.size > 1 and finite.min() > 0 and finite.max() / finite.min() > 1e3


def score_vs_truth(vectors: dict[str, tuple[np.ndarray, np.ndarray]], taus: dict[str, float],
                   truth_name: str = "test accuracy (%)") -> Figure | None:
    """(d) Each proxy's raw score (x) against the true accuracy (y); non-finite scores omitted."""
    if not vectors:
        return None
    _style()
    cols = min(3, len(vectors))
    rows = -(-len(vectors) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, (score, truth)) in zip(axes.flat, vectors.items()):
        ok = np.isfinite(score)
        ax.scatter(score[ok], truth[ok], s=8, alpha=0.6, edgecolors="none")
        if _log_axis(score):
            ax.set_xscale("log")
        tau = taus.get(name)
        ax.set_title(f"{name} (n={ok.sum()}" + ("" if tau is None else f", tau={tau:.3f}") + ")",
                     fontsize=9)
        ax.set_xlabel("proxy score")
        ax.set_ylabel(truth_name)
    for ax in list(axes.flat)[len(vectors):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def retrieval_vs_k(vectors: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure | None:
    """(e) Top-k% retrieval for k = 1..50% (scores already oriented: higher is better)."""
    if not vectors:
        return None
    _style()
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    ks = np.array(KS)
    colors = sns.color_palette("husl", len(vectors))
    for color, (name, (score, truth)) in zip(colors, vectors.items()):
        ax.plot(ks * 100, metrics.retrieval_curve(score, truth, ks), label=name, color=color)
    ax.plot(ks * 100, ks, ls="--", color="grey", label="random (expected)")
    ax.set_xlabel("k (% of the archs)")
    ax.set_ylabel("top-k% retrieval")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def tau_matrix(vectors: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Kendall tau between every pair of oriented score vectors, each pair on the archs both have.
    ``vectors``: name -> (arch indices, oriented scores); pairs with < 3 common archs are NaN."""
    names = list(vectors)
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i:]:
            ia, sa = vectors[a]
            ib, sb = vectors[b]
            common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
            value = metrics.kendall_tau(sa[pa], sb[pb]) if common.size >= 3 else np.nan
            out.loc[a, b] = out.loc[b, a] = value
    return out


def correlation_matrix(matrix: pd.DataFrame) -> Figure | None:
    """(f) Heatmap of :func:`tau_matrix` (at least two proxies)."""
    if len(matrix) < 2:
        return None
    _style()
    size = max(4.5, 0.45 * len(matrix) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(matrix.astype(float), vmin=-1, vmax=1, cmap="vlag", annot=len(matrix) <= 16,
                fmt=".2f", annot_kws={"fontsize": 7}, square=True, ax=ax,
                cbar_kws={"label": "Kendall tau"})
    fig.tight_layout()
    return fig


def save(fig: Figure, stem: Path, dpi: int = 110) -> dict[str, Path]:
    """Write ``stem``.png and ``stem``.pdf and close the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"png": stem.with_suffix(".png"), "pdf": stem.with_suffix(".pdf")}
    fig.savefig(paths["png"], dpi=dpi)
    fig.savefig(paths["pdf"])
    plt.close(fig)
    return paths
