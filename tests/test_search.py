"""Search strategies on a small fake fitness table: determinism, aging, ladder charges, no access
to the truth; the cost ledger; stored and resumed runs; the CLI's bad inputs."""
import dataclasses
import json
import math
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from analysis import search as analysis
from nb201 import groundtruth as gt
from nb201.context import Context
from nb201.errors import UserError
from benchmark.search import STRATEGIES
from benchmark.search.cost import Ledger, increment
from nb201.api import Charge
from benchmark.search.econas import split
from benchmark.search.ladder import PRESETS, Ladder, Level, parse
from benchmark.search.loop import BudgetSpent, Limits, run_one
from benchmark.search.moves import Moves
from benchmark.search.observer import Observer
from benchmark.search.rea import evolve
from benchmark.search.service import SearchSpec, check, search
from benchmark.search.strategy import Options, Strategy
from nb201.registry import Registry
from nb201.store import SearchRuns, Store
from proxies import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
TABLE = np.random.default_rng(7).random(gt.NUM_ARCHS) * 100  # the fake fitness of every arch


class FakeFitness:
    """Level l's score of arch i is TABLE[i] + l; each level's charge is given per level."""

    def __init__(self, charges: list[Charge]):
        self.charges = charges
        self.asked: list[tuple[int, list[int]]] = []

    names = property(lambda self: [f"level{k}" for k in range(len(self.charges))])
    depth = property(lambda self: len(self.charges))
    higher_is_better = property(lambda self: [True] * len(self.charges))

    def evaluate(self, level, indices):
        self.asked.append((level, list(indices)))
        return TABLE[indices] + level, [self.charges[level]] * len(indices)


class Tripwire:
    """A truth table that raises when anything but the observer reads it."""

    def __getitem__(self, index):
        caller = sys._getframe(1).f_locals.get("self")
        if not isinstance(caller, Observer):
            raise AssertionError("the truth was read outside the observer")
        return 50.0 + index % 7


def fake_run(name, ladder="fake", seed=0, budget=2000.0, charges=None, **options):
    strategy = STRATEGIES.get(name).from_options(Options(**options))
    levels = strategy.levels(parse(ladder))
    fitness = FakeFitness(charges or [Charge(f"fake{k}", 1, 1, 10.0) for k in range(len(levels))])
    record = run_one(strategy, levels, fitness, Limits(budget_s=budget), Observer(Tripwire()),
                     Moves(options.get("unique", False)), seed=[seed, 0])
    return record, fitness


LADDERS = {"random": "fake", "rea": "fake", "zc-warmup": "fake",
           "econas": "a:8,b:4,c:2", "top-k": "a:150,b:80"}


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_each_strategy_is_deterministic_and_never_reads_the_truth(name, monkeypatch):
    def no_truth(*args, **kwargs):
        raise AssertionError("a strategy read NB201's table")
    monkeypatch.setattr(gt, "vector", no_truth)
    options = {"pool": 50} if name == "zc-warmup" else {}
    first, _ = fake_run(name, LADDERS[name], **options)
    again, _ = fake_run(name, LADDERS[name], **options)
    other, _ = fake_run(name, LADDERS[name], seed=1, **options)
    assert first == again and first != other
    assert first["stop"] == "budget" and first["cost"] <= 2000.0
    assert first["queries"] == round(first["cost"] / 10.0)
    assert first["trajectory"] and first["final_index"] == first["trajectory"][-1]["best_index"]
    costs = [p["cost"] for p in first["trajectory"]]
    assert costs == sorted(costs)


def test_the_answer_is_the_best_fitness_at_the_highest_level():
    record, fitness = fake_run("random", budget=500.0)
    asked = [i for _, batch in fitness.asked for i in batch][:record["queries"]]
    assert record["final_index"] == max(asked, key=lambda i: TABLE[i])
    ladder, fitness = fake_run("econas", "a:8,b:4,c:2", budget=400.0)
    top = [i for level, batch in fitness.asked if level == 2 for i in batch]
    assert ladder["final_index"] == max(top, key=lambda i: TABLE[i])


