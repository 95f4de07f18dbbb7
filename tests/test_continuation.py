"""Pay only for what is read: evaluation only at the epochs read, runs trained only as far as read
and continued later, resumed after a kill, stratified subsets, the zc-paper protocol."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import proxies.training as training
from nb201.api import REGISTRY, Outcome
from nb201.context import Context
from nb201.errors import UserError
from benchmark.runner import compute
from nb201.store import Store
from nb201.training import data, engine, sizing
from nb201.training.recipe import NB201, PROTOCOLS, parse
from tests.test_training import SMALL, THREE, _split
from tests.test_training_proxy import folder  # noqa: F401  (fixture)


#: continued, resumed and uninterrupted runs are different code paths: compared in float64, where
#: equality does not hang on one CPU's float32 kernels
pytestmark = pytest.mark.usefixtures("one_thread", "float64")


RECIPE = dataclasses.replace(SMALL, epochs=4, batch_size=16)


def _nan_none(curve):
    return [None if math.isnan(v) else v for v in curve]


# ------------------------------------------------------------------ engine

@pytest.mark.parametrize("workers, optimizer", [(1, "sgd"), (2, "sgd"), (1, "adam")])
def test_continued_run_equals_an_uninterrupted_one_bit_for_bit(workers, optimizer):
    """Same seed, CPU: trained to epoch 2, saved, continued to 4 == trained to 4 at once (the same
    kernels on the same state: exactly equal weights, momentum, losses and accuracies); with two
    workers (forked processes) the halves equal one worker's whole run, and every network's
    checkpoints reach this process. Adam's state (both moments and its step count) is saved and
    restored as SGD's momentum is."""
    split = _split()
    recipe = dataclasses.replace(RECIPE, optimizer=optimizer,
                                 lr=RECIPE.lr if optimizer == "sgd" else 0.01)
    whole = engine.train(THREE, [5, 6, 7], split, recipe, seed=3, workers=1)
    half = engine.train(THREE, [5, 6, 7], split, recipe, seed=3, until=2, workers=workers)
    assert [s.epoch for s in half.states] == [2, 2, 2]
    assert {w.dtype for w in whole.states[0].weights.values() if w.is_floating_point()} == {torch.float64}
    seen = []
    rest = engine.train(THREE, [5, 6, 7], split, recipe, seed=3, until=4, states=half.states,
                        workers=workers, checkpoint=lambda k, state: seen.append((k, state.epoch)),
                        checkpoint_seconds=0)
    assert sorted(seen) == [(k, epoch) for k in range(3) for epoch in (3, 4)]
    for a, b in zip(whole.states, rest.states):
        assert a.curve == b.curve and a.losses == b.losses and a.epoch == b.epoch == 4
        assert a.weights.keys() == b.weights.keys()
        assert all(torch.equal(a.weights[n], b.weights[n]) for n in a.weights)
        assert a.momentum.keys() == b.momentum.keys()
        assert all(torch.equal(a.momentum[n], b.momentum[n]) for n in a.momentum)
    if optimizer == "adam":
        assert {"|step"} < set(half.states[0].momentum) and any(
            n.endswith("|exp_avg_sq") for n in half.states[0].momentum)
    assert [[seg[:2] for seg in s.segments] for s in rest.states] == [[[0, 2], [2, 4]]] * 3


def test_runs_at_different_epochs_train_together():
    split = _split()
    ahead = engine.train(THREE[:1], [5], split, RECIPE, seed=3, until=3)
    mixed = engine.train(THREE, [5, 6, 7], split, RECIPE, seed=3, states=[ahead.states[0], None, None])
    whole = engine.train(THREE, [5, 6, 7], split, RECIPE, seed=3)
    assert mixed.curves == whole.curves


def test_evaluation_follows_the_requested_epochs():
    split = _split()
    result = engine.train(THREE[:2], [1, 2], split, RECIPE, seed=0, until=3, evaluate_at=(1, 3))
    for curve in result.curves:
        assert len(curve) == 3 and math.isnan(curve[1]) and not math.isnan(curve[0] + curve[2])
    every = engine.train(THREE[:2], [1, 2], split, RECIPE, seed=0, until=3)
    assert [[c[0], c[2]] for c in every.curves] == [[c[0], c[2]] for c in result.curves]
    # a restored run asked for its own epoch is evaluated without training
    unevaluated = engine.train(THREE[:2], [1, 2], split, RECIPE, seed=0, until=2, evaluate_at=(1,))
    assert all(math.isnan(c[1]) for c in unevaluated.curves)
    again = engine.train(THREE[:2], [1, 2], split, RECIPE, seed=0, until=2, evaluate_at=(2,),
                         states=unevaluated.states)
    assert [c[1] for c in again.curves] == [c[1] for c in every.curves]
    assert all(s.segments[-1][:2] == [2, 2] for s in again.states)     # no epoch trained
    with pytest.raises(ValueError, match="past epoch"):
        engine.train(THREE[:2], [1, 2], split, RECIPE, seed=0, until=2, states=result.states)


