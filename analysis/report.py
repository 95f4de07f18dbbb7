"""The report: what the results store holds for a set of proxies, as tables (Markdown, LaTeX, CSV),
figures (PNG, PDF) and one self-contained HTML page plus a Markdown page.

What is reported is a list of :class:`Selection` (proxy name as the registry knows it, dataset,
optionally the data source, arch indices and seeds). An experiment passes its own list (see
``benchmark.experiments``); without one, every proxy whose stored rows the registry can resolve
(its store name and current version) is reported on every arch and seed stored. Rows are read
through the proxy (``Proxy.combine``, which defaults to ``Proxy.read`` per arch), so
``c4r4s0e40@20`` reads epoch 20 of the stored ``c4r4s0e40`` curve and set-level proxies (vote,
AZ-NAS) rank within the reported archs, as ``benchmark.runner.score`` does. Scores are averaged over seeds per arch; metrics come from
``analysis.metrics.summarize`` against ``benchmark.groundtruth.vector(dataset, truth)``.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import groundtruth as gt
from benchmark.errors import UserError
from benchmark.provenance import SUITE_VERSION, git_hash
from benchmark.registry import Outcome, Proxy

from . import figures, tables
from .metrics import orient, summarize

TRUTH_NOTE = {"test_200": "NAS-Bench-201 200-epoch test accuracy, mean over seeds",
              "valid_200": "NAS-Bench-201 200-epoch validation accuracy, mean over seeds"}
MAX_MAIN = 6


@dataclass(frozen=True)
class Selection:
    """One proxy on one dataset. None means "whatever is stored" (every source, arch or seed)."""

    proxy: str
    dataset: str
    source: str | None = None
    indices: tuple[int, ...] | None = None
    seeds: tuple[int, ...] | None = None
    command: str | None = None


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
    design: tuple[tuple[str, ...], ...] = ()


DESIGN_COLUMNS = ("group", "datasets", "archs", "seeds", "proxies", "description")


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
        f = tables.factors(self.proxy.name) if self.proxy.kind == "training" else None
        share = 1.0 if f is None else f.train_fraction
        row = {"proxy": self.proxy.name, "label": self.label, "kind": self.proxy.kind,
               "dataset": self.dataset, "source": self.source, "n": s["n"],
               "seeds": ",".join(map(str, self.seeds)), "higher_is_better": self.proxy.higher_is_better,
               "pearson": _nan(s["pearson"]), "nan_scores": s["nan_scores"],
               "seconds_per_arch": float(np.mean(self.seconds)) * share,
               "total_seconds": float(np.sum(self.seconds)), "cost_s": self.proxy.cost_s,
               "device": ", ".join(self.devices), "git": ", ".join(self.gits),
               "command": self.command or ""}
        for m in tables.WITH_CI:
            row[m] = _nan(s[m])
            row[f"{m}_lo"], row[f"{m}_hi"] = (_nan(v) for v in s["ci"][m])
        for k in ("c", "r", "s", "e", "b", "m"):
            row[k] = np.nan if f is None else getattr(f, k)
        return row


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def _registry():
    from proxies import REGISTRY
    return REGISTRY


# ------------------------------------------------------------------ reading the store

def _stored_selections(frame: pd.DataFrame) -> tuple[list[Selection], list[str]]:
    """Every (store name, dataset) whose name resolves to a proxy with that store name and whose
    rows have the proxy's current version; notes for the rest."""
    registry, out, notes = _registry(), [], []
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


def _curve(text) -> list[float] | None:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    return [np.nan if c is None else c for c in json.loads(text)]


def _outcomes(rows: pd.DataFrame) -> list[Outcome]:
    return [Outcome(score=np.nan if pd.isna(s) else float(s), seconds=t, curve=_curve(c))
            for s, t, c in zip(rows["score"], rows["seconds"], rows["curve"])]


