"""The results store: round trips (NaN, inf, curves, parts), no duplicates, atomic batches, an
unwritable store, and reading scores over seeds."""
import math
import sqlite3

import pytest

from nb201.errors import UserError
from nb201.api import Outcome, Proxy
from nb201.store import Key, Store, read_scores


KEY = Key("p", 1, "cifar10", "src", 0)


META = dict(device="cpu", git="abc", suite_version="0", run={"a": 1})


def test_store_round_trip_with_nan_inf_and_curves(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.put(KEY, {1: Outcome(0.5, 2.0), 2: Outcome(math.nan, 1.0, [1.0, math.nan]),
                    3: Outcome(math.inf, 1.0)}, **META)
    got = store.get(KEY, [1, 2, 3, 4])
    assert set(got) == {1, 2, 3}
    assert got[1].score == 0.5 and got[1].seconds == 2.0 and got[1].curve is None
    assert math.isnan(got[2].score) and got[2].curve[0] == 1.0 and math.isnan(got[2].curve[1])
    assert got[3].score == math.inf
    # another version, seed or source is another row
    assert store.get(Key("p", 2, "cifar10", "src", 0), [1]) == {}
    assert store.get(Key("p", 1, "cifar10", "src", 1), [1]) == {}
    assert store.get(Key("p", 1, "cifar10", "other", 0), [1]) == {}


def test_store_never_duplicates_and_keeps_the_first_row(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.put(KEY, {1: Outcome(0.5, 1.0)}, **META)
    store.put(KEY, {1: Outcome(0.9, 1.0), 2: Outcome(0.1, 1.0)}, **META)
    frame = store.frame()
    assert len(frame) == 2 and frame.set_index("arch_index").score[1] == 0.5
    assert set(frame.columns) >= {"proxy", "version", "dataset", "source", "arch_index", "seed",
                                  "score", "curve", "seconds", "device", "git", "config", "created"}


def test_a_failed_batch_writes_nothing(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    with pytest.raises(sqlite3.Error):
        store.put(KEY, {1: Outcome(0.5, 1.0), 2: Outcome(0.5, None)}, **META)  # seconds NOT NULL
    assert len(store.frame()) == 0


def test_unwritable_store_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError):
        Store(tmp_path / "file" / "r.sqlite")


def test_store_round_trips_component_parts(tmp_path):
    store = Store(tmp_path / "r.sqlite")
    store.put(KEY, {1: Outcome(float("nan"), 1.0, parts=[1.0, float("nan"), -float("inf")])}, **META)
    got = store.get(KEY, [1])[1]
    assert got.curve is None and got.parts[0] == 1.0 and math.isnan(got.parts[1])
    assert store.frame()["outcome"][0].parts[0] == 1.0


def test_read_scores_means_over_the_seeds_that_hold_an_arch():
    proxy = Proxy("p", "table")
    seed0 = {1: Outcome(1.0, 2.0), 2: Outcome(float("nan"), 1.0), 3: Outcome(float("inf"), 1.0)}
    seed1 = {1: Outcome(3.0, 2.0), 2: Outcome(5.0, 1.0)}
    scores, seconds = read_scores(proxy, [seed0, seed1], [1, 2, 3])
    assert scores[0] == 2.0 and math.isnan(scores[1]) and scores[2] == float("inf")
    assert seconds.tolist() == [4.0, 2.0, 1.0]
