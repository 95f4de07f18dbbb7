"""Zero-cost proxies: every registered proxy on a tiny network, the harness, the set-level
aggregations, and agreement with NASLib's reference scores on a fixture."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import proxies  # noqa: F401  registers every proxy
from analysis.metrics import orient, spearman
from nb201 import groundtruth as gt
from nb201.api import REGISTRY, Outcome
from nb201.context import Context
from nb201.datasets import ImageData
from benchmark.command_results import score
from benchmark.runner import Request
from nb201.space import Arch
from nb201.store import Key, Store
from proxies.zero_cost import harness
from proxies.zero_cost.aznas import AZNAS
from proxies.zero_cost.harness import Batch, RankedProxy, ZeroCostProxy, run
from proxies.zero_cost.jacobian import epe_score
from proxies.zero_cost.vote import copeland

FIXTURE = Path(__file__).parent / "fixtures" / "zc_reference.csv"
ARCHS = (0, 6111, 9930)   # NB201 indices: a small arch, the best CIFAR-10 arch, the best CIFAR-100 one


def fake_images(n: int = 24, resolution: int = 32, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 10
    return ImageData("cifar10", "fake", x, y, x[:10].clone(), y[:10].clone(), num_classes=10,
                     resolution=resolution, official_order=False)


FAKE = fake_images()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread; on a busy 2-core machine more threads are 20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclasses.dataclass(frozen=True)
class FakeContext(Context):
    """A Context whose images are a tiny in-memory ImageData (no JPEG decoding)."""

    @property
    def images(self):
        return FAKE


def tiny(proxy):
    """The proxy on a C=4, N=1 network (zero-cost proxies); others as they are."""
    return dataclasses.replace(proxy, channels=4, cells=1) if isinstance(proxy, ZeroCostProxy) else proxy


def scores_of(proxy, ctx) -> list[float]:
    archs = [gt.arch_of(i) for i in ARCHS]
    outcomes = proxy.score(archs, list(ARCHS), ctx)
    assert len(outcomes) == len(ARCHS)
    assert all(o.seconds >= 0 for o in outcomes)
    return [float(v) for v in proxy.combine(outcomes)]


def same(a: list[float], b: list[float]) -> bool:
    return all((x == y) or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_proxy_on_three_tiny_archs(name):
    proxy = tiny(REGISTRY.get(name))
    ctx = FakeContext("cifar10", seed=0, zc_batch=16)
    first, again = scores_of(proxy, ctx), scores_of(proxy, ctx)
    assert same(first, again), f"{name}: not reproducible for a fixed seed: {first} vs {again}"
    oriented, bad = orient(first, proxy.higher_is_better)
    assert np.isfinite(oriented).all() and bad < len(first), f"{name}: {first}"
    assert np.ptp(oriented) > 0, f"{name}: the three archs tie: {first}"


#: Cells whose output does not depend on their input (``Arch.is_connected()`` is False).
DEGENERATE = {
    "all-none": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",                              # 1651
    "output-only-none-inputs":
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",              # 10
    "output-disconnected": "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
    "fed-by-paths-from-none":
        "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
    "parameter-free-from-none":
        "|none~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",
}
#: A fast training proxy (C=2, 4x4 images, batches of 4, one epoch) for the degenerate test.
TRAINING_SPEC = "c8r8s0e1b4"


@pytest.mark.parametrize("cell", DEGENERATE)
@pytest.mark.parametrize("name", REGISTRY.names() + [TRAINING_SPEC])
def test_every_proxy_scores_degenerate_cells(name, cell, tmp_path):
    """Scored with a normal arch through the runner: a finite score or a non-finite one that the
    metrics count (``nan_scores``), never an exception; the normal arch keeps a finite score."""
    arch = Arch.parse(DEGENERATE[cell])
    assert not arch.is_connected()
    proxy = tiny(REGISTRY.get(name))
    ctx = FakeContext("cifar10", seed=0, zc_batch=8)
    out = score(Request(proxy, "cifar10", [gt.index_of(arch), 6111]), ctx,
                Store(tmp_path / "r.sqlite"), progress=False)
    degenerate, normal = (s["score"] for s in out["scores"])
    assert isinstance(normal, float) and math.isfinite(normal), (name, out["scores"])
    assert out["nan_scores"] == (0 if isinstance(degenerate, float) else 1), (name, degenerate)


def _fails(net, batch):
    raise RuntimeError("One of the differentiated Tensors does not require grad (simulated)")


def test_the_harness_scores_nan_where_a_function_fails_on_a_degenerate_cell():
    ctx = FakeContext("cifar10", zc_batch=8)
    plain = ZeroCostProxy("fails", "zero-cost", fn=_fails, channels=4, cells=1)
    ranked = RankedProxy("fails-ranked", "zero-cost", fn=_fails, channels=4, cells=1,
                         components=("a", "b"))
    degenerate = Arch.parse(DEGENERATE["all-none"])
    with pytest.warns(RuntimeWarning, match="fails cannot score cells"):
        assert math.isnan(run(plain, degenerate, 1651, ctx))
    with pytest.warns(RuntimeWarning):
        outcome = ranked.score([degenerate], [1651], ctx)[0]
    assert len(outcome.parts) == 2 and all(math.isnan(c) for c in outcome.parts)
    with pytest.raises(RuntimeError, match="simulated"):   # a normal arch: the error is a bug
        run(plain, gt.arch_of(6111), 6111, ctx)


@pytest.mark.parametrize("name", [p.name for p in REGISTRY if isinstance(p, ZeroCostProxy)
                                  and p.inputs != "none" and p.name != "l2_norm"])
def test_zero_cost_scores_depend_on_the_seed(name):
    proxy = tiny(REGISTRY.get(name))
    archs = [gt.arch_of(i) for i in ARCHS]

    def raw(seed):   # the stored values: scores, or the components of ranked proxies
        outs = proxy.score(archs, list(ARCHS), FakeContext("cifar10", seed=seed, zc_batch=16))
        return [v for o in outs for v in (o.parts or [o.score])]
    assert not same(raw(0), raw(1))


def test_registered_zero_cost_names():
    names = set(REGISTRY.names())
    assert {"grad_norm", "snip", "grasp", "fisher", "synflow", "jacov", "nwot", "l2_norm", "plain",
            "epe_nas", "zen", "zico", "meco", "az-nas", "vote"} <= names
    for name in names:
        proxy = REGISTRY.get(name)
        if isinstance(proxy, ZeroCostProxy):
            assert proxy.kind == "zero-cost" and isinstance(proxy.higher_is_better, bool)


# ---------------------------------------------------------------- harness

def test_batch_parts_cover_the_batch_and_weights_sum_to_one():
    x = torch.arange(10.0).view(10, 1, 1, 1)
    batch = Batch(x, torch.zeros(10, dtype=torch.long), 10, 1, splits=4)
    parts = list(batch.parts())
    assert torch.equal(torch.cat([p[0] for p in parts]), x)
    assert sum(w for _, _, w in parts) == pytest.approx(1.0)


def test_bn_off_removes_every_batchnorm_and_double_runs_in_float64():
    synflow = tiny(REGISTRY.get("synflow"))
    net = harness.build(synflow, gt.arch_of(6111), 10, torch.device("cpu"))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    assert all(p.dtype == torch.float64 for p in net.parameters())
    grad_norm = tiny(REGISTRY.get("grad_norm"))
    net = harness.build(grad_norm, gt.arch_of(6111), 10, torch.device("cpu"))
    assert net.training and any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_the_image_batch_is_normalised_and_fixed_by_the_seed():
    proxy = REGISTRY.get("snip")
    a = harness.make_batch(proxy, FakeContext("cifar10", seed=3, zc_batch=8))
    b = harness.make_batch(proxy, FakeContext("cifar10", seed=3, zc_batch=8))
    c = harness.make_batch(proxy, FakeContext("cifar10", seed=4, zc_batch=8))
    assert a.x.shape == (8, 3, 32, 32) and a.x.dtype == torch.float32
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    pixels = a.x * torch.tensor(harness.STD).view(1, 3, 1, 1) + torch.tensor(harness.MEAN).view(1, 3, 1, 1)
    assert torch.allclose(pixels * 255, (pixels * 255).round(), atol=1e-3)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6


def test_out_of_memory_splits_the_batch_and_retries():
    seen = []

    def flaky(net, batch):
        seen.append(batch.splits)
        if batch.splits < 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return float(len(list(batch.parts())))

    proxy = ZeroCostProxy("flaky", "zero-cost", fn=flaky, channels=4, cells=1)
    assert run(proxy, gt.arch_of(0), 0, FakeContext("cifar10", zc_batch=8)) == 4.0
    assert seen == [1, 2, 4]


def test_split_batches_give_the_full_batch_gradient():
    """Loss weights make the accumulated gradient of the parts equal the full batch's (BN in eval
    mode, where samples do not interact). In float64: two summation orders are compared."""
    base = dataclasses.replace(tiny(REGISTRY.get("grad_norm")), bn="eval", double=True)
    ctx = FakeContext("cifar10", zc_batch=16)
    whole = harness._attempt(base, gt.arch_of(6111), 6111, ctx, harness.make_batch(base, ctx))
    split = harness._attempt(base, gt.arch_of(6111), 6111, ctx,
                             dataclasses.replace(harness.make_batch(base, ctx), splits=4))
    assert split == pytest.approx(whole, rel=1e-10)


# ---------------------------------------------------------------- definitions

def test_jacov_penalises_identical_jacobians():
    """A linear network has the same input Jacobian for every image: correlation 1 everywhere,
    a far lower score than a ReLU network's, and never above the maximum -N (1 + log(1 + k))."""
    from proxies.zero_cost.jacobian import K, jacov
    torch.manual_seed(0)
    batch = Batch(torch.randn(8, 3, 4, 4), torch.zeros(8, dtype=torch.long), 10, 4)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(48, 10))
    relu = nn.Sequential(nn.Flatten(), nn.Linear(48, 64), nn.ReLU(), nn.Linear(64, 10))
    best = -8 * (np.log(1 + K) + 1 / (1 + K))
    assert jacov(linear, batch) < jacov(relu, batch) <= best + 1e-6


