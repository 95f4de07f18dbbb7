"""The report: tables, figures and the HTML/Markdown pages from a store of synthetic and real rows."""
import base64
import io
import json
import math
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from analysis import figures, layout, tables
from analysis.report import FIGURES, ReportSpec, write_report
from analysis.results import collect
from nb201 import groundtruth as gt
from nb201.api import Outcome, Proxy
from nb201.context import Context
from nb201.provenance import git_hash
from benchmark.runner import compute
from nb201.store import Key, Selection, Store
from devtools import DevTools, find_browser
from proxies import REGISTRY

N = 60
INDICES = gt.sample(N, 0)
TABLE_PROXIES = ("params", "flops", "nb201-12ep", "random")
#: synthetic training runs: store name -> (noise of the final score, seconds per arch)
TRAINING = {
    "c4r4s0e4": (4.0, 2.0), "c2r4s0e4": (3.0, 4.0), "c0r4s0e4": (2.5, 8.0),
    "c4r2s0e4": (3.5, 5.0), "c4r0s0e4": (3.0, 12.0),
    "c4r4s2e4": (5.0, 1.0), "c4r4s4e4": (7.0, 0.5),
    "c4r4s0e2": (6.0, 1.0), "c4r4s2e8": (5.0, 2.0), "c4r4s4e16": (6.0, 4.0),
}
SOURCE = "cifar10-jpeg75"
#: a proxy stored on too few archs to rank anything: the report must mark it
FEW, FEW_N = "synflow", 12


def _curves(noise: float, epochs: int, rng) -> dict[int, list[float]]:
    truth = gt.vector("cifar10", "test_200")
    out = {}
    for i in INDICES:
        eps = rng.normal(0, noise, epochs)
        out[i] = [float(truth[i] * (0.5 + 0.5 * (t + 1) / epochs) + eps[t] * (epochs - t) / epochs
                        + eps[-1]) for t in range(epochs)]
    return out


def fill_store(store: Store, seeds=(0,)) -> None:
    for name in TABLE_PROXIES:
        for seed in seeds:
            compute(REGISTRY.get(name), INDICES, Context("cifar10", seed), store, progress=False)
    rng = np.random.default_rng(0)
    for name, (noise, seconds) in TRAINING.items():
        proxy = REGISTRY.get(name)
        epochs = proxy.describe()["factors"]["e"]
        for seed in seeds:
            outcomes = {i: Outcome(c[-1], seconds, c) for i, c in _curves(noise, epochs, rng).items()}
            store.put(Key(proxy.store_name, proxy.version, "cifar10", SOURCE, seed), outcomes,
                      device="cpu", git="synthetic", suite_version="test", run={})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    store = Store(root / "results.sqlite")
    fill_store(store)
    few = REGISTRY.get(FEW)
    scores = np.random.default_rng(1).normal(size=FEW_N)
    store.put(Key(few.store_name, few.version, "cifar10", "none-input", 0),
              {i: Outcome(float(x), 0.05) for i, x in zip(INDICES[:FEW_N], scores)}, device="cpu",
              git="synthetic", suite_version="test", run={})
    names = [*TABLE_PROXIES, *TRAINING, "c4r4s0e4@2", "c4r4s0e4@3", "c0r4s0e4@2", FEW]
    spec = ReportSpec(title="test report", description="synthetic rows",
                      selections=tuple(Selection(n, "cifar10", indices=tuple(INDICES), seeds=(0,),
                                                 command=f"python -m benchmark score --proxy {n}")
                                       for n in names),
                      main=("c4r4s0e4@2", "params", "nb201-12ep"),
                      commands=("python -m benchmark run test",),
                      skipped=(("synflow", "cifar100", "cifar100 is not shipped"),))
    files = write_report(REGISTRY, store, root / "out", spec=spec, n_boot=100)
    return store, files


def _pngs(files) -> list:
    return [p for name, p in files.items() if name.startswith("figure_") and name.endswith("_png")]


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.images, self.tables, self.skipped = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a)
        if tag == "table":
            self.tables.append(a.get("id"))
        if "skipped" in (a.get("class") or "").split():
            self.skipped.append(a.get("id"))


