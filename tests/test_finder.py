"""The proxy finder (benchmark/find): the racing rule on synthetic fidelities, the SPEC parser,
and the driver on proxies whose scores and seconds are deterministic (noisy copies of the truth
with fixed seconds), so that two runs, a rerun and a killed-and-resumed run can be compared
exactly. Bad input on the command line is in tests/test_cli_errors.py."""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from analysis.metrics import kendall_tau, paired_difference
from benchmark.cli import main
from benchmark.executors import LocalExecutor
from benchmark.find.driver import FindSpec, find
from benchmark.find.race import Entry, Judge, Rule, best_per_bracket
from benchmark.find.space import parse_space
from nb201 import groundtruth as gt
from nb201.api import Outcome, Proxy
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import FindResults, Store
from proxies import REGISTRY

FAST = Rule(n0=20, n_boot=100)


# ------------------------------------------------------------------ the rule, on synthetic data

def _synthetic(seed: int = 0, n: int = 200):
    """Truth and candidates of known quality: (noise, cost per arch) per name."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal(n)
    specs = {"sharp": (0.3, 1.0), "fair": (1.0, 0.1), "poor": (4.0, 0.01),
             "dear-poor": (4.0, 5.0), "dear-fair": (1.2, 2.0), "twin-fair": (1.0, 0.1)}
    entries = {name: Entry(truth + noise * rng.standard_normal(n), cost)
               for name, (noise, cost) in specs.items()}
    return truth, entries


def test_a_dropped_candidate_is_dominated_by_a_no_dearer_one_whose_paired_ci_is_above_it():
    truth, entries = _synthetic()
    rule = Rule(n_boot=200)
    verdict = Judge(kendall_tau, rule, seed=3)(entries, truth, set(entries))
    assert {"dear-poor", "dear-fair"} <= set(verdict.drops)          # worse than fair, dearer
    assert not {"sharp", "fair", "poor"} & set(verdict.drops)       # each the best at its cost
    for name, drop in verdict.drops.items():
        assert entries[drop.by].cost <= entries[name].cost
        check = paired_difference(kendall_tau, entries[drop.by].scores, entries[name].scores,
                                  truth, rule.n_boot, rule.alpha, seed=3)
        assert check["ci"][0] > 0 and list(drop.ci) == check["ci"]


def test_a_better_but_dearer_candidate_is_never_dropped_and_undefined_ones_are():
    truth, entries = _synthetic(1, 60)
    entries["constant"] = Entry(np.zeros(60), 50.0)
    entries["cheap-constant"] = Entry(np.zeros(60), 0.0)    # nothing is cheaper: kept
    verdict = Judge(kendall_tau, Rule(n_boot=200), seed=0)(entries, truth, set(entries))
    assert "sharp" not in verdict.drops and "cheap-constant" not in verdict.drops
    assert verdict.drops["constant"].reason.startswith("fidelity undefined")


def test_a_narrow_uncontested_candidate_settles_a_contested_one_does_not():
    rng = np.random.default_rng(5)
    truth = rng.standard_normal(200)
    near = truth + 0.05 * rng.standard_normal(200)
    entries = {"near": Entry(near, 1.0), "far": Entry(truth + 5 * rng.standard_normal(200), 0.1)}
    judge = Judge(kendall_tau, Rule(n_boot=200, narrow=0.2), seed=0)
    assert judge(entries, truth, {"near"}).settled == ("near",)   # only growing ones settle
    entries["near-twin"] = Entry(near + 1e-3 * rng.standard_normal(200), 1.0)  # indistinguishable
    verdict = Judge(kendall_tau, Rule(n_boot=200, narrow=0.2), seed=0)(entries, truth, set(entries))
    assert "near" not in verdict.settled and "near-twin" not in verdict.settled


def test_rounds_grow_from_n0_to_the_pool_and_bad_rules_are_refused():
    assert Rule(n0=25).sizes(200) == [25, 50, 100, 200]
    assert Rule(n0=25, growth=3).sizes(100) == [25, 75, 100]
    assert Rule(n0=25).sizes(10) == [10]
    for bad in (Rule(n0=2), Rule(growth=1), Rule(narrow=0), Rule(n_boot=5), Rule(alpha=0.7)):
        with pytest.raises(UserError):
            bad.check()


def test_the_command_line_and_find_tables_take_findspecs_defaults():
    from benchmark.cli import build_parser
    from benchmark.find.driver import OBJECTIVES
    from benchmark.find.experiment import parse_finds
    args = build_parser().parse_args(["find", "--space", "params", "--budget", "1"])
    [entry] = parse_finds([{"space": "params", "budget": 1}], "f.toml", (FindSpec.dataset,), 0,
                          REGISTRY)
    spec = FindSpec("params", budget_s=1.0)
    assert entry.spec == spec and FindSpec.objective in OBJECTIVES
    assert (args.dataset, args.truth, args.objective, args.pool, args.n0) == (
        spec.dataset, spec.truth, spec.objective, spec.pool, spec.rule.n0)


def test_best_per_bracket_takes_the_best_that_costs_no_more():
    costs = {"a": 0.003, "b": 0.05, "c": 2.0, "d": 30.0}
    values = {"a": 0.3, "b": 0.6, "c": 0.5, "d": 0.7}
    assert [(row["up_to_s"], row["best"]) for row in best_per_bracket(costs, values)] == [
        (0.01, "a"), (0.1, "b"), (1.0, "b"), (10.0, "b"), (100.0, "d")]
    costs["lookup"], values["lookup"] = 2e-6, 0.1       # brackets start at a millisecond
    assert best_per_bracket(costs, values)[0] == {"up_to_s": 0.001, "best": "lookup"}


# ------------------------------------------------------------------ the space

def test_the_space_lists_names_and_the_grid_of_schedules_and_reads():
    assert parse_space("synflow,params c=8 r=8 s=8 e=2 read=all", REGISTRY, "cifar10") == (
        "synflow", "params", "c8r8s8e2@1", "c8r8s8e2")
    assert parse_space("c=4,8 e=3", REGISTRY, "cifar10") == ("c4r1s1e3", "c8r1s1e3")
    assert parse_space("e=2,4 read=1,3 s=16", REGISTRY, "cifar10") == (
        "c1r1s16e2@1", "c1r1s16e4@1", "c1r1s16e4@3")
    assert parse_space("params params,flops", REGISTRY, "cifar10") == ("params", "flops")
    # a learned proxy's name may hold "=": it is a name, not a factor
    assert parse_space("params,learned:ridge:50:label=valid_12:graph", REGISTRY, "cifar10") == (
        "params", "learned:ridge:50:label=valid_12:graph")


@pytest.mark.parametrize("text, message", [
    ("", "find space is empty"),
    ("synflw", "unknown proxy 'synflw'; did you mean 'synflow'?"),
    ("params x=2 e=1", "unknown factor 'x'"),
    ("params c=2", "a training grid needs e=EPOCHS"),
    ("c=two e=1", "each value must be an integer"),
    ("e=0", "each value must be an integer >= 1"),
    ("c=3 r=3 e=1", "r3: 32x32 images cannot be reduced by 3"),
    ("e=1 e=2", "factor 'e' given twice"),
])
def test_a_bad_space_is_one_line(text, message):
    with pytest.raises(UserError) as err:
        parse_space(text, REGISTRY, "cifar10")
    assert message in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ the driver

@dataclass(frozen=True)
class Noisy(Proxy):
    """The validation truth plus seeded noise of ``noise`` times its std; fixed seconds."""

    noise: float = 1.0
    seconds: float = 0.01

    def chunk_size(self, ctx) -> int:
        return 8

    def score(self, archs, indices, ctx):
        truth = gt.vector(ctx.dataset, "valid_200")
        rng = [np.random.default_rng([zlib.crc32(self.name.encode()), i]) for i in indices]
        return [Outcome(float(truth[i] + self.noise * 10 * r.standard_normal()), self.seconds)
                for i, r in zip(indices, rng)]


def _registry():
    registry = REGISTRY.copy()
    for name, noise, seconds in (("z-sharp", 0.2, 1.0), ("z-fair", 1.0, 0.1),
                                 ("z-poor", 6.0, 0.01), ("z-dear-poor", 6.0, 4.0),
                                 ("z-dear-fair", 1.5, 2.0)):
        registry.register(Noisy(name, "zero-cost", source="none", noise=noise, seconds=seconds))
    return registry


SPACE = "z-sharp,z-fair,z-poor,z-dear-poor,z-dear-fair"


def _find(db, seed=0, executor=None, registry=None):
    spec = FindSpec(SPACE, "cifar10", seed, 1e9, pool=80, rule=FAST)
    store = Store(db)
    try:
        return find(spec, registry or _registry(), Context.of("cifar10", 0), store,
                    progress=False, executor=executor)
    finally:
        store.close()


def _rows(db) -> int:
    store = Store(db)
    try:
        return store.db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    finally:
        store.close()


def _same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "computed_archs"} == \
        {k: v for k, v in b.items() if k != "computed_archs"}


def test_the_finder_drops_the_dominated_and_accounts_for_its_compute(tmp_path):
    result = _find(tmp_path / "r.sqlite")
    dropped = {row["name"]: row for row in result["dropped"]}
    assert {"z-dear-poor", "z-dear-fair"} <= set(dropped)
    assert {"z-sharp", "z-fair"} <= {row["name"] for row in result["front"]}
    for row in result["dropped"]:
        assert row["by_cost_per_arch_s"] <= row["cost_per_arch_s"]
        assert row["difference_ci"][0] > 0
    reads = {row["name"]: row["n"] for row in result["front"] + result["dropped"]}
    seconds = {"z-sharp": 1.0, "z-fair": 0.1, "z-poor": 0.01, "z-dear-poor": 4.0, "z-dear-fair": 2.0}
    assert result["spent_s"] == pytest.approx(sum(seconds[k] * n for k, n in reads.items()))
    assert result["brute_force_s"] == pytest.approx(result["final_n"] * sum(seconds.values()))
    assert result["spent_s"] < result["brute_force_s"]
    assert result["computed_archs"] == sum(reads.values()) == _rows(tmp_path / "r.sqlite")
    assert FindResults(Store(tmp_path / "r.sqlite")).get([result["digest"]]) == [result]


def test_deterministic_by_seed_and_a_rerun_computes_nothing(tmp_path):
    first = _find(tmp_path / "a.sqlite", seed=4)
    rows = _rows(tmp_path / "a.sqlite")
    again = _find(tmp_path / "a.sqlite", seed=4)
    assert again["computed_archs"] == 0 and _rows(tmp_path / "a.sqlite") == rows
    assert again == {**first, "computed_archs": 0}
    assert _same(_find(tmp_path / "b.sqlite", seed=4), first)          # a fresh store: the same
    other = _find(tmp_path / "b.sqlite", seed=5)
    assert other["digest"] != first["digest"] and other["rounds"] != first["rounds"]


class Dies:
    """Scores ``after`` chunks, then is killed."""

    def __init__(self, after: int):
        self.left = after

    def map(self, proxy, chunks, ctx):
        for chunk, outcomes in LocalExecutor().map(proxy, chunks, ctx):
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
            yield chunk, outcomes


def test_a_killed_finder_resumes_with_the_same_result(tmp_path):
    whole = _find(tmp_path / "whole.sqlite")
    with pytest.raises(KeyboardInterrupt):
        _find(tmp_path / "killed.sqlite", executor=Dies(after=7))
    kept = _rows(tmp_path / "killed.sqlite")
    assert 0 < kept < whole["computed_archs"]          # committed chunk by chunk
    resumed = _find(tmp_path / "killed.sqlite")
    assert _same(resumed, whole)
    assert resumed["computed_archs"] == whole["computed_archs"] - kept


def test_reads_of_one_schedule_are_charged_once(tmp_path):
    """nb201-12ep and nb201-12ep-valid stand for one 12-epoch NB201 run: charged once per arch."""
    spec = FindSpec("nb201-12ep,nb201-12ep-valid", "cifar10", 0, 1e9, pool=30, rule=FAST)
    result = find(spec, REGISTRY, Context.of("cifar10", 0), Store(tmp_path / "r.sqlite"),
                  progress=False)
    order = spec.order()
    once = float(np.sum(gt.vector("cifar10", "train_time_200_s")[order])) * 12 / 200
    assert result["final_n"] == 30 and result["spent_s"] == pytest.approx(once)
    assert result["brute_force_s"] == pytest.approx(once)


def test_the_find_command_prints_one_json_object_the_same_twice(tmp_path, capsys):
    argv = ["find", "--space", "params,flops,random", "--budget", "1000", "--dataset", "cifar10",
            "--seed", "1", "--pool", "60", "--n0", "20", "--results", str(tmp_path / "r.sqlite"),
            "--quiet", "--json"]
    outputs = []
    for _ in range(3):
        assert main(argv) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    first = outputs[0]
    assert first["computed_archs"] == sum(row["n"] for row in first["front"] + first["dropped"])
    assert outputs[1]["computed_archs"] == 0
    assert outputs[1] == outputs[2]
    assert {"front", "dropped", "spent_s", "brute_force_s"} <= set(outputs[0])
    assert "random" in {row["name"] for row in outputs[0]["dropped"]}
    assert all(math.isfinite(row["cost_per_arch_s"]) for row in outputs[0]["front"])


def test_an_experiment_runs_its_finder_and_reports_it(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('[[find]]\nname = "tables"\nspace = "params,random"\nbudget = 100\npool = 40\n'
                    'n0 = 20\n')
    out = tmp_path / "out"
    assert main(["run", str(path), "--results", str(tmp_path / "r.sqlite"), "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finds"][0]["name"] == "tables"
    assert (out / "tables" / "finder.csv").is_file()
    assert list((out / "figures").glob("h-finder-cifar10-*.png"))
    assert "python -m benchmark find --space" in (out / "report.md").read_text()
    path.write_text('[[find]]\nspace = "params"\nbudget = 100\nsample = 3\n')
    assert main(["run", str(path), "--results", str(tmp_path / "r.sqlite"), "--dry-run"]) == 2
    assert "unknown key 'sample'" in capsys.readouterr().err


def test_the_agreement_tool_compares_the_finder_with_brute_force(tmp_path, capsys):
    from tools import finder_agreement
    assert finder_agreement.main(["--space", "params,random,nb201-12ep-valid", "--pool", "40",
                                  "--n0", "20", "--seeds", "2", "--results",
                                  str(tmp_path / "r.sqlite"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    brute = out["brute_force"]
    assert set(brute["fidelity"]) == {"params", "random", "nb201-12ep-valid"}
    # nb201-12ep-valid (12 epochs of NB201 training, charged its recorded time) is the dearest
    assert brute["best_by_bracket"][-1]["best"] == max(brute["fidelity"], key=brute["fidelity"].get)
    assert len(out["runs"]) == 2 and 0 <= out["agreement"] <= 1
    assert all(0 < run["ratio"] <= 1 for run in out["runs"])
    assert finder_agreement.best_within({"a": 1.0, "b": 3.0}, {"a": 0.2, "b": 0.5}, 2.0) == "a"


def test_a_learned_candidate_pays_its_labels_once_and_is_judged_on_other_archs(tmp_path):
    """Two learned proxies on one training set share its labels: charged once to spent_s and to
    brute_force_s, spread over the pool in each one's cost per arch; their training archs are not
    in the pool."""
    from proxies.learned.base import training_set
    space = "params,learned:ridge:300:graph,learned:gbm:300:graph+params"
    spec = FindSpec(space, "cifar10", 0, 1e12, pool=600, rule=FAST)
    order = spec.order([REGISTRY.get(n) for n in spec.check(REGISTRY)])
    trained = set(training_set(300, 0).tolist())
    assert len(order) < 600 and not trained & set(order)
    result = find(spec, REGISTRY, Context.of("cifar10", 0), Store(tmp_path / "r.sqlite"),
                  progress=False)
    labels = float(np.sum(gt.vector("cifar10", "train_time_200_s")[sorted(trained)]))
    reads = {row["name"]: row for row in result["front"] + result["dropped"]}
    assert labels < result["spent_s"] < labels + 60          # the labels once, the rest lookups
    assert labels < result["brute_force_s"] < labels + 60
    for name in ("learned:ridge:300:graph", "learned:gbm:300:graph+params"):
        assert reads[name]["cost_per_arch_s"] == pytest.approx(labels / len(order), rel=0.01)
