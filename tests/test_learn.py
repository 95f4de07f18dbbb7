"""Learned proxies (proxies/learned/, benchmark/learn.py, `python -m benchmark learn`): disjoint
training and test archs, judged against a truth that is not the label, deterministic by seed,
missing feature values handled by the model, a user's feature proxy picked up, the proxy scored
and searched with like any other (labels charged once), bad inputs one line (exit 2)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.learn import JUDGED_BY, judged_archs
from proxies.learned.base import TABLE_LABELS, training_set
from nb201 import encoding
from nb201.space import Arch
from proxies.table import TableProxy


def run(capsys, *args) -> dict:
    assert main(["learn", *args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_training_and_test_archs_are_disjoint_and_seeded():
    for seed in (3, 4, 5):
        train = training_set(50, seed)
        test = judged_archs(train, 200, 3)
        assert len(train) == 50 and len(test) == 200 and not set(train) & set(test)
        assert np.array_equal(train, training_set(50, seed)) and test == judged_archs(train, 200, 3)
    assert not np.array_equal(training_set(50, 3), training_set(50, 4))   # each draw anew
    assert len(judged_archs(training_set(10, 0), None, 0)) == 15625 - 10


def test_learned_proxy_is_judged_against_another_truth_and_is_deterministic(tmp_path, capsys):
    args = ["--features", "graph,params", "--train", "60", "--test", "300", "--seed", "4",
            "--results", str(tmp_path / "r.sqlite")]
    first, again = run(capsys, *args), run(capsys, *args)
    assert first.pop("store")["computed"] > 0 and again.pop("store")["computed"] == 0
    assert first == again
    assert first["judged_by"] == JUDGED_BY and first["label"] in TABLE_LABELS
    assert first["label"] != first["judged_by"] and first["test_n"] == 300
    assert 0.2 < first["kendall_tau"] < 1 and first["label_cost_s"] > 0
    ridge = run(capsys, *args, "--model", "ridge", "--repeats", "2", "--label", "valid_12")
    assert len(ridge["repeats"]) == 2 and ridge["label"] == "valid_12"


def test_missing_feature_values_are_left_to_the_model(tmp_path, capsys):
    """naslib:synflow is NaN on the archs NASLib did not score: both models still fit."""
    for model in ("gbm", "ridge"):
        out = run(capsys, "--features", "naslib:synflow", "--train", "80", "--test", "300",
                  "--model", model, "--results", str(tmp_path / "r.sqlite"))
        assert out["kendall_tau"] is not None


def test_a_user_feature_proxy_is_picked_up(registry, tmp_path, capsys):
    class Convs(TableProxy):
        def value(self, arch, index, ctx):
            return float(arch.ops.count("nor_conv_3x3"))

    registry.register(Convs("my-convs", "table", source="network"))
    out = run(capsys, "--features", "my-convs", "--train", "60", "--test", "300",
              "--results", str(tmp_path / "r.sqlite"))
    assert out["features"] == ["my-convs"] and out["kendall_tau"] > 0.1


def test_graph_features_encode_the_cell():
    arch = Arch.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
    f = dict(zip(encoding.NAMES, encoding.features(arch)))
    assert (f["paths"], f["longest"], f["shortest"], f["connected"]) == (1, 3, 3, 1)
    assert f["count:none"] == 3 and f["path:nor_conv_3x3"] == 1 and f["edge0:nor_conv_3x3"] == 1
    dead = Arch.parse("|none~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    g = dict(zip(encoding.NAMES, encoding.features(dead)))
    assert (g["paths"], g["longest"], g["connected"]) == (0, 0, 0)
    assert encoding.table().shape == (15625, len(encoding.NAMES))


@pytest.mark.parametrize("args, message", [
    (["--train", "0"], "--train must be at least 1"),
    (["--train", "15625"], "do not fit"),
    (["--train", "10", "--features", "graph,synflwo"], "unknown proxy 'synflwo'"),
    (["--train", "10", "--label", "test_200"], "label must be a score a model can learn"),
    (["--train", "10", "--label", "params"], "label must be a score a model can learn"),
    (["--train", "10", "--model", "svm"], "unknown model 'svm'"),
    (["--train", "10", "--versus", "synflwo"], "unknown proxy 'synflwo'"),
    (["--train", "10", "--features", "graph,learned:gbm:5:graph"], "cannot be learned itself"),
    (["--train", "10", "--test", "some"], "--test must be a number of archs or all"),
])
def test_bad_inputs_are_one_line(tmp_path, capsys, args, message):
    db = tmp_path / "r.sqlite"
    full = ["learn", "--features", "graph", *args, "--results", str(db), "--json"]
    if "--features" in args:
        full = ["learn", *args, "--results", str(db), "--json"]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not db.exists()


LEARNED = "learned:ridge:40:graph+params"


def test_the_learned_proxy_scores_like_any_proxy_and_never_its_training_archs(tmp_path):
    from benchmark.runner import Request, mean_scores
    from nb201.context import Context
    from nb201.store import Store
    from proxies import REGISTRY
    proxy = REGISTRY.get(LEARNED)
    store = Store(tmp_path / "r.sqlite")
    trained = training_set(40, 2).tolist()
    indices = sorted(trained[:10] + judged_archs(np.array(trained), 50, 0))
    ctx = Context.of("cifar10", 2, device="cpu")
    scores, seconds = mean_scores(Request(proxy, "cifar10", indices, (2,)), ctx, store, False)
    on_train = np.isin(indices, trained)
    assert np.isnan(scores[on_train]).all() and np.isfinite(scores[~on_train]).all()
    assert (seconds >= 0).all()
    rows = len(store.frame())
    again, _ = mean_scores(Request(proxy, "cifar10", indices, (2,)), ctx, store, False)
    np.testing.assert_array_equal(again, scores)          # read back, nothing new stored
    assert len(store.frame()) == rows
    other_seed, _ = mean_scores(Request(proxy, "cifar10", indices, (3,)), ctx.with_seed(3), store,
                                False)
    assert not np.allclose(np.nan_to_num(other_seed), np.nan_to_num(scores))  # another draw


def test_a_feature_change_changes_the_learned_proxys_key(registry):
    from nb201.context import Context
    from nb201.store import Key
    ctx = Context.of("cifar10", 0, device="cpu")
    before = Key.of(registry.get(LEARNED), ctx).setting
    params = registry.get("params")
    registry._items["params"] = dataclasses.replace(params, version=params.version + 1)
    assert Key.of(registry.get(LEARNED), ctx).setting != before
    assert Key.of(registry.get("learned:gbm:40:graph+params"), ctx).setting != before


def test_a_search_pays_a_learned_levels_labels_once(tmp_path):
    """Predictor-guided search: the labels are charged with the first prediction read, once per
    run; every read after that costs its features only."""
    from benchmark.search.loop import Limits
    from benchmark.search.run import SearchSpec, check, search
    from nb201 import groundtruth as gt
    from nb201.context import Context
    from nb201.store import Store
    from proxies import REGISTRY
    spec = SearchSpec("random", LEARNED, "cifar10", Limits(queries=30), 2, 0)
    checked = check(spec, REGISTRY)
    ctx = Context.of("cifar10", 0, device="cpu")
    found = search(checked, ctx, Store(tmp_path / "r.sqlite"), progress=False)
    labels = float(np.sum(gt.vector("cifar10", "train_time_200_s")[training_set(40, 0)]))
    for run in found["runs"]:
        spent = run["cost"]
        assert labels <= spent < labels + 1.0, (spent, labels)


def test_versus_is_a_paired_comparison_on_the_same_archs(tmp_path, capsys):
    out = run(capsys, "--features", "graph,params", "--train", "60", "--test", "300",
              "--versus", "params", "--results", str(tmp_path / "r.sqlite"))
    v = out["versus"]
    assert v["a"] == out["proxy"] and v["b"] == "params" and v["truth"] == JUDGED_BY
    lo, hi = v["ci"]
    assert lo <= v["difference"] <= hi and v["significant"] == (lo > 0 or hi < 0)
    assert main(["score", "--proxy", "flops", "--sample", "80", "--versus", "params", "--json",
                 "--quiet", "--results", str(tmp_path / "r.sqlite")]) == 0
    same = json.loads(capsys.readouterr().out)["versus"]
    assert same["b"] == "params" and not same["significant"]    # flops and params rank alike


def test_score_and_reports_leave_a_learned_proxys_training_archs_out(tmp_path, capsys):
    trained = training_set(40, 0).tolist()
    others = judged_archs(np.array(trained), 8, 0)
    archs = ",".join(map(str, trained[:5] + others))
    db = str(tmp_path / "r.sqlite")
    assert main(["score", "--proxy", LEARNED, "--archs", archs, "--json", "--quiet",
                 "--results", db]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 8 and out["excluded_training_archs"] == 5 and out["nan_scores"] == 0
    assert main(["score", "--proxy", LEARNED, "--archs", ",".join(map(str, trained[:3])),
                 "--results", db]) == 2
    assert "judged on other archs only" in capsys.readouterr().err


def test_fitting_label_ranks_beats_fitting_accuracies():
    """The reason learned proxies fit ranks (tools/learned_checks.py, docs/RESULTS.md): on
    CIFAR-10, graph features, K = 200, the ranked fit judges better by far."""
    from tools.learned_checks import tau
    train = training_set(200, 0)
    judged = judged_archs(train, 1000, 0)
    raw = tau(encoding.table(), train, judged, False, 0)
    ranked = tau(encoding.table(), train, judged, True, 0)
    assert ranked > raw + 0.05, (raw, ranked)
