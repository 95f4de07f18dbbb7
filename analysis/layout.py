"""How the report's figures are laid out so that they read at 100% zoom in a browser: one style
(font sizes for a page about 1,100 px wide), one width, PNGs at least :data:`MIN_PNG_PX` wide,
point labels placed where they overlap nothing (:func:`place_labels`) and a check that no two
texts of a figure overlap (:func:`overlapping_texts`, which the tests run on every figure).

The page shows a figure at most about 1,140 px wide (``analysis.pages``: a 1,200 px column); a
figure :data:`WIDTH` inches wide saved at :data:`DPI` is 1,500 px, so its 10-point text shows at
about 16 px.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

#: the width of every report figure (inches) and the resolution of its PNG
WIDTH, DPI = 10.0, 150
#: no PNG of the report is narrower than this (the browser test checks it)
MIN_PNG_PX = 1200
FONT = {"font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "xtick.labelsize": 9,
        "ytick.labelsize": 9, "legend.fontsize": 8.5, "legend.title_fontsize": 8.5}


def style() -> None:
    """The report's plotting style (seaborn's white grid, the sizes of :data:`FONT`)."""
    import seaborn as sns
    sns.set_theme(style="whitegrid", context="paper", rc=FONT)


def save(fig: Figure, stem: Path) -> dict[str, Path]:
    """Write ``stem``.png (at least :data:`MIN_PNG_PX` wide) and ``stem``.pdf; close the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {"png": stem.with_suffix(".png"), "pdf": stem.with_suffix(".pdf")}
    dpi = max(DPI, math.ceil(MIN_PNG_PX / fig.get_figwidth()))
    fig.savefig(paths["png"], dpi=dpi)
    fig.savefig(paths["pdf"])
    plt.close(fig)
    return paths


def _texts(fig: Figure) -> list[Text]:
    """The figure's drawn, non-empty texts (titles, labels, tick labels, legends, annotations):
    tick labels of ticks outside their axis' view (kept by matplotlib, not drawn) left out."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-12 * max(1.0, abs(hi)) <= tick.get_loc() <= hi + 1e-12 * max(1.0, abs(hi)):
                    hidden.update((id(tick.label1), id(tick.label2)))
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
            and t.get_figure() is not None and id(t) not in hidden]


def overlapping_texts(fig: Figure, pad: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` whose boxes overlap (shrunk by ``pad`` pixels each side, so that
    touching boxes do not count), as drawn: [] for a figure whose texts all read."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # the text's own box (an annotation's includes its leader line otherwise)
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in _texts(fig)]
    boxes = [(text, b.padded(-pad)) for text, b in boxes if b.width > 2 * pad and b.height > 2 * pad]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[:i]
            if box_a.overlaps(box_b)]


#: the directions (degrees) a label may go from its point, tried in this order, at growing
#: distances (:data:`RINGS` of them, from :data:`FIRST` points apart, :data:`STEP` farther each)
ANGLES = (25, -25, 155, -155, 90, -90, 0, 180, 55, -55, 125, -125)
RINGS, FIRST, STEP = 8, 7.0, 9.0


def _spots():
    for ring in range(RINGS):
        radius = FIRST + STEP * ring
        for angle in ANGLES:
            dx, dy = radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))
            ha = "center" if abs(dx) < 1 else "left" if dx > 0 else "right"
            yield ring, (dx, dy), ha


def place_labels(ax, xs, ys, labels, fontsize: float = 8.5, weights=None) -> list:
    """Annotate point i with ``labels[i]`` at the first spot around it (:func:`_spots`: nearest
    first, a thin leader line beyond the first ring) where it overlaps no label placed before and
    stays inside the axes; labels are placed from the top of the plot down. The labels take no
    part in the figure's layout (they are inside the axes), so the layout drawn here is final."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    order = sorted(range(len(labels)), key=lambda i: (-ys[i], xs[i]))
    placed, out = [], []
    for i in order:
        best = None
        for ring, offset, ha in _spots():
            ann = ax.annotate(labels[i], (xs[i], ys[i]), xytext=offset, textcoords="offset points",
                              fontsize=fontsize, ha=ha, va="center",
                              fontweight=(weights or {}).get(i, "normal"),
                              arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.6,
                                          "shrinkA": 0, "shrinkB": 3} if ring else None,
                              zorder=5)
            ann.set_in_layout(False)
            ann.update_positions(renderer)          # where it will be drawn
            box = Text.get_window_extent(ann, renderer)
            inside_axes = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and
                           inside.y0 <= box.y0 and box.y1 <= inside.y1)
            if inside_axes and not any(box.overlaps(other) for other in placed):
                best = (ann, box)
                break
            ann.remove()
        if best is None:              # nowhere free: the first spot (the overlap check will say)
            ann = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(FIRST, 0),
                              textcoords="offset points", fontsize=fontsize, va="center", zorder=5)
            ann.set_in_layout(False)
            ann.update_positions(renderer)
            best = (ann, Text.get_window_extent(ann, renderer))
        placed.append(best[1].padded(1.5))
        out.append(best[0])
    return out