@pytest.mark.parametrize("higher", [True, False])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_search_never_prefers_a_non_finite_fitness(bad, higher):
    """Every non-finite fitness ranks last, whatever the direction (nb201.ranking's policy): a
    proxy that overflows to +inf for one arch does not make that arch the answer."""
    class Direction(FakeFitness):
        higher_is_better = property(lambda self: [higher])

        def evaluate(self, level, indices):
            scores, charges = super().evaluate(level, indices)
            return np.where(np.array(indices) == indices[0] if self.asked == [(level, indices)]
                            else False, bad, scores if higher else -scores), charges

    fitness = Direction([Charge("fake", 1, 1, 10.0)])
    strategy = STRATEGIES.get("random").from_options(Options())
    record = run_one(strategy, parse("fake"), fitness, Limits(queries=20),
                     Observer(Tripwire()), Moves(False), seed=[0, 0])
    asked = [i for _, batch in fitness.asked for i in batch][:record["queries"]]
    assert record["final_index"] == max(asked[1:], key=lambda i: TABLE[i])


def test_rea_population_ages_the_best_member_dies():
    population = deque([(100.0, 0), (1.0, 1), (1.0, 2)])  # oldest first; arch 0 is the best
    parents, calls = [], {"n": 0}

    def ask(level, indices):
        calls["n"] += 1
        if calls["n"] > 20:
            raise BudgetSpent("queries")
        return [0.0]

    def mutate(parent):
        parents.append(parent)
        return 1000 + len(parents)

    with pytest.raises(BudgetSpent):
        evolve(ask, None, np.random.default_rng(0), population, 3, 0, mutate)
    assert len(parents) == 21 and 0 not in parents[1:]  # gone after the first child: it aged out
    assert 0 not in [m[1] for m in population] and len(population) == 3


def test_rea_population_and_tournament_follow_the_options():
    record, fitness = fake_run("rea", budget=300.0, population=5, sample_size=2)
    first = [i for _, batch in fitness.asked[:5] for i in batch]
    assert len(first) == 5 and all(len(b) == 1 for _, b in fitness.asked)
    neighbours = {a for i in first for a in Moves().neighbours(i)}
    assert fitness.asked[5][1][0] in neighbours  # the first child mutates a member


def test_zc_warmup_seeds_the_population_with_the_zero_cost_top():
    record, fitness = fake_run("zc-warmup", budget=5000.0, pool=40, population=4)
    level, pool = fitness.asked[0]
    assert level == 0 and len(pool) == len(set(pool)) == 40
    seeded = [batch[0] for level, batch in fitness.asked[1:5]]
    assert all(level == 1 for level, _ in fitness.asked[1:5])
    assert seeded == sorted(pool, key=lambda i: -TABLE[i])[:4]
    guided, fitness = fake_run("zc-warmup", budget=5000.0, pool=40, population=4, zc_move=True)
    assert any(level == 0 and len(b) == 24 for level, b in fitness.asked[1:])  # neighbours scored


def test_econas_promotes_the_best_and_splits_parents():
    assert split(16, 3) == [6, 5, 5] and split(8, 2) == [4, 4] and split(3, 3) == [1, 1, 1]
    record, fitness = fake_run("econas", "a:8,b:4,c:2", budget=800.0)
    first = fitness.asked[0][1]
    assert fitness.asked[0][0] == 0 and len(first) == 8
    level, promoted = fitness.asked[1]
    assert level == 1 and promoted == sorted(first, key=lambda i: -TABLE[i])[:4]
    assert record["cost_by_level"][0]["evaluations"] >= 8


def test_econas_draws_parents_before_promotion():
    """Cycle 1 draws its parents from the pools as they stand before its promotions: only level
    0's pool has members then, so only its share (3 of 8 over 3 levels) of parents is drawn."""
    record, fitness = fake_run("econas", "a:8,b:4,c:2", budget=800.0)
    (_, first), (promoted_to, _), (level, children) = fitness.asked[:3]
    assert promoted_to == 1 and level == 0 and 1 <= len(children) <= split(8, 3)[0]
    assert all(any(c in Moves().neighbours(a) for a in first) for c in children)


