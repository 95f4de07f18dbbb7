"""The report: what the results store holds for a set of proxies, as tables (Markdown, LaTeX, CSV),
figures (PNG, PDF) and one self-contained HTML page plus a Markdown page (rendered by
``analysis.pages``).

What is reported is a list of :class:`nb201.store.Selection` (proxy name as the registry
knows it, dataset, optionally the data source, arch indices and seeds). An experiment passes its
own list (the CLI builds the :class:`ReportSpec`); without one, every proxy whose stored rows the
registry can resolve (its store name and current version) is reported on every arch and seed
stored. Stored outcomes become scores through :func:`nb201.store.read_scores`, as for the
``score`` command: ``c4r4s0e40@20`` reads epoch 20 of the stored ``c4r4s0e40`` curve and set-level
proxies (vote, AZ-NAS) rank within the reported archs. Metrics come from
``analysis.metrics.summarize`` against ``nb201.groundtruth.vector(dataset, truth)``. This
module reads the store and the proxy interface only: no training, proxies or orchestration code.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from nb201 import groundtruth as gt
from nb201.api import Proxy, Registry
from nb201.catalog import dataset_rank
from nb201.errors import UserError
from nb201.provenance import SUITE_VERSION, git_hash
from nb201.ranking import orient
from nb201.store import SearchRuns, Selection, read_scores

from . import figures, pages, search, tables
from .metrics import summarize

TRUTH_NOTE = {"test_200": "NAS-Bench-201 200-epoch test accuracy, mean over seeds",
              "valid_200": "NAS-Bench-201 200-epoch validation accuracy, mean over seeds"}
MAX_MAIN = 6


@dataclass(frozen=True)
class ReportSpec:
    """What to report and the context printed with it."""

    title: str = "NAS-Bench-201 proxy benchmark"
    selections: tuple[Selection, ...] | None = None
    truth: str = "test_200"
    main: tuple[str, ...] = ()
    description: str = ""
    commands: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()  # (proxy, dataset, reason)
    #: the experiment's groups: (name, datasets, archs, seeds, proxies, description) strings
    #: (``analysis.pages.DESIGN_COLUMNS``)
    design: tuple[tuple[str, ...], ...] = ()
    #: stored searches to report, (digest, seed, runs, command); None: every stored search
    searches: tuple[tuple[str, int, int, str], ...] | None = None


def _skip_notes(skipped) -> list[str]:
    """One note per (dataset, reason), naming its proxies."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for proxy, dataset, why in skipped:
        by_reason.setdefault((dataset, why), []).append(proxy)
    return [f"skipped on {d}: {', '.join(ps)} ({why})" for (d, why), ps in by_reason.items()]


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
               "seeds": ",".join(map(str, self.seeds)), "higher_is_better": self.proxy.higher_is_better,
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


# ------------------------------------------------------------------ reading the store

def _stored_selections(registry: Registry, frame: pd.DataFrame
                       ) -> tuple[list[Selection], list[str]]:
    """Every (store name, dataset) whose name resolves to a proxy with that store name and whose
    rows have the proxy's current version; notes for the rest."""
    out, notes = [], []
    for (name, dataset), rows in frame.groupby(["proxy", "dataset"], sort=True):
        try:
            proxy = registry.get(name)
        except UserError:
            notes.append(f"{len(rows)} stored rows of {name} on {dataset} not reported: no proxy of "
                         "that name is registered")
            continue
        stale = int((rows["version"] != proxy.version).sum())
        if stale:
            notes.append(f"{stale} stored rows of {name} on {dataset} from another version than "
                         f"the current v{proxy.version} are ignored")
        if proxy.store_name == name and stale < len(rows):
            out.append(Selection(proxy.name, dataset))
    return out, notes


def _result(proxy: Proxy, sel: Selection, source: str, setting: str, rows: pd.DataFrame, truth: str,
            n_boot: int, notes: list[str]) -> ProxyResult | None:
    per_arch = rows.groupby("arch_index").agg(seconds=("seconds", "sum"), seeds=("seed", "nunique"))
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


def collect(registry: Registry, frame: pd.DataFrame, selections, truth: str = "test_200",
            n_boot: int = 1000) -> tuple[list[ProxyResult], list[str]]:
    """One :class:`ProxyResult` per selection and data source found in ``frame`` (``Store.frame()``),
    and notes on what is missing; proxy names resolve through ``registry``."""
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


# ------------------------------------------------------------------ figures and tables

def _main(results: list[ProxyResult], wanted: tuple[str, ...]) -> list[ProxyResult]:
    chosen = [r for name in wanted for r in results if r.proxy.name == name]
    if chosen:
        return chosen
    ranked = sorted((r for r in results if r.summary["kendall_tau"] is not None),
                    key=lambda r: -r.summary["kendall_tau"])
    return ranked[:MAX_MAIN]


def _oriented(r: ProxyResult) -> np.ndarray:
    return orient(r.scores, r.proxy.higher_is_better)[0]