def parse(path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_html_has_every_table_and_figure(report):
    _, files = report
    page = parse(files["html"])
    for table in ("table-main", "table-all", "table-factors", "table-cost", "table-provenance",
                  "table-commands", "table-origins"):
        assert table in page.tables
    for key in (figure.key for figure in FIGURES):
        assert f"figure-{key}" in page.ids
        assert any(i.startswith(f"figure-{key}-cifar10") for i in page.ids), f"({key}) missing"
    assert all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert len(page.images) == len(_pngs(files)) and not page.skipped
    # (f) has more proxies than one heatmap reads: one heatmap per kind with two or more
    assert {i for i in page.ids if i.startswith("figure-f-")} == \
        {"figure-f-cifar10-table", "figure-f-cifar10-training"}
    text = files["html"].read_text()
    assert "skipped on cifar100: synflow (cifar100 is not shipped)" in text
    assert "python -m benchmark run test" in text


def test_files_exist_in_every_format(report):
    _, files = report
    for stem in ("main", "all", "factors", "cost"):
        for fmt in ("csv", "md", "tex"):
            assert files[f"table_{stem}_{fmt}"].stat().st_size > 100
    for key in "abcdef":
        for name in [n for n in files if n.startswith(f"figure_{key}_cifar10")]:
            head = files[name].read_bytes()[:4]
            assert head == (b"\x89PNG" if name.endswith("png") else b"%PDF"), name
    md = files["md"].read_text()
    assert md.count("![(") == len(_pngs(files)) == 7 and "| proxy |" in md
    tex = files["table_all_tex"].read_text()
    assert r"\begin{tabular}" in tex and r"nb201-12ep" in tex and "c4r4s0e4@2" in tex


def test_main_table_numbers_match_metrics(report):
    _, files = report
    main = pd.read_csv(files["table_all_csv"])
    assert set(main["label"]) >= {*TABLE_PROXIES, "c4r4s0e4@2", FEW}
    assert (main["n"] == main["label"].map({FEW: FEW_N}).fillna(N)).all()
    row = main[main["label"] == "nb201-12ep"].iloc[0]
    truth = gt.vector("cifar10", "test_200")[INDICES]
    from analysis.metrics import kendall_tau
    assert row["kendall_tau"] == pytest.approx(kendall_tau(gt.vector("cifar10", "test_12")[INDICES], truth))
    assert row["kendall_tau_lo"] <= row["kendall_tau"] <= row["kendall_tau_hi"]
    assert row["source"] == "nb201-table" and row["device"] == "cpu"
    assert main["kendall_tau"].is_monotonic_decreasing


def test_at_m_reads_the_curve_and_is_charged_m_over_e(report):
    store, files = report
    main = pd.read_csv(files["table_all_csv"]).set_index("label")
    full, half = main.loc["c4r4s0e4"], main.loc["c4r4s0e4@2"]
    assert half["seconds_per_arch"] == pytest.approx(full["seconds_per_arch"] / 2)
    results, _ = collect(REGISTRY, store.frame(), [Selection("c4r4s0e4@2", "cifar10")])
    stored = store.get(Key("c4r4s0e4", REGISTRY.get("c4r4s0e4").version, "cifar10", SOURCE, 0), INDICES)
    expected = {i: stored[i].curve[1] for i in INDICES}
    got = dict(zip(results[0].indices.tolist(), results[0].scores.tolist()))
    assert got == pytest.approx(expected)


def test_factor_table_in_plain_units(report):
    _, files = report
    factors = pd.read_csv(files["table_factors_csv"]).set_index("label")
    assert factors.loc["c4r2s0e4", ["channels", "resolution", "e", "m"]].tolist() == [4, 16, 4, 4]
    assert factors.loc["c4r4s4e16", "samples"] == "1/4"
    assert factors.loc["c4r4s0e4@2", "m"] == 2
    assert "params" not in factors.index


def test_factor_table_names_a_recipe_variant(tmp_path):
    """A training-proxy variant (Adam, lr 0.01, one cell per stage) has its own row, with what it
    changes in the factors table; the plain setting's row says none."""
    store = Store(tmp_path / "r.sqlite")
    rng = np.random.default_rng(1)
    for name in ("adam:lr0.01:n1:w32:c4r4s0e4", "c4r4s0e4"):
        proxy = REGISTRY.get(name)
        outcomes = {i: Outcome(c[-1], 1.0, c) for i, c in _curves(1.0, 4, rng).items()}
        store.put(Key(proxy.store_name, proxy.version, "cifar10", SOURCE, 0), outcomes,
                  device="cpu", git="synthetic", suite_version="test", run={})
    spec = ReportSpec(selections=(Selection("adam:lr0.01:n1:w32:c4r4s0e4", "cifar10"),
                                  Selection("c4r4s0e4", "cifar10")))
    files = write_report(REGISTRY, store, tmp_path / "out", spec, n_boot=50)
    factors = pd.read_csv(files["table_factors_csv"], keep_default_na=False).set_index("label")
    assert factors.loc["adam:lr0.01:n1:w32:c4r4s0e4", ["variant", "channels"]].tolist() == \
        ["adam lr0.01 n1 w32", 8]
    assert factors.loc["c4r4s0e4", ["variant", "channels"]].tolist() == ["", 4]


def test_report_without_spec_reports_everything_resolvable(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    fill_store(store, seeds=(0, 1))
    store.put(Key("no-such-proxy", 1, "cifar10", "x", 0), {0: Outcome(1.0)}, device="cpu", git="g",
              suite_version="t", run={})
    store.put(Key("params", 99, "cifar10", "network", 0), {0: Outcome(1.0)}, device="cpu", git="g",
              suite_version="t", run={})
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=50)
    main = pd.read_csv(files["table_all_csv"])
    assert set(main["label"]) == {*TABLE_PROXIES, *TRAINING}
    assert (main["seeds"] == "0,1").all() and (main["n"] == N).all()
    text = files["html"].read_text()
    assert "no proxy of that name is registered" in text and "another version" in text


def test_empty_store_and_missing_figures_do_not_crash(tmp_path):
    store = Store(tmp_path / "empty.sqlite")
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=10)
    page = parse(files["html"])
    assert {f"figure-{f.key}-skipped" for f in FIGURES} <= set(page.skipped)
    assert "holds no results" in files["html"].read_text()
    # table proxies only: the factor figures (a, b) and table are skipped with a note, the rest drawn
    compute(REGISTRY.get("params"), INDICES, Context("cifar10"), store, progress=False)
    compute(REGISTRY.get("random"), INDICES, Context("cifar10"), store, progress=False)
    files = write_report(REGISTRY, store, tmp_path / "out2", n_boot=10)
    page = parse(files["html"])
    assert set(page.skipped) == {"figure-a-skipped", "figure-b-skipped", "table-factors-skipped"}
    assert "figure-c-cifar10" in page.ids and "figure-f-cifar10" in page.ids
    # a selection of which nothing is stored (an experiment not run yet) is a note, not a crash
    spec = ReportSpec(selections=(Selection("params", "cifar10"), Selection("flops", "cifar10"),
                                  Selection("c4r4s0e4@2", "cifar10")))
    files = write_report(REGISTRY, store, tmp_path / "out3", spec, n_boot=10)
    text = files["md"].read_text()
    assert "flops on cifar10: no stored results" in text
    assert "c4r4s0e4@2 on cifar10: no stored results" in text


