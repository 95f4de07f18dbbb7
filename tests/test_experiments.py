"""Experiment files: validation, planning against the store, and a tiny run end to end."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nb201 import groundtruth as gt
from nb201.api import Outcome
from nb201.context import Context
from nb201.catalog import DATASETS
from benchmark.cli import main

#: the basis of an unmeasured proxy on a CPU (the speed factor is 1 in tests: conftest.py)
CPU_BASIS = "cost_s x 1.00 (this CPU's measured speed)"
from nb201.errors import UserError
from benchmark.experiments.plan import duration, format_plan, make_plan
from benchmark.experiments.run import run_experiment
from benchmark.experiments.spec import (EXPERIMENTS_DIR, load_experiment, parse_data_dir,
                                        parse_experiment)
from benchmark.runner import compute
from nb201.store import Key, Store
from proxies import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
TINY = """
description = "tiny"
seed = 3
datasets = ["cifar10", "cifar100"]
[report]
main = ["params"]
[[group]]
name = "table"
proxies = ["params", "nb201-12ep", "random"]
sample = 30
[[group]]
name = "more params"
proxies = ["params"]
sample = 40
datasets = ["cifar10"]
"""


pytestmark = pytest.mark.usefixtures("isolated")


def write(tmp_path, text, name="exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def tiny_folder(root: Path) -> Path:
    """A 10-class image folder (2 training and 1 test image a class) that loads as cifar10."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 1)):
        for c in range(10):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.mark.parametrize("text, message", [
    ("seed = [", "invalid TOML"),
    ('descripton = "x"\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "did you mean 'description'"),
    ("seed = 0", "no [[group]]"),
    ('[[group]]\nname="a"\nproxies=["params"]', "'sample' is missing"),
    ('[[group]]\nname="a"\nproxies=["params"]\nsample=0', "'sample' must be an integer 1..15625"),
    ('[[group]]\nname="a"\nproxies=["params"]\nsample="some"', "'sample' must be"),
    ('[[group]]\nname="a"\nproxies=["parms"]\nsample=3', "did you mean 'params'"),
    ('[[group]]\nname="a"\nproxies="params"\nsample=3', "'proxies' must be a list of strings"),
    ('[[group]]\nname="a"\nproxies=[]\nsample=3', "non-empty list"),
    ('[[group]]\nname="a"\nproxies=["params", "params"]\nsample=3', "distinct proxy names"),
    ('[[group]]\nname="a"\nproxies=["params"]\nsample=3\ndatasets=["cifar11"]', "unknown dataset 'cifar11'"),
    ('seeds = [0, "1"]\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "'seeds' must be"),
    ('seeds = [1, 1]\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "distinct integers"),
    ('seed = -1\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "'seed' must be an integer 0.."),
    ('[[group]]\nname="a"\nproxies=["params"]\nsample=3\nseeds=[9223372036854775808]',
     "'seeds' must be a non-empty list of integers 0..2**63-1"),
    ('[[group]]\nname="a"\nproxies=["c4r8s0e1"]\nsample=3\ndatasets=["imagenet16-120"]',
     "r8: 16x16 images cannot be reduced by 8"),
    ('[[group]]\nname="a"\nproxies=["c8r3s16e1"]\nsample=3', "r3: 32x32 images cannot be reduced"),
    ('truth = "test_12"\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "'truth' must be one of"),
    ('device = "tpu"\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "'device' must be"),
    ('[[group]]\nname="a"\nproxies=["params"]\nsample=3\n[[group]]\nname="a"\nproxies=["random"]\nsample=3',
     "unique non-empty string"),
    ('[report]\nmain=["random"]\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "is in no group"),
    ('[data_dirs]\ncifar20 = "x"\n[[group]]\nname="a"\nproxies=["params"]\nsample=3', "unknown key 'cifar20'"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=[10]\ndraw=2', "unknown key 'draw'"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=[0]', "--train must be at least 1"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=[10]\ndraws=0', "'draws' must be at least 1"),
    ('[[learn]]\nfeatures=["graph,parms"]\ntrain=[10]', "did you mean 'params'"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=[10]\nmodel="svm"', "unknown model 'svm'"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=["10"]', "'train' must be a non-empty list of integers"),
    ('[[learn]]\nfeatures=["graph"]\ntrain=[10]\nsingle=["synflwo"]', "unknown proxy 'synflwo'"),
])
def test_validation_errors_are_one_line(text, message):
    with pytest.raises(UserError) as err:
        parse_experiment(text, Path("bad.toml"), REGISTRY)
    assert message in str(err.value)
    assert str(err.value).startswith("bad.toml") and "\n" not in str(err.value)


def test_parse_defaults_and_overrides(tmp_path):
    exp = load_experiment(write(tmp_path, TINY), REGISTRY)
    assert exp.name == "exp" and exp.seed == 3 and exp.truth == "test_200" and exp.options.device == "auto"
    table, more = exp.groups
    assert table.datasets == ("cifar10", "cifar100") and more.datasets == ("cifar10",)
    assert table.seeds == (0,) and table.sample == 30
    assert exp.indices(table) == gt.sample(30, 3)
    all_archs = parse_experiment('[[group]]\nname="a"\nproxies=["params"]\nsample="all"', Path("a.toml"), REGISTRY)
    assert all_archs.groups[0].sample == gt.NUM_ARCHS


def test_unknown_experiment_name_lists_the_known_ones():
    with pytest.raises(UserError, match="known: .*quick"):
        load_experiment("quik", REGISTRY)
    with pytest.raises(UserError, match="does not exist"):
        load_experiment("nowhere/x.toml", REGISTRY)


def test_parse_data_dir():
    assert parse_data_dir(None) is None and parse_data_dir("/data") == "/data"
    assert parse_data_dir("cifar100=/a,imagenet16-120=/b") == {"cifar100": "/a", "imagenet16-120": "/b"}
    with pytest.raises(UserError, match="dataset=DIR"):
        parse_data_dir("cifar11=/a")


def test_selections_merge_groups(tmp_path):
    exp = load_experiment(write(tmp_path, TINY), REGISTRY)
    sel = {(s.proxy, s.dataset): s for s in exp.selections()}
    assert len(sel) == 6
    assert sel[("params", "cifar10")].indices == tuple(gt.sample(40, 3))  # union of 30 and 40
    assert sel[("params", "cifar100")].indices == tuple(gt.sample(30, 3))
    assert "--sample 40 --seed 3 --seeds 0 " in sel[("params", "cifar10")].command
    assert sel[("random", "cifar10")].command.startswith("python -m benchmark score --proxy random")


def contexts(data_dir=None):
    return {d: Context(d, 0, data_dir=data_dir if d == "cifar10" else None) for d in DATASETS}


def test_plan_skips_what_is_stored(tmp_path):
    exp = load_experiment(write(tmp_path, TINY), REGISTRY)
    store = Store(tmp_path / "r.sqlite")
    compute(REGISTRY.get("params"), gt.sample(25, 3), Context("cifar10"), store, progress=False)
    plan = make_plan(exp, REGISTRY, store, contexts(), "cpu")
    units = {(u.proxy.name, u.dataset): u for u in plan.units}
    assert len(units) == 6 and len(plan.units) == 7 and not plan.skipped
    # params on cifar10 is named by both groups: the first group's 30 archs in its place, the
    # second group's 10 more after every unit of the first group (a run cut short has finished
    # the earlier groups)
    first, more = [u for u in plan.units if (u.proxy.name, u.dataset) == ("params", "cifar10")]
    assert plan.units[-1] is more and plan.units.index(first) < 6
    assert first.indices == tuple(gt.sample(30, 3)) and len(first.missing) == 5
    assert more.indices == tuple(gt.sample(40, 3)[30:]) and more.missing == more.indices
    assert first.basis == more.basis == "median of 25 stored"
    assert len(units[("params", "cifar100")].missing) == 30
    assert plan.missing == 15 + 30 * 5
    text = format_plan(exp, plan)
    assert "estimated time" in text and "params" in text
    assert text.splitlines()[-2].split()[:5] == ["params", "cifar10", "0", "network", "+10"]


def test_plan_merges_at_m_reads_and_skips_missing_datasets(tmp_path):
    text = ('datasets = ["cifar10", "imagenet16-120"]\n[[group]]\nname="t"\n'
            'proxies=["c4r4s0e4@2", "c4r4s0e4", "params"]\nsample=5\nseeds=[0, 1]')
    exp = load_experiment(write(tmp_path, text), REGISTRY)
    store = Store(tmp_path / "r.sqlite")
    proxy = REGISTRY.get("c4r4s0e4")
    folder = tiny_folder(tmp_path / "images")
    store.put(Key.of(proxy, Context("cifar10", 1, data_dir=str(folder))),
              {i: Outcome(50.0, 3.0, [40.0, 50.0, 50.0, 50.0]) for i in gt.sample(5, 0)[:2]},
              device="cpu", git="g", suite_version="t", run={})
    plan = make_plan(exp, REGISTRY, store, contexts(str(folder)), "cpu")
    train = [u for u in plan.units if u.proxy.kind == "training"]
    assert sorted(u.seed for u in train) == [0, 1]  # one run per seed serves both names
    assert all(set(u.serves) == {"c4r4s0e4@2", "c4r4s0e4"} for u in train)
    by_seed = {u.seed: u for u in train}
    assert len(by_seed[1].missing) == 3 and len(by_seed[0].missing) == 5
    assert all(u.seconds_per_arch == 3.0 and u.basis.startswith("median of 2 stored")
               for u in train)
    elsewhere = make_plan(exp, REGISTRY, store, contexts(str(folder)), "NVIDIA H100")  # nothing measured there
    assert all(u.basis.startswith("cost_s") and u.seconds_per_arch == u.proxy.cost_s
               for u in elsewhere.units if u.proxy.kind == "training")
    skipped = {(p, d) for p, d, _ in plan.skipped}
    assert skipped == {("c4r4s0e4@2", "imagenet16-120"), ("c4r4s0e4", "imagenet16-120")}
    assert all("not shipped" in why for _, _, why in plan.skipped)
    assert ("params", "imagenet16-120") in {(u.proxy.name, u.dataset) for u in plan.units}


def test_tiny_experiment_end_to_end(tmp_path, capsys):
    path = write(tmp_path, TINY)
    results, out = tmp_path / "r.sqlite", tmp_path / "out"
    dry = run_experiment(path, REGISTRY, results, out=out, dry_run=True, progress=False).summary
    assert dry["dry_run"] and dry["missing"] == 40 + 30 * 5 and "dry run" in dry["message"]
    assert Store(results).frame().empty and not out.exists()
    assert main(["run", str(path), "--results", str(results), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 190 and Path(summary["report"]["html"]).is_file()
    assert len(Store(results).frame()) == 190
    table = pd.read_csv(out / "tables" / "all.csv")
    assert sorted(zip(table["dataset"], table["label"], table["n"])) == sorted(
        [("cifar10", "params", 40), ("cifar10", "nb201-12ep", 30), ("cifar10", "random", 30),
         ("cifar100", "params", 30), ("cifar100", "nb201-12ep", 30), ("cifar100", "random", 30)])
    html = (out / "report.html").read_text()
    assert f"python -m benchmark run {path}" in html and 'id="table-design"' in html
    again = run_experiment(path, REGISTRY, results, out=out, progress=False).summary
    assert again["missing"] == 0 and len(Store(results).frame()) == 190


def test_cli_run_dry_run_and_bad_file(tmp_path):
    path = write(tmp_path, TINY)
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", str(path), "--dry-run", "--json",
                          "--results", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "out")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["missing"] == 190 and "estimated time" in run.stderr
    bad = write(tmp_path, "seed = [", "bad.toml")
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "invalid TOML" in run.stderr


def test_duration():
    assert duration(5) == "5 s" and duration(125) == "2 min 05 s" and duration(7300) == "2 h 01 min"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_experiments_are_valid(path):
    """Every shipped file loads: its proxy names resolve, its values are valid."""
    exp = load_experiment(path.stem, REGISTRY)
    assert (exp.groups or exp.searches or exp.curves) and all(g.sample >= 1 for g in exp.groups)
    if path.stem == "paper":
        assert all(g.sample >= 1000 for g in exp.groups)


def test_cifar100_zc_scores_every_zero_cost_proxy_on_both_datasets():
    """cifar100-zc (docs/ZERO_COST.md's CIFAR-100 and transfer tables) covers every registered
    zero-cost proxy: on CIFAR-100 on at least 200 archs (1,000 for the cheap ones), and on
    CIFAR-10 on the first 200 of the same sample, for the transfer table."""
    exp = load_experiment("cifar100-zc", REGISTRY)
    most = {}
    for g in exp.groups:
        for d in g.datasets:
            for name in g.proxies:
                most[(name, d)] = max(most.get((name, d), 0), g.sample)
    every = [p.name for p in REGISTRY if p.kind == "zero-cost"]
    assert every and all(most.get((name, "cifar100"), 0) >= 200 for name in every)
    assert all(most.get((name, "cifar10"), 0) == 200 for name in every)
    assert sum(most[(name, "cifar100")] >= 1000 for name in every) >= len(every) // 2
    assert exp.seed == 0 and exp.order == "groups"


def test_shipped_experiment_names():
    assert {"quick", "paper", "econas-factors", "econas-nb201", "search", "learned"} <= {
        p.stem for p in EXPERIMENTS_DIR.glob("*.toml")}


def zero_cost(registry, names, cost_s=2.0):
    from nb201.api import Proxy
    for name in names:
        registry.register(Proxy(name, "zero-cost", cost_s=cost_s, source="none"))


def put_seconds(store, proxy, seconds, indices=None):
    """Rows of ``proxy`` on cifar10 (seed 0, device cpu) that took ``seconds`` each (a list: one
    per row)."""
    indices = gt.sample(len(seconds), 0) if indices is None else indices
    store.put(Key.of(proxy, Context("cifar10")),
              {i: Outcome(1.0, t) for i, t in zip(indices, seconds)},
              device="cpu", git="g", suite_version="t", run={})


def plan_of(tmp_path, registry, store, text, device="cpu"):
    exp = parse_experiment(text, tmp_path / "e.toml", registry)
    return make_plan(exp, registry, store, contexts(), device)


def test_unmeasured_proxies_are_calibrated_on_three_measured_ones_clipped(tmp_path, registry):
    names = ["cal-a", "cal-b", "cal-c", "cal-d"]
    zero_cost(registry, names)
    text = f'[[group]]\nname="z"\nproxies={names}\nsample=10'
    store = Store(tmp_path / "r.sqlite")
    for name, seconds in (("cal-a", 3.0), ("cal-b", 2.4), ("cal-c", 2.8)):
        put_seconds(store, registry.get(name), [seconds] * 4)
    units = {u.proxy.name: u for u in plan_of(tmp_path, registry, store, text).units}
    assert units["cal-a"].seconds_per_arch == 3.0 and len(units["cal-a"].missing) == 6
    assert units["cal-a"].basis == "median of 4 stored"
    assert units["cal-d"].seconds_per_arch == pytest.approx(2.0 * 1.4)   # median of 1.5, 1.2, 1.4
    assert units["cal-d"].basis == ("cost_s x 1.4 (median ratio of 3 measured zero-cost "
                                    "proxies)")
    for name in ("cal-a", "cal-b", "cal-c"):          # all measured at 10x their cost_s
        put_seconds(store, registry.get(name), [20.0] * 9, gt.sample(13, 0)[4:])
    units = {u.proxy.name: u for u in plan_of(tmp_path, registry, store, text).units}
    assert units["cal-d"].seconds_per_arch == 4.0 and "clipped to [0.5, 2]" in units["cal-d"].basis
    other = {u.proxy.name: u for u in plan_of(tmp_path, registry, store, text, "GPU").units}
    assert other["cal-d"].seconds_per_arch == 2.0 and other["cal-d"].basis == "cost_s (2-core CPU)"


def test_one_loaded_proxy_does_not_skew_the_others_and_medians_ignore_outliers(tmp_path,
                                                                               registry):
    zero_cost(registry, ["load-a", "load-b", "load-c"])
    text = '[[group]]\nname="z"\nproxies=["load-a", "load-b", "load-c"]\nsample=20'
    store = Store(tmp_path / "r.sqlite")
    before = {u.proxy.name: u.estimate_s for u in plan_of(tmp_path, registry, store, text).units}
    put_seconds(store, registry.get("load-a"), [20.0] * 5)   # 10x cost_s on a loaded machine
    put_seconds(store, registry.get("load-b"), [1.5, 1.6, 1.7, 1.4, 300.0])  # one outlier row
    units = {u.proxy.name: u for u in plan_of(tmp_path, registry, store, text).units}
    assert units["load-c"].estimate_s == before["load-c"] == 20 * 2.0   # 2 measured: cost_s
    assert units["load-c"].basis == CPU_BASIS
    assert units["load-a"].seconds_per_arch == 20.0
    assert units["load-b"].seconds_per_arch == 1.6 and units["load-b"].basis == "median of 5 stored"


SEARCH = """
[[search]]
name = "s"
strategy = "{strategy}"
fitness = "{fitness}"
{limit}
runs = {runs}
"""


def search_plan(tmp_path, registry, store, fitness, runs, limit, strategy="econas"):
    text = SEARCH.format(strategy=strategy, fitness=fitness, limit=limit, runs=runs)
    plan = plan_of(tmp_path, registry, store, text)
    assert len(plan.searches) == 1 and not plan.units
    return plan


def test_search_estimates_grow_with_runs_and_budget_and_vanish_once_stored(tmp_path, registry):
    zero_cost(registry, ["zc-fit"], cost_s=0.5)
    store = Store(tmp_path / "r.sqlite")
    fitness = "zc-fit:16,nb201-12ep-valid:4"

    def estimate(runs, limit="budget = 10"):
        return search_plan(tmp_path, registry, store, fitness, runs, limit).searches[0].estimate_s
    small = estimate(2)
    assert small == pytest.approx(2 * 10 / 0.5 * 0.5)     # 20 reads a run, 2 runs, 0.5 s each
    assert estimate(4) > small and estimate(2, "budget = 40") > small
    assert estimate(3, "queries = 7") == pytest.approx(3 * 7 * 0.5)
    assert estimate(1000, "budget = 1e6") == pytest.approx(gt.NUM_ARCHS * 0.5)
    exp = parse_experiment(SEARCH.format(strategy="econas", fitness=fitness, limit="budget = 10",
                                         runs=2), tmp_path / "e.toml", registry)
    plan = make_plan(exp, registry, store, contexts(), "cpu")
    assert plan.estimate_s == pytest.approx(small) and plan.searches_s == pytest.approx(small)
    text = format_plan(exp, plan)
    assert "zc-fit: <= 20 reads/run x 2 runs -> 40 archs" in text
    assert CPU_BASIS in text and "estimated time: 20 s" in text
    put_seconds(store, registry.get("zc-fit"), [0.5] * 40, list(range(40)))
    assert estimate(2) == pytest.approx(0.0)


def test_search_with_table_fitness_costs_no_compute(tmp_path, registry):
    store = Store(tmp_path / "r.sqlite")
    for strategy, fitness in (("rea", "nb201-12ep-valid"), ("econas", "params:64,nb201-12ep:8")):
        plan = search_plan(tmp_path, registry, store, fitness, 100, "budget = 12000", strategy)
        assert plan.estimate_s == pytest.approx(0.0, abs=1e-3)


def test_zc_warmup_reads_its_pool_and_searches_share_the_store(tmp_path, registry):
    zero_cost(registry, ["zc-pool"], cost_s=0.5)
    store = Store(tmp_path / "r.sqlite")
    text = (SEARCH.format(strategy="zc-warmup", fitness="nb201-12ep-valid", limit="budget = 1e5",
                          runs=3) + 'zc_proxy = "zc-pool"\npool = 30\n'
            + '[[group]]\nname = "g"\nproxies = ["zc-pool"]\nsample = 10\n')
    plan = plan_of(tmp_path, registry, store, text)
    pool = {lv.proxy.name: lv for lv in plan.searches[0].levels}["zc-pool"]
    assert pool.archs == 90 and pool.before == 10 and pool.missing == 80   # the group's 10 first
    assert plan.estimate_s == pytest.approx((10 + 80) * 0.5)


def test_the_experiment_file_page_names_every_key():
    """docs/EXPERIMENTS.md documents every key the parser accepts (a new key cannot go unsaid)."""
    from benchmark.experiments.sections import sections
    from benchmark.experiments.spec import REPORT_KEYS, top_keys
    page = (Path(__file__).resolve().parent.parent / "docs" / "EXPERIMENTS.md").read_text()
    section_keys = {key for s in sections() for key in s.keys}
    for key in {*top_keys(), *REPORT_KEYS, *section_keys} - {
            "report", "data_dirs", *sections().names()}:
        assert f"`{key}`" in page, key
    assert "[data_dirs]" in page
    for section in sections():
        assert f"[[{section.key}]]" in page, section.key


def test_report_of_an_experiment_shows_only_its_rows(tmp_path, capsys):
    """`report --experiment NAME` (no run): the experiment's proxies at its settings and its own
    searches; what other commands stored in the same store is left out (a plain report has it)."""
    path = tmp_path / "mine.toml"
    path.write_text('[[group]]\nproxies = ["params"]\nsample = 20\n\n'
                    '[[search]]\nstrategy = "random"\nfitness = "nb201-12ep-valid"\nqueries = 10\n')
    db = str(tmp_path / "r.sqlite")
    assert main(["run", str(path), "--results", db, "--out", str(tmp_path / "run"), "--json"]) == 0
    assert main(["score", "--proxy", "flops", "--sample", "20", "--results", db, "--json"]) == 0
    assert main(["search", "--strategy", "random", "--fitness", "nb201-12ep-valid", "--queries",
                 "10", "--runs", "2", "--seed", "5", "--results", db, "--json"]) == 0
    capsys.readouterr()
    for out, experiment in (("mine", ["--experiment", str(path)]), ("all", [])):
        assert main(["report", "--results", db, "--out", str(tmp_path / out), *experiment]) == 0
    mine, every = (pd.read_csv(tmp_path / d / "tables" / "all.csv") for d in ("mine", "all"))
    assert set(mine["label"]) == {"params"} and {"params", "flops"} <= set(every["label"])
    searches = [pd.read_csv(tmp_path / d / "tables" / "search.csv") for d in ("mine", "all")]
    assert (len(searches[0]), len(searches[1])) == (1, 2)
    # run elsewhere (another device or data copy: the levels' settings differ): still its search
    import sqlite3
    with sqlite3.connect(db) as con:
        con.execute("""UPDATE searches SET spec = replace(spec, '"setting": "', '"setting": "x')""")
    assert main(["report", "--results", db, "--out", str(tmp_path / "moved"), "--experiment",
                 str(path)]) == 0
    assert len(pd.read_csv(tmp_path / "moved" / "tables" / "search.csv")) == 1


def test_unmeasured_costs_scale_with_the_cpus_measured_speed(tmp_path, monkeypatch, capsys):
    """With nothing stored, a plan on a CPU is cost_s x this CPU's speed factor (a workload timed
    against the reference CPU's); a twice slower CPU doubles the estimate."""
    from nb201.training import sizing
    assert 0 < sizing.speed_workload() < 5
    path = tmp_path / "e.toml"
    path.write_text('[[group]]\nproxies = ["c4r4s8e5"]\nsample = 10\n')
    estimates = []
    for factor in ("1", "2"):
        monkeypatch.setenv("NB201_CPU_FACTOR", factor)
        assert main(["run", str(path), "--dry-run", "--results", str(tmp_path / "r.sqlite"),
                     "--json"]) == 0
        estimates.append(json.loads(capsys.readouterr().out)["estimate_s"])
    assert estimates[1] == pytest.approx(2 * estimates[0]) and estimates[0] > 0


LEARN_EXPERIMENT = """
title = "learning curve"
[[learn]]
features = ["graph", "graph,params"]
train = [10, 40]
draws = 2
test = 120
single = ["params", "random"]
"""


def test_learning_curves_run_report_and_reread_from_the_store(tmp_path, capsys):
    """[[learn]]: rows per (features, K, draw) and per single proxy; the report's table and figure;
    `report --experiment` rebuilds the same table from the store without fitting anything."""
    path = write(tmp_path, LEARN_EXPERIMENT)
    db, out = str(tmp_path / "r.sqlite"), tmp_path / "run"
    assert main(["run", str(path), "--dry-run", "--results", db, "--json"]) == 0
    plan = {u["proxy"]: u for u in json.loads(capsys.readouterr().out)["plan"]}
    assert plan["random"]["archs"] == 120                      # a single proxy: judged archs
    assert 120 + 40 < plan["params"]["archs"] <= 120 + 2 * 40  # a feature: judged + trained
    assert main(["run", str(path), "--results", db, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = summary["learned"]
    learned = [r for r in rows if r["kind"] == "learned"]
    assert len(learned) == 2 * 2 * 2 and {r["kind"] for r in rows} == {"learned", "single"}
    assert all(r["n"] == 120 and r["label_cost_s"] > 0 and r["best_single"] == "params"
               for r in learned)
    table = (out / "tables" / "learned.md").read_text()
    assert "learned: graph,params" in table and "single: params" in table
    assert (out / "figures" / "i-learned-cifar10.png").stat().st_size > 10_000
    from proxies.learned.base import _FITTED
    _FITTED.clear()
    again = tmp_path / "again"
    assert main(["report", "--experiment", str(path), "--results", db, "--out", str(again)]) == 0
    assert (again / "tables" / "learned.md").read_text() == table
    assert not _FITTED                       # read from the store: nothing was fitted


INCLUDED = """
title = "the study"
[[group]]
name = "study"
proxies = ["flops", "nb201-12ep"]
sample = 50
"""
INCLUDING = """
[report]
main = ["params", "flops"]
include = ["study"]
[[group]]
name = "quick"
proxies = ["params"]
sample = 20
"""


def test_an_included_experiment_is_reported_never_computed(tmp_path, monkeypatch, capsys):
    """[report] include: the other experiment's rows (here: from a results pack, as a clone gets
    the shipped study) are in the report, labelled with their pack; the run computes only its own
    groups, and without the pack the report says in one note what is missing and how to get it."""
    from benchmark.experiments import spec as S
    from nb201.packs import write_pack
    monkeypatch.setattr(S, "EXPERIMENTS_DIR", tmp_path)
    write(tmp_path, INCLUDED, "study.toml")
    path = write(tmp_path, INCLUDING, "quick.toml")
    exp = load_experiment(path, REGISTRY)
    assert [e.name for e in exp.includes] == ["study"]
    assert main(["run", str(path), "--dry-run", "--results", str(tmp_path / "dry.sqlite")]) == 0
    assert "report includes study: its groups (study)" in capsys.readouterr().err
    elsewhere = Store(tmp_path / "elsewhere.sqlite", packs=())
    for name in ("flops", "nb201-12ep"):
        compute(REGISTRY.get(name), gt.sample(50, 0), Context("cifar10"), elsewhere, progress=False)
    write_pack(elsewhere.rows(), tmp_path / "packs" / "study.jsonl.gz")
    for packs, out in ((tmp_path / "packs", "with"), (tmp_path / "none", "without")):
        monkeypatch.setenv("NB201_PACKS", str(packs))
        results = tmp_path / f"{out}.sqlite"
        assert main(["run", str(path), "--results", str(results), "--out", str(tmp_path / out),
                     "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["computed"] == 20 and summary["store"]["computed"] == 20
        assert set(Store(results, packs=()).frame()["proxy"]) == {"params"}   # nothing else
        every = pd.read_csv(tmp_path / out / "tables" / "all.csv")
        html = (tmp_path / out / "report.html").read_text()
        if out == "with":
            origin = dict(zip(every["label"], every["origin"]))
            assert origin == {"params": "this store", "flops": "study.jsonl.gz",
                              "nb201-12ep": "study.jsonl.gz"}
            assert dict(zip(every["label"], every["n"]))["flops"] == 50
            assert "study: study" in html and "pack study.jsonl.gz" in html
        else:
            assert set(every["label"]) == {"params"}
            assert html.count("study (included for the report): none of its 2 results") == 1


@pytest.mark.parametrize("text, message", [
    ('[report]\ninclude = ["quick"]\n[[group]]\nproxies = ["params"]\nsample = 5\n', "other"),
    ('[report]\ninclude = ["no-such-study"]\n[[group]]\nproxies = ["params"]\nsample = 5\n',
     "unknown experiment 'no-such-study'"),
])
def test_a_bad_include_is_one_line(tmp_path, text, message):
    with pytest.raises(UserError, match=message) as e:
        parse_experiment(text, tmp_path / "quick.toml", REGISTRY)
    assert "\n" not in str(e.value)