def test_epe_score_classes_with_one_image():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(5, 7))
    labels = np.array([0, 0, 1, 1, 2])
    s = epe_score(jac, labels, 10)
    expected = sum(abs(np.sum(np.log(np.abs(np.corrcoef(jac[labels == c])) + 1e-5))) for c in (0, 1))
    assert s == pytest.approx(expected + np.log(1 + 1e-5))
    assert math.isfinite(epe_score(jac, labels, 120))


def test_copeland_counts_majority_wins():
    # three proxies over four archs: arch 2 beats every other by two of three; 3 beats 0 and 1
    comps = np.array([[1.0, 2.0, 4.0, 3.0],
                      [1.0, 3.0, 4.0, 2.0],
                      [4.0, 1.0, 2.0, 3.0]])
    wins = copeland(comps) * 3
    assert wins.tolist() == [0.0, 1.0, 3.0, 2.0]
    assert copeland(comps, block=1).tolist() == copeland(comps).tolist()


def test_az_nas_aggregates_log_ranks():
    proxy = REGISTRY.get("az-nas")
    assert isinstance(proxy, AZNAS) and isinstance(proxy, RankedProxy)
    outcomes = [Outcome(float("nan"), parts=[1, 1, 1, 10]), Outcome(float("nan"), parts=[2, 2, 2, 20]),
                Outcome(float("nan"), parts=[3, float("-inf"), 3, 30])]
    got = proxy.combine(outcomes)
    # -inf progressivity ranks last: progressivity ranks are 2, 3, 1
    expected = [3 * np.log(1 / 3) + np.log(2 / 3), 3 * np.log(2 / 3), np.log(1 / 3)]
    assert np.allclose(got, expected)


