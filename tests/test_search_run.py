"""Searches run as a library call (benchmark.search.run) and the ``search`` command: every input checked before anything is computed,
warnings on fitness that reads the test set or the truth, runs stored and reused, the command's
JSON and text, and its bad inputs (exit 2, one line)."""
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nb201 import groundtruth as gt
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import SearchRuns, Store
from benchmark.search.loop import Limits
from benchmark.search.run import SearchSpec, check, search
from benchmark.search.strategy import Options
from proxies import REGISTRY


ROOT = Path(__file__).resolve().parent.parent


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
    assert captured.err.count("warning: ") == 1 and captured.err.count("\n") == 2   # and the store line


def test_cli_search_text_of_one_run_has_no_spread(tmp_path, capsys):
    from benchmark.cli import main
    assert main(["search", "--strategy", "random", "--fitness", "nb201-12ep-valid", "--queries",
                 "5", "--runs", "1", "--results", str(tmp_path / "r.sqlite"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "+- n/a (se n/a) over 1 run;" in out and "ended within it" in out
