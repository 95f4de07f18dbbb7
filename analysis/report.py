"""The report: what ``analysis.results`` collected from the results store for a set of proxies,
written as tables (Markdown, LaTeX, CSV), figures (PNG, PDF) and one self-contained HTML page plus
a Markdown page (rendered by ``analysis.pages``), with the stored searches (``analysis.search``).

What is reported is a list of :class:`nb201.store.Selection` (proxy name as the registry
knows it, dataset, optionally the data source, arch indices and seeds). An experiment passes its
own list (the CLI builds the :class:`ReportSpec`); without one, every proxy whose stored rows the
registry can resolve (its store name and current version) is reported on every arch and seed
stored. Reading stored outcomes into scores and metrics is ``analysis.results``'s; this module
owns the figure and table specs, their captions, the provenance and the files written. It reads
the store and the proxy interface only: no training, proxies or orchestration code.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nb201 import groundtruth as gt
from nb201.api import KINDS
from nb201.catalog import DEFAULT_TRUTH, dataset_rank
from nb201.commands import command_line
from nb201.errors import UserError
from nb201.files import unwritable
from nb201.ranking import orient
from nb201.registry import Registry
from nb201.store import FindResults, SearchRuns, Selection

from . import (comparison, figures, finder, fullspace, learned, origins, pages, published,
               search, tables)
from .results import ProxyResult, collect, metrics_frame, stored_selections

MAX_MAIN = 6


@dataclass(frozen=True)
class ReportSpec:
    """What to report and the context printed with it."""

    title: str = "NAS-Bench-201 proxy benchmark"
    selections: tuple[Selection, ...] | None = None
    truth: str = DEFAULT_TRUTH
    main: tuple[str, ...] = ()
    description: str = ""
    commands: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()  # (proxy, dataset, reason)
    #: the experiment's groups: (name, datasets, archs, seeds, proxies, description) strings
    #: (``analysis.pages.DESIGN_COLUMNS``)
    design: tuple[tuple[str, ...], ...] = ()
    #: stored searches to report, (digest, seed, runs, command); None: every stored search
    searches: tuple[tuple[str, int, int, str], ...] | None = None
    #: learning-curve rows of learned proxies (``benchmark.learn.curve_rows``), reported by
    #: ``analysis.learned``
    learned: tuple[dict, ...] = ()
    #: stored finder results to report, (digest, command); None: every stored one
    finds: tuple[tuple[str, str], ...] | None = None
    #: other experiments whose selections are reported too (not computed by this run):
    #: (experiment name, its (proxy, dataset) pairs)
    included: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    #: report parts of other experiment sections (:class:`ReportPart`), after the built-in ones
    parts: tuple = ()


def _skip_notes(skipped) -> list[str]:
    """One note per (dataset, reason), naming its proxies."""
    by_reason: dict[tuple[str, str], list[str]] = {}
    for proxy, dataset, why in skipped:
        by_reason.setdefault((dataset, why), []).append(proxy)
    return [f"skipped on {d}: {', '.join(ps)} ({why})" for (d, why), ps in by_reason.items()]


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
    """One heatmap, or one per kind of proxy when there are more than
    ``figures.MAX_HEATMAP`` (each with the truth)."""
    if len(rs) < 2:
        return None

    def heatmap(chosen):
        vectors = {r.label: (r.indices, _oriented(r)) for r in chosen}
        every = np.unique(np.concatenate([r.indices for r in chosen]))
        vectors["truth"] = (every, gt.vector(chosen[0].dataset, spec.truth)[every])
        return figures.correlation_matrix(figures.tau_matrix(vectors))

    if len(rs) <= figures.MAX_HEATMAP:
        return heatmap(rs)
    kinds = {kind: [r for r in rs if r.proxy.kind == kind] for kind in KINDS}
    return {kind: heatmap(chosen) for kind, chosen in kinds.items() if len(chosen) >= 2}


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
               "Kendall tau (95% bootstrap CI) against each EcoNAS reduction factor; each line "
               "varies one factor and holds the others fixed (legend, with the sample size n of "
               "its points and, for rows read from a results pack, the pack: the shipped study's "
               "lines next to this run's). Panel m reads one schedule's curve after m epochs.",
               "training proxies that differ in exactly one reduction factor",
               lambda rs, frame, spec: figures.factor_sweeps(frame)),
    FigureSpec("b", "same-iterations", "Same iterations: samples against epochs",
               "At the same number of iterations (epochs x share of the samples), more samples and "
               "fewer epochs against fewer samples and more epochs (whole cosine schedules); each "
               "point labelled with its sample divisor s and epochs e, n in the legend.",
               "whole-schedule training proxies with the same iterations and different sample "
               "shares",
               lambda rs, frame, spec: figures.same_iterations(frame)),
    FigureSpec("c", "cost", "Cost against fidelity",
               "Measured seconds per arch (log scale) against Kendall tau (95% CI) with the Pareto "
               "front (bold labels); every point labelled, n per kind in the legend. A training "
               "proxy read at @m is charged m epochs at its run's seconds per trained epoch; "
               "proxies read from NB201's table are left out (their cost here is a lookup).",
               "proxies with measured cost", lambda rs, frame, spec: figures.cost_vs_tau(frame)),
    FigureSpec("d", "score-vs-truth", "Score against true accuracy",
               "Raw score of the main proxies against the true accuracy (non-finite scores "
               "omitted).",
               "scored proxies", _fig_d),
    FigureSpec("e", "retrieval", "Retrieval against k",
               "Share of the true top k% found in the proxy's top k%, k from 1% to 50%, for the "
               "main proxies, each on its own archs (n in the legend) with a 95% bootstrap band; "
               "the dashed line is the expectation of random scores.",
               "scored proxies", _fig_e),
    FigureSpec("f", "correlation", "Correlation between proxies",
               "Kendall tau between proxies (oriented: higher is better) and the truth, each pair "
               "on the archs both were scored on; one heatmap per kind of proxy when there are "
               "more than 16.",
               "at least two proxies on one dataset", _fig_f),
)


def _figures(results, frame, spec, out: Path, files: dict) -> list[dict]:
    """Every figure for every dataset with its data; an entry per figure (no images: skipped)."""
    datasets = sorted({r.dataset for r in results}, key=dataset_rank)
    made = []
    for fig_spec in FIGURES:
        images = []
        for ds in datasets:
            built = fig_spec.build([r for r in results if r.dataset == ds],
                                   frame[frame["dataset"] == ds], spec)
            if built is None:
                continue
            # one figure per dataset, or several (name -> figure: one heatmap per kind in (f))
            named = {ds: built} if not isinstance(built, dict) else \
                {f"{ds}-{part}": fig for part, fig in built.items() if fig is not None}
            for name, fig in named.items():
                paths = figures.save(fig, out / "figures" / f"{fig_spec.key}-{fig_spec.stem}-{name}")
                files.update({f"figure_{fig_spec.key}_{name}_{fmt}": p for fmt, p in paths.items()})
                images.append((name, paths))
        made.append((fig_spec, images))
    return made


#: (file stem, builder(metrics frame) -> DataFrame, caption); the main table (``main``,
#: :mod:`analysis.comparison`) comes before these
TABLES = (
    ("all", tables.main_table, "Every result on all of its archs: Kendall tau, Spearman and "
     "top-10% retrieval with 95% bootstrap CIs, sample size n, non-finite scores (ranked last), "
     "measured seconds per arch (summed over seeds) and where the rows come from (this store or "
     "a results pack). Results on different samples are not comparable with each other: the main "
     "table compares proxies on shared samples."),
    ("factors", tables.factor_table, "Reduction factors: each training proxy's setting in plain "
     "units (channels of the first stage, input resolution, share of the training split, epochs of "
     "the cosine schedule, epoch read, batch) and its rank consistency."),
    ("cost", tables.cost_table, "Cost per arch: measured seconds (a training proxy read at @m is "
     "charged m epochs at its run's seconds per trained epoch) next to the proxy's own estimate "
     "for a 2-core CPU."),
)

SEARCH_CAPTION = ("Searches: per strategy and fitness, the truth of the arch each run returns at "
                  "the end of its budget (mean, sample std and standard error over runs), the mean "
                  "truth at a quarter of the budget (and its standard error), how many runs came "
                  f"within {search.WITHIN:g} points of the dataset's optimum at any point (and how "
                  "many ended within them), the median charged "
                  "cost at which they did (over all runs: unreached runs count as infinite, so '–' "
                  "when fewer than half reached) and the mean over the runs that did, with its "
                  "standard error, and the mean number of fitness queries.")
SEARCH_FIGURE = FigureSpec(
    "g", "search", "Search: truth of the answer against charged cost",
    "Truth of the arch each search would return after each query, against the cost charged so "
    "far (log scale): mean over runs with a standard-error band; the dashed line is the dataset's "
    f"optimum, the dotted one {search.WITHIN:g} points below it.", "stored searches",
    lambda rs, frame, spec: None)
FINDER_FIGURE = FigureSpec(
    "h", "finder", "Proxy finder: fidelity against cost per arch",
    "Each finder run's candidates: fidelity (95% bootstrap CI on the archs each was read on) "
    "against charged seconds per arch (log scale). Filled: never dominated (the black steps join "
    "the point-estimate Pareto front); hollow grey: dropped, with the round (docs/FINDER.md).",
    "stored finder results", lambda rs, frame, spec: None)
LEARNED_FIGURE = FigureSpec(
    "i", "learned", "Learned proxies: learning curves", learned.FIGURE,
    "learning curves", lambda rs, frame, spec: None)


@dataclass(frozen=True)
class ReportPart:
    """A table and a figure that an experiment section adds to the report: the table's file stem
    and caption, the figure, ``build(store, spec, out)`` -> (table or None, images [(name,
    paths)], notes, (dataset, label, command) rows) and ``file_key(k, name)``: how the k-th image
    is named among the written files."""

    stem: str
    caption: str
    figure: FigureSpec
    build: Callable
    file_key: Callable = lambda k, name: name


def _found(store, spec: ReportSpec, out: Path):
    wanted = None if spec.finds is None else [d for d, _ in spec.finds]
    return finder.report_parts(FindResults(store).get(wanted), dict(spec.finds or ()), out)


#: the sections' parts of every report, in the report's order (that of their figures' letters)
PARTS = (
    ReportPart("search", SEARCH_CAPTION, SEARCH_FIGURE, lambda store, spec, out:
               search.report_parts(SearchRuns(store).frame(), spec.searches, out)),
    ReportPart("finder", finder.CAPTION, FINDER_FIGURE, _found, lambda k, name: str(k)),
    ReportPart("learned", learned.CAPTION, LEARNED_FIGURE, lambda store, spec, out:
               (*learned.report_parts(spec.learned, out), [])),
)


# ------------------------------------------------------------------ provenance and writing

def _included_notes(spec: ReportSpec, results: list[ProxyResult], notes: list[str]) -> list[str]:
    """``notes``, where an included experiment has no result at all: one note for it instead of
    one per proxy (e.g. a clone without the study's results pack)."""
    out = list(notes)
    for name, pairs in spec.included:
        if any((r.proxy.name, r.dataset) in set(pairs) for r in results):
            continue
        mine = {f"{p} on {d}: no stored results" for p, d in pairs}
        out = [n for n in out if n not in mine]
        out.append(f"{name} (included for the report): none of its {len(pairs)} results is stored "
                   "or shipped (no results pack of it in data/results/); "
                   f"`{command_line('run', name)}` computes them")
    return out


def _commands(results: list[ProxyResult]) -> pd.DataFrame:
    return pd.DataFrame([(r.dataset, r.label, r.command) for r in results if r.command],
                        columns=["dataset", "proxy", "command"])


def check_out_dir(out_dir) -> Path:
    """Raise UserError if the report's folder cannot be written into (checked before anything is
    computed; nothing is created: :func:`nb201.files.unwritable`)."""
    out = Path(out_dir)
    why = unwritable(out)
    if why:
        raise UserError(f"cannot write the report into {out}: {why}")
    return out


def write_report(registry: Registry, store, out_dir, spec: ReportSpec | None = None,
                 n_boot: int = 1000) -> dict[str, Path]:
    """Write the report of ``store`` (a ``nb201.store.Store``) under ``out_dir``.

    What is reported: ``spec`` if given, else every proxy in the store that ``registry`` resolves.
    Every file is written into a temporary folder inside ``out_dir`` first and renamed into place
    once all are written, so a report that cannot be written (a full disk) is a one-line
    UserError that leaves the files there as they were. Returns the written files by name:
    "html", "md", "json", "table_<stem>_<fmt>", "figure_<key>_<dataset>_<fmt>"."""
    spec = spec or ReportSpec(commands=(command_line("report", results=store.path, out=out_dir),))
    out = check_out_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".report-", dir=out) as staging:
            files = _write(registry, store, Path(staging), spec, n_boot)
            written = sorted(p for p in Path(staging).rglob("*") if p.is_file())
            for folder in {out / p.parent.relative_to(staging) for p in written}:
                folder.mkdir(parents=True, exist_ok=True)
            for path in written:
                os.replace(path, out / path.relative_to(staging))
    except Exception as err:
        failed = _os_error(err)
        if failed is None:
            raise
        raise UserError(f"cannot write the report into {out}: {failed.strerror or failed}; the "
                        "files there were left as they were") from None
    return {name: out / path.relative_to(staging) for name, path in files.items()}


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: itself, or the one it was raised while handling (matplotlib's
    PDF writer fails with an AttributeError while cleaning up after a full disk)."""
    while err is not None and not isinstance(err, OSError):
        err = err.__context__
    return err


def _write(registry: Registry, store, out: Path, spec: ReportSpec, n_boot: int
           ) -> dict[str, Path]:
    """Write every file of the report under ``out``; returns them by name."""
    frame = store.frame()
    notes = _skip_notes(spec.skipped)
    unreported: list[str] = []
    selections = spec.selections
    if selections is None:
        selections, stored_notes, unreported = stored_selections(registry, frame)
        notes += stored_notes
    results, collect_notes = collect(registry, frame, selections, spec.truth, n_boot)
    notes += _included_notes(spec, results, collect_notes)
    metrics = metrics_frame(results)
    files: dict[str, Path] = {}
    table_parts = []
    blocks = comparison.blocks(registry, frame, results, spec.truth, n_boot)
    main = comparison.main_table(blocks, n_boot, fullspace.FullSpace(registry, results, spec.truth))
    main_caption = comparison.caption(blocks) + published.sources_note(main)
    if main.empty:
        table_parts.append(("main", main_caption, None))
    else:
        paths = tables.write_table(main, out / "tables" / "main", main_caption)
        files.update({f"table_main_{fmt}": p for fmt, p in paths.items()})
        table_parts.append(("main", main_caption, main))
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
    prov = origins.provenance(results, spec.truth, store.path, n_boot)
    sources = sorted({r.source for r in results})
    commands = _commands(results)
    sections_shown = False
    for part in (*PARTS, *spec.parts):
        table, images, part_notes, part_commands = part.build(store, spec, out)
        if table is None:
            continue
        sections_shown = True
        paths = tables.write_table(table, out / "tables" / part.stem, part.caption)
        files.update({f"table_{part.stem}_{fmt}": p for fmt, p in paths.items()})
        table_parts.append((part.stem, part.caption, table))
        figure_parts.append((part.figure, images))
        files.update({f"figure_{part.figure.key}_{part.file_key(k, name)}_{fmt}": p
                      for k, (name, paths) in enumerate(images) for fmt, p in paths.items()})
        notes += part_notes
        if part_commands:
            commands = pd.concat(
                [commands, pd.DataFrame(part_commands, columns=commands.columns)],
                ignore_index=True)
    if not results and not sections_shown:
        notes.append(f"the store {store.path} holds no results to report")
    parts = pages.Parts(spec, prov, sources, table_parts, figure_parts, notes, commands,
                        origins.origins(results, store), tuple(unreported))
    files["html"] = out / "report.html"
    files["html"].write_text(pages.render_html(parts), encoding="utf-8")
    files["md"] = out / "report.md"
    files["md"].write_text(pages.render_markdown(parts), encoding="utf-8")
    files["json"] = out / "report.json"
    rows = metrics.replace({np.nan: None}).to_dict(orient="records") if results else []
    main_rows = main.replace({np.nan: None}).to_dict(orient="records") if not main.empty else []
    files["json"].write_text(json.dumps({"title": spec.title, "truth": spec.truth,
                                         "provenance": dict(prov), "main": main_rows,
                                         "results": rows, "notes": notes,
                                         "unreported": unreported},
                                        indent=1, default=str), encoding="utf-8")
    return files