def test_nan_scores_rank_last_and_are_counted(tmp_path):
    store = Store(tmp_path / "nan.sqlite")
    proxy = REGISTRY.get("params")
    truth = gt.vector("cifar10", "test_200")
    outcomes = {i: Outcome(math.nan if k < 5 else float(truth[i]), 0.01) for k, i in enumerate(INDICES)}
    store.put(Key("params", proxy.version, "cifar10", "network", 0), outcomes, device="cpu", git="g",
              suite_version="t", run={})
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=10)
    row = pd.read_csv(files["table_all_csv"]).iloc[0]
    assert row["nan_scores"] == 5 and 0.5 < row["kendall_tau"] < 1


def test_bootstrap_text_follows_n_boot(tmp_path):
    store = Store(tmp_path / "boot.sqlite")
    proxy = REGISTRY.get("params")
    store.put(Key("params", proxy.version, "cifar10", "network", 0),
              {i: Outcome(float(k), 0.01) for k, i in enumerate(INDICES)}, device="cpu", git="g",
              suite_version="t", run={})
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=200)
    for name in ("html", "md", "json"):
        text = files[name].read_text(encoding="utf-8")
        assert "200 resamples" in text and "1,000" not in text


def _report_figures(store):
    """Every figure spec of the report built from the fixture's store (figures left open)."""
    from analysis.report import FIGURES
    from analysis.results import metrics_frame
    spec = ReportSpec(main=("c4r4s0e4@2", "params", "nb201-12ep"))
    names = [*TABLE_PROXIES, *TRAINING, "c4r4s0e4@2", "c4r4s0e4@3", "c0r4s0e4@2", FEW]
    results, _ = collect(REGISTRY, store.frame(), [Selection(n, "cifar10") for n in names],
                         n_boot=50)
    frame = metrics_frame(results)
    for fig_spec in FIGURES:
        built = fig_spec.build(results, frame, spec)
        for name, fig in (built.items() if isinstance(built, dict) else [("", built)]):
            yield f"{fig_spec.key}{name}", fig


