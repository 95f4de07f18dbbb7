"""Report tables: pure functions from the metrics frame to DataFrames and to Markdown, LaTeX, CSV.

The *metrics frame* has one row per reported (proxy, dataset, data source) and the columns built
by ``analysis.report``: proxy, label, kind, dataset, source, n, seeds, kendall_tau (+ ``_lo``,
``_hi`` for the 95% bootstrap CI), spearman (+ CI), pearson, retrieval_top10 (+ CI), nan_scores,
seconds_per_arch, total_seconds, cost_s, device, and for training proxies the EcoNAS factors
c, r, s, e, b, m (from the proxy's ``describe()``). Tables keep numbers numeric for CSV; :func:`display` turns
``x``, ``x_lo``, ``x_hi`` into ``"x [lo, hi]"`` strings for Markdown, LaTeX and HTML.

A row whose Kendall tau cannot be read as a finding carries a :func:`caveat` (the one rule, used by
the tables, the figures and the pages): its 95% CI is wider than :data:`MAX_CI_WIDTH` ("wide": too
few archs to rank the proxy, a check of the machinery rather than a measurement), or spans zero
("zero": no agreement beyond chance), or is missing ("none"). Tables hold it in the ``caveat``
column (empty when the row is readable); :func:`display` turns it into a mark after the proxy's
name, explained by :func:`footnotes`.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from nb201.catalog import SPECS, dataset_rank

from .caveats import CAVEATS, MAX_CI_WIDTH, caveat  # noqa: F401  (re-exported: the one rule)
WITH_CI = ("kendall_tau", "spearman", "retrieval_top10")
HEADERS = {
    "dataset": "dataset", "proxy": "proxy", "label": "proxy", "kind": "kind", "n": "n",
    "seeds": "seeds", "kendall_tau": "Kendall tau [95% CI]", "spearman": "Spearman [95% CI]",
    "pearson": "Pearson", "retrieval_top10": "top-10% retrieval [95% CI]",
    "nan_scores": "non-finite", "seconds_per_arch": "s/arch", "total_seconds": "total s",
    "cost_s": "est. s/arch", "source": "data source", "device": "device",
    "channels": "channels", "resolution": "resolution", "samples": "train samples",
    "e": "epochs", "m": "read at epoch", "b": "batch", "variant": "recipe variant",
    "vs_best": "tau - best's [95% CI]", "verdict": "vs best", "full_space": "full space (all archs)",
    "published": "published [source]", "origin": "rows from",
}


def caveats(frame: pd.DataFrame) -> pd.Series:
    """:func:`caveat` of every row of a frame with ``kendall_tau_lo`` and ``kendall_tau_hi``."""
    pairs = zip(frame["kendall_tau_lo"], frame["kendall_tau_hi"])
    return pd.Series([caveat(lo, hi) for lo, hi in pairs], index=frame.index, dtype=object)


def footnotes(table: pd.DataFrame) -> list[str]:
    """One footnote per caveat in a table with ``caveat`` and ``n`` columns, e.g.
    ``"† n=16: too few archs to rank this proxy: ..."``."""
    if "caveat" not in table.columns:
        return []
    out = []
    for code, (mark, _, text) in CAVEATS.items():
        ns = sorted({int(n) for n in table.loc[table["caveat"] == code, "n"]})
        if ns:
            out.append(f"{mark} " + text.format(n=", ".join(map(str, ns))))
    return out


def _sorted(frame: pd.DataFrame, by: list[str], ascending: list[bool]) -> pd.DataFrame:
    out = frame.assign(_d=frame["dataset"].map(dataset_rank))
    return out.sort_values(["_d", *by], ascending=[True, *ascending],
                           na_position="last", kind="stable").drop(columns="_d")


def _ci_columns(metrics: tuple[str, ...]) -> list[str]:
    return [c for m in metrics for c in (m, f"{m}_lo", f"{m}_hi")]


def _with_caveats(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(caveat=caveats(frame))


def main_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every result (the report's table ``all``): per proxy and dataset, n, Kendall tau, Spearman
    and top-10% retrieval with CIs, the non-finite count, measured seconds per arch, data source,
    device and where the rows come from; best tau first."""
    cols = ["dataset", "label", "kind", "n", "seeds", *_ci_columns(WITH_CI), "pearson",
            "nan_scores", "seconds_per_arch", "source", "device", "origin", "caveat"]
    return _sorted(_with_caveats(frame), ["kendall_tau"], [False])[cols].reset_index(drop=True)