def test_cuda_group_size_is_a_function_of_the_recipe():
    small, big = parse("c4r4s0e40")[0], parse("c0r0s0e40")[0]
    assert 256 <= sizing.cuda_group_size(small, 32) <= sizing.CUDA_MAX_GROUP
    assert 1 <= sizing.cuda_group_size(big, 32) < sizing.cuda_group_size(small, 32)
    assert sizing.auto_fuse(torch.device("cpu"), small, 32) == 4 * torch.get_num_threads()


# ------------------------------------------------------------------ data

def test_stratified_subsets_keep_a_share_of_every_class():
    labels = torch.arange(10).repeat_interleave(torch.tensor([50, 31, 40, 47, 60, 33, 29, 41, 55, 38]))
    for k in (2, 4, 8, 16):
        keep = data.stratified_subset(labels, k, torch.Generator().manual_seed(0))
        assert torch.equal(keep, keep.sort().values) and len(set(keep.tolist())) == len(keep)
        counts = torch.bincount(labels[keep], minlength=10)
        expect = torch.bincount(labels, minlength=10) // k
        assert torch.equal(counts, expect.clamp(min=1)), k


def test_zc_paper_protocol_recipe():
    recipe, at = parse("zc-paper:c4r4s0e40b2048@20")
    assert (recipe.held_out, recipe.resize_after_crop, recipe.batch_size, at) == ("test", True, 2048, 20)
    assert recipe.mean == PROTOCOLS["zc-paper"]["mean"] and recipe.spec == "zc-paper:c4r4s0e40b2048"
    assert parse("c4r4s0e40b2048")[0].held_out == "valid"
    with pytest.raises(UserError, match="unknown prefix .nope.; a prefix is a protocol"):
        parse("nope:c4r4s0e40")
    proxy = REGISTRY.get("zc-paper:c4r4s0e40b2048@20")
    assert proxy.store_name == "zc-paper:c4r4s0e40b2048" and "TEST images" in proxy.description


def test_zc_paper_trains_on_all_training_images_and_scores_on_the_test_set(folder):  # noqa: F811
    ctx = Context("cifar10", data_dir=str(folder))
    images = ctx.images
    recipe, _ = parse("zc-paper:c4r4s0e2b16")
    split = data.prepare(images, recipe, 0, torch.device("cpu"))
    assert len(split.train_y) == len(images.y_train) and torch.equal(split.valid_y, images.y_test)
    assert split.train_x.shape[-1] == 32 and split.valid_x.shape[-1] == split.resolution == 8
    assert split.padding == 4
    idx, dy, dx, flips = data.epoch_batches(len(split.train_y), 16, split.padding, 0, 0)[0]
    assert data.batch_images(split, recipe, idx, dy, dx, flips).shape == (16, 3, 8, 8)
    default = data.prepare(images, parse("c4r4s0e2b16")[0], 0, torch.device("cpu"))
    assert len(default.train_y) == len(images.y_train) // 2 and default.padding == 1


# ------------------------------------------------------------------ proxies, runner, store

def test_reading_a_later_epoch_continues_the_stored_run(folder, tmp_path):  # noqa: F811
    ctx = Context("cifar10", seed=1, data_dir=str(folder), fuse=2)
    store = Store(tmp_path / "r.sqlite")
    early = compute(REGISTRY.get("c4r4s0e4b16@2"), [3, 9], ctx, store, progress=False)
    assert all(len(o.curve) == 2 and math.isnan(o.curve[0]) for o in early.values())
    assert len(list(store.runs_dir.glob("*.pt"))) == 2               # unfinished: kept
    late = compute(REGISTRY.get("c4r4s0e4b16"), [3, 9], ctx, store, progress=False)
    assert not list(store.runs_dir.glob("*.pt"))                      # finished: removed
    fresh = compute(REGISTRY.get("c4r4s0e4b16"), [3, 9], ctx, Store(tmp_path / "f.sqlite"),
                    progress=False)
    for i in (3, 9):
        assert late[i].curve[3] == fresh[i].curve[3] and late[i].curve[1] == early[i].curve[1]
        assert [s[:2] for s in late[i].segments] == [[0, 2], [2, 4]]
        assert late[i].seconds == pytest.approx(sum(s[2] for s in late[i].segments))
        # @2 is charged half of the seconds per trained epoch times 2
        assert REGISTRY.get("c4r4s0e4b16@2").cost(late[i]) == pytest.approx(late[i].seconds / 2)
    stored = store.get(_key(store, ctx, "c4r4s0e4b16"), [3, 9])
    assert stored[3].segments == late[3].segments