def test_every_figure_reads_no_two_texts_overlap_and_its_png_is_wide(report):
    store, files = report
    for key, fig in _report_figures(store):
        assert fig is not None, key
        assert layout.overlapping_texts(fig) == [], key
        assert fig.get_figwidth() == layout.WIDTH, key
        layout.plt.close(fig)
    from PIL import Image
    assert all(Image.open(p).width >= layout.MIN_PNG_PX for p in _pngs(files))


def test_factor_lines_name_their_sample_sizes_and_the_pack_of_shipped_rows():
    frame = pd.DataFrame({"kind": "training", "label": ["a", "b", "c"], "c": [4, 8, 4], "r": 4,
                          "s": [1, 1, 8], "e": 40, "b": 256, "m": 20, "n": [200, 100, 16],
                          "kendall_tau": [0.6, 0.5, 0.3], "kendall_tau_lo": [0.5, 0.4, 0.0],
                          "kendall_tau_hi": [0.7, 0.6, 0.6], "seconds_per_arch": 1.0,
                          "source": "x", "origin": ["study.jsonl.gz", "study.jsonl.gz",
                                                    "this store"]})
    fig = figures.factor_sweeps(frame)
    texts = [t.get_text() for ax in fig.axes if ax.get_legend()
             for t in ax.get_legend().get_texts()]
    assert "r4 s1 e40@20 (n=100-200, shipped: study.jsonl.gz)" in texts       # the c panel
    assert "c4 r4 e40@20 (n=16-200, shipped: study.jsonl.gz)" in texts         # the s panel
    assert layout.overlapping_texts(fig) == []
    layout.plt.close(fig)


def test_overlap_check_sees_overprinted_labels_and_place_labels_avoids_them():
    layout.style()
    fig, ax = layout.plt.subplots(figsize=(layout.WIDTH, 5))
    xs, ys = [1.0, 1.02, 1.04, 3.0], [0.5, 0.505, 0.51, 0.2]
    ax.plot(xs, ys, "o")
    for x, y in zip(xs, ys):                   # the old way: every label at the same offset
        ax.annotate("a long proxy name", (x, y), xytext=(5, 3), textcoords="offset points")
    assert layout.overlapping_texts(fig)
    layout.plt.close(fig)
    fig, ax = layout.plt.subplots(figsize=(layout.WIDTH, 5))
    ax.plot(xs, ys, "o")
    placed = layout.place_labels(ax, xs, ys, ["a long proxy name"] * 4)
    assert len(placed) == 4 and layout.overlapping_texts(fig) == []
    layout.plt.close(fig)


def test_pareto_front():
    cost = np.array([1.0, 2.0, 3.0, 0.5, 10.0])
    tau = np.array([0.3, 0.2, 0.6, 0.1, 0.6])
    assert figures.pareto_front(cost, tau).tolist() == [True, False, True, True, False]


def test_display_and_latex_escaping():
    table = pd.DataFrame({"label": ["a_b&c"], "kendall_tau": [0.5], "kendall_tau_lo": [0.4],
                          "kendall_tau_hi": [np.nan], "seconds_per_arch": [0.000123]})
    shown = tables.display(table)
    assert shown.columns.tolist() == ["proxy", "Kendall tau [95% CI]", "s/arch"]
    assert shown.iloc[0].tolist() == ["a_b&c", "0.500 [0.40, –]", "0.000123"]
    tex = tables.to_latex(shown, "cap_1", "tab:x")
    assert r"a\_b\&c" in tex and r"cap\_1" in tex


