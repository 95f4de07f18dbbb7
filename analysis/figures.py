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

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import layout, metrics, tables
from .layout import WIDTH, plt
from .metrics import pareto_front  # (the front is a metric; figure (c) draws it)

FACTORS = (("c", "channels divided by c"), ("r", "resolution divided by r"),
           ("s", "training samples divided by s"), ("e", "epochs e of the schedule"),
           ("m", "epoch m read from one schedule"))
KS = tuple(k / 100 for k in range(1, 51))
_KEYS = ("c", "r", "s", "e", "b", "m")
#: bootstrap resamples of the retrieval curves' bands in (e)
RETRIEVAL_BOOT = 200


def _style() -> None:
    layout.style()


def _figure(rows: int = 1, cols: int = 1, height: float = 4.6, **kw):
    """A report figure :data:`analysis.layout.WIDTH` wide, laid out by matplotlib's constrained
    layout (legends outside the axes included)."""
    _style()
    return plt.subplots(rows, cols, figsize=(WIDTH, height), squeeze=False,
                        layout="constrained", **kw)


def _n_text(rows: pd.DataFrame) -> str:
    """``n=16`` or ``n=100-200``: the sample sizes of a line's points."""
    ns = sorted({int(n) for n in rows["n"]}) if "n" in rows.columns else []
    return "" if not ns else f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"


def _shipped(rows: pd.DataFrame) -> str:
    """" shipped: PACK" when a line's points were read from results packs ("" for this store)."""
    if "origin" not in rows.columns:
        return ""
    packs = sorted({o for origin in rows["origin"] for o in str(origin).split(", ")
                    if o and o != "this store"})
    return f", shipped: {', '.join(packs)}" if packs else ""


def _hollow(ax, x, y, rows: pd.DataFrame, color) -> None:
    """Redraw the points of ``rows`` that carry a caveat as hollow circles."""
    mask = (tables.caveats(rows) != "").to_numpy()
    if mask.any():
        ax.plot(np.asarray(x)[mask], np.asarray(y)[mask], ls="none", marker="o", mfc="white",
                mec=color, mew=1.5, zorder=4)


HOLLOW = f"hollow: 95% CI wider than {tables.MAX_CI_WIDTH} or spanning 0, not a measurement"


def _hollow_handle() -> Line2D:
    return Line2D([], [], ls="none", marker="o", mfc="white", mec="grey", mew=1.5)