def test_top_k_reads_every_arch_then_the_top_of_the_cheap_level():
    charges = [Charge("zc", 1, 1, 0.001), Charge("t", 1, 1, 10.0)]
    record, fitness = fake_run("top-k", "a,b:5", budget=1e6, charges=charges)
    (level0, everything), (level1, top) = fitness.asked
    assert level0 == 0 and sorted(everything) == list(range(gt.NUM_ARCHS))
    assert level1 == 1 and top == sorted(everything, key=lambda i: -TABLE[i])[:5]
    assert record["stop"] == "finished" and record["final_index"] == top[0]
    _, unique = fake_run("top-k", "a:100,b:5", budget=1e6, charges=charges, unique=True)
    assert len(set(unique.asked[0][1])) == 100 and len(unique.asked[1][1]) == 5
    with pytest.raises(UserError, match="needs a count at every level above the first"):
        STRATEGIES.get("top-k").from_options(Options()).levels(parse("a,b"))


def test_the_ladder_charges_only_trained_epochs():
    """One 6-epoch schedule read at 2, 4, 6: each level pays 2/6 of the run's 60 s; reading
    from scratch would have cost 20, 40 and 60 s."""
    charges = [Charge("c8r4s8e6", m, 6, 60.0) for m in (2, 4, 6)]
    record, _ = fake_run("econas", "a:8,b:4,c:2", budget=1000.0, charges=charges)
    by_level = record["cost_by_level"]
    for level, per_level in enumerate(by_level):
        assert per_level["charged_s"] == pytest.approx(20.0 * per_level["evaluations"])
        assert per_level["from_scratch_s"] == pytest.approx(20.0 * (level + 1) * per_level["evaluations"])
    assert by_level[2]["evaluations"] > 0
    assert record["cost"] == pytest.approx(sum(p["charged_s"] for p in by_level))


def test_ledger_and_increment():
    charge = lambda m: Charge("s", m, 40, 80.0)  # noqa: E731
    assert increment(charge(20), 0) == 40.0 and increment(charge(20), 30) == 0.0
    ledger = Ledger()
    assert ledger.quote(5, charge(20)) == 40.0
    ledger.pay(5, charge(20))
    assert ledger.quote(5, charge(40)) == 40.0 and ledger.quote(5, charge(20)) == 0.0
    assert ledger.quote(6, charge(40)) == 80.0  # another arch starts from scratch
    assert ledger.quote(5, Charge("other", 20, 40, 80.0)) == 40.0  # another schedule too


def test_charges_of_table_and_training_proxies():
    recorded = gt.vector("cifar10", "train_time_200_s")[123]
    twelve = REGISTRY.get("nb201-12ep-valid").charge(123, 0.001, "cifar10")
    assert twelve.seconds == pytest.approx(recorded * 12 / 200) and increment(twelve, 0) == twelve.seconds
    full = REGISTRY.get("nb201-200ep-valid").charge(123, 0.001, "cifar10")
    assert increment(full, 0) == pytest.approx(recorded) and full.schedule != twelve.schedule
    # the 12-epoch test and validation accuracies come from the same NB201 run: paid once
    assert REGISTRY.get("nb201-12ep").charge(123, 0.0, "cifar10") == twelve
    assert REGISTRY.get("params").charge(123, 0.25, "cifar10") == Charge("params", 1, 1, 0.25)
    # a training read is handed Proxy.cost: the run's 10 s per trained epoch x the epochs read
    at2 = REGISTRY.get("c8r4s8e6@2").charge(5, 20.0, "cifar10")
    assert (at2.schedule, at2.upto, at2.of, at2.seconds) == ("c8r4s8e6", 2, 2, 20.0)
    assert increment(REGISTRY.get("c8r4s8e6@4").charge(5, 40.0, "cifar10"), at2.upto) == 20.0


