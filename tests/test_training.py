"""The training engine: recipe notation, augmentation, and fused == separate training.

Tests that compare two code paths (fused vs separate, BN folded vs not, channels-last vs not,
chunked evaluation) run in float64 (the ``float64`` fixture) at tight tolerances: float32 training
of these small networks is chaotic (rounding differences of 1e-7 grow about 100x per step), so a
float32 comparison holds only on the kernels it was written on. float32 is checked where that is
robust: one forward pass and one SGD step at loose tolerances."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from nb201.errors import UserError
from nb201.network import Network
from nb201.space import OPS, Arch
from nb201.training import augment, data, engine, sizing, torch_trainer
from nb201.training.fused import FusedNetwork, fold_batchnorm, fuse, live_ops, unfuse
from nb201.training.recipe import NB201, Recipe, matches, parse

THREE = [Arch.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"),
         Arch.parse("|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"),
         Arch.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")]
ALL_NONE = Arch(("none",) * 6)
#: output disconnected from the input: node 3 only reads node 2, which reads nothing
DISCONNECTED = Arch(("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_1x1"))
#: every op on some edge, and edges that read a zero node
EVERY_OP = [Arch((op,) * 6) for op in OPS] + [ALL_NONE, DISCONNECTED]

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = dataclasses.replace(NB201, channels=8, cells=2, channel_factor=2)   # 4 channels, 2 cells


def _nets(archs, recipe=SMALL, seed=0):
    return [engine.init_network(a, recipe, 10, seed, i) for i, a in enumerate(archs)]


def _batches(n=3, size=16, res=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, res, res, generator=g), torch.randint(0, 10, (size,), generator=g))
            for _ in range(n)]


def _close(a, b, rtol=1e-9, atol=1e-11):
    """Equal to float64 rounding (the tests comparing code paths run in float64)."""
    assert a.dtype == b.dtype == torch.float64, (a.dtype, b.dtype)
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ recipe

def test_parse_econas_names():
    recipe, at = parse("c4r4s0e40b2048@20")
    assert (recipe.width, recipe.resolution(32), recipe.padding(8), recipe.batch_size, at) == (4, 8, 1, 2048, 20)
    assert recipe.train_size(25000) == 25000 and recipe.epochs == 40
    recipe, at = parse("c2r2s4e8")
    assert (recipe.width, recipe.resolution(32), recipe.padding(16), at) == (8, 16, 2, 8)
    assert recipe.train_size(25000) == 6250
    assert parse("c0r0s0e12")[0].resolution(16) == 16 and parse("c1r1s1e12")[0].width == 16
    assert parse("c4r4s0e2")[0].resolution(16) == 4      # ImageNet16-120: 16/k


def test_canonical_spelling_shares_one_run():
    names = ["c4r4s0e40", "c4r4s0e40@20", "c4r4s0e40b256@15", "c04r4s1e40@40", "c4r4s0e40@1"]
    assert {parse(n)[0].spec for n in names} == {"c4r4s0e40"}
    assert parse("c4r4s0e40b2048")[0].spec == "c4r4s0e40b2048"
    assert parse("c1r0s0e12")[0].spec == "c0r0s0e12"


@pytest.mark.parametrize("bad", ["c4r4s0e0", "c4r4s0e10@11", "c4r4s0e10@0", "c32r4s0e1",
                                 "c4r4s0e1b1"])
def test_impossible_specs_are_user_errors(bad):
    assert matches(bad)
    with pytest.raises(UserError):
        parse(bad)


def test_resolution_factors_must_divide_into_a_multiple_of_four():
    recipe, _ = parse("c0r8s0e1")
    assert recipe.resolution(32) == 4
    with pytest.raises(UserError, match="r8: 16x16 .* use one of r1, r2, r4$"):
        recipe.resolution(16)
    for bad in ("c8r3s16e1", "c8r32s16e1", "c0r7s0e1"):    # 10x10, 1x1, 4x4 but not a divisor
        with pytest.raises(UserError, match="r1, r2, r4, r8$"):
            parse(bad)[0].resolution(32)


def test_non_specs_do_not_match():
    for name in ("snip", "c4r4s0", "c4r4s0e", "c4r4s0e12x", "c4r4e12"):
        assert not matches(name)


def test_cosine_is_nb201s_per_epoch_schedule():
    recipe = dataclasses.replace(NB201, epochs=4)
    assert [round(recipe.lr_at(e), 6) for e in range(4)] == [0.1, 0.085355, 0.05, 0.014645]


def test_recipe_is_frozen_and_nb201():
    assert (NB201.lr, NB201.momentum, NB201.nesterov, NB201.weight_decay, NB201.batch_size) == \
        (0.1, 0.9, True, 5e-4, 256)
    with pytest.raises(dataclasses.FrozenInstanceError):
        NB201.lr = 1.0


# ------------------------------------------------------------------ augmentation

def test_crop_flip_matches_a_per_image_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8, generator=g)
    dy, dx, flips = augment.draw(6, 2, g)
    out = augment.crop_flip(x, dy, dx, flips, 2)
    for i in range(6):
        ref = F.pad(x[i], (2, 2, 2, 2))[:, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
        if flips[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
    assert out.dtype == torch.uint8


def test_padding_is_zero_and_offsets_cover_the_range():
    g = torch.Generator().manual_seed(1)
    dy, dx, flips = augment.draw(4000, 1, g)
    assert set(dy.tolist()) == {0, 1, 2} and set(dx.tolist()) == {0, 1, 2}
    assert 0.45 < flips.float().mean() < 0.55
    x = torch.full((1, 3, 4, 4), 200, dtype=torch.uint8)
    out = augment.crop_flip(x, torch.tensor([0]), torch.tensor([0]), torch.tensor([False]), 1)
    assert out[0, :, 0].eq(0).all() and out[0, :, :, 0].eq(0).all() and out[0, :, 1:, 1:].eq(200).all()


def test_resize_is_antialiased_and_keeps_uint8():
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    x[..., ::2] = 255                                    # stripes: a box filter averages them
    small = augment.resize(x, 8)
    assert small.dtype == torch.uint8 and small.shape == (1, 3, 8, 8)
    assert (small[..., 1:-1].float() - 127.5).abs().max() < 2    # without antialiasing: 0 or 255
    assert (small.float() - 127.5).abs().max() < 16
    assert augment.resize(x, 32) is x


def test_normalize_uses_nb201_mean_and_std():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    y = augment.normalize(x, NB201.mean, NB201.std)
    expect = [(1 - m) / s for m, s in zip(NB201.mean, NB201.std)]
    torch.testing.assert_close(y[0, :, 0, 0], torch.tensor(expect))


# ------------------------------------------------------------------ fused network

def test_fuse_unfuse_roundtrip_and_forward_equal(float64):
    nets = _nets(THREE + [ALL_NONE, DISCONNECTED])
    fused = fuse(nets)
    x = torch.randn(8, 3, 8, 8)
    out = fused(x)
    assert out.shape == (8, 5, 10)
    for k, net in enumerate(nets):
        _close(out[:, k], net(x))
        copy = unfuse(fused, k, Network(net.arch, channels=4, cells=2))
        for (name, a), b in zip(net.named_parameters(), copy.parameters()):
            if name.startswith(("stem", "head", "classifier", "cells.2")):
                assert torch.equal(a, b), name


@pytest.mark.parametrize("arch", EVERY_OP, ids=lambda a: "-".join(sorted(set(a.ops))) or "x")
def test_every_op_and_degenerate_cells_train(arch, float64):
    nets = _nets([arch, THREE[0]])
    fused = fuse(nets)
    optimizer = torch_trainer.make_optimizer(fused.parameters(), SMALL)
    for x, y in _batches(2):
        losses = torch_trainer.train_step(fused, optimizer, x, y)
        assert torch.isfinite(losses).all()
    fused.eval()
    x = torch.randn(4, 3, 8, 8)
    alone = unfuse(fused, 0, Network(arch, channels=4, cells=2)).eval()
    _close(fused(x)[:, 0], alone(x))


def test_live_ops_drop_edges_that_cannot_reach_the_output():
    assert live_ops(DISCONNECTED) == ("none",) * 5 + ("nor_conv_1x1",)
    assert live_ops(THREE[1]) == ("avg_pool_3x3", "none", "none", "nor_conv_1x1", "nor_conv_3x3", "none")
    for arch in THREE[::2] + [ALL_NONE]:
        assert live_ops(arch) == arch.ops


def test_degenerate_cells_give_constant_features(float64):
    nets = _nets([ALL_NONE, DISCONNECTED])
    fused = fuse(nets).eval()
    a, b = torch.randn(2, 4, 3, 8, 8)
    out_a, out_b = fused(a), fused(b)
    # the cells' output does not depend on the input: logits equal for every image
    _close(out_a[:, 0], out_b[:, 0])
    _close(out_a[:, 1], out_b[:, 1])


def _train_fused_and_separate(archs, steps, recipe=SMALL):
    """(fused module after ``steps`` optimizer steps, its per-step losses, the separately trained
    networks, their per-step losses), from the same initial weights and batches; the separate
    networks use torch's optimizer and loss directly (the reference)."""
    batches = _batches(steps)
    fused = fuse(_nets(archs))
    optimizer = torch_trainer.make_optimizer(fused.parameters(), recipe)
    fused_losses = torch.stack([torch_trainer.train_step(fused, optimizer, x, y,
                                                  label_smoothing=recipe.label_smoothing)
                                for x, y in batches])
    separate, separate_losses = _nets(archs), []
    for net in separate:
        if recipe.optimizer == "sgd":
            opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                  nesterov=True, weight_decay=recipe.weight_decay)
        else:
            kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
            opt = kind(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        losses = []
        for x, y in batches:
            loss = F.cross_entropy(net(x), y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        separate_losses.append(torch.stack(losses))
    return fused, fused_losses, separate, torch.stack(separate_losses, dim=1)


def test_fused_training_equals_separate_training(float64):
    """3 different archs, fused vs alone, same init and batches: same losses and parameters."""
    fused, fused_losses, separate, separate_losses = _train_fused_and_separate(THREE, steps=4)
    _close(fused_losses, separate_losses)
    for k, net in enumerate(separate):
        trained = unfuse(fused, k, _nets(THREE)[k])      # dead edges keep their initial weights
        for (name, a), b in zip(net.named_parameters(), trained.parameters()):
            _close(b, a)
        x = _batches(1, seed=1)[0][0]
        _close(trained.eval()(x), net.eval()(x))          # and the BN running statistics
    assert len({round(float(l), 4) for l in fused_losses[-1]}) == 3   # the archs differ


@pytest.mark.parametrize("variant", ["adam:lr0.01", "adamw:lr0.003:ls0.1"])
def test_fused_variants_equal_separate_training(variant, float64):
    """Adam and AdamW (elementwise, like SGD) and label smoothing: fused == alone, in float64.
    Where a gradient is zero but for rounding (a BN shift that the next BN removes), Adam divides
    rounding noise by its own size: those elements are compared only to within the steps' lr."""
    recipe, _ = parse(f"{variant}:c2r0s0e1")
    recipe = dataclasses.replace(recipe, channels=8, cells=2)
    fused, fused_losses, separate, separate_losses = _train_fused_and_separate(THREE, 4, recipe)
    _close(fused_losses, separate_losses)
    for k, net in enumerate(separate):
        trained = unfuse(fused, k, _nets(THREE)[k])
        for (name, a), b in zip(net.named_parameters(), trained.parameters()):
            real = a.grad.abs() > 1e-9 if a.grad is not None else torch.ones_like(a, dtype=bool)
            _close(b[real], a[real])                  # no gradient: untouched by both
            assert float((b - a).detach()[~real].abs().max()) <= 4 * recipe.lr if (~real).any() else True
        assert sum(int((p.grad.abs() > 1e-9).sum()) for p in net.parameters()
                   if p.grad is not None) > 1000


def test_variant_prefixes_combine_into_one_canonical_recipe():
    a, at = parse("lr0.01:adam:n1:c8r8s16e1")
    b, _ = parse("n1:adam:lr0.01:c8r8s16e1@1")
    assert a == b and at == 1 and a.spec == "adam:lr0.01:n1:c8r8s16e1"
    assert (a.optimizer, a.lr, a.cells, a.width) == ("adam", 0.01, 1, 2)
    c, _ = parse("zc-paper:adamw:w32:ls0.1:linear:wd0:c2r0s0e5")
    assert c.spec == "zc-paper:adamw:wd0:w32:ls0.1:linear:c2r0s0e5" and c.held_out == "test"
    assert c.lr_at(0) == c.lr and c.lr_at(4) == pytest.approx(c.lr / 5)
    assert parse("constant:c0r0s0e4")[0].lr_at(3) == NB201.lr
    # the base recipe's fingerprint fields are unchanged (stored runs keep their keys)
    assert NB201.identity() == {k: v for k, v in dataclasses.asdict(NB201).items()
                                if k not in ("optimizer", "label_smoothing", "schedule")}
    assert a.identity()["optimizer"] == "adam"


@pytest.mark.parametrize("bad, message", [
    ("foo:c4r4s0e4", "unknown prefix 'foo'"), ("adam:sgd:c4r4s0e4", "optimizer is set twice"),
    ("lr0:c4r4s0e4", "lr must be > 0"), ("ls1:c4r4s0e4", "label smoothing"),
    ("n0:c4r4s0e4", "cells"), ("w2:c4r4s0e4", "cannot be divided")])
def test_bad_variants_are_user_errors(bad, message):
    with pytest.raises(UserError, match=message):
        parse(bad)


def test_fused_step_equals_separate_step_in_float32():
    """The production dtype, where it is robust: one step (a forward pass and one update) agrees
    to float32 rounding, amplified at most a little by one backward pass."""
    fused, fused_losses, separate, separate_losses = _train_fused_and_separate(THREE, steps=1)
    assert fused_losses.dtype == torch.float32
    torch.testing.assert_close(fused_losses, separate_losses, rtol=1e-4, atol=1e-5)
    for k, net in enumerate(separate):
        trained = unfuse(fused, k, _nets(THREE)[k])
        for a, b in zip(net.parameters(), trained.parameters()):
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)


def test_fusion_does_not_leak_between_networks():
    """A network's gradient is its own: a huge loss on one leaves the others' gradients alone."""
    nets = _nets(THREE)
    fused = fuse(nets)
    x, y = _batches(1)[0]
    logits = fused(x)
    loss = torch_trainer.network_losses(logits, y)
    grads = torch.autograd.grad(loss[0] * 1e6 + loss[1], fused.stem[0].weight)[0].view(3, 4, 3, 3, 3)
    assert grads[2].abs().max() == 0 and grads[0].abs().max() > 0


# ------------------------------------------------------------------ engine

def _split(n_train=64, n_valid=40, res=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return data.Split(torch.randint(0, 256, (n_train, 3, res, res), dtype=torch.uint8, generator=g),
                        torch.randint(0, 10, (n_train,), generator=g),
                        torch.randint(0, 256, (n_valid, 3, res, res), dtype=torch.uint8, generator=g),
                        torch.randint(0, 10, (n_valid,), generator=g), padding=1, num_classes=10)


def test_train_returns_a_curve_per_network_and_is_seeded():
    recipe = dataclasses.replace(SMALL, epochs=2, batch_size=16)
    split = _split()
    a = engine.train(THREE, [5, 6, 7], split, recipe, seed=3)
    b = engine.train(THREE, [5, 6, 7], split, recipe, seed=3)
    assert len(a.curves) == 3 and all(len(c) == 2 for c in a.curves)
    assert a.curves == b.curves and a.losses == b.losses
    assert all(0 <= v <= 100 for c in a.curves for v in c)
    assert a.seconds > 0


def test_an_arch_trains_the_same_alone_or_fused(float64):
    recipe = dataclasses.replace(SMALL, epochs=2, batch_size=16)
    split = _split()
    together = engine.train(THREE, [5, 6, 7], split, recipe, seed=3, group_size=3)
    alone = engine.train(THREE[1:2], [6], split, recipe, seed=3)
    for x, y in zip(together.losses[1], alone.losses[0]):
        assert math.isclose(x, y, rel_tol=1e-9)
    assert together.curves[1] == alone.curves[0]


def test_epoch_batches_cover_the_data_and_drop_singletons():
    batches = data.epoch_batches(33, 16, 1, seed=0, epoch=0)
    assert [len(b[0]) for b in batches] == [16, 16]      # the last batch of one image is dropped
    batches = data.epoch_batches(34, 16, 1, seed=0, epoch=0)
    assert sorted(torch.cat([b[0] for b in batches]).tolist()) == list(range(34))
    again, other = data.epoch_batches(34, 16, 1, 0, 0), data.epoch_batches(34, 16, 1, 0, 1)
    assert all(torch.equal(a, b) for x, y in zip(batches, again) for a, b in zip(x, y))
    assert not torch.equal(batches[0][0], other[0][0])   # each epoch its own stream


def test_folded_batchnorm_is_the_eval_mode_network(float64):
    fused = fuse(_nets(THREE + [DISCONNECTED]))
    optimizer = torch_trainer.make_optimizer(fused.parameters(), SMALL)
    for x, y in _batches(3):
        torch_trainer.train_step(fused, optimizer, x, y)       # BN statistics and affine away from init
    folded = fold_batchnorm(fused)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.stem)
    assert fused.training                                 # the original is left as it was
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        _close(folded(x), fused.eval()(x))


def test_channels_last_gives_the_same_training(float64):
    batches = _batches(2)
    a = fuse(_nets(THREE))
    b = fuse(_nets(THREE)).to(memory_format=torch.channels_last)
    oa, ob = torch_trainer.make_optimizer(a.parameters(), SMALL), torch_trainer.make_optimizer(b.parameters(), SMALL)
    for x, y in batches:
        la = torch_trainer.train_step(a, oa, x, y)
        lb = torch_trainer.train_step(b, ob, x.contiguous(memory_format=torch.channels_last), y)
        _close(la, lb)


def test_evaluate_is_accuracy_in_percent(float64):
    nets = _nets(THREE)
    fused = fuse(nets)
    fused.eval()
    x = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    normalized = augment.normalize(x, SMALL.mean, SMALL.std, torch.float64)
    for k, net in enumerate(nets):
        net.eval()
        y = net(normalized).argmax(1)
        acc = torch_trainer.evaluate(fused, x, y, SMALL, chunk=7)
        assert acc[k] == 100.0


def test_seeds_derive_independent_streams():
    assert engine.derive_seed(0, 1) != engine.derive_seed(0, 2) != engine.derive_seed(1, 1)
    a = engine.init_network(THREE[0], SMALL, 10, 0, 5)
    b = engine.init_network(THREE[0], SMALL, 10, 0, 5)
    c = engine.init_network(THREE[0], SMALL, 10, 1, 5)
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)


def test_activation_estimate_grows_with_width_and_resolution():
    small = sizing.activation_bytes(parse("c4r4s0e1")[0], 32)
    big = sizing.activation_bytes(parse("c0r0s0e1")[0], 32)
    assert big == small * 4 * 16
    assert isinstance(FusedNetwork, type) and isinstance(Recipe(), Recipe)


def test_bf16_autocast_path_runs():
    recipe = dataclasses.replace(SMALL, epochs=1, batch_size=16)
    result = engine.train(THREE[:2], [1, 2], _split(), recipe, seed=0, amp="bf16")
    assert all(math.isfinite(l) for c in result.losses for l in c) and len(result.curves) == 2


def test_auto_fuse_on_cpu_is_four_archs_per_thread():
    assert sizing.auto_fuse(torch.device("cpu"), SMALL, 32) == 4 * torch.get_num_threads()


def test_cpu_threads_do_not_change_the_result():
    recipe = dataclasses.replace(SMALL, epochs=1, batch_size=16)
    one = engine.train(THREE, [5, 6, 7], _split(), recipe, seed=2, workers=1)
    two = engine.train(THREE, [5, 6, 7], _split(), recipe, seed=2, workers=2)
    assert one.curves == two.curves and one.losses == two.losses