def test_training_proxies_describe_their_factors():
    """The report learns the reduction factors from the proxy, not from parsing its name."""
    def factors(name):   # the factors the report reads (a proxy may describe more)
        found = REGISTRY.get(name).describe()["factors"]
        return {k: found[k] for k in "crsebm"}
    assert factors("c4r4s0e40b2048@20") == {"c": 4, "r": 4, "s": 1, "e": 40, "b": 2048, "m": 20}
    assert factors("c0r0s0e12") == {"c": 1, "r": 1, "s": 1, "e": 12, "b": 256, "m": 12}
    assert "factors" not in REGISTRY.get("synflow").describe()


def test_caveat_rule():
    assert tables.caveat(0.1, 0.7) == "wide"          # wider than 0.5
    assert tables.caveat(-0.5, 0.3) == "wide"         # wide first, though it also spans zero
    assert tables.caveat(-0.1, 0.2) == "zero"
    assert tables.caveat(0.0, 0.5) == "zero"          # 0.5 wide is not wider than 0.5; 0 is spanned
    assert tables.caveat(0.2, 0.6) == ""
    assert tables.caveat(np.nan, np.nan) == "none" and tables.caveat(None, 0.3) == "none"


def test_report_marks_what_is_not_a_measurement(report):
    _, files = report
    main = pd.read_csv(files["table_all_csv"], keep_default_na=False).set_index("label")
    assert main.loc[FEW, "caveat"] == "wide"
    expected = [tables.caveat(float(lo), float(hi))
                for lo, hi in zip(main["kendall_tau_lo"], main["kendall_tau_hi"])]
    assert main["caveat"].tolist() == expected and expected.count("") >= 3
    md = files["table_all_md"].read_text()
    assert f"| {FEW} † |" in md and f"† n={FEW_N}: too few archs to rank this proxy" in md
    assert r"synflow \dag{}" in files["table_all_tex"].read_text()
    text = files["html"].read_text()
    assert text.count('<tr class="caveat') == sum(
        (pd.read_csv(files[f"table_{stem}_csv"], keep_default_na=False)["caveat"] != "").sum()
        for stem in ("main", "all", "factors", "cost"))
    summary = re.search(r'<p id="summary">(.*?)</p>', text).group(1)
    readable = [label for label in main.index if main.loc[label, "caveat"] == ""]
    assert f"Measurements ({len(readable)} rows of {len(main)}" in summary
    assert all(label in summary for label in readable)
    assert f"Machinery checks, not measurements (1 row, n={FEW_N}, run on cpu): {FEW}." in summary


def test_figures_draw_points_that_are_not_measurements_hollow():
    frame = pd.DataFrame({"kind": "training", "label": ["a", "b"], "c": [4, 8], "r": 4, "s": 1,
                          "e": 4, "b": 256, "m": 4, "kendall_tau": [0.5, 0.2],
                          "kendall_tau_lo": [0.4, -0.3], "kendall_tau_hi": [0.6, 0.6],
                          "seconds_per_arch": [1.0, 0.5], "source": "x"})
    for fig in (figures.factor_sweeps(frame), figures.cost_vs_tau(frame)):
        points = [(tuple(line.get_xdata()), tuple(line.get_ydata())) for ax in fig.axes
                  for line in ax.lines if line.get_markerfacecolor() in ("white", (1, 1, 1, 1))]
        assert points == [((8.0,), (0.2,))] or points == [((0.5,), (0.2,))]
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
        assert [t.get_text() for lg in legends for t in lg.get_texts()].count(figures.HOLLOW) == 1


#: what a reader's browser makes of the page: images decoded, rows per table, provenance text
PAGE_FACTS = """(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  return {
    images: images.map((i, k) => ({id: i.id, decoded: decoded[k], width: i.naturalWidth,
                                   shown: i.getBoundingClientRect().width})),
    tables: Object.fromEntries([...document.querySelectorAll("table")].map(t =>
      [t.id, {rows: [...t.tBodies].reduce((n, b) => n + b.rows.length, 0),
              muted: t.querySelectorAll("tbody tr.caveat").length}])),
    provenance: document.getElementById("provenance").innerText,
    summary: document.getElementById("summary").innerText,
  };
})()"""