def test_moves_unique_space_and_neighbours():
    moves, unique = Moves(), Moves(unique=True)
    assert moves.size == gt.NUM_ARCHS and unique.size == 6466
    rng = np.random.default_rng(0)
    drawn = unique.sample(rng, 200)
    representatives = set(np.unique(unique._representative))
    assert set(drawn) <= representatives
    assert all(unique.mutate(i, rng) in representatives for i in drawn[:20])
    assert len(moves.neighbours(0)) == 24 and 0 not in moves.neighbours(0)
    assert len(set(moves.sample(rng, 500, distinct=True))) == 500


def test_ladder_parse_and_presets():
    assert parse("synflow") == Ladder((Level("synflow"),))
    assert str(parse("a:16, b:8 ,c:4")) == "a:16,b:8,c:4"
    assert str(parse("econas")) == PRESETS["econas"]
    # names may hold colons: only a last ":NUMBER" is a count
    assert parse("naslib:synflow:8,learned:gbm:200:graph") == Ladder(
        (Level("naslib:synflow", 8), Level("learned:gbm:200:graph")))
    for bad, message in (("a:0", "positive integer"), ("a:-1", "positive integer"), (",a", "empty"),
                         ("a:2,a:2", "twice"), ("", "empty")):
        with pytest.raises(UserError, match=message):
            parse(bad)
    with pytest.raises(UserError, match="not the ladder"):
        STRATEGIES.get("rea").from_options(Options()).levels(parse("a:3,b"))
    assert str(STRATEGIES.get("econas").from_options(Options()).levels(parse("a,b:4"))) == "a:16,b:4"


def test_a_ladder_refuses_a_proxy_twice_but_reads_one_schedule_at_two_epochs():
    with pytest.raises(UserError, match="'a' appears twice"):
        parse("a:8,a:4")
    schedule = "c4r4s0e60@20:16,c4r4s0e60@40:8"
    assert parse(schedule).names() == ["c4r4s0e60@20", "c4r4s0e60@40"]
    assert check(SearchSpec("econas", schedule, limits=Limits(queries=3)), REGISTRY).ladder
    with pytest.raises(UserError, match="'params' appears twice"):
        check(SearchSpec("zc-warmup", "params", options=Options(zc_proxy="params")), REGISTRY)


def test_strategy_registry_refuses_duplicates_and_suggests():
    registry = Registry("strategy", lambda cls: cls.name)

    @dataclasses.dataclass(frozen=True)
    class Thing(Strategy):
        name = "thing"

    registry.register(Thing)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Thing)
    with pytest.raises(UserError, match="did you mean 'thing'"):
        registry.get("thnig")
    assert {"random", "rea", "econas", "zc-warmup"} <= set(STRATEGIES.names())


def test_check_rejects_bad_specs_before_computing():
    for spec, message in (
            (SearchSpec("rea", "nb201-12ep-valid", limits=Limits(budget_s=0)), "--budget must be > 0"),
            (SearchSpec("rea", "nb201-12ep-valid", limits=Limits(queries=0)), "--queries"),
            (SearchSpec("rea", "nb201-12ep-valid", limits=Limits()), "exactly one"),
            (SearchSpec("reaa", "nb201-12ep-valid"), "did you mean 'rea'"),
            (SearchSpec("econas", "a:1,nope"), "unknown proxy 'a'"),
            (SearchSpec("rea", "nb201-12ep-valid", options=Options(sample_size=11)), "--sample-size"),
            (SearchSpec("rea", "nb201-12ep-valid", runs=0), "--runs")):
        with pytest.raises(UserError, match=message):
            check(spec, REGISTRY)


def test_check_warns_when_the_fitness_reads_the_test_set_or_the_truth():
    def warned(fitness, truth="test_200"):
        spec = SearchSpec("rea", fitness, truth=truth, limits=Limits(queries=3))
        return check(spec, REGISTRY).warnings

    assert warned("nb201-12ep-valid") == () and warned("nb201-200ep-valid") == ()
    assert len(warned("nb201-12ep")) == 1 and "test-set accuracy" in warned("nb201-12ep")[0]
    assert "the truth" in warned("nb201-200ep-valid", "valid_200")[0]
    assert all("\n" not in w for w in warned("nb201-12ep", "valid_200"))


