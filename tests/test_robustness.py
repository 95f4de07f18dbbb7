"""Issue 30, the rest of it: the Python API's table of bad arguments (each a UserError with the
CLI's one-line message, nothing written), and what succeeds where it used to fail: a store
poisoned by a plugin is read (a one-line notice names ``prune``) and healed, a store on a
read-only file system is read, a dry run creates nothing, a resumed training run leaves no
checkpoint behind. The CLI's table of bad input is tests/test_cli_errors.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import proxies.training as training
from benchmark.api import Benchmark, register
from benchmark.cli import main
from benchmark.runner import compute
from nb201.api import REGISTRY, Outcome, outcome_problem
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import FindResults, Key, SearchRuns, Store
from tests.hostile import (DISKS, PLUGINS, POISONED, isolate_plugins, mount_small, poison, rows,
                           snapshot)
from tests.test_training_proxy import folder  # noqa: F401  (fixture)

# ------------------------------------------------------------------ the Python API (item 12)

#: name: (what is called on a Benchmark of cifar10, a piece of the message)
API_CASES = {
    "truth-negative-index": (lambda b: b.truth([-1]), "NB201 index -1 is out of range 0..15624"),
    "truth-float-index": (lambda b: b.truth([1.7]), "indices: 1.7 is neither an NB201 index"),
    "scores-float-index": (lambda b: b.scores("params", [1.9]), "indices: 1.9 is neither"),
    "truth-index-too-large": (lambda b: b.truth([99999]), "NB201 index 99999 is out of range"),
    "truth-no-archs": (lambda b: b.truth([]), "indices lists no archs"),
    "truth-unknown-metric": (lambda b: b.truth([1], truth="accuracy"), "unknown metric"),
    "sample-text": (lambda b: b.sample("5"), "n must be an integer between 1 and 15625, got '5'"),
    "sample-float": (lambda b: b.sample(2.5), "n must be an integer between 1 and 15625, got 2.5"),
    "sample-zero": (lambda b: b.sample(0), "n must be an integer between 1 and 15625, got 0"),
    "sample-negative-seed": (lambda b: b.sample(3, seed=-1), "seed must be between 0 and 2**63-1"),
    "scores-bare-number": (lambda b: b.scores("params", 5),
                           "indices must be a list of NB201 indices or arch strings"),
    "scores-none-index": (lambda b: b.scores("params", [None]), "indices: None is neither"),
    "scores-bool-index": (lambda b: b.scores("params", [True]), "indices: True is neither"),
    "scores-comma-text-empty-item": (lambda b: b.scores("params", "1,,2"),
                                     "indices has an empty item in '1,,2'"),
    "scores-no-seeds": (lambda b: b.scores("params", [1], seeds=()), "seeds lists no seeds: ()"),
    "scores-seeds-bare-number": (lambda b: b.scores("params", [1], seeds=3),
                                 "seeds must be a list of seeds, got 3"),
    "scores-negative-seed": (lambda b: b.scores("params", [1], seeds=(-1,)),
                             "seeds must be between 0 and 2**63-1, got -1"),
    "scores-unknown-proxy": (lambda b: b.scores("parms", [1]), "did you mean 'params'?"),
    "proxy-not-a-name": (lambda b: b.proxy(5), "proxy must be a proxy's name, got 5"),
    "compare-unknown-truth": (lambda b: b.compare("params", [1, 2, 3], truth="valid_12"),
                              "truth must be one of test_200, valid_200, got 'valid_12'"),
    "info-negative-index": (lambda b: b.info(-1), "NB201 index -1 is out of range"),
    "info-float": (lambda b: b.info(1.5), "arch: 1.5 is neither an NB201 index"),
    "search-unknown-option": (lambda b: b.search("random", "params", queries=5, bogus=1),
                              "unknown strategy option 'bogus'; strategy options: age, pool"),
    "search-queries-text": (lambda b: b.search("random", "params", queries="5"),
                            "--queries must be an integer >= 1, got '5'"),
    "search-budget-and-queries": (lambda b: b.search("random", "params", budget=5, queries=5),
                                  "give exactly one of budget"),
    "search-population-text": (lambda b: b.search("rea", "params", queries=5, population="5"),
                               "--population must be an integer, got '5'"),
    "search-runs-text": (lambda b: b.search("random", "params", queries=5, runs="2"),
                         "--runs must be an integer >= 1, got '2'"),
    "search-negative-seed": (lambda b: b.search("random", "params", queries=5, seed=-1),
                             "--seed must be between 0 and 2**63-1, got -1"),
    "search-lookup-typo": (lambda b: b.search("random", "params", queries=5, lookup="cifar1O"),
                           "unknown dataset 'cifar1O' (did you mean 'cifar10'?)"),
    "search-fitness-not-a-name": (lambda b: b.search("random", 5, queries=5),
                                  "--fitness must be a proxy name, a ladder or a preset, got 5"),
    "register-not-a-proxy": (lambda b: register("params"), "register() takes a proxy"),
    "register-a-name-taken": (lambda b: register(REGISTRY.get("params")),
                              "a proxy named 'params' is already registered"),
}
#: name: (Benchmark's keyword arguments besides results, a piece of the message)
API_OPENING_CASES = {
    "data-dir-missing": ({"data_dir": "/nonexistent"}, "data dir /nonexistent does not exist"),
    "data-dir-env-garbage": ({"env": "garbage"}, "data dir garbage (NB201_DATA_DIR) does not exist"),
    "zc-batch-beyond-the-training-images": ({"zc_batch": 10 ** 8}, "must be at most 50,000"),
    "unknown-option": ({"gpu": True}, "unknown option 'gpu'; options: amp, data_dir"),
    "unknown-dataset": ({"dataset": "cifar1O"}, "unknown dataset 'cifar1O'"),
    "zc-batch-zero": ({"zc_batch": 0}, "'zc_batch' must be a positive number of images"),
}


def _one_line(err: UserError, message: str) -> None:
    assert isinstance(err, ValueError) and "\n" not in str(err), str(err)
    assert message in str(err), str(err)


@pytest.mark.parametrize("name", API_CASES)
def test_the_api_refuses_bad_arguments_with_the_cli_message(name, tmp_path, monkeypatch):
    call, message = API_CASES[name]
    monkeypatch.chdir(tmp_path)
    bench = Benchmark("cifar10", results=tmp_path / "r.sqlite", device="cpu")
    with pytest.raises(UserError) as raised:
        call(bench)
    _one_line(raised.value, message)
    assert snapshot(tmp_path) == {}            # no store (and nothing else) was created


@pytest.mark.parametrize("name", API_OPENING_CASES)
def test_a_benchmark_with_bad_options_is_refused_when_made(name, tmp_path, monkeypatch):
    kwargs, message = dict(API_OPENING_CASES[name][0]), API_OPENING_CASES[name][1]
    monkeypatch.delenv("NB201_DATA_DIR", raising=False)
    if "env" in kwargs:
        monkeypatch.setenv("NB201_DATA_DIR", kwargs.pop("env"))
    with pytest.raises(UserError) as raised:
        Benchmark(results=tmp_path / "r.sqlite", **kwargs)
    _one_line(raised.value, message)
    assert snapshot(tmp_path) == {}


def test_the_api_takes_archs_as_the_cli_does(tmp_path):
    """A comma-separated string is --archs (it was iterated character by character); numpy's
    integers are indices; nothing is created by reads alone."""
    with Benchmark("cifar10", results=tmp_path / "r.sqlite", device="cpu") as bench:
        assert list(bench.truth("1,2")) == list(bench.truth([1, 2]))
        assert not (tmp_path / "r.sqlite").exists()
        arch = bench.info(12)["arch"]
        assert list(bench.scores("params", f"12,{arch},3")) == \
            list(bench.scores("params", [np.int64(12), 3]))


# ------------------------------------------------------------------ the rule for outcomes (1-3)

@pytest.mark.parametrize("value, problem", [
    (Outcome(1.0), ""), (Outcome(math.nan, 0.0), ""), (Outcome(-math.inf, 2), ""),
    (Outcome(np.float32(0.5), 1.0, curve=[1.0, math.nan], parts=[np.int64(2)]), ""),
    (Outcome(1.0, 1.0, segments=[[0, 2, 1.5]]), ""),
    (Outcome("high"), "its score 'high' is not a number"),
    (Outcome(True), "its score True is not a number"),
    (Outcome(None), "its score None is not a number"),
    (Outcome(1.0, -1.0), "its seconds -1.0 are not a finite number >= 0"),
    (Outcome(1.0, math.nan), "its seconds nan are not a finite number >= 0"),
    (Outcome(1.0, curve=["a"]), "its curve ['a'] is not a list of numbers"),
    (Outcome(1.0, parts="12"), "its parts '12' is not a list of numbers"),
    (Outcome(1.0, segments=[[0, 1]]), "its segments [[0, 1]] are not [from, to, seconds] triples"),
    (1.0, "returned float 1.0, not an Outcome"),
])
def test_what_a_proxy_may_return_is_one_rule(value, problem):
    assert outcome_problem(value) == problem


# ------------------------------------------------------------------ a poisoned store (item 1)

def _run(argv: list[str], capsys) -> tuple[int, dict | str, list[str]]:
    """The exit status, the output (parsed with --json) and stderr's lines, less the lines every
    computing command prints (its store line, and the warning of a sample too small to rank)."""
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if not line.startswith(("store: ", "warning: "))]
    return code, (json.loads(out) if "--json" in argv else out), lines


@pytest.fixture
def poisoned(tmp_path, monkeypatch, request):
    """A folder with the plugins and poisoned.sqlite (p-str's TEXT scores, two params rows)."""
    for name, text in PLUGINS.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    isolate_plugins(monkeypatch, request)
    poison(tmp_path / "poisoned.sqlite")
    return tmp_path


NOTICE = "note: poisoned.sqlite holds rows that cannot be read; they are ignored"
PRUNE = "`python -m benchmark prune --results poisoned.sqlite` deletes them"
SCORE_P_STR = ["score", "--plugins", "plug_fixed.py", "--proxy", "p-str", "--sample", "3",
               "--results", "poisoned.sqlite", "--json", "--quiet"]


def test_a_poisoned_store_is_read_with_one_notice_and_healed_by_the_mended_plugin(poisoned,
                                                                                   capsys):
    code, result, err = _run(SCORE_P_STR, capsys)
    assert code == 0 and len(err) == 1 and err[0].startswith(NOTICE) and PRUNE in err[0], err
    assert "3 here, the first of p-str on cifar10: arch" in err[0]
    assert [s["score"] for s in result["scores"]] == [i % 7 for i in POISONED]
    assert sorted(r for r in rows(poisoned)["poisoned.sqlite"] if r[0] == "p-str") == \
        sorted(("p-str", i, float(i % 7)) for i in POISONED)          # replaced, not added
    code, again, err = _run(SCORE_P_STR, capsys)
    assert code == 0 and err == [] and again["scores"] == result["scores"]


def test_the_report_of_a_poisoned_store_is_written_with_one_notice(poisoned, capsys):
    stored = rows(poisoned)
    code, result, err = _run(["report", "--results", "poisoned.sqlite", "--out", "out", "--json"],
                             capsys)
    assert code == 0 and len(err) == 1 and err[0].startswith(NOTICE) and PRUNE in err[0], err
    assert (poisoned / "out" / "report.html").is_file() and rows(poisoned) == stored
    assert not list((poisoned / "out").glob(".report-*"))        # the staging folder is gone


def test_an_export_of_a_poisoned_store_leaves_its_unreadable_rows_out(poisoned, capsys):
    code, result, err = _run(["export", "--results", "poisoned.sqlite", "--out", "p.jsonl.gz",
                              "--json"], capsys)
    assert code == 0 and len(err) == 1 and err[0].startswith(NOTICE), err
    assert result["header"]["rows"] == 2          # the params rows


def test_prune_deletes_the_unreadable_rows_only(poisoned, capsys):
    code, result, err = _run(["prune", "--results", "poisoned.sqlite", "--json"], capsys)
    assert code == 0 and err == [] and result["deleted"] == 3
    assert {(r["proxy"], r["arch_index"]) for r in result["rows"]} == \
        {("p-str", i) for i in POISONED}
    assert rows(poisoned)["poisoned.sqlite"] == [("params", 0, 1.5), ("params", 1, 0.5)]
    assert _run(["prune", "--results", "poisoned.sqlite", "--json"], capsys)[1]["deleted"] == 0
    code, _, err = _run(["prune", "--results", "missing.sqlite"], capsys)
    assert code == 2 and err == ["error: there is no results store at missing.sqlite"]


# ------------------------------------------------------------------ writes (items 5, 6, 8)

def test_a_store_is_created_by_its_first_write_and_not_before(tmp_path):
    path = tmp_path / "new" / "r.sqlite"
    store = Store(path)
    assert store.get(Key.of(REGISTRY.get("params"), Context("cifar10")), [1, 2]) == {}
    assert store.frame().empty and SearchRuns(store).get("d", 0, [0]) == {}
    assert FindResults(store).get() == [] and not (tmp_path / "new").exists()
    store.put(Key("p", 1, "cifar10", "src", 0), {1: Outcome(0.5, 1.0)}, device="cpu", git="x",
              suite_version="x")
    assert path.is_file() and len(Store(path).frame()) == 1


def test_a_store_on_a_read_only_file_system_serves_its_rows(tmp_path, request, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    DISKS["read-only-store"](tmp_path, request)
    before = snapshot(tmp_path)
    code, result, err = _run(["score", "--proxy", "params", "--archs", "0,1", "--results",
                              "ro/r.sqlite", "--json"], capsys)
    assert code == 0 and err == [] and [s["score"] for s in result["scores"]] == [1.5, 0.5]
    store = Store(tmp_path / "ro" / "r.sqlite")
    assert store.read_only and len(store.frame()) == 2
    assert SearchRuns(store).frame().empty and FindResults(store).get() == []
    with pytest.raises(UserError, match="cannot be written"):
        store.put(Key("p", 1, "cifar10", "src", 0), {1: Outcome(0.5, 1.0)}, device="cpu",
                  git="x", suite_version="x")
    assert snapshot(tmp_path) == before


def test_a_dry_run_creates_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.toml").write_text('[[group]]\nname = "g"\nproxies = ["params"]\nsample = 2\n')
    code, result, _ = _run(["run", "ok.toml", "--dry-run", "--json"], capsys)
    assert code == 0 and result["dry_run"] and result["missing"] == 2
    assert snapshot(tmp_path) == {"ok.toml": snapshot(tmp_path)["ok.toml"]}


def test_a_full_disk_mid_run_keeps_what_was_committed(tmp_path, request):
    """The first batch fits, the second does not: one line, and the first batch stays stored."""
    small = mount_small(tmp_path / "small", "200k", request)
    store = Store(small / "r.sqlite")
    key = Key("p", 1, "cifar10", "src", 0)
    store.put(key, {i: Outcome(0.5, 1.0) for i in range(10)}, device="cpu", git="x",
              suite_version="x", run={"pad": "x" * 1000})
    with pytest.raises(UserError, match="database or disk is full; nothing of this batch"):
        store.put(key, {i: Outcome(0.5, 1.0) for i in range(10, 2000)}, device="cpu", git="x",
                  suite_version="x", run={"pad": "x" * 1000})
    assert sorted(store.get(key, list(range(2000)))) == list(range(10))


# ------------------------------------------------------------------ checkpoints (item 7)

class Killed(Exception):
    pass


@pytest.mark.usefixtures("one_thread")
def test_a_resumed_run_leaves_no_checkpoint_of_a_network_that_had_finished(folder, tmp_path,  # noqa: F811
                                                                           monkeypatch):
    """Killed after a network's last checkpoint (its chunk not yet stored): the resumed run stores
    it from that checkpoint and removes the checkpoint, as an uninterrupted run does."""
    ctx = Context("cifar10", seed=2, data_dir=str(folder), fuse=2)
    proxy = REGISTRY.get("c4r4s0e2b16")
    save = training.save_state

    def dying_save(path, state, identity):
        save(path, state, identity)
        if state.epoch == 2:
            raise Killed

    monkeypatch.setattr(training, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(training, "save_state", dying_save)
    store = Store(tmp_path / "r.sqlite")
    with pytest.raises(Killed):
        compute(proxy, [1, 2], ctx, store, progress=False)
    assert list(store.runs_dir.glob("*.pt"))
    monkeypatch.setattr(training, "save_state", save)
    resumed = compute(proxy, [1, 2], ctx, store, progress=False)
    assert sorted(resumed) == [1, 2] and not list(store.runs_dir.glob("*.pt"))
    whole = compute(proxy, [1, 2], ctx, Store(tmp_path / "whole.sqlite"), progress=False)
    assert [resumed[i].curve[-1] for i in (1, 2)] == [whole[i].curve[-1] for i in (1, 2)]