def test_runner_combines_ranked_proxies_within_the_scored_set(tmp_path):
    vote = tiny(REGISTRY.get("vote"))
    ctx = FakeContext("cifar10", seed=0, zc_batch=16)
    store = Store(tmp_path / "r.sqlite")
    out = score(Request(vote, "cifar10", list(ARCHS)), ctx, store, progress=False)
    got = [s["score"] for s in out["scores"]]
    assert sorted(got) == [0.0, 0.5, 1.0] or len(set(got)) < 3
    stored = store.get(Key.of(vote, ctx), list(ARCHS))
    assert all(len(o.parts) == 3 and math.isnan(o.score) for o in stored.values())
    again = score(Request(vote, "cifar10", list(ARCHS)), ctx, store, progress=False)
    assert [s["score"] for s in again["scores"]] == got


# ---------------------------------------------------------------- agreement with NASLib

def test_reference_fixture():
    ref = pd.read_csv(FIXTURE)
    assert len(ref) >= 300
    assert {"index", "net_str", "synflow", "jacov", "snip", "nwot", "params", "flops"} <= set(ref)
    assert all(gt.index_of(s) == i for s, i in zip(ref["net_str"], ref["index"]))


def test_synflow_agrees_with_naslib_on_the_fixture():
    """Full network (C=16, N=5) on 16 fixture archs: synflow needs no images and is cheap."""
    ref = pd.read_csv(FIXTURE).head(16)
    ctx = Context("cifar10", seed=0)
    archs = [gt.arch_of(int(i)) for i in ref["index"]]
    proxy = REGISTRY.get("synflow")
    ours = [o.score for o in proxy.score(archs, [int(i) for i in ref["index"]], ctx)]
    rho = spearman(orient(ours, True)[0], orient(ref["synflow"].to_numpy(float), True)[0])
    assert rho >= 0.95, f"synflow: Spearman {rho:.3f} with NASLib's scores"


@pytest.mark.parametrize("name", [p.name for p in REGISTRY
                                  if isinstance(p, ZeroCostProxy) and p.fn is not None])
def test_no_proxy_keeps_an_activation_alive(name):
    """Once a proxy's function has returned and the network is dropped, every layer's output is
    freed. A gradient hook stored on a tensor that refers to that tensor is a cycle through
    autograd's C++ side that Python's collector never frees: fisher held 130 MB per arch that
    way, until a background run on 200 archs was killed for memory (23 GB)."""
    import gc
    import weakref
    proxy = tiny(REGISTRY.get(name))
    ctx = FakeContext("cifar10", seed=0, zc_batch=8)
    batch = harness.make_batch(proxy, ctx)
    net = harness.build(proxy, gt.arch_of(6111), batch.num_classes, torch.device("cpu"))
    outputs = []
    for module in net.modules():
        module.register_forward_hook(
            lambda m, i, out: outputs.append(weakref.ref(out)) if torch.is_tensor(out) else None)
    with torch.set_grad_enabled(proxy.grad):
        proxy.fn(net, batch)
    del net
    gc.collect()
    assert not [ref for ref in outputs if ref() is not None]   # (l2_norm runs no forward pass)