def test_runs_are_stored_and_reused(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    spec = SearchSpec("rea", "nb201-12ep-valid", limits=Limits(queries=15), runs=2, seed=4)
    first = search(check(spec, REGISTRY), Context("cifar10"), store, progress=False)
    assert first["computed_runs"] == 2 and all(r["queries"] == 15 for r in first["runs"])
    again = search(check(spec, REGISTRY), Context("cifar10"), store, progress=False)
    assert again["computed_runs"] == 0 and again["runs"] == first["runs"]
    more = search(check(dataclasses.replace(spec, runs=3), REGISTRY), Context("cifar10"), store, progress=False)
    assert more["computed_runs"] == 1 and more["runs"][:2] == first["runs"]
    truth = gt.vector("cifar10", "test_200")
    for run in more["runs"]:
        assert all(p["best_truth"] == pytest.approx(truth[p["best_index"]]) for p in run["trajectory"])
    assert len(SearchRuns(store).frame()) == 3


def test_analysis_summaries():
    runs = [{"trajectory": [{"cost": 10.0, "queries": 1, "best_index": 1, "best_truth": 90.0},
                            {"cost": 50.0, "queries": 5, "best_index": 2, "best_truth": 94.0}],
             "final_truth": 94.0, "cost": 100.0, "queries": 10},
            {"trajectory": [{"cost": 20.0, "queries": 2, "best_index": 3, "best_truth": 92.0}],
             "final_truth": 92.0, "cost": 100.0, "queries": 10}]
    s = analysis.summarize(runs, optimum=94.3)
    assert s["final_truth_mean"] == 93.0 and s["final_truth_std"] == pytest.approx(math.sqrt(2))
    assert s["final_truth_se"] == pytest.approx(1.0)
    assert s["reach"]["runs_reached"] == 1 and s["reach"]["cost_median"] is None
    assert s["reach"]["cost_mean_reached"] == 50.0
    assert math.isnan(analysis.value_at(runs[0]["trajectory"], 5.0))
    assert analysis.value_at(runs[0]["trajectory"], 49.0) == 90.0
    mean, se = analysis.curve(runs, np.array([15.0, 60.0]))
    assert math.isnan(mean[0]) and mean[1] == 93.0 and se[1] == pytest.approx(1.0)
    assert analysis.truth_vs_cost({"x": runs}, 94.3) is not None


def _run(points: list[tuple[float, float]], cost: float) -> dict:
    trajectory = [{"cost": c, "queries": k + 1, "best_index": k, "best_truth": t}
                  for k, (c, t) in enumerate(points)]
    return {"trajectory": trajectory, "final_truth": points[-1][1],
            "final_index": len(points) - 1, "cost": cost, "queries": len(points)}


def test_reached_is_at_any_point_and_ending_within_is_at_the_end():
    lost, kept = _run([(10.0, 94.2), (20.0, 93.0)], 30.0), _run([(10.0, 94.2)], 30.0)
    s = analysis.summarize([lost, kept], optimum=94.3)
    assert s["reach"]["runs_reached"] == 2 and s["reach"]["runs_ending_within"] == 1
    row = analysis.table([{"dataset": "cifar10", "label": "x", "budget": "30 s",
                           "summary": s}]).iloc[0]
    assert row["reached optimum-0.5 at any point"] == "2/2"
    assert row["ended within optimum-0.5"] == "1/2"


def test_one_run_has_no_spread():
    s = analysis.summarize([_run([(10.0, 94.2)], 30.0)], optimum=94.3)
    assert s["final_truth_mean"] == 94.2
    assert s["final_truth_std"] is None and s["final_truth_se"] is None
    assert s["reach"]["cost_se_reached"] is None
    row = analysis.table([{"dataset": "cifar10", "label": "x", "budget": "30 s",
                           "summary": s}]).iloc[0]
    assert row["std"] is None and row["se"] is None


def test_looked_up_reads_each_final_arch_in_another_table():
    runs = [{"final_index": 1}, {"final_index": 3}, {"final_index": None}]
    out = analysis.looked_up(runs, np.array([0.0, 10.0, 20.0, 30.0]))
    assert out["final_truth_mean"] == 20.0
    assert out["final_truth_std"] == pytest.approx(math.sqrt(200))
    assert out["final_truth_se"] == pytest.approx(10.0)


def test_the_figure_draws_each_search_up_to_its_own_largest_cost():
    short = [_run([(2.0, 90.0), (30.0, 93.0)], 36.0)]
    long = [_run([(100.0, 92.0), (5000.0, 94.0)], 12000.0),
            _run([(150.0, 91.0), (4000.0, 93.5)], 11000.0)]
    fig = analysis.truth_vs_cost({"short": short, "long": long}, 94.3)
    lines = {line.get_label().split(" (")[0]: line for line in fig.axes[0].get_lines()}
    xs = np.asarray(lines["short"].get_xdata())
    assert xs.max() == pytest.approx(36.0) and xs.min() <= 2.0 + 1e-9
    assert np.asarray(lines["long"].get_xdata()).max() == pytest.approx(12000.0)
    assert fig.axes[0].get_xlim() == pytest.approx((2.0, 12000.0))
    import matplotlib.pyplot as plt
    plt.close(fig)


@pytest.mark.parametrize("args, message", [
    (["--strategy", "reaa", "--fitness", "nb201-12ep-valid", "--budget", "100"], "unknown strategy"),
    (["--strategy", "econas", "--fitness", "synflow:0,nb201-12ep-valid", "--budget", "100"],
     "bad ladder"),
    (["--strategy", "econas", "--fitness", "synflow:2,,c4r4s0e4@2", "--budget", "100"], "bad ladder"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "0"], "--budget must be > 0"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "-3"], "--budget must be > 0"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid"], "give exactly one of budget"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "inf"],
     "--budget must be > 0 and finite"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "nan"],
     "--budget must be > 0 and finite"),
    (["--strategy", "econas", "--fitness", "params:64,params:8", "--budget", "100"], "twice"),
    (["--strategy", "top-k", "--fitness", "params,nb201-12ep-valid", "--budget", "100"],
     "needs a count"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "100", "--lookup",
      "cifar1000"], "unknown dataset 'cifar1000'"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "100", "--lookup",
      "cifar100,cifar100"], "given twice"),
    (["--strategy", "rea", "--fitness", "nb201-12ep-valid", "--budget", "100", "--lookup",
      "cifar100,"], "empty dataset name"),
])
def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    from benchmark.cli import main
    results = tmp_path / "r.sqlite"
    code = main(["search", *args, "--runs", "2", "--results", str(results), "--json"])
    out = capsys.readouterr()
    assert code == 2 and message in out.err
    assert out.err.strip().count("\n") == 0 and out.out == "" and not results.exists()