def _hollow_legend(ax, frame: pd.DataFrame, loc: str = "best", **kw) -> None:
    """The axis' legend, with an entry for hollow points when ``frame`` has any; ``loc``
    "outside ..." puts it beside the axes (a figure legend, in the constrained layout)."""
    handles, labels = ax.get_legend_handles_labels()
    if (tables.caveats(frame) != "").any():
        handles.append(_hollow_handle())
        labels.append(HOLLOW)
    if loc.startswith("outside"):
        ax.figure.legend(handles, labels, loc=loc, **kw)
    else:
        ax.legend(handles, labels, loc=loc, **kw)


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
    """(a) Kendall tau (95% CI) against each reduction factor; a line per fixed other setting,
    labelled with its points' sample sizes and, for rows read from results packs, the pack. Each
    panel's legend sits under it (never over the points)."""
    train = _training(frame)
    panels = [(f, title, _sweeps(train, f)) for f, title in FACTORS]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    cols = min(2, len(panels))
    rows_n = -(-len(panels) // cols)
    most = max(len(lines) for _, _, lines in panels)
    fig, axes = _figure(rows_n, cols, height=rows_n * (3.1 + 0.2 * most) + 0.4, sharey=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (factor, title, lines) in zip(axes.flat, panels):
        for label, rows in lines:
            _errorbar(ax, rows[factor].to_numpy(float), rows,
                      label=f"{label} ({_n_text(rows)}{_shipped(rows)})")
        ax.set_xscale("log", base=2)
        values = sorted({int(v) for _, rows in lines for v in rows[factor]})
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
        ax.set_xlabel(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), title="held fixed",
                  frameon=False)
    for row in axes:
        row[0].set_ylabel("Kendall tau vs truth (95% CI)")
    drawn = pd.concat([rows for _, _, lines in panels for _, rows in lines])
    if (tables.caveats(drawn) != "").any():  # one note for every panel
        fig.legend([_hollow_handle()], [HOLLOW], loc="outside lower center", frameon=False)
    return fig


def same_iterations(frame: pd.DataFrame) -> Figure | None:
    """(b) At a fixed number of iterations (epochs x sample fraction), more samples and fewer
    epochs against fewer samples and more epochs (whole schedules only); each point is labelled
    with its epochs, placed where no other label is."""
    train = _training(frame)
    train = train[train["m"] == train["e"]]
    if train.empty:
        return None
    train = train.assign(budget=train["e"] / train["s"])
    lines = [(key, rows.sort_values("s")) for key, rows in train.groupby(["c", "r", "b", "budget"])
             if rows["s"].nunique() >= 2]
    if not lines:
        return None
    fig, axes = _figure(height=5.0)
    ax = axes[0, 0]
    xs, ys, labels = [], [], []
    for (c, r, b, budget), rows in lines:
        x = 1 / rows["s"].to_numpy(float)
        label = (f"c{int(c)} r{int(r)}{'' if b == 256 else f' b{int(b)}'}: {budget:g} full-data "
                 f"epochs ({_n_text(rows)}{_shipped(rows)})")
        _errorbar(ax, x, rows, label=label)
        xs += list(x)
        ys += list(rows["kendall_tau"])
        labels += [f"s{int(row['s'])} e{int(row['e'])}" for _, row in rows.iterrows()]
    ax.set_xscale("log", base=2)
    shares = sorted(set(xs))
    ax.set_xticks(shares, ["all" if x == 1 else f"1/{round(1 / x)}" for x in shares])
    ax.minorticks_off()
    ax.set_xlabel("share of the training samples (epochs scaled to keep the iterations)")
    ax.set_ylabel("Kendall tau vs truth (95% CI)")
    _hollow_legend(ax, pd.concat([rows for _, rows in lines]), loc="outside lower center")
    layout.place_labels(ax, xs, ys, labels)
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
    """(c) Measured seconds per arch (log) against Kendall tau, with the cost-fidelity Pareto front;
    every point labelled (front points in bold) where no other label is, with a leader line when
    its label had to move away. Proxies whose values are read from NB201's table (source
    ``nb201-table``) are left out: their measured cost is a lookup, not the training that produced
    them."""
    rows = frame[(frame["source"] != "nb201-table")].dropna(subset=["kendall_tau", "seconds_per_arch"])
    if rows.empty:
        return None
    cost = np.maximum(rows["seconds_per_arch"].to_numpy(float), 1e-6)
    tau = rows["kendall_tau"].to_numpy(float)
    front = pareto_front(cost, tau)
    fig, axes = _figure(height=5.2 + 0.06 * len(rows))
    ax = axes[0, 0]
    kinds = sorted(rows["kind"].unique())
    palette = dict(zip(kinds, _palette(len(kinds))))
    for kind in kinds:
        sel = (rows["kind"] == kind).to_numpy()
        lo = np.nan_to_num(tau[sel] - rows["kendall_tau_lo"].to_numpy(float)[sel])
        hi = np.nan_to_num(rows["kendall_tau_hi"].to_numpy(float)[sel] - tau[sel])
        ns = _n_text(rows[sel])
        ax.errorbar(cost[sel], tau[sel], yerr=[lo, hi], fmt="o", capsize=2, color=palette[kind],
                    label=f"{kind} ({ns})" if ns else kind, alpha=0.85)
        _hollow(ax, cost[sel], tau[sel], rows[sel], palette[kind])
    order = np.argsort(cost[front])
    fx, fy = cost[front][order], tau[front][order]
    ax.step(fx, fy, where="post", color="black", lw=1.2, label="Pareto front")  # first to last
    ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="black", zorder=3)
    _log_x(ax, cost)
    lo_y = np.nanmin(rows["kendall_tau_lo"].to_numpy(float)) if len(rows) else 0
    ax.set_ylim(min(lo_y, float(np.min(tau))) - 0.05, 1.0)
    ax.set_xlabel("measured seconds per arch (log scale)")
    ax.set_ylabel("Kendall tau vs truth (95% CI)")
    _hollow_legend(ax, rows, loc="outside lower center", ncol=2)
    layout.place_labels(ax, list(cost), list(tau), list(rows["label"]),
                        weights={i: "bold" for i in np.flatnonzero(front)})
    return fig


