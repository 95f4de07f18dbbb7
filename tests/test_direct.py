"""The direct kernels (nb201/training/direct*.py), the engine's CPU trainer, compute what PyTorch
computes: compared with the network trained by autograd and torch.optim, and with the engine's
PyTorch trainer, in float64 (float32 training of these networks is chaotic: the two paths' float
rounding differs, so a float32 comparison would hold only on one CPU's kernels)."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nb201.space import OPS, Arch
from nb201.training import augment, direct, direct_kernels, direct_trainer, engine, sizing
from nb201.training.recipe import NB201, parse
from tests.test_training import ALL_NONE, DISCONNECTED, EVERY_OP, SMALL, THREE, _close, _nets, _split

pytestmark = pytest.mark.usefixtures("one_thread")

#: every op, degenerate cells, a conv reading a zero node, a cell that ignores its input
ARCHS = EVERY_OP + THREE + [
    Arch.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"),
    Arch.parse("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|none~2|"),
    Arch.parse("|avg_pool_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|")]


def _images_in(d: direct.DirectNetwork, x: torch.Tensor, y: torch.Tensor) -> int:
    xp, labels = d.inputs(len(x))
    direct_kernels.images_to_padded(x.numpy(), xp, len(x))
    labels[:] = y.numpy()
    return len(x)


def _reference_optimizer(net, recipe):
    return torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)


@pytest.mark.parametrize("resolution", [4, 8, 16], ids=lambda r: f"{r}px")
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_steps_equal_autograd_and_sgd(arch, resolution, float64):
    """Three SGD steps (label smoothing on): the same losses, parameters and BN running
    statistics as the network in PyTorch; then the same predictions in evaluation mode. The
    resolutions cover the taps (8x8, 4x4 maps), the matrix products of tiny maps (2x2 and 1x1)
    and maps of 16x16."""
    recipe = dataclasses.replace(SMALL, lr=0.05, label_smoothing=0.1)
    net = _nets([arch], recipe)[0]
    ref = copy.deepcopy(net)
    d = direct.DirectNetwork(net, resolution)
    optimizer, ref_optimizer = direct_trainer.FlatSGD(d.flat, recipe), _reference_optimizer(ref, recipe)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        x, y = torch.randn(16, 3, resolution, resolution, generator=g), torch.randint(0, 10, (16,), generator=g)
        loss = F.cross_entropy(ref(x), y, label_smoothing=recipe.label_smoothing)
        ref_optimizer.zero_grad()
        loss.backward()
        ref_optimizer.step()
        assert d.step(_images_in(d, x, y), recipe.label_smoothing) == pytest.approx(loss.item(), rel=1e-10)
        optimizer.step()
    trained, reference = dict(net.named_parameters()), dict(ref.named_parameters())
    for name in d.params.names:                   # the parameters the output depends on
        _close(trained[name], reference[name])
    buffers, ref_buffers = dict(net.named_buffers()), dict(ref.named_buffers())
    for bn in d.batch_norms:
        name = next(n for n, m in net.named_modules() if m is bn)
        _close(buffers[f"{name}.running_mean"], ref_buffers[f"{name}.running_mean"])
        _close(buffers[f"{name}.running_var"], ref_buffers[f"{name}.running_var"])
    ref.eval()
    x = torch.randn(40, 3, resolution, resolution, generator=g)
    with torch.no_grad():
        predicted = ref(x).argmax(1)
    labels = predicted.clone()
    labels[::3] = (labels[::3] + 1) % 10
    assert d.correct(_images_in(d, x, labels)) == int((predicted == labels).sum())


def test_only_what_the_output_depends_on_is_trained():
    """Dead edges and, when the cells ignore their input, everything before the last cell are
    left out of the flat parameters (in PyTorch they get no gradient), and stay as initialised."""
    for arch, prefixes in ((DISCONNECTED, {"cells.16.", "head.", "classifier."}),
                           (ALL_NONE, {"head.", "classifier."}),
                           (THREE[0], {"stem.", "cells.", "head.", "classifier."})):
        d = direct.DirectNetwork(_nets([arch], NB201)[0], 32)
        assert {p for p in prefixes if any(n.startswith(p) for n in d.params.names)} == prefixes
        assert all(any(n.startswith(p) for p in prefixes) for n in d.params.names)
    d = direct.DirectNetwork(_nets([THREE[1]], NB201)[0], 32)     # its node 2 is dead
    dead = {n for n, _ in _nets([THREE[1]], NB201)[0].named_parameters()} - set(d.params.names)
    assert dead and all(n.startswith("cells.") for n in dead)


def test_the_engine_trains_alike_with_either_trainer(float64):
    """engine.train by the direct kernels and by the PyTorch trainer: the same losses, accuracies,
    weights and optimizer state after two epochs of SGD; the same losses with Adam (which divides
    the rounding noise of zero gradients by its own size: those weights, and near-tied
    predictions of these random labels, differ)."""
    split = _split()
    for variant in ("", "adam:lr0.01:"):
        recipe = dataclasses.replace(parse(f"{variant}c2r0s0e2")[0], channels=8, cells=2,
                                     batch_size=16)
        runs = {t: engine.train(THREE, [5, 6, 7], split, recipe, seed=3, trainer=t)
                for t in engine.KERNELS}
        a, b = runs["direct"], runs["torch"]
        for sa, sb in zip(a.states, b.states):
            assert np.allclose(sa.losses, sb.losses, rtol=1e-9)
            if variant:
                continue
            assert sa.curve == sb.curve
            for name, tensor in sb.weights.items():
                if "num_batches" not in name:
                    _close(sa.weights[name], tensor, rtol=1e-7, atol=1e-9)
            assert sa.momentum.keys() == sb.momentum.keys()
            for name, tensor in sb.momentum.items():
                _close(sa.momentum[name].double(), tensor.double(), rtol=1e-7, atol=1e-9)


def test_gathered_batches_are_the_augmented_images():
    """The training batch gathered into the first map is exactly (float32 too) what crop_flip and
    normalize give, and the evaluation batch the normalised images."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8, generator=g)
    idx = torch.tensor([3, 17, 0, 9, 9])
    dy, dx, flips = augment.draw(5, 2, g)
    expect = augment.normalize(augment.crop_flip(images[idx], dy, dx, flips, 2), NB201.mean, NB201.std)
    xp = np.zeros((3, 10, 10 * 5), np.float32)
    direct_kernels.gather_batch(images.numpy(), idx.numpy(), dy.numpy(), dx.numpy(), flips.numpy(), 2,
                                np.array(NB201.mean), np.array(NB201.std), xp)
    got = torch.from_numpy(xp[:, 1:-1].reshape(3, 8, 10, 5)[:, :, 1:-1]).permute(3, 0, 1, 2)
    assert torch.equal(got, expect)
    assert xp[:, 0].max() == xp[:, -1].max() == 0            # the zero border