def _fig_d(rs, frame, spec):
    main = _main(rs, spec.main)
    return figures.score_vs_truth({r.label: (r.scores, r.truth) for r in main},
                                  {r.label: r.summary["kendall_tau"] for r in main},
                                  f"{spec.truth} accuracy (%)")


def _fig_e(rs, frame, spec):
    return figures.retrieval_vs_k({r.label: (_oriented(r), r.truth) for r in _main(rs, spec.main)})


def _fig_f(rs, frame, spec):
    if len(rs) < 2:
        return None
    vectors = {r.label: (r.indices, _oriented(r)) for r in rs}
    every = np.unique(np.concatenate([r.indices for r in rs]))
    vectors["truth"] = (every, gt.vector(rs[0].dataset, spec.truth)[every])
    return figures.correlation_matrix(figures.tau_matrix(vectors))


@dataclass(frozen=True)
class FigureSpec:
    key: str
    stem: str
    title: str
    caption: str
    needs: str          # what is missing when the figure is skipped
    build: Callable     # (results of one dataset, its metrics frame, spec) -> Figure | None


FIGURES = (
    FigureSpec("a", "factors", "Rank consistency against each reduction factor",
               "Kendall tau (95% bootstrap CI) against each EcoNAS reduction factor; each line varies "
               "one factor and holds the others fixed (legend). Panel m reads one schedule's curve "
               "after m epochs.",
               "training proxies that differ in exactly one reduction factor",
               lambda rs, frame, spec: figures.factor_sweeps(frame)),
    FigureSpec("b", "same-iterations", "Same iterations: samples against epochs",
               "At the same number of iterations (epochs x share of the samples), more samples and "
               "fewer epochs against fewer samples and more epochs (whole cosine schedules).",
               "whole-schedule training proxies with the same iterations and different sample shares",
               lambda rs, frame, spec: figures.same_iterations(frame)),
    FigureSpec("c", "cost", "Cost against fidelity",
               "Measured seconds per arch (log scale) against Kendall tau with the Pareto front. A "
               "training proxy read at @m is charged m epochs at its run's seconds per trained "
               "epoch; proxies read from "
               "NB201's table are left out (their cost here is a lookup).",
               "proxies with measured cost", lambda rs, frame, spec: figures.cost_vs_tau(frame)),
    FigureSpec("d", "score-vs-truth", "Score against true accuracy",
               "Raw score of the main proxies against the true accuracy (non-finite scores omitted).",
               "scored proxies", _fig_d),
    FigureSpec("e", "retrieval", "Retrieval against k",
               "Share of the true top k% found in the proxy's top k%, k from 1% to 50%, for the main "
               "proxies; the dashed line is the expectation of random scores.",
               "scored proxies", _fig_e),
    FigureSpec("f", "correlation", "Correlation between proxies",
               "Kendall tau between proxies (oriented: higher is better) and the truth, each pair on "
               "the archs both were scored on.",
               "at least two proxies on one dataset", _fig_f),
)


def _figures(results, frame, spec, out: Path, files: dict) -> list[dict]:
    """Every figure for every dataset with its data; an entry per figure (no images: skipped)."""
    datasets = sorted({r.dataset for r in results}, key=dataset_rank)
    made = []
    for fig_spec in FIGURES:
        images = []
        for ds in datasets:
            fig = fig_spec.build([r for r in results if r.dataset == ds],
                                 frame[frame["dataset"] == ds], spec)
            if fig is None:
                continue
            paths = figures.save(fig, out / "figures" / f"{fig_spec.key}-{fig_spec.stem}-{ds}")
            files.update({f"figure_{fig_spec.key}_{ds}_{fmt}": p for fmt, p in paths.items()})
            images.append((ds, paths))
        made.append((fig_spec, images))
    return made


#: (file stem, builder(metrics frame) -> DataFrame, caption)
TABLES = (
    ("main", tables.main_table, "Rank agreement with the truth: Kendall tau, Spearman and top-10% "
     "retrieval with 95% bootstrap CIs, sample size n, non-finite scores (ranked last) and measured "
     "seconds per arch (summed over seeds)."),
    ("factors", tables.factor_table, "Reduction factors: each training proxy's setting in plain units "
     "(channels of the first stage, input resolution, share of the training split, epochs of the "
     "cosine schedule, epoch read, batch) and its rank consistency."),
    ("cost", tables.cost_table, "Cost per arch: measured seconds (a training proxy read at @m is "
     "charged m epochs at its run's seconds per trained epoch) next to the proxy's own estimate for a 2-core CPU."),
)

SEARCH_CAPTION = ("Searches: per strategy and fitness, the truth of the arch each run returns at the "
                  "end of its budget (mean, sample std and standard error over runs), the mean truth "
                  "at a quarter of the budget (and its standard error), how many runs came within 0.5 points of the dataset's "
                  "optimum, the median charged cost at which they did (over all runs: unreached "
                  "runs count as infinite, so '–' when fewer than half reached) and the mean over the "
                  "runs that did, with its standard error, and the mean number of fitness queries.")
