"""tools/study_tables.py: the shipped study's tables from stored rows only, one row per setting
on the union of the archs its groups name (a later group that grows a sample adds to it)."""
import json

import numpy as np

from analysis.metrics import kendall_tau
from nb201 import groundtruth as gt
from nb201.api import Outcome
from nb201.context import Context
from nb201.store import Key, Store
from proxies import REGISTRY
from tools import study_tables

EXPERIMENT = """
description = "a study that grows"
seed = 0
datasets = ["cifar10"]
[[group]]
name = "point"
proxies = ["c4r4s0e40@20"]
sample = 30
[[group]]
name = "factor"
proxies = ["c4r4s0e20"]
sample = 10
[[group]]
name = "factor, grown"
proxies = ["c4r4s0e20"]
sample = 30
"""


def _put(store: Store, name: str, indices, noise: float, seed: int) -> None:
    proxy = REGISTRY.get(name)
    truth = gt.vector("cifar10", "test_200")
    rng = np.random.default_rng(seed)
    epochs = proxy.describe()["factors"]["e"]
    outcomes = {i: Outcome(None, 36.0, [float(truth[i] + rng.normal(0, noise))] * epochs)
                for i in indices}
    store.put(Key.of(proxy, Context("cifar10", 0, device="cpu")), outcomes, device="cpu",
              git="synthetic", suite_version="test", run={})


def test_one_row_per_setting_on_the_union_of_its_groups(tmp_path, capsys):
    path = tmp_path / "study.toml"
    path.write_text(EXPERIMENT)
    store = Store(tmp_path / "r.sqlite")
    archs = [int(i) for i in gt.sample(30, 0)]
    _put(store, "c4r4s0e40@20", archs, 2.0, 1)
    _put(store, "c4r4s0e20", archs[:20], 4.0, 2)        # the grown group is part-computed
    store.close()
    out = study_tables.main(["--results", str(tmp_path / "r.sqlite"), "--experiment", str(path),
                             "--json"])
    assert json.loads(capsys.readouterr().out)["rows"] == json.loads(json.dumps(out["rows"]))
    rows = {r["proxy"]: r for r in out["rows"]}
    assert len(out["rows"]) == 2 and set(rows) == {"c4r4s0e40@20", "c4r4s0e20"}
    assert (rows["c4r4s0e40@20"]["n"], rows["c4r4s0e40@20"]["archs"]) == (30, 30)
    assert (rows["c4r4s0e20"]["n"], rows["c4r4s0e20"]["archs"]) == (20, 30)
    assert rows["c4r4s0e20"]["hours"] == 20 * 36.0 / 3600
    (pair,) = out["versus_point"]
    truth = gt.vector("cifar10", "test_200")[archs[:20]]
    store = Store(tmp_path / "r.sqlite")
    scores = {}
    for name in ("c4r4s0e20", "c4r4s0e40@20"):
        proxy = REGISTRY.get(name)
        got = store.get(Key.of(proxy, Context("cifar10", 0, device="cpu")), archs[:20])
        scores[name] = np.array([proxy.read(got[i]) for i in archs[:20]])
    assert pair["n"] == 20 and pair["proxy"] == "c4r4s0e20"
    assert pair["tau"] == kendall_tau(scores["c4r4s0e20"], truth)
    assert pair["point_tau"] == kendall_tau(scores["c4r4s0e40@20"], truth)
    assert pair["difference"] == pair["tau"] - pair["point_tau"]