def test_the_trainer_follows_the_device_and_the_network_size():
    c4r4 = parse("c4r4s0e1")[0]
    assert engine.kernels("cpu", None, c4r4, 8) == "direct"
    assert engine.kernels("cpu", "bf16", c4r4, 8) == "torch"
    assert engine.kernels("cuda", None, c4r4, 8) == "torch"
    assert engine.kernels("cpu", None, parse("c2r2s0e1")[0], 16) == "torch"    # 8 channels, 16x16
    with pytest.raises(ValueError, match="cannot train on cuda"):
        engine.train(THREE[:1], [1], _split(), SMALL, 0, device="cuda", trainer="direct")


def test_relative_cost_counts_what_the_direct_kernels_run():
    skips = Arch.parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    dead = Arch.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|skip_connect~1|none~2|")
    two = Arch.parse("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|")
    of_zeros = Arch.parse("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|skip_connect~2|")
    assert sizing.relative_cost(skips) == sizing.relative_cost(dead) == 1 + 3 * 0.45   # node 2 dead
    assert sizing.relative_cost(two) == 1 + 3.5 + 0.9 + 0.45
    assert sizing.relative_cost(of_zeros) == 1 + 0.45 + 0.05 + 0.45      # node 1 is zero
    assert sizing.relative_cost(DISCONNECTED) < 0.1 < sizing.relative_cost(ALL_NONE) or \
        sizing.relative_cost(ALL_NONE) < 0.1
    assert set(sizing.OP_COSTS) == set(OPS) - {"none"}


def test_kernels_compile_for_both_float_types():
    for dtype in (torch.float32, torch.float64):
        direct_trainer.warm(dtype)
    assert {torch.float32, torch.float64} <= direct_trainer._WARM
