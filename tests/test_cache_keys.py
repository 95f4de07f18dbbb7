"""A stored score is served only for the exact computation that made it: every option that changes
a score changes the row's key; identical options are served from the store."""
import dataclasses
import sqlite3

import pytest
import torch

from nb201.api import REGISTRY, Outcome
from nb201.context import Context
from nb201.datasets import ImageData
from benchmark.runner import compute
from nb201.store import Key, Store
from nb201.training import engine
from proxies.zero_cost.harness import ZeroCostProxy


def images(seed: int, source: str = "imagefolder:cifar") -> ImageData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.arange(24) % 10
    return ImageData("cifar10", source, x, y, x[:10].clone(), y[:10].clone(), num_classes=10,
                     resolution=32, official_order=False)


A, B = images(0), images(1)   # two folders with the same basename, different content


@dataclasses.dataclass(frozen=True)
class FakeContext(Context):
    data: ImageData = A

    @property
    def images(self):
        return self.data


BASE = FakeContext("cifar10", seed=0, zc_batch=16)
#: the same on CUDA (a Context on CUDA can be built without a GPU; nothing here runs on it)
GPU = FakeContext("cifar10", seed=0, device=torch.device("cuda"), zc_batch=16, fuse=4)
NWOT = dataclasses.replace(REGISTRY.get("nwot"), channels=4, cells=1)
TRAIN = REGISTRY.get("c4r4s0e2b16")


def key(proxy, ctx) -> tuple[str, int]:
    k = Key.of(proxy, ctx)
    return k.setting, k.seed


ZERO_COST_CHANGES = {
    "zc_batch": dataclasses.replace(BASE, zc_batch=8),
    "seed": dataclasses.replace(BASE, seed=1),
    "dataset": dataclasses.replace(BASE, dataset="cifar100"),
    "device class": dataclasses.replace(BASE, device=torch.device("cuda")),
    "image content, same source name": dataclasses.replace(BASE, data=B),
}


@pytest.mark.parametrize("change", sorted(ZERO_COST_CHANGES))
def test_zero_cost_options_change_the_key(change):
    assert key(NWOT, ZERO_COST_CHANGES[change]) != key(NWOT, BASE)


@pytest.mark.parametrize("proxy_change", ["version", "channels", "bn", "double"])
def test_zero_cost_proxy_settings_change_the_key(proxy_change):
    value = {"version": 2, "channels": 8, "bn": "eval", "double": True}[proxy_change]
    assert key(dataclasses.replace(NWOT, **{proxy_change: value}), BASE) != key(NWOT, BASE)


def test_options_a_proxy_does_not_read_keep_the_key():
    assert key(NWOT, dataclasses.replace(GPU, amp="bf16", fuse=3)) == key(NWOT, GPU)
    synflow = REGISTRY.get("synflow")   # reads no images: neither their content nor the batch size
    assert key(synflow, dataclasses.replace(BASE, data=B, zc_batch=8)) == key(synflow, BASE)
    params = REGISTRY.get("params")
    assert key(params, dataclasses.replace(BASE, device=torch.device("cuda"))) == key(params, BASE)


TRAINING_CHANGES = {   # against TRAIN on GPU
    "amp": lambda: (TRAIN, dataclasses.replace(GPU, amp="bf16")),
    "device class": lambda: (TRAIN, dataclasses.replace(GPU, device=torch.device("cpu"))),
    "fused group size on CUDA": lambda: (TRAIN, dataclasses.replace(GPU, fuse=8)),
    "recipe (validation subset)": lambda: (
        dataclasses.replace(TRAIN, recipe=dataclasses.replace(TRAIN.recipe, valid_images=100)), GPU),
    "recipe (learning rate)": lambda: (
        dataclasses.replace(TRAIN, recipe=dataclasses.replace(TRAIN.recipe, lr=0.05)), GPU),
    "image content": lambda: (TRAIN, dataclasses.replace(GPU, data=B)),
}


@pytest.mark.parametrize("change", sorted(TRAINING_CHANGES))
def test_training_options_change_the_key(change):
    proxy, ctx = TRAINING_CHANGES[change]()
    assert key(proxy, ctx) != key(TRAIN, GPU)


def test_engine_version_changes_the_key(monkeypatch):
    before = key(TRAIN, BASE)
    monkeypatch.setattr(engine, "ENGINE_VERSION", engine.ENGINE_VERSION + 1)
    assert key(TRAIN, BASE) != before


def test_every_read_of_one_schedule_shares_its_run():
    assert key(REGISTRY.get("c4r4s0e2b16@1"), BASE) == key(TRAIN, BASE)


def test_cpu_chunking_does_not_change_training_keys():
    """On a CPU each network trains alone whatever the chunk: chunk sizes share rows."""
    assert key(TRAIN, dataclasses.replace(BASE, fuse=1)) == key(TRAIN, dataclasses.replace(BASE, fuse=8))


class Counting(ZeroCostProxy):
    calls = 0

    def score(self, archs, indices, ctx):
        Counting.calls += len(archs)
        return super().score(archs, indices, ctx)


def test_a_changed_option_computes_anew_and_the_same_options_are_served(tmp_path):
    """The issue's case: after a batch-16 nwot run, --zc-batch 8 must not be served batch 16's
    scores; asking again with either batch recomputes nothing."""
    proxy = Counting(**{f.name: getattr(NWOT, f.name) for f in dataclasses.fields(NWOT)})
    store, archs = Store(tmp_path / "r.sqlite"), [0, 1, 2]
    Counting.calls = 0
    big = compute(proxy, archs, BASE, store, progress=False)
    small = compute(proxy, archs, dataclasses.replace(BASE, zc_batch=8), store, progress=False)
    assert Counting.calls == 6 and [big[i].score for i in archs] != [small[i].score for i in archs]
    again = compute(proxy, archs, dataclasses.replace(BASE, zc_batch=8), store, progress=False)
    compute(proxy, archs, BASE, store, progress=False)
    assert Counting.calls == 6 and [again[i].score for i in archs] == [small[i].score for i in archs]
    assert len(store.frame()) == 6 and store.frame()["setting"].nunique() == 2


def test_a_store_of_the_old_format_is_ignored_with_one_notice(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE results (proxy TEXT, version INTEGER, arch_index INTEGER, score REAL)")
    db.execute("INSERT INTO results VALUES ('nwot', 1, 0, 100.85)")
    db.commit()
    db.close()
    store = Store(path)
    Store(path)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 rows written before" in err and "ignored" in err
    assert store.frame().empty
    store.put(Key.of(NWOT, BASE), {0: Outcome(1.0)}, device="cpu", git="g", suite_version="t")
    assert len(store.frame()) == 1