def test_cli_exit_status_in_a_real_process(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmark", "search", "--strategy", "rea",
                          "--fitness", "nb201-12ep-valid", "--budget", "0", "--runs", "2",
                          "--results", str(tmp_path / "r.sqlite")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0


def test_cli_search_json(tmp_path, capsys):
    from benchmark.cli import main
    args = ["search", "--strategy", "random", "--fitness", "nb201-12ep-valid", "--dataset",
            "cifar100", "--budget", "3000", "--runs", "3", "--seed", "1", "--results",
            str(tmp_path / "r.sqlite"), "--json", "--quiet"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"strategy", "fitness", "dataset", "runs", "final_truth_mean", "final_truth_std",
            "final_truth_se", "runs_detail", "reach", "optimum"} <= set(out)
    assert out["runs"] == 3 and len(out["runs_detail"]) == 3
    assert set(out["runs_detail"][0]["trajectory"][0]) == {"cost", "queries", "best_index", "best_truth"}
    assert out["optimum"] == pytest.approx(float(np.nanmax(gt.vector("cifar100", "test_200"))))
    assert all(r["cost"] <= 3000 for r in out["runs_detail"])


def test_cli_search_lookup_and_warnings(tmp_path, capsys):
    from benchmark.cli import main
    args = ["search", "--strategy", "rea", "--fitness", "nb201-12ep", "--queries", "12",
            "--runs", "2", "--lookup", "cifar100,imagenet16-120", "--results",
            str(tmp_path / "r.sqlite"), "--json", "--quiet"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    finals = [r["final_index"] for r in out["runs_detail"]]
    assert set(out["lookup"]) == {"cifar100", "imagenet16-120"}
    for dataset, found in out["lookup"].items():
        values = gt.vector(dataset, "test_200")[finals]
        assert found["final_truth_mean"] == pytest.approx(values.mean())
        assert found["final_truth_std"] == pytest.approx(values.std(ddof=1))
        assert found["final_truth_se"] == pytest.approx(values.std(ddof=1) / math.sqrt(2))
    assert len(out["warnings"]) == 1 and "test-set accuracy" in out["warnings"][0]
    assert captured.err.count("warning: ") == 1 and captured.err.count("\n") == 1


def test_cli_search_text_of_one_run_has_no_spread(tmp_path, capsys):
    from benchmark.cli import main
    assert main(["search", "--strategy", "random", "--fitness", "nb201-12ep-valid", "--queries",
                 "5", "--runs", "1", "--results", str(tmp_path / "r.sqlite"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "+- n/a (se n/a) over 1 run;" in out and "ended within it" in out


SEARCH_EXPERIMENT = """
title = "searches"
[[search]]
name = "baselines"
strategy = ["rea", "random"]
fitness = "nb201-12ep-valid"
budget = [1500, 3000]
runs = 3
[[search]]
name = "ladder"
strategy = "econas"
fitness = "nb201-12ep:8,nb201-200ep-valid:2"
queries = 20
runs = 2
datasets = ["cifar100"]
"""


def test_experiment_search_tables_are_checked(tmp_path):
    from benchmark.experiments.spec import parse_experiment
    from proxies import REGISTRY
    exp = parse_experiment(SEARCH_EXPERIMENT, tmp_path / "s.toml", REGISTRY)
    assert not exp.groups and len(exp.searches) == 5
    assert {(e.spec.strategy, e.spec.limits.budget_s) for e in exp.searches[:4]} == {
        ("rea", 1500.0), ("rea", 3000.0), ("random", 1500.0), ("random", 3000.0)}
    assert exp.searches[4].spec.dataset == "cifar100" and "--queries 20" in exp.searches[4].command()
    for text, message in (
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\nbudgt=2', "unknown key 'budgt'"),
            ('[[search]]\nstrategy="rea"\nbudget=1', "'fitness' is missing"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\nqueries=3', "exactly one"),
            ('[[search]]\nstrategy="econas"\nfitness="a:0"\nbudget=1', "bad ladder"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=0', "--budget must be > 0"),
            ('[[search]]\nstrategy="rea"\nfitness="nb201-12ep-valid"\nbudget=1\npool="x"', "'pool' must be"),
            ("seed = 0", "no [[group]] of proxies, no [[search]], no [[learn]] "
             "and no [[find]]")):
        with pytest.raises(UserError, match=re.escape(message)) as err:
            parse_experiment(text, tmp_path / "bad.toml", REGISTRY)
        assert "\n" not in str(err.value) and "bad.toml" in str(err.value)


def test_experiment_runs_searches_and_reports_them(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.experiments.run import run_experiment
    from proxies import REGISTRY
    path = tmp_path / "s.toml"
    path.write_text(SEARCH_EXPERIMENT)
    out, results = tmp_path / "out", tmp_path / "r.sqlite"
    assert main(["run", str(path), "--results", str(results), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["computed_runs"] for s in summary["searches"]] == [3, 3, 3, 3, 2]
    assert summary["search_seconds"] > 0 and "; searches in " in summary["message"]
    html = (out / "report.html").read_text()
    assert 'id="figure-g-cifar10"' in html and 'id="figure-g-cifar100"' in html
    assert 'id="table-search"' in html and "python -m benchmark search --strategy econas" in html
    table = (out / "tables" / "search.csv").read_text()
    assert table.count("\n") == 6 and "econas" in table
    again = run_experiment(path, REGISTRY, results, out=out, progress=False).summary
    assert all(s["computed_runs"] == 0 for s in again["searches"])
