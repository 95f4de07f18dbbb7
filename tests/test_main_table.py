"""The report's main table (analysis.comparison): one shared arch sample per kind of proxy, a paired
test against the best of its kind, the published values (data/published.toml) with their source and
the full-space numbers; and where the reported rows come from (this store, results packs)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import comparison, published
from analysis.fullspace import FullSpace
from analysis.metrics import kendall_tau, paired_difference, summarize
from analysis.report import write_report
from analysis.results import collect
from benchmark.runner import compute
from nb201 import groundtruth as gt
from nb201.api import Outcome
from nb201.catalog import DATASETS, TRUTHS
from nb201.context import Context
from nb201.packs import read_pack, write_pack
from nb201.provenance import git_hash
from nb201.ranking import orient
from nb201.store import Key, Selection, Store
from proxies import REGISTRY

SMALL, LARGE = gt.sample(20, 0), gt.sample(60, 0)      # prefixes of one seeded sample
SOURCE = "cifar10-jpeg75"


def _put(store: Store, name: str, indices, noise: float, seed: int = 0, **put) -> None:
    """Synthetic scores of a training proxy: the truth plus noise."""
    proxy = REGISTRY.get(name)
    truth = gt.vector("cifar10", "test_200")
    rng = np.random.default_rng(seed)
    epochs = proxy.describe()["factors"]["e"]
    outcomes = {i: Outcome(float(truth[i] + rng.normal(0, noise)), 2.0,
                           [float(truth[i] + rng.normal(0, noise))] * epochs) for i in indices}
    store.put(Key(proxy.store_name, proxy.version, "cifar10", SOURCE, 0), outcomes, device="cpu",
              git=put.get("git", "synthetic"), suite_version="test", run=put.get("run", {}))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    store = Store(tmp_path / "r.sqlite")
    for name in ("params", "flops", "nb201-12ep"):
        compute(REGISTRY.get(name), LARGE, Context("cifar10", 0), store, progress=False)
    _put(store, "c4r4s0e4", LARGE, 1.0)        # the best training proxy, on 60 archs
    _put(store, "c4r4s4e4", LARGE, 6.0)        # much noisier, on 60
    _put(store, "c4r4s8e4", SMALL, 3.0)        # on the first 20 only
    return store


def _results(store, names):
    return collect(REGISTRY, store.frame(), [Selection(n, "cifar10") for n in names], n_boot=100)[0]


def test_the_shared_sample_is_the_one_most_proxies_x_archs_cover(store):
    results = _results(store, ["c4r4s0e4", "c4r4s4e4", "c4r4s8e4"])
    indices, members = comparison.shared_sample(results)
    assert set(indices) == set(LARGE) and {m.proxy.name for m in members} == {"c4r4s0e4", "c4r4s4e4"}
    # with a third proxy on the 60 archs the 60 still win; with two on 20 only they would not
    assert len(indices) * len(members) == 120 > 20 * 3


def test_main_table_pairs_each_proxy_with_the_best_of_its_kind_on_the_shared_archs(store):
    results = _results(store, ["params", "flops", "nb201-12ep", "c4r4s0e4", "c4r4s4e4",
                               "c4r4s8e4"])
    blocks = comparison.blocks(REGISTRY, store.frame(), results, "test_200", 200)
    assert [(b.kind, len(b.indices), b.left_out) for b in blocks] == \
        [("table", 60, ()), ("training", 60, ("c4r4s8e4",))]
    table = comparison.main_table(blocks, 200, FullSpace(REGISTRY, results, "test_200"))
    training = table[table["kind"] == "training"].set_index("label")
    assert training.loc["c4r4s0e4", "verdict"] == "best"
    assert training.loc["c4r4s4e4", "verdict"] == "worse"
    # the paired difference is the one analysis.metrics computes on those archs
    by_name = {b.kind: {m.proxy.name: m for m in b.members} for b in blocks}["training"]
    best, other = by_name["c4r4s0e4"], by_name["c4r4s4e4"]
    expected = paired_difference(kendall_tau, orient(other.scores, True)[0],
                                 orient(best.scores, True)[0],
                                 other.truth, n_boot=200)
    assert training.loc["c4r4s4e4", "vs_best"] == pytest.approx(expected["difference"])
    assert [training.loc["c4r4s4e4", "vs_best_lo"], training.loc["c4r4s4e4", "vs_best_hi"]] == \
        pytest.approx(expected["ci"])
    assert (table["n"] == 60).all() and "c4r4s8e4" not in set(table["label"])
    assert table.groupby("kind")["kendall_tau"].apply(lambda t: t.is_monotonic_decreasing).all()
    assert "c4r4s8e4" in comparison.caption(blocks)


def test_full_space_of_a_table_proxy_is_its_metric_on_every_arch(store):
    results = _results(store, ["params", "nb201-12ep"])
    full = FullSpace(REGISTRY, results, "test_200")
    r = next(r for r in results if r.proxy.name == "nb201-12ep")
    summary, what = full.summary(r)
    truth = gt.vector("cifar10", "test_200")
    assert what == "lookup" and summary["n"] == gt.NUM_ARCHS
    assert summary["kendall_tau"] == pytest.approx(
        summarize(gt.vector("cifar10", "test_12"), truth, n_boot=0)["kendall_tau"])
    assert full.cell(r).startswith(f"tau {summary['kendall_tau']:.3f} [")
    assert full.summary(r) == full.summary(r)           # the second one from the cache


def test_a_zero_cost_proxy_gets_nasLibs_full_space_scores_where_nasLib_has_them():
    zc = REGISTRY.get("synflow")

    class R:            # the fields FullSpace reads
        proxy, dataset, seeds, indices = zc, "cifar10", (0,), np.arange(5)
    full = FullSpace(REGISTRY, [], "test_200")
    summary, what = full.summary(R)
    assert what == "NASLib's scores" and summary["n"] == gt.NUM_ARCHS
    assert "NASLib" in full.cell(R)
    R.dataset = "cifar100"                                # NASLib ships no CIFAR-100 scores
    assert full.summary(R) is None


def test_every_published_value_names_proxies_the_registry_knows_and_a_cited_source():
    values = published.published()
    assert values and all(p.dataset in DATASETS and (p.truth in TRUTHS or p.truth == "")
                          for p in values)
    for p in values:
        for name in p.proxies:
            REGISTRY.get(name)                            # resolves (a UserError otherwise)
        assert p.label and p.citation
    # the suite's EcoNAS point is compared with the zero-cost paper's 0.61 and the leaderboard's
    cell = published.cell("c4r4s0e40@20", "cifar10")
    assert "rho 0.61 vs valid_200" in cell and "tau 0.59" in cell and "top-10% 27%" in cell
    assert "protocol of zc-paper:c4r4s0e40b2048@20" in cell
    assert published.cell("synflow", "cifar10") == \
        "rho 0.737 vs valid_200, all archs [Abdelfattah et al. 2021]"
    assert published.cell("synflow", "cifar100") == ""


def test_a_malformed_published_file_is_one_line(tmp_path, monkeypatch):
    from nb201.errors import UserError
    bad = tmp_path / "published.toml"
    bad.write_text('[sources.x]\nlabel = "x"\ncitation = "y"\n[[value]]\nproxies = ["synflow"]\n'
                   'dataset = "mnist"\nmetric = "spearman"\nvalue = 0.5\nsource = "x"\n')
    monkeypatch.setattr(published, "FILE", bad)
    published.published.cache_clear()
    try:
        with pytest.raises(UserError, match="value #1") as e:
            published.published()
    finally:
        published.published.cache_clear()
    assert "\n" not in str(e.value)


def test_the_report_says_which_rows_came_from_which_pack_and_machine(tmp_path, monkeypatch):
    """Rows of a results pack are reported (labelled with the pack, its machine and commit) beside
    the store's own; the store's rows name the CPU they were computed on."""
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    source = Store(tmp_path / "elsewhere.sqlite", packs=())
    _put(source, "c4r4s0e4", LARGE, 1.0)                        # rows that record no CPU
    _put(source, "c4r4s2e4", LARGE, 1.0, run={"machine": "Row CPU 7"})
    packs = tmp_path / "packs"
    machine = {"cpu": "Test CPU 9000", "cores": 64, "system": "Linux", "python": "3.11"}
    write_pack(source.rows(), packs / "study.jsonl.gz", computed_on=machine)
    monkeypatch.setenv("NB201_PACKS", str(packs))
    store = Store(tmp_path / "mine.sqlite")
    compute(REGISTRY.get("params"), LARGE, Context("cifar10", 0), store, progress=False)
    # one setting's rows partly the store's own, partly the pack's
    _put(store, "c4r4s2e4", gt.sample(80, 0)[60:], 1.0, git="own-commit")
    files = write_report(REGISTRY, store, tmp_path / "out", n_boot=50)
    every = pd.read_csv(files["table_all_csv"]).set_index("label")
    assert every.loc["c4r4s0e4", "origin"] == "study.jsonl.gz"
    assert every.loc["params", "origin"] == "this store"
    html = files["html"].read_text()
    origins = html[html.index('id="table-origins"'):]
    origins = origins[:origins.index("</table>")]
    # the CPU each row records; for rows that record none, the machine that wrote the pack
    assert "pack study.jsonl.gz" in origins and "Row CPU 7" in origins
    assert "Test CPU 9000 (64 cores; the machine that wrote the pack" in origins
    holds = {h["proxy"]: h["machine"] for h in read_pack(packs / "study.jsonl.gz").header["holds"]}
    assert holds == {"c4r4s0e4": "not recorded", "c4r4s2e4": "Row CPU 7"}
    from nb201.packs import machine as this_machine
    assert this_machine()["cpu"] in origins                     # the store's own rows' CPU
    assert every.loc["c4r4s2e4", "origin"] == "this store, study.jsonl.gz"
    # the store's row names the commits of the store's own rows only, the pack's its header's
    own = origins[origins.index("this store"):]
    own = own[:own.index("</tr>")]
    assert "own-commit" in own and git_hash() in own and "synthetic" not in own
    report = json.loads(files["json"].read_text())
    assert {r["label"]: r["origin"] for r in report["main"]}["c4r4s0e4"] == "study.jsonl.gz"