def _values(proxy: Proxy, rows: pd.DataFrame) -> pd.DataFrame:
    """Long format (arch_index, seed, value): each seed's archs read together through
    ``Proxy.combine`` (set-level proxies such as vote rank within the reported set)."""
    parts = []
    for seed, sub in rows.groupby("seed", sort=True):
        values = np.asarray(proxy.combine(_outcomes(sub)), dtype=float)
        parts.append(pd.DataFrame({"arch_index": sub["arch_index"].to_numpy(), "seed": seed,
                                   "value": values}))
    return pd.concat(parts, ignore_index=True)


def _result(proxy: Proxy, sel: Selection, source: str, rows: pd.DataFrame, truth: str,
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
    values = _values(proxy, kept).assign(bad=lambda d: d["value"].isna())
    mean = values.groupby("arch_index").agg(value=("value", "mean"), bad=("bad", "any"))
    mean.loc[mean["bad"], "value"] = np.nan  # one non-finite seed makes the mean non-finite
    scores = mean["value"].reindex(indices).to_numpy(float)
    true = gt.vector(sel.dataset, truth)[indices]
    return ProxyResult(proxy, proxy.name, sel.dataset, source, indices, scores, true,
                       tuple(sorted(int(s) for s in kept["seed"].unique())),
                       per_arch["seconds"].to_numpy(float),
                       tuple(sorted(kept["device"].unique())), tuple(sorted(kept["git"].unique())),
                       summarize(scores, true, higher_is_better=proxy.higher_is_better,
                                 n_boot=n_boot),
                       sel.command)


def collect(frame: pd.DataFrame, selections, truth: str = "test_200", n_boot: int = 1000
            ) -> tuple[list[ProxyResult], list[str]]:
    """One :class:`ProxyResult` per selection and data source found in ``frame`` (``Store.frame()``),
    and notes on what is missing."""
    registry, results, notes = _registry(), [], []
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
        if sel.seeds is not None:
            rows = rows[rows["seed"].isin(sel.seeds)]
        if sel.indices is not None:
            rows = rows[rows["arch_index"].isin(sel.indices)]
        found = [r for source, sub in rows.groupby("source", sort=True)
                 if (r := _result(proxy, sel, source, sub, truth, n_boot, notes)) is not None]
        if not found:
            notes.append(f"{proxy.name} on {sel.dataset}: no stored results")
        results += found
    return _unique_labels(results), notes


def _unique_labels(results: list[ProxyResult]) -> list[ProxyResult]:
    """A proxy reported twice on one dataset (two data sources, or two seed sets) is labelled
    with its source and seeds."""
    count: dict[tuple[str, str], int] = {}
    for r in results:
        count[(r.dataset, r.label)] = count.get((r.dataset, r.label), 0) + 1
    return [dataclasses.replace(r, label=f"{r.label} ({r.source}, seeds {','.join(map(str, r.seeds))})")
            if count[(r.dataset, r.label)] > 1 else r for r in results]


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
               "training proxy read at @m is charged m/e of its run's seconds; proxies read from "
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
    datasets = sorted({r.dataset for r in results}, key=tables.dataset_rank)
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
     "charged m/e of its run) next to the proxy's own estimate for a 2-core CPU."),
)

SOURCE_NOTES = {
    "cifar10-jpeg75": "the JPEG (quality 75) copy of CIFAR-10 shipped in data/: lossy, and not in the "
                      "official order, so NB201's train/valid split cannot be applied (training "
                      "proxies use a seeded stratified half/half split of the training set)",
    "nb201-table": "values read from the NAS-Bench-201 table shipped in data/",
    "network": "computed from the NB201 network itself (no images)",
    "none": "no data (seeded random scores)",
}


def source_note(source: str) -> str:
    if source in SOURCE_NOTES:
        return SOURCE_NOTES[source]
    if source.endswith("-official"):
        return "the official dataset files (NB201's splits applied)"
    if source.startswith("imagefolder:"):
        return "an image folder or archive given with --data-dir"
    return "no images read: the proxy's own inputs, as its source name says"