@pytest.fixture
def browser() -> str:
    """Chromium's path; skips the test without one, or fails it when CI is set."""
    browser = find_browser()
    if browser is None:
        message = ("no chromium found: the report's browser test needs it "
                   "(Debian: apt-get install chromium; .ci/run installs it)")
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI is set, so the browser test must run: {message}")
        pytest.skip(message)
    return browser


#: per table of the page: (scrollWidth, clientWidth) of the box that would scroll it sideways
TABLE_WIDTHS = """Object.fromEntries([...document.querySelectorAll("table")].map(t => {
  const box = t.closest(".scroll") || t.parentElement;
  return [t.id, [box.scrollWidth, box.clientWidth]];
}))"""


def test_report_reads_in_headless_chromium(browser, report, tmp_path):
    _, files = report
    with DevTools(browser, tmp_path, width=1400) as page:
        page.open(files["html"].resolve().as_uri())
        seen = page.evaluate(PAGE_FACTS)
        widths = page.evaluate(TABLE_WIDTHS)
        errors = list(page.errors)
    assert errors == []
    # every figure: decoded by the browser and shown; its PNG decodes in PIL to a non-blank image
    from PIL import Image
    assert len(seen["images"]) == len(_pngs(files))
    assert all(i["decoded"] and i["width"] >= layout.MIN_PNG_PX and i["shown"] >= 300
               for i in seen["images"])
    for img in parse(files["html"]).images:
        image = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
        image.load()
        assert image.width >= 300 and image.height >= 200
        assert np.asarray(image.convert("L"), dtype=float).std() > 10
    # every table has its rows, and the muted rows are the ones with a caveat
    shown = seen["tables"]
    assert all(t["rows"] > 0 for t in shown.values()) and "table-commands" in shown
    for stem in ("main", "all", "factors", "cost"):
        csv = pd.read_csv(files[f"table_{stem}_csv"], keep_default_na=False)
        assert shown[f"table-{stem}"] == {"rows": len(csv), "muted": int((csv["caveat"] != "").sum())}
    assert shown["table-provenance"]["rows"] >= 10
    assert shown["table-commands"]["rows"] == len(pd.read_csv(files["table_all_csv"]))
    # the provenance names the code's git hash
    code = git_hash()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", code)
    assert f"code (git)\t{code}" in seen["provenance"]
    assert "Machinery checks, not measurements" in seen["summary"]
    # at 1400 px the tables of numbers fit the page: no sideways scrollbar
    for stem in ("main", "all", "factors", "cost"):
        scroll, client = widths[f"table-{stem}"]
        assert scroll <= client, f"table {stem} is {scroll} px wide in a {client} px box"


def test_long_labels_wrap_so_the_main_table_fits_1400px(browser, tmp_path):
    """Labels of several settings are long: they wrap at their spaces, and the table still fits."""
    store = _two_settings_store(tmp_path)
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=10)
    with DevTools(browser, tmp_path, width=1400) as page:
        page.open(files["html"].resolve().as_uri())
        scroll, client = page.evaluate(TABLE_WIDTHS)["table-all"]
    assert scroll <= client
    assert '<td class="wrap"><span>synflow</span> <span>(none-input,</span>' in \
        files["html"].read_text()


def test_two_sources_of_one_proxy_get_distinct_labels(tmp_path):
    store = Store(tmp_path / "two.sqlite")
    proxy = REGISTRY.get("random")
    for source in ("a", "b"):
        store.put(Key("random", proxy.version, "cifar10", source, 0),
                  {i: Outcome(float(k)) for k, i in enumerate(INDICES)}, device="cpu", git="g",
                  suite_version="t", run={})
    results, notes = collect(REGISTRY, store.frame(), [Selection("random", "cifar10")], n_boot=10)
    assert sorted(r.label for r in results) == ["random (a, seeds 0)", "random (b, seeds 0)"]
    assert all(r.summary["n"] == N for r in results) and not notes


@dataclass(frozen=True)
class RankWithinSet(Proxy):
    """A set-level proxy: its score is the rank of the stored score within the scored set."""

    def combine(self, outcomes):
        return list(np.argsort(np.argsort([o.score for o in outcomes])).astype(float))


