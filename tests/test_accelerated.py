"""The CUDA branches, exercised on a CPU-only machine wherever they can be (no GPU has been lent to
this project): one :func:`nb201.devices.accelerated` decision; the accelerated arms run on the
``meta`` device (shapes, dtypes, which kernel is taken) or forced on a CPU in float64 against a
reference (values): BoxPool's depthwise-conv box filter against average pooling, the engine's
one-group-in-this-process placement against separate training, state saving's one host copy per
fused tensor, the group-size memory estimate against the tensors autograd saves, TF32 off and in
the fingerprint, and the engine without numba."""
from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nb201 import devices
from nb201.context import Context
from nb201.space import OPS, Arch
from nb201.training import data, engine, fused, kernels, sizing, torch_trainer
from nb201.training.recipe import parse

ROOT = Path(__file__).resolve().parent.parent
META = torch.device("meta")
THREE = [Arch.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"),
         Arch.parse("|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"),
         Arch.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")]
#: the EcoNAS point's network (4 channels, 8x8), 2 cells per stage, small batches
SMALL = dataclasses.replace(parse("c4r4s0e2")[0], cells=2, batch_size=16)

pytestmark = pytest.mark.usefixtures("one_thread")


def _split(device="cpu", n_train=64, n_valid=40, res=8):
    g = torch.Generator().manual_seed(0)
    parts = (torch.randint(0, 256, (n_train, 3, res, res), dtype=torch.uint8, generator=g),
             torch.randint(0, 10, (n_train,), generator=g),
             torch.randint(0, 256, (n_valid, 3, res, res), dtype=torch.uint8, generator=g),
             torch.randint(0, 10, (n_valid,), generator=g))
    return data.Split(*(p.to(device) for p in parts), padding=1, num_classes=10)


def _nets(archs, recipe=SMALL):
    return [engine.init_network(a, recipe, 10, 0, i) for i, a in enumerate(archs)]


# ------------------------------------------------------------------ the one decision

def test_accelerated_is_every_device_but_the_cpu():
    assert not devices.accelerated("cpu") and not devices.accelerated(torch.device("cpu"))
    assert devices.accelerated("meta") and devices.accelerated(torch.device("cuda"))
    assert devices.accelerated("cuda:1")
    assert engine.placement("cpu", 5) == (sizing.CPU_NETWORKS_PER_GROUP, torch.get_num_threads())
    assert engine.placement(META, 5) == (5, 1)                 # one group, in this process
    assert engine.placement(META, 5, workers=4) == (5, 1)
    assert sizing.auto_fuse(META, SMALL, 32) == sizing.cuda_group_size(SMALL, 32)


def test_no_module_tests_the_device_type_but_nb201_devices():
    """Device-dependent paths ask :func:`accelerated`; only nb201/devices.py compares a device's
    type (CUDA runtime calls), so no branch can drift to its own notion of "on the GPU"."""
    pattern = re.compile(r"""\.type\s*[!=]=\s*["'](cuda|cpu)["']""")
    found = [f"{p.relative_to(ROOT)}:{n}" for pkg in ("nb201", "proxies", "benchmark")
             for p in sorted((ROOT / pkg).rglob("*.py")) if p.name != "devices.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found


# ------------------------------------------------------------------ kernels of the CUDA arm

@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (2, 3, 2, 2), (2, 3, 3, 5), (2, 6, 8, 8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_box_conv_equals_average_pooling(shape, channels_last, float64):
    """The accelerated box filter (a ones depthwise conv times 1 / in-image taps), forward and
    backward, equals avg_pool2d(3, 1, 1, count_include_pad=False) in float64."""
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ones = fused.BoxPool(shape[1]).ones
    out = fused.box_conv(a, ones)
    ref = F.avg_pool2d(b, 3, stride=1, padding=1, count_include_pad=False)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-13)
    weights = torch.randn(shape)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-13)


def test_meta_training_step_runs_the_cuda_arm(monkeypatch):
    """A training step of a fused group on the ``meta`` device goes through every accelerated
    branch: channels-last layout, the depthwise-conv box filter, PyTorch's own convolutions (not
    the CPU's small-map kernels), TF32 off during the step, and a CUDA-sized evaluation chunk."""
    taken = {"box_conv": 0, "dense_conv": 0, "tf32_inside": []}
    box, dense = fused.box_conv, kernels.dense_conv

    def spy_box(x, ones):
        taken["box_conv"] += 1
        taken["tf32_inside"].append(torch.backends.cudnn.allow_tf32)
        return box(x, ones)

    def spy_dense(*args):
        taken["dense_conv"] += 1
        return dense(*args)

    monkeypatch.setattr(fused, "box_conv", spy_box)
    monkeypatch.setattr(kernels, "dense_conv", spy_dense)
    trainer = torch_trainer.TorchTrainer(_nets(THREE), None, SMALL, _split(META), META, None)
    model = trainer.model
    assert model.input_format == torch.channels_last
    assert all(p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters() if p.dim() == 4)
    idx, dy, dx, flips = data.epoch_batches(64, SMALL.batch_size, 1, 0, 0)[0]
    before = torch.backends.cudnn.allow_tf32
    losses = trainer.step(idx, dy, dx, flips)
    assert losses.device == META and losses.shape == (3,)
    assert taken["box_conv"] > 0 and taken["dense_conv"] == 0
    assert set(taken["tf32_inside"]) == {devices.TF32}
    assert torch.backends.cudnn.allow_tf32 == before          # restored after the step
    assert model.stem[0].weight.grad.device == META            # backward ran, on meta
    chunk = torch_trainer.eval_chunk(468, 4, 8, accelerated=True)
    assert chunk == 2 ** 27 // (468 * 4 * 64) == 1120
    assert torch_trainer.eval_chunk(468, 4, 8) == 64             # the CPU's, as before


def test_cuda_arm_of_the_layout_and_convolutions_on_meta():
    model = torch_trainer.apply_layout(fused.fuse(_nets(THREE[:2])).to(META), META)
    assert all(m.is_contiguous(memory_format=torch.channels_last)
               for m in model.parameters() if m.dim() == 4)
    cpu = torch_trainer.apply_layout(fused.fuse(_nets(THREE[:2])), "cpu")
    assert cpu.input_format == torch.contiguous_format          # 4 channels: NCHW on a CPU
    conv = kernels.Conv2d(4, 4, 3, padding=1, bias=False).to(META)
    x = torch.empty(2, 4, 2, 2, device=META)
    assert conv(x).shape == (2, 4, 2, 2)                        # nn.Conv2d's own forward


# ------------------------------------------------------------------ the engine's placement

def test_one_group_in_this_process_equals_separate_training(float64):
    """The engine as it runs on CUDA (one fused group of all the chunk's networks, trained in
    this process by the PyTorch trainer), forced on a CPU in float64: the same losses, curves and
    final weights as each network trained alone."""
    recipe = dataclasses.replace(SMALL, epochs=2)
    split = _split()
    together = engine.train(THREE, [5, 6, 7], split, recipe, seed=3, trainer="torch",
                            group_size=3, workers=1)
    for k in range(3):
        alone = engine.train(THREE[k:k + 1], [5 + k], split, recipe, seed=3, trainer="torch",
                             group_size=1, workers=1)
        torch.testing.assert_close(torch.tensor(together.losses[k]), torch.tensor(alone.losses[0]),
                                   rtol=1e-9, atol=1e-11)
        assert together.curves[k] == alone.curves[0]
        mine, ref = together.states[k], alone.states[0]
        for name, tensor in ref.weights.items():
            torch.testing.assert_close(mine.weights[name], tensor, rtol=1e-9, atol=1e-11)
        for name, tensor in ref.momentum.items():
            torch.testing.assert_close(mine.momentum[name], tensor, rtol=1e-9, atol=1e-11)


def test_state_saving_copies_each_fused_tensor_to_the_host_once(monkeypatch):
    made = []

    class Counted(fused.HostCopies):
        def __init__(self):
            super().__init__()
            made.append(self)

    monkeypatch.setattr(torch_trainer, "HostCopies", Counted)
    nets = _nets(THREE)
    trainer = torch_trainer.TorchTrainer(nets, None, SMALL, _split(), torch.device("cpu"), None)
    trainer.step(*data.epoch_batches(64, SMALL.batch_size, 1, 0, 0)[0])
    states = trainer.states()
    fused_tensors = (len(trainer.model.state_dict())
                     + sum(torch.is_tensor(v) for s in trainer.optimizer.state.values()
                           for v in s.values()))
    per_network = sum(len(w) + len(m) for w, m in states)
    assert len(made) == 1 and 0 < made[0].copies <= fused_tensors < per_network
    # the same states as reading every network's tensors one by one
    for k, (weights, momentum) in enumerate(states):
        net = fused.unfuse(trainer.model, k, _nets(THREE)[k])
        for name, tensor in net.state_dict().items():
            assert torch.equal(weights[name], tensor), name
        assert momentum.keys() == fused.momentum_of(trainer.model, trainer.optimizer, k, net).keys()


# ------------------------------------------------------------------ memory

def _saved_bytes_per_network_image(archs, recipe, device, images=64) -> float:
    """Bytes of the tensors autograd saves for backward in one forward pass of the fused group
    (every saved tensor counted, shared ones as often as saved), per network and image."""
    model = torch_trainer.apply_layout(fused.fuse(_nets(archs, recipe)).to(device), device)
    res = recipe.resolution(32)
    x = torch.randn(images, 3, res, res, device=device).contiguous(memory_format=model.input_format)
    y = torch.zeros(images, dtype=torch.int64, device=device)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch_trainer.network_losses(model(x), y).sum()
    return total / images / len(archs)


@pytest.mark.parametrize("spec", ["c4r4s0e1", "c2r2s0e1"])
def test_group_memory_estimate_bounds_the_saved_tensors(spec):
    """:func:`sizing.activation_bytes`, which sizes a CUDA group, is at least what the CUDA arm
    saves for backward per network and image (measured on ``meta``: shapes, no values) for every
    single-op cell and a mix, and within 2x of the heaviest (every edge a 3x3 conv)."""
    recipe = dataclasses.replace(parse(spec)[0], cells=5)
    estimate = sizing.activation_bytes(recipe, 32)
    measured = {op: _saved_bytes_per_network_image([Arch((op,) * 6)] * 2, recipe, META)
                for op in OPS}
    measured["mix"] = _saved_bytes_per_network_image(THREE, recipe, META)
    assert max(measured.values()) <= estimate, (estimate, measured)
    assert measured["nor_conv_3x3"] == max(measured.values()) >= estimate / 2, (estimate, measured)


# ------------------------------------------------------------------ TF32 and fingerprints

def test_tf32_is_off_and_recorded_on_accelerated_devices_only():
    from proxies import REGISTRY
    point, synflow = REGISTRY.get("c4r4s0e40@20"), REGISTRY.get("synflow")
    on_cuda = Context("cifar10", seed=0, device=torch.device("cuda"))   # built, not run
    on_cpu = Context("cifar10", seed=0, device="cpu")
    for proxy in (point, synflow):
        assert proxy.fingerprint(on_cuda)["tf32"] is devices.TF32 is False
        assert "tf32" not in proxy.fingerprint(on_cpu)      # CPU keys as they were
    assert point.fingerprint(on_cuda)["group"] == sizing.cuda_group_size(point.recipe, 32) == 468
    assert point.fingerprint(on_cuda)["kernels"] == "torch"
    before = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True
        with devices.exact_float32(META):
            assert torch.backends.cudnn.allow_tf32 is False
            assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is True
        with devices.exact_float32("cpu"):
            assert torch.backends.cudnn.allow_tf32 is True          # a CPU has no TF32
    finally:
        torch.backends.cudnn.allow_tf32 = before
    record = devices.float32_precision()
    assert set(record) == {"float32_matmul_precision", "cudnn_allow_tf32", "matmul_allow_tf32"}


# ------------------------------------------------------------------ without numba

def test_the_engine_imports_and_runs_without_numba():
    """Importing the suite loads no numba (only the direct trainer needs it), and where numba is
    missing (a GPU machine with only what travelled as wheels) training works: CPU runs take the
    torch trainer and their fingerprint says so. In a fresh interpreter."""
    code = """
import json, sys, dataclasses
import proxies, benchmark.runner, nb201.training.engine
imported = "numba" in sys.modules or "nb201.training.direct" in sys.modules
sys.modules["numba"] = None                     # `import numba` fails from here on
from nb201.context import Context
from nb201.training import engine
from tests.test_accelerated import SMALL, THREE, _split
ctx = Context("cifar10", seed=0, device="cpu")
kernels = proxies.REGISTRY.get("c4r4s0e40@20").fingerprint(ctx)["kernels"]
result = engine.train(THREE[:2], [1, 2], _split(), dataclasses.replace(SMALL, epochs=1), seed=0)
print(json.dumps({"imported": imported, "kernels": kernels, "available": engine.direct_available(),
                  "curves": len(result.curves), "direct": "nb201.training.direct" in sys.modules}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "imported": False, "kernels": "torch", "available": False, "curves": 2, "direct": False}
    assert engine.kernels("cpu", None, parse("c4r4s0e40")[0], 8) == "direct"   # here: numba
