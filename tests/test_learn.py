"""Learned proxies (benchmark/learn.py, `python -m benchmark learn`): disjoint training and test
archs, judged against a truth that is not the label, deterministic by seed, missing feature values
handled by the model, a user's feature proxy picked up, bad inputs one line (exit 2)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.learn import JUDGED_BY, TABLE_LABELS, draws
from nb201 import encoding
from nb201.api import Proxy
from nb201.space import Arch
from proxies.table import TableProxy


def run(capsys, *args) -> dict:
    assert main(["learn", *args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_training_and_test_archs_are_disjoint_and_seeded():
    for (train, test), (train2, test2) in zip(draws(50, 200, 3, 3), draws(50, 200, 3, 3)):
        assert len(train) == 50 and len(test) == 200 and not set(train) & set(test)
        assert np.array_equal(train, train2) and np.array_equal(test, test2)
    [(a, _), (b, _)] = draws(50, 200, 3, 2)
    assert not np.array_equal(a, b)                 # each repeat draws anew
    [(_, every)] = draws(10, None, 0, 1)
    assert len(every) == 15625 - 10


def test_learned_proxy_is_judged_against_another_truth_and_is_deterministic(tmp_path, capsys):
    args = ["--features", "graph,params", "--train", "60", "--test", "300", "--seed", "4",
            "--results", str(tmp_path / "r.sqlite")]
    first, again = run(capsys, *args), run(capsys, *args)
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
    (["--train", "10", "--label", "test_200"], "--label must be a score a model can learn"),
    (["--train", "10", "--label", "params"], "--label must be a score a model can learn"),
    (["--train", "10", "--model", "svm"], "--model must be one of"),
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