def _key(store, ctx, name):
    from nb201.store import Key
    return Key.of(REGISTRY.get(name), ctx)


def test_an_earlier_epoch_of_a_finished_run_is_trained_afresh_and_merged(folder, tmp_path):  # noqa: F811
    ctx = Context("cifar10", seed=1, data_dir=str(folder), fuse=2)
    store = Store(tmp_path / "r.sqlite")
    end = compute(REGISTRY.get("c4r4s0e3b16"), [4], ctx, store, progress=False)[4]
    assert math.isnan(end.curve[0]) and not REGISTRY.get("c4r4s0e3b16@1").covers(end)
    merged = compute(REGISTRY.get("c4r4s0e3b16@1"), [4], ctx, store, progress=False)[4]
    full = compute(REGISTRY.get("c4r4s0e3b16"), [4], dataclasses.replace(ctx, full_curve=True),
                   Store(tmp_path / "full.sqlite"), progress=False)[4]
    assert merged.curve[0] == full.curve[0] and merged.curve[2] == end.curve[2] == full.curve[2]
    assert [s[:2] for s in merged.segments] == [[0, 3], [0, 1]]


def test_joined_proxy_evaluates_every_read_of_one_run():
    a, b, c = (REGISTRY.get(n) for n in ("c4r4s0e10@5", "c4r4s0e10", "c4r4s0e12@5"))
    joined = a.joined([a, b, c])
    assert joined.epochs_read == (5, 10)
    assert joined.covers(Outcome(1.0, curve=[math.nan] * 4 + [1.0] + [math.nan] * 4 + [2.0]))
    assert not joined.covers(Outcome(1.0, curve=[math.nan] * 9 + [2.0]))


def test_resume_after_a_kill_equals_an_uninterrupted_run(folder, tmp_path, monkeypatch):  # noqa: F811
    """A computation killed after some checkpoints resumes from them; the scores equal an
    uninterrupted run's exactly (CPU, same seed)."""
    ctx = Context("cifar10", seed=2, data_dir=str(folder), fuse=3)
    proxy = REGISTRY.get("c4r4s0e5b16")
    whole = compute(proxy, [1, 2, 3], ctx, Store(tmp_path / "whole.sqlite"), progress=False)

    class Killed(Exception):
        pass

    save = training.save_state
    calls = []

    def dying_save(path, state, identity):
        save(path, state, identity)
        calls.append(state.epoch)
        if len(calls) == 4:
            raise Killed

    monkeypatch.setattr(training, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(training, "save_state", dying_save)
    store = Store(tmp_path / "killed.sqlite")
    with pytest.raises(Killed):
        compute(proxy, [1, 2, 3], ctx, store, progress=False)
    assert store.get(_key(store, ctx, "c4r4s0e5b16"), [1, 2, 3]) == {}
    assert len(list(store.runs_dir.glob("*.pt"))) >= 1
    monkeypatch.setattr(training, "save_state", save)
    resumed = compute(proxy, [1, 2, 3], ctx, store, progress=False)
    assert [_nan_none(resumed[i].curve) for i in (1, 2, 3)] == [_nan_none(whole[i].curve) for i in (1, 2, 3)]
    assert any(len(resumed[i].segments) > 1 for i in (1, 2, 3))    # some continued a checkpoint


def test_merge_keeps_a_continued_run_and_overlays_a_fresh_one():
    proxy = REGISTRY.get("c4r4s0e4")
    stored = Outcome(50.0, 2.0, [math.nan, 50.0], segments=[[0, 2, 2.0]])
    continued = Outcome(60.0, 4.0, [math.nan, 50.0, math.nan, 60.0], segments=[[0, 2, 2.0], [2, 4, 2.0]])
    assert proxy.merge(stored, continued) is continued
    fresh = Outcome(40.0, 1.0, [40.0], segments=[[0, 1, 1.0]])
    merged = proxy.merge(stored, fresh)
    assert merged.curve == [40.0, 50.0] and merged.seconds == 3.0 and merged.score == 50.0
    assert merged.segments == [[0, 2, 2.0], [0, 1, 1.0]]
    assert NB201.held_out == "valid"
