"""The report's two pages, rendered from what ``analysis.report.write_report`` collected: one
self-contained HTML page (figures inlined as PNG) and a Markdown page linking the figure files.

Both take the same :class:`Parts`: the :class:`~analysis.report.ReportSpec`, provenance rows (key,
value), data sources, tables (stem, caption, DataFrame or None when skipped), figures
(:class:`~analysis.report.FigureSpec`, [(image name, {"png": path, "pdf": path})]), notes, the
per-row commands (a DataFrame: dataset, proxy, command), where the reported rows come from (a
DataFrame, :data:`ORIGIN_COLUMNS`) and the stored proxies that are not reported, with how to
include them.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nb201.catalog import SPECS
from nb201.commands import command_line

from . import tables

#: columns of ``ReportSpec.design``
DESIGN_COLUMNS = ("group", "datasets", "archs", "seeds", "proxies", "description")
#: columns of ``Parts.origins``: one row per origin of reported rows (this store, each pack)
ORIGIN_COLUMNS = ("rows from", "computed on", "commit", "written", "results", "proxies")
ORIGINS_TEXT = ("Every reported result names where its rows were read (the tables' 'rows from' "
                "column): this store, computed by this suite on the machine below, or a results "
                "pack shipped in data/results/ (or $NB201_PACKS), computed elsewhere and read as "
                "if stored, never recomputed.")


@dataclass(frozen=True)
class Parts:
    """Everything the two pages show."""

    spec: object
    prov: list
    sources: list
    table_parts: list
    figure_parts: list
    notes: list
    commands: pd.DataFrame
    origins: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORIGIN_COLUMNS))
    unreported: tuple[str, ...] = ()

SOURCE_NOTES = {
    **{spec.embedded.source: spec.embedded.note for spec in SPECS.values() if spec.embedded},
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


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}main{max-width:1200px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.7em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ddd;
padding:.25em .55em;text-align:left;vertical-align:top}th{background:#f0f3f7}
tr:nth-child(even) td{background:#fbfbfb}figure{margin:1em 0}img{max-width:100%;height:auto;
border:1px solid #eee}figcaption,.caption{font-size:.9em;color:#555}.skipped{color:#a05a00}
#table-main td,#table-all td,#table-cost td,#table-factors td{white-space:nowrap}
#table-main,#table-all{font-size:.8em}#table-main td,#table-main th,#table-all td,
#table-all th{padding:.25em .4em}#table-main td.wrap,#table-all td.wrap,#table-all td.ci,
#table-main td.ci,#table-cost td.wrap,#table-factors td.wrap,
#table-factors td.ci{white-space:normal}td.ci span,td.wrap span{white-space:nowrap}
tr.caveat td{color:#9a9a9a}.footnote{font-size:.85em;color:#666;margin:.2em 0}
#summary{background:#f4f6f9;border-left:4px solid #8aa1bf;padding:.6em .9em}
pre{background:#f5f5f5;padding:.7em;overflow-x:auto}.scroll{overflow-x:auto}code{font-size:.9em}"""


#: columns of the HTML tables whose cells may wrap at their spaces (the others stay on one line,
#: and a metric's cell wraps only between its value and its CI), so that wide tables fit the page
WRAP = ("label", "device", "published", "full_space", "origin")
_MARKS = tuple(f" {mark}" for mark, _, _ in tables.CAVEATS.values())


def _cell(text: str, column: str, table: pd.DataFrame) -> str:
    """One ``<td>`` of an HTML table: a metric as ``value <span>[lo, hi]</span>`` (class ``ci``),
    a wrapping column (class ``wrap``) as a span per word, its caveat mark kept with the last."""
    e = html.escape
    if f"{column}_lo" in table.columns and " [" in text:
        value, ci = text.split(" [", 1)
        return f'<td class="ci">{e(value)} <span>[{e(ci)}</span></td>'
    if column in WRAP:   # at spaces only (not at a name's hyphens), the mark with its word
        words = text[:-2] + "\u00a0" + text[-1] if text.endswith(_MARKS) else text
        return '<td class="wrap">' + " ".join(f"<span>{e(w)}</span>" for w in words.split(" ")) \
            + "</td>"
    return f"<td>{e(text)}</td>"