def factor_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Training proxies only: the reduced setting in plain units next to its rank consistency; a
    ``variant`` column (optimizer, lr, cells, ...: what else differs from NB201's recipe) when any
    row has one."""
    train = frame[frame["kind"] == "training"].dropna(subset=["c"])
    if train.empty:
        return pd.DataFrame()
    native = train["dataset"].map({d: s.resolution for d, s in SPECS.items()}).fillna(32)
    width = train["width"] if "width" in train else 16 // train["c"]
    variant = train["variant"].fillna("") if "variant" in train else pd.Series("", train.index)
    train = train.assign(channels=width.fillna(16 // train["c"]).astype(int), variant=variant,
                         resolution=(native // train["r"]).astype(int),
                         samples=[f"1/{int(s)}" if s > 1 else "all" for s in train["s"]],
                         e=train["e"].astype(int), m=train["m"].astype(int), b=train["b"].astype(int))
    cols = ["dataset", "label", "channels", "resolution", "samples", "e", "m", "b",
            *(["variant"] if variant.astype(bool).any() else []), "n",
            *_ci_columns(WITH_CI), "seconds_per_arch", "origin", "caveat"]
    return _sorted(_with_caveats(train), ["c", "r", "s", "e", "m"], [True] * 5)[cols].reset_index(drop=True)


def cost_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Measured cost per arch (and the proxy's own estimate) next to its Kendall tau; cheapest first."""
    cols = ["dataset", "label", "kind", "device", "n", "seconds_per_arch", "cost_s",
            "total_seconds", "kendall_tau", "caveat"]
    return _sorted(_with_caveats(frame), ["seconds_per_arch"], [True])[cols].reset_index(drop=True)


# ------------------------------------------------------------------ formatting

def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _seconds(x) -> str:
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def shown_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` that :func:`display` shows, in order (before renaming): all but
    ``caveat`` and the ``_lo``/``_hi`` bounds, which go into their metric's cell."""
    return [c for c in table.columns
            if c != "caveat" and not (c.endswith(("_lo", "_hi")) and c[:-3] in table.columns)]


def display(table: pd.DataFrame) -> pd.DataFrame:
    """Strings for reading: metrics with their CI as ``x [lo, hi]``, seconds in 3 significant
    digits, missing values as an en dash; column names in words. The ``caveat`` column becomes
    its mark after the proxy's label (see :func:`footnotes`)."""
    out = pd.DataFrame(index=table.index)
    for col in shown_columns(table):
        values = table[col]
        if f"{col}_lo" in table.columns:
            out[col] = [f"{_num(v)} [{_num(lo, 2)}, {_num(hi, 2)}]" if _num(lo) != "–" else _num(v)
                        for v, lo, hi in zip(values, table[f"{col}_lo"], table[f"{col}_hi"])]
        elif col in ("seconds_per_arch", "total_seconds", "cost_s"):
            out[col] = [_seconds(v) for v in values]
        else:
            out[col] = [_num(v) for v in values]
    if "caveat" in table.columns and "label" in out.columns:
        out["label"] = [f"{label} {CAVEATS[c][0]}" if c else label
                        for label, c in zip(out["label"], table["caveat"])]
    return out.rename(columns=lambda c: HEADERS.get(c, c))


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a display frame."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    head = "| " + " | ".join(cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(x) for x in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "–": "--", "†": r"\dag{}", "‡": r"\ddag{}",
                  "§": r"\S{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, caption: str, label: str, notes=()) -> str:
    """A booktabs ``table`` environment of a display frame, ``notes`` under the tabular."""
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
             r"\begin{tabular}{" + "l" * len(table.columns) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(x) for x in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + latex_escape(note) for note in notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, stem: Path, caption: str) -> dict[str, Path]:
    """``stem``.csv (numbers and the ``caveat`` column), .md and .tex (display strings, marks and
    their footnotes); returns the paths by format."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    shown, notes = display(table), footnotes(table)
    paths = {fmt: stem.with_suffix(f".{fmt}") for fmt in ("csv", "md", "tex")}
    table.to_csv(paths["csv"], index=False)
    paths["md"].write_text(to_markdown(shown) + "".join(f"\n{n}\n" for n in notes), encoding="utf-8")
    paths["tex"].write_text(to_latex(shown, caption, f"tab:{stem.name}", notes), encoding="utf-8")
    return paths
