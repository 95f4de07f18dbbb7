"""Search results in analysis.search: summaries over runs, reaching the optimum at any point and
at the end, one run's spread, the answers looked up on other datasets, the figure."""
import math

import numpy as np
import pytest

from analysis import search as analysis


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