def _palette(n: int) -> list:
    import seaborn as sns
    return sns.color_palette("deep", n)


def _log_axis(x: np.ndarray) -> bool:
    finite = x[np.isfinite(x)]
    return finite.size > 1 and finite.min() > 0 and finite.max() / finite.min() > 1e3


def score_vs_truth(vectors: dict[str, tuple[np.ndarray, np.ndarray]], taus: dict[str, float],
                   truth_name: str = "test accuracy (%)") -> Figure | None:
    """(d) Each proxy's raw score (x) against the true accuracy (y); non-finite scores omitted."""
    if not vectors:
        return None
    cols = min(3, len(vectors))
    rows = -(-len(vectors) // cols)
    fig, axes = _figure(rows, cols, height=3.3 * rows)
    for ax, (name, (score, truth)) in zip(axes.flat, vectors.items()):
        ok = np.isfinite(score)
        ax.scatter(score[ok], truth[ok], s=10, alpha=0.6, edgecolors="none")
        if _log_axis(score):
            ax.set_xscale("log")
        tau = taus.get(name)
        ax.set_title(f"{name}\n(n={ok.sum()}" + ("" if tau is None else f", tau={tau:.3f}") + ")")
        ax.set_xlabel("proxy score")
        ax.set_ylabel(truth_name)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    for ax in list(axes.flat)[len(vectors):]:
        ax.set_visible(False)
    return fig


def retrieval_vs_k(vectors: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure | None:
    """(e) Top-k% retrieval for k = 1..50% (scores already oriented: higher is better), each curve
    with its 95% bootstrap band (resampling archs) and its n in the legend."""
    if not vectors:
        return None
    import seaborn as sns
    fig, axes = _figure(height=5.6)
    ax = axes[0, 0]
    ks = np.array(KS)
    colors = sns.color_palette("husl", len(vectors))
    for color, (name, (score, truth)) in zip(colors, vectors.items()):
        ax.plot(ks * 100, metrics.retrieval_curve(score, truth, ks), label=f"{name} (n={len(score)})",
                color=color)
        lo, hi = metrics.retrieval_band(score, truth, ks, n_boot=RETRIEVAL_BOOT)
        ax.fill_between(ks * 100, lo, hi, color=color, alpha=0.12, lw=0)
    ax.plot(ks * 100, ks, ls="--", color="grey", label="random (expected)")
    ax.set_xlabel("k (% of the archs)")
    ax.set_ylabel("top-k% retrieval (95% band)")
    ax.set_ylim(0, 1.02)
    fig.legend(loc="outside right upper", title="proxy (n archs)")
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


#: at most this many proxies in one heatmap of (f) (more: one heatmap per kind of proxy)
MAX_HEATMAP = 16


def correlation_matrix(matrix: pd.DataFrame) -> Figure | None:
    """(f) Heatmap of :func:`tau_matrix` (at least two proxies), every cell with its value."""
    if len(matrix) < 2:
        return None
    import seaborn as sns
    n = len(matrix)
    fig, axes = _figure(height=min(WIDTH, 1.6 + 0.5 * n))
    ax = axes[0, 0]
    sns.heatmap(matrix.astype(float), vmin=-1, vmax=1, cmap="vlag", annot=True, fmt=".2f",
                annot_kws={"fontsize": 8 if n <= 12 else 7}, square=True, ax=ax,
                cbar_kws={"label": "Kendall tau (on the archs both have)", "shrink": 0.8})
    ax.tick_params(axis="both", labelsize=8.5)
    return fig


def save(fig: Figure, stem: Path) -> dict[str, Path]:
    """Write ``stem``.png (at least ``analysis.layout.MIN_PNG_PX`` wide) and ``stem``.pdf."""
    return layout.save(fig, stem)