def test_set_level_proxies_combine_within_the_reported_set(tmp_path, registry):
    proxy = registry.register(RankWithinSet("test-rank", "zero-cost", source="none"))
    store = Store(tmp_path / "rank.sqlite")
    stored = {i: Outcome(float(k) ** 3, 0.1) for k, i in enumerate(INDICES)}
    store.put(Key(proxy.name, 1, "cifar10", "none", 0), stored, device="cpu", git="g",
              suite_version="t", run={})
    subset = tuple(INDICES[10:20])
    results, _ = collect(registry, store.frame(), [Selection(proxy.name, "cifar10", indices=subset)],
                         n_boot=10)
    assert results[0].indices.tolist() == list(subset)
    assert results[0].scores.tolist() == [float(k) for k in range(10)]  # ranks within the 10 reported


# ------------------------------------------------------------------ figure (c): axis and front

def _cost_frame(cost) -> pd.DataFrame:
    tau = np.linspace(0.6, 0.1, len(cost))
    tau[[1, 3]] = [0.7, 0.75]                       # a front of three points: 0, 1, 3
    return pd.DataFrame({"kind": "zero-cost", "label": [f"p{i}" for i in range(len(cost))],
                         "kendall_tau": tau, "kendall_tau_lo": tau - 0.1,
                         "kendall_tau_hi": tau + 0.1, "seconds_per_arch": cost, "source": "x"})


@pytest.mark.parametrize("cost", [np.geomspace(0.4, 2.5, 8), np.geomspace(1e-6, 15, 8),
                                  np.geomspace(0.55, 0.65, 8)])
def test_cost_figure_has_plain_sparse_ticks_and_a_front_between_its_points(cost):
    frame = _cost_frame(cost)
    fig = figures.cost_vs_tau(frame)
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert 1 <= len(ticks) <= 8 and len(labels) == len(ax.get_xticks())
    assert all(re.fullmatch(r"\d+(\.\d+)?(e-?\d+)?", label) for label in labels), labels
    assert all(t.get_text() == "" for t in ax.get_xticklabels(minor=True))
    lo, hi = ax.get_xlim()
    assert lo < cost.min() and hi > cost.max() and hi / cost.max() < 2
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    x, y = np.asarray(front.get_xdata(), float), np.asarray(front.get_ydata(), float)
    assert x.min() == pytest.approx(cost[0]) and x.max() == pytest.approx(cost[3])
    assert y[-1] == pytest.approx(0.75)


def test_log_ticks_and_plain_numbers():
    assert figures.log_ticks(0.3, 3) == [0.5, 1, 2]
    assert figures.log_ticks(1e-6, 20) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10]
    assert len(figures.log_ticks(1e-9, 1e6)) <= 8
    assert [figures.plain_number(x) for x in (1e-6, 1e-4, 0.002, 1, 20, 1e5)] == \
        ["1e-6", "0.0001", "0.002", "1", "20", "1e5"]


# ------------------------------------------------------------------ partly trained settings

PARTLY = "c4r4s0e4@3"
ARCHS16 = gt.sample(16, 0)


def _partly_trained(tmp_path, lengths: dict[int, int], nan_at_3: bool = False) -> Store:
    """c4r4s0e4 runs on ARCHS16 whose curves hold ``lengths[i]`` epochs (default 2)."""
    store = Store(tmp_path / "partly.sqlite")
    proxy = REGISTRY.get(PARTLY)
    outcomes = {}
    for k, i in enumerate(ARCHS16):
        curve = [float(k + e) for e in range(lengths.get(i, 2))]
        if nan_at_3 and len(curve) >= 3:
            curve[2] = math.nan
        outcomes[i] = Outcome(curve[-1], 1.0, curve)
    store.put(Key(proxy.store_name, proxy.version, "cifar10", SOURCE, 0), outcomes, device="cpu",
              git="g", suite_version="t", run={})
    return store


def test_a_setting_not_trained_to_its_epoch_says_how_far_its_runs_got(tmp_path):
    store = _partly_trained(tmp_path, {})
    results, notes = collect(REGISTRY, store.frame(), [Selection(PARTLY, "cifar10")], n_boot=10)
    assert results == [] and not any("no stored results" in n for n in notes)
    assert notes == [f"{PARTLY} on cifar10: 0 of 16 stored runs have reached epoch 3 (run "
                     f"`python -m benchmark score --proxy {PARTLY} --dataset cifar10 --sample 16 "
                     "--seed 0 --seeds 0` to continue them)"]
    # an experiment's selection names its own command; the HTML page carries the note
    sel = Selection(PARTLY, "cifar10", indices=tuple(ARCHS16), seeds=(0,), command="CMD")
    files = write_report(REGISTRY, store, tmp_path / "out", ReportSpec(selections=(sel,)),
                         n_boot=10)
    assert f"{PARTLY} on cifar10: 0 of 16 stored runs have reached epoch 3 (run `CMD` to " \
        "continue them)" in files["md"].read_text()