def _html_table(table: pd.DataFrame, table_id: str) -> str:
    """The display strings of ``table``; a row with a caveat is muted (class ``caveat``) and its
    mark explained in a footnote under the table."""
    e = html.escape
    shown = tables.display(table)
    columns = tables.shown_columns(table)
    marks = table["caveat"] if "caveat" in table.columns else pd.Series("", index=table.index)
    head = "".join(f"<th>{e(str(c))}</th>" for c in shown.columns)
    rows = "".join((f'<tr class="caveat caveat-{mark}">' if mark else "<tr>")
                   + "".join(_cell(str(x), c, table) for x, c in zip(row, columns)) + "</tr>"
                   for mark, row in zip(marks, shown.itertuples(index=False)))
    notes = "".join(f'<p class="footnote">{e(n)}</p>' for n in tables.footnotes(table))
    return (f'<div class="scroll"><table id="{e(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>{notes}")


def summary(table_parts) -> str:
    """Which results (the table of every result, ``all``) are measurements and which only exercise
    the machinery (their Kendall tau CI is too wide to rank anything), from the rows' caveats; ""
    without results."""
    main = next((t for stem, _, t in table_parts if stem == "all" and t is not None), None)
    if main is None:
        return ""
    several = main["dataset"].nunique() > 1
    names = [f"{label} ({ds})" if several else label for label, ds in zip(main["label"], main["dataset"])]

    def rows(code: str) -> tuple[str, str, str, str]:
        """(how many rows, their names, their sample sizes, their devices)"""
        chosen = (main["caveat"] == code).to_numpy()
        count = int(chosen.sum())
        ns = ", ".join(map(str, sorted({int(n) for n in main.loc[chosen, "n"]})))
        devices = ", ".join(sorted({str(d) for d in main.loc[chosen, "device"]}))
        return (f"{count} row{'s' * (count != 1)}", ", ".join(n for n, c in zip(names, chosen) if c),
                ns, devices)

    width = tables.MAX_CI_WIDTH
    found = {code: rows(code) for code in ("", *tables.CAVEATS)
             if (main["caveat"] == code).any()}
    parts = [f"Measurements ({found[''][0]} of {len(main)}: the 95% CI of Kendall tau is at most "
             f"{width} wide and clear of zero): {found[''][1]}." if "" in found else
             f"No row is a measurement: no Kendall tau has a 95% CI at most {width} wide and clear "
             "of zero."]
    if "zero" in found:
        count, which, ns, _ = found["zero"]
        parts.append(f"Measured, but no rank agreement beyond chance ({count}, n={ns}: the CI spans "
                     f"zero): {which}.")
    if "wide" in found:
        count, which, ns, devices = found["wide"]
        parts.append(f"Machinery checks, not measurements ({count}, n={ns}, run on {devices}): "
                     f"{which}. Their CIs are wider than {width}: they show that the pipeline runs, "
                     "not how well these proxies rank.")
    if "none" in found:
        parts.append(f"No CI at all ({found['none'][0]}: constant or non-finite scores): "
                     f"{found['none'][1]}.")
    marks = "; ".join(f"{tables.CAVEATS[c][0]} {tables.CAVEATS[c][1]}" for c in found if c)
    if marks:
        parts.append(f"Rows that are not measurements are muted and marked in the tables ({marks}) "
                     "and drawn hollow in the figures.")
    return " ".join(parts)


def _png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(parts: Parts) -> str:
    spec, prov, sources, table_parts, figure_parts, notes, commands = (
        parts.spec, parts.prov, parts.sources, parts.table_parts, parts.figure_parts, parts.notes,
        parts.commands)
    e = html.escape
    out = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           f"<title>{e(spec.title)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{e(spec.title)}</h1>"]
    if spec.description:
        out.append(f"<p>{e(spec.description)}</p>")
    if text := summary(table_parts):
        out.append(f'<p id="summary"><strong>What is a measurement here.</strong> {e(text)}</p>')
    if parts.unreported:
        out.append('<div id="unreported" class="skipped"><strong>Stored, but not reported.'
                   '</strong><ul>' + "".join(f"<li>{e(n)}</li>" for n in parts.unreported)
                   + "</ul></div>")
    if not parts.origins.empty:
        out.append(f'<section id="origins"><h2>Where the rows come from</h2><p>{e(ORIGINS_TEXT)}'
                   "</p>" + parts.origins.to_html(index=False, border=0, table_id="table-origins",
                                                  escape=True) + "</section>")
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
    out.append("<pre>" + e("\n".join(spec.commands) or command_line("report")) + "</pre>")
    if not commands.empty:
        out.append("<p>Each row alone (same archs, seeds and stored results):</p>"
                   + commands.to_html(index=False, border=0, table_id="table-commands", escape=True))
    out.append("</section></main></body></html>\n")
    return "\n".join(out)


def render_markdown(parts: Parts) -> str:
    spec, prov, sources, table_parts, figure_parts, notes, commands = (
        parts.spec, parts.prov, parts.sources, parts.table_parts, parts.figure_parts, parts.notes,
        parts.commands)
    out = [f"# {spec.title}", ""]
    if spec.description:
        out += [spec.description, ""]
    if text := summary(table_parts):
        out += [f"**What is a measurement here.** {text}", ""]
    if parts.unreported:
        out += ["**Stored, but not reported.**", "", *(f"- {n}" for n in parts.unreported), ""]
    if not parts.origins.empty:
        out += ["## Where the rows come from", "", ORIGINS_TEXT, "",
                tables.to_markdown(parts.origins.astype(str))]
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
        out += [f"{note}\n" for note in tables.footnotes(table)] if table is not None else []
    out += ["## Figures", ""]
    for fig, images in figure_parts:
        out += [f"### ({fig.key}) {fig.title}", "", fig.caption, ""]
        out += [f"![({fig.key}) {ds}](figures/{paths['png'].name})" for ds, paths in images]
        if not images:
            out.append(f"Skipped: the results hold no {fig.needs}.")
        out.append("")
    out += ["## Skipped and missing", "", *(f"- {n}" for n in notes or ["Nothing was skipped."]), ""]
    out += ["## Commands", "", "```", "\n".join(spec.commands) or command_line("report"), "```", ""]
    if not commands.empty:
        out += [tables.to_markdown(commands.assign(command=[f"`{c}`" for c in commands["command"]]))]
    return "\n".join(out)