# ------------------------------------------------------------------ pages

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}main{max-width:1200px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.7em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ddd;
padding:.25em .55em;text-align:left;vertical-align:top}th{background:#f0f3f7}
tr:nth-child(even) td{background:#fbfbfb}figure{margin:1em 0}img{max-width:100%;height:auto;
border:1px solid #eee}figcaption,.caption{font-size:.9em;color:#555}.skipped{color:#a05a00}
#table-main td,#table-cost td,#table-factors td{white-space:nowrap}
pre{background:#f5f5f5;padding:.7em;overflow-x:auto}.scroll{overflow-x:auto}code{font-size:.9em}"""


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
        ("datasets", ", ".join(sorted({r.dataset for r in results}, key=tables.dataset_rank)) or "–"),
        ("sample sizes (archs)", ", ".join(map(str, ns)) or "–"),
        ("seeds", ", ".join(sorted({",".join(map(str, r.seeds)) for r in results})) or "–"),
        ("devices", ", ".join(sorted({d for r in results for d in r.devices})) or "–"),
        ("bootstrap", "1,000 resamples of the (score, truth) pairs, percentile 95% intervals"),
    ]


def _commands(results: list[ProxyResult]) -> pd.DataFrame:
    return pd.DataFrame([(r.dataset, r.label, r.command) for r in results if r.command],
                        columns=["dataset", "proxy", "command"])


def _html_table(table: pd.DataFrame, table_id: str) -> str:
    return ('<div class="scroll">' + tables.display(table).to_html(
        index=False, border=0, table_id=table_id, na_rep="–", escape=True) + "</div>")


def _png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _html(spec, prov, sources, table_parts, figure_parts, notes, commands) -> str:
    e = html.escape
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<title>{e(spec.title)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{e(spec.title)}</h1>"]
    if spec.description:
        out.append(f"<p>{e(spec.description)}</p>")
    out.append('<section id="provenance"><h2>Provenance</h2><table id="table-provenance">'
               + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in prov)
               + "</table></section>")
    if spec.design:
        out.append('<section id="design"><h2>Experiment design</h2>' + pd.DataFrame(
            spec.design, columns=DESIGN_COLUMNS).to_html(index=False, border=0, table_id="table-design")
            + "</section>")
    out.append('<section id="sources"><h2>Data sources</h2><ul>'
               + "".join(f"<li><code>{e(s)}</code>: {e(source_note(s))}</li>" for s in sources)
               + "</ul></section>")
    out.append('<section id="tables"><h2>Tables</h2>')
    for stem, caption, table in table_parts:
        out.append(f'<h3 id="h-{stem}">Table: {e(stem)}</h3><p class="caption">{e(caption)}</p>')
        out.append(_html_table(table, f"table-{stem}") if table is not None else
                   f'<p class="skipped" id="table-{stem}-skipped">Skipped: no data for this table.</p>')
        if table is not None:
            out.append(f'<p class="caption">Files: <code>tables/{stem}.csv</code>, '
                       f'<code>tables/{stem}.md</code>, <code>tables/{stem}.tex</code></p>')
    out.append('</section><section id="figures"><h2>Figures</h2>')
    for fig, images in figure_parts:
        out.append(f'<figure id="figure-{fig.key}" data-figure="{fig.key}">'
                   f"<h3>({fig.key}) {e(fig.title)}</h3>")
        for ds, paths in images:
            out.append(f'<img id="figure-{fig.key}-{e(ds)}" alt="figure ({fig.key}) on {e(ds)}" '
                       f'src="data:image/png;base64,{_png(paths["png"])}">'
                       f'<p class="caption">{e(ds)}: <code>figures/{e(paths["png"].name)}</code>, '
                       f'<code>figures/{e(paths["pdf"].name)}</code></p>')
        if not images:
            out.append(f'<p class="skipped" id="figure-{fig.key}-skipped">Skipped: the results hold '
                       f"no {e(fig.needs)}.</p>")
        out.append(f"<figcaption>{e(fig.caption)}</figcaption></figure>")
    out.append('</section><section id="notes"><h2>Skipped and missing</h2>')
    out.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>" if notes
               else "<p>Nothing was skipped.</p>")
    out.append('</section><section id="commands"><h2>Commands</h2>')
    out.append("<pre>" + e("\n".join(spec.commands) or "python -m benchmark report") + "</pre>")
    if not commands.empty:
        out.append("<p>Each row alone (same archs, seeds and stored results):</p>"
                   + commands.to_html(index=False, border=0, table_id="table-commands", escape=True))
    out.append("</section></main></body></html>\n")
    return "\n".join(out)


def _markdown(spec, prov, sources, table_parts, figure_parts, notes, commands) -> str:
    out = [f"# {spec.title}", ""]
    if spec.description:
        out += [spec.description, ""]
    out += ["## Provenance", "", *(f"- **{k}**: {v}" for k, v in prov), ""]
    if spec.design:
        out += ["## Experiment design", "",
                tables.to_markdown(pd.DataFrame(spec.design, columns=DESIGN_COLUMNS))]
    out += ["## Data sources", ""]
    out += [f"- `{s}`: {source_note(s)}" for s in sources] + ["", "## Tables", ""]
    for stem, caption, table in table_parts:
        out += [f"### Table: {stem}", "", caption, ""]
        out += [tables.to_markdown(tables.display(table)) if table is not None else
                "Skipped: no data for this table.", ""]
    out += ["## Figures", ""]
    for fig, images in figure_parts:
        out += [f"### ({fig.key}) {fig.title}", "", fig.caption, ""]
        out += [f"![({fig.key}) {ds}](figures/{paths['png'].name})" for ds, paths in images]
        if not images:
            out.append(f"Skipped: the results hold no {fig.needs}.")
        out.append("")
    out += ["## Skipped and missing", "", *(f"- {n}" for n in notes or ["Nothing was skipped."]), ""]
    out += ["## Commands", "", "```", "\n".join(spec.commands) or "python -m benchmark report", "```", ""]
    if not commands.empty:
        out += [tables.to_markdown(commands.assign(command=[f"`{c}`" for c in commands["command"]]))]
    return "\n".join(out)


def write_report(store, out_dir, experiment=None, *, spec: ReportSpec | None = None,
                 n_boot: int = 1000) -> dict[str, Path]:
    """Write the report of ``store`` (a ``benchmark.store.Store``) under ``out_dir``.

    What is reported: ``spec`` if given; else the experiment (a name, a TOML path or a
    ``benchmark.experiments.Experiment``) on every data source stored; else every proxy in the
    store. Returns the written files by name: "html", "md", "json", "table_<stem>_<fmt>",
    "figure_<key>_<dataset>_<fmt>"."""
    if spec is None and experiment is not None:
        from benchmark.experiments import load_experiment
        spec = load_experiment(experiment).report_spec()
    spec = spec or ReportSpec(commands=(f"python -m benchmark report --results {store.path} "
                                        f"--out {out_dir}",))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = store.frame()
    notes = _skip_notes(spec.skipped)
    selections = spec.selections
    if selections is None:
        selections, stored_notes = _stored_selections(frame)
        notes += stored_notes
    results, collect_notes = collect(frame, selections, spec.truth, n_boot)
    notes += collect_notes
    if not results:
        notes.append(f"the store {store.path} holds no results to report")
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
    parts = (spec, prov, sources, table_parts, figure_parts, notes, commands)
    files["html"] = out / "report.html"
    files["html"].write_text(_html(*parts), encoding="utf-8")
    files["md"] = out / "report.md"
    files["md"].write_text(_markdown(*parts), encoding="utf-8")
    files["json"] = out / "report.json"
    rows = metrics.replace({np.nan: None}).to_dict(orient="records") if results else []
    files["json"].write_text(json.dumps({"title": spec.title, "truth": spec.truth,
                                         "provenance": dict(prov), "results": rows, "notes": notes},
                                        indent=1, default=str), encoding="utf-8")
    return files