def test_a_partly_trained_setting_is_reported_on_the_runs_that_reached_its_epoch(tmp_path):
    store = _partly_trained(tmp_path, {i: 4 for i in ARCHS16[:10]})
    results, notes = collect(REGISTRY, store.frame(), [Selection(PARTLY, "cifar10")], n_boot=10)
    assert [r.summary["n"] for r in results] == [10]
    assert notes[0].startswith(f"{PARTLY} on cifar10: 10 of 16 stored runs have reached epoch 3; "
                               "reported on those (run `python -m benchmark score")
    store = _partly_trained(tmp_path / "nan", {i: 4 for i in ARCHS16[:10]}, nan_at_3=True)
    _, notes = collect(REGISTRY, store.frame(), [Selection(PARTLY, "cifar10")], n_boot=10)
    assert "0 of 16 stored runs have evaluated epoch 3 (10 have reached it)" in notes[0]


# ------------------------------------------------------------------ a plain report of mixed rows

MIXED = sorted(set(gt.sample(12, 0)) | set(gt.sample(10, 5)))


def _two_settings_store(tmp_path) -> Store:
    """synflow in two settings (batch_size 64 on MIXED: two samples; 128 on the 16-arch sample)
    and params on the 16-arch sample."""
    store = Store(tmp_path / "mixed.sqlite")
    proxy = REGISTRY.get("synflow")
    truth = gt.vector("cifar10", "test_200")
    for batch, archs in ((64, MIXED), (128, ARCHS16)):
        fingerprint = {"proxy": "synflow", "version": proxy.version, "dataset": "cifar10",
                       "source": "none-input", "seed": 0, "batch_size": batch}
        key = Key("synflow", proxy.version, "cifar10", "none-input", 0, json.dumps(fingerprint))
        store.put(key,
                  {i: Outcome(float(truth[i]) + k % 3, 0.1) for k, i in enumerate(archs)},
                  device="cpu", git="g", suite_version="t", run={})
    compute(REGISTRY.get("params"), ARCHS16, Context("cifar10"), store, progress=False)
    return store


def test_plain_report_keeps_settings_apart_and_says_when_samples_mix(tmp_path):
    store = _two_settings_store(tmp_path)
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=10)
    main = pd.read_csv(files["table_all_csv"]).set_index("label")
    wide, narrow = "synflow (none-input, seeds 0, batch_size=64)", \
        "synflow (none-input, seeds 0, batch_size=128)"
    assert sorted(main.index) == ["params", narrow, wide]
    assert main.loc[wide, "n"] == len(MIXED) and main.loc[narrow, "n"] == 16
    notes = json.loads(files["json"].read_text())["notes"]
    assert notes == [f"{wide} on cifar10: its {len(MIXED)} stored archs come from several samples: "
                     "the first 12 archs of the seed-0 sample (`--sample 12 --seed 0`) and "
                     f"{len(MIXED) - 12} others; reported on all {len(MIXED)} (pass --experiment "
                     "to report one experiment's archs)"]


def test_a_report_of_selections_shows_only_those(tmp_path):
    store = _two_settings_store(tmp_path)
    sel = Selection("synflow", "cifar10", indices=tuple(ARCHS16), seeds=(0,))
    files = write_report(REGISTRY, store, tmp_path / "out", ReportSpec(selections=(sel,)),
                         n_boot=10)
    main = pd.read_csv(files["table_all_csv"]).set_index("label")
    assert sorted(main.index) == ["synflow (none-input, seeds 0, batch_size=128)",
                                  "synflow (none-input, seeds 0, batch_size=64)"]
    assert main["n"].tolist() == [16, 12] or main["n"].tolist() == [12, 16]
    assert not any("several samples" in n for n in json.loads(files["json"].read_text())["notes"])