SEARCH_FIGURE = FigureSpec(
    "g", "search", "Search: truth of the answer against charged cost",
    "Truth of the arch each search would return after each query, against the cost charged so far "
    "(log scale): mean over runs with a standard-error band; the dashed line is the dataset's "
    "optimum, the dotted one 0.5 points below it.", "stored searches", lambda rs, frame, spec: None)


# ------------------------------------------------------------------ provenance and writing

def _provenance(results: list[ProxyResult], spec: ReportSpec, store_path: Path) -> list[tuple[str, str]]:
    ns = sorted({r.summary["n"] for r in results})
    return [
        ("generated", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("code (git)", git_hash()),
        ("results written by (git)", ", ".join(sorted({g for r in results for g in r.gits})) or "–"),
        ("suite version", SUITE_VERSION),
        ("results store", str(store_path)),
        ("truth", f"{spec.truth}: {TRUTH_NOTE.get(spec.truth, spec.truth)} "
                  "(data/nb201_groundtruth.csv.gz)"),
        ("datasets", ", ".join(sorted({r.dataset for r in results}, key=dataset_rank)) or "–"),
        ("sample sizes (archs)", ", ".join(map(str, ns)) or "–"),
        ("seeds", ", ".join(sorted({",".join(map(str, r.seeds)) for r in results})) or "–"),
        ("devices", ", ".join(sorted({d for r in results for d in r.devices})) or "–"),
        ("bootstrap", "1,000 resamples of the (score, truth) pairs, percentile 95% intervals"),
    ]


def _commands(results: list[ProxyResult]) -> pd.DataFrame:
    return pd.DataFrame([(r.dataset, r.label, r.command) for r in results if r.command],
                        columns=["dataset", "proxy", "command"])


def check_out_dir(out_dir) -> Path:
    """Create the report's folder, or raise UserError if it cannot be written into (checked
    before anything is computed)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise UserError(f"cannot write the report into {out}: {err.strerror or err}") from None
    return out


def write_report(registry: Registry, store, out_dir, spec: ReportSpec | None = None,
                 n_boot: int = 1000) -> dict[str, Path]:
    """Write the report of ``store`` (a ``nb201.store.Store``) under ``out_dir``.

    What is reported: ``spec`` if given, else every proxy in the store that ``registry`` resolves.
    Returns the written files by name: "html", "md", "json", "table_<stem>_<fmt>",
    "figure_<key>_<dataset>_<fmt>"."""
    spec = spec or ReportSpec(commands=(f"python -m benchmark report --results {store.path} "
                                        f"--out {out_dir}",))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = store.frame()
    notes = _skip_notes(spec.skipped)
    selections = spec.selections
    if selections is None:
        selections, stored_notes = _stored_selections(registry, frame)
        notes += stored_notes
    results, collect_notes = collect(registry, frame, selections, spec.truth, n_boot)
    notes += collect_notes
    metrics = metrics_frame(results)
    files: dict[str, Path] = {}
    table_parts = []
    for stem, build, caption in TABLES:
        table = build(metrics) if results else pd.DataFrame()
        if table.empty:
            table_parts.append((stem, caption, None))
            continue
        paths = tables.write_table(table, out / "tables" / stem, caption)
        files.update({f"table_{stem}_{fmt}": p for fmt, p in paths.items()})
        table_parts.append((stem, caption, table))
    figure_parts = _figures(results, metrics, spec, out, files) if results else \
        [(f, []) for f in FIGURES]
    prov = _provenance(results, spec, store.path)
    sources = sorted({r.source for r in results})
    commands = _commands(results)
    searched, images, search_notes, search_commands = search.report_parts(
        SearchRuns(store).frame(), spec.searches, out)
    if searched is not None:
        paths = tables.write_table(searched, out / "tables" / "search", SEARCH_CAPTION)
        files.update({f"table_search_{fmt}": p for fmt, p in paths.items()})
        table_parts.append(("search", SEARCH_CAPTION, searched))
        figure_parts.append((SEARCH_FIGURE, images))
        files.update({f"figure_g_{ds}_{fmt}": p for ds, paths in images for fmt, p in paths.items()})
        notes += search_notes
        if search_commands:
            commands = pd.concat([commands, pd.DataFrame(search_commands, columns=commands.columns)],
                                 ignore_index=True)
    if not results and searched is None:
        notes.append(f"the store {store.path} holds no results to report")
    parts = (spec, prov, sources, table_parts, figure_parts, notes, commands)
    files["html"] = out / "report.html"
    files["html"].write_text(pages.render_html(*parts), encoding="utf-8")
    files["md"] = out / "report.md"
    files["md"].write_text(pages.render_markdown(*parts), encoding="utf-8")
    files["json"] = out / "report.json"
    rows = metrics.replace({np.nan: None}).to_dict(orient="records") if results else []
    files["json"].write_text(json.dumps({"title": spec.title, "truth": spec.truth,
                                         "provenance": dict(prov), "results": rows, "notes": notes},
                                        indent=1, default=str), encoding="utf-8")
    return files
