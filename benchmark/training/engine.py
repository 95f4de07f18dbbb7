"""The training engine: K networks trained at once (fused) under a :class:`Recipe`, returning each
network's validation accuracy after every epoch.

Everything random is a function of the seed (batches, crops, flips, the training subset, the
validation subset) or of (seed, arch index) (the initial weights), never of K or of which archs
share a batch. Which archs share a fused group changes only float rounding (grouped kernels of
other sizes); near chance level, where many predictions are almost ties, that can move an accuracy
by a point or so. On a CPU the default is one network per group (see :func:`train`), so there a
score does not depend on the other archs of its batch at all, and a resumed run gives the same
scores as an uninterrupted one.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.datasets import ImageData, proxy_split
from benchmark.network import Network
from benchmark.space import Arch

from .augment import crop_flip, draw, normalize, resize
from .fused import FusedNetwork, fold_batchnorm, fuse
from .recipe import Recipe

#: bump whenever a change to the engine changes the scores it computes: stored training rows are
#: keyed by it (through the training proxies' fingerprint)
ENGINE_VERSION = 1
# salts that keep the random streams of one seed apart
_SUBSET, _VALID, _BATCHES, _INIT = 1, 2, 3, 4


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence mixing)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)


def _generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(*parts))


@dataclass(frozen=True, eq=False)
class Split:
    """Training and validation images at the training resolution, uint8, on the device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    padding: int
    num_classes: int


def prepare(images: ImageData, recipe: Recipe, seed: int, device: torch.device) -> Split:
    """The seed's proxy split (``benchmark.datasets.proxy_split``), its ``1/s`` training subset and
    validation subset (when ``recipe.valid_images`` is set), resized once, put on the device.
    Cached per process (the last few)."""
    data_only = Recipe(resolution_factor=recipe.resolution_factor, sample_factor=recipe.sample_factor,
                       crop_padding=recipe.crop_padding, valid_images=recipe.valid_images)
    return _prepare(images, data_only, seed, torch.device(device))


def prepare_indices(images: ImageData, recipe: Recipe, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which images of the seed's proxy split a run uses: (training indices, validation indices),
    sorted; a seeded random ``1/s`` of the training split, ``recipe.valid_images`` of the
    validation split (all when None)."""
    _, train_y, _, valid_y = proxy_split(images, seed)
    train = torch.arange(len(train_y))
    keep = recipe.train_size(len(train_y))
    if keep < len(train_y):
        train = torch.randperm(len(train_y), generator=_generator(seed, _SUBSET))[:keep].sort().values
    valid = torch.arange(len(valid_y))
    if recipe.valid_images is not None and recipe.valid_images < len(valid_y):
        valid = torch.randperm(len(valid_y), generator=_generator(seed, _VALID))[:recipe.valid_images]
        valid = valid.sort().values
    return train, valid


@lru_cache(maxsize=2)
def _prepare(images: ImageData, recipe: Recipe, seed: int, device: torch.device) -> Split:
    train_x, train_y, valid_x, valid_y = proxy_split(images, seed)
    train, valid = prepare_indices(images, recipe, seed)
    resolution = recipe.resolution(images.resolution)
    return Split(resize(train_x[train].to(device), resolution), train_y[train].to(device),
                 resize(valid_x[valid].to(device), resolution), valid_y[valid].to(device),
                 recipe.padding(resolution), images.num_classes)


def init_network(arch: Arch, recipe: Recipe, num_classes: int, seed: int, index: int) -> Network:
    """NB201's network at the recipe's width, initialised from (seed, arch index) only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, _INIT, index))
        return Network(arch, channels=recipe.width, cells=recipe.cells, num_classes=num_classes)


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """NB201's SGD over every parameter (weight decay included on BN, as NB201 does)."""
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, weight_decay=recipe.weight_decay, foreach=True)


def network_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each network: logits (N, K, classes), targets (N,) -> (K,), in at
    least float32 (bf16 logits are widened; float64 stays float64)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    per_image = F.cross_entropy(logits.transpose(1, 2),
                                targets[:, None].expand(-1, logits.shape[1]), reduction="none")
    return per_image.mean(0)


def _autocast(device: torch.device, amp: str | None):
    if amp is None:
        return nullcontext()
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16}[amp])


def train_step(model: FusedNetwork, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor, amp: str | None = None) -> torch.Tensor:
    """One SGD step on the sum over networks of each network's mean loss (so each network's
    gradient is its own). Returns the K losses (detached)."""
    with _autocast(x.device, amp):
        losses = network_losses(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()
    return losses.detach()


@torch.inference_mode()
def evaluate(model: FusedNetwork, x: torch.Tensor, y: torch.Tensor, recipe: Recipe,
             amp: str | None = None, chunk: int | None = None) -> list[float]:
    """Top-1 accuracy (%) of each network on uint8 images ``x``, BN in eval mode (folded into the
    convs: :func:`fold_batchnorm`), images normalised to the model's dtype."""
    k = len(model.archs)
    model = fold_batchnorm(model)
    dtype = _dtype(model)
    chunk = chunk or _eval_chunk(k, recipe.width, x.shape[-1])
    correct = torch.zeros(k, dtype=torch.int64, device=x.device)
    for start in range(0, len(y), chunk):
        batch = _to_model(normalize(x[start:start + chunk], recipe.mean, recipe.std, dtype))
        with _autocast(batch.device, amp):
            logits = model(batch)
        correct += (logits.argmax(-1) == y[start:start + chunk, None]).sum(0)
    return (100.0 * correct.double() / max(1, len(y))).tolist()


def _eval_chunk(networks: int, width: int, resolution: int) -> int:
    """Images per evaluation forward pass: about 2**19 stacked activations per feature map (2 MB:
    measured fastest on a 2-core CPU at C=4, 8x8; larger maps fall out of the caches)."""
    return int(np.clip(2 ** 19 // (networks * width * resolution * resolution), 64, 8192))


def _dtype(model: torch.nn.Module) -> torch.dtype:
    """The model's floating-point dtype (float32 unless its networks were built in another, as the
    float64 equivalence tests do with ``torch.set_default_dtype``)."""
    return next(model.parameters()).dtype


def _to_model(x: torch.Tensor) -> torch.Tensor:
    """Channels-last inputs (the models are channels-last: faster convs on CPU and GPU)."""
    return x.contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class Result:
    """Per network: validation accuracy (%) after each epoch and mean training loss of each epoch;
    the wall time of the whole run (building, training, evaluating)."""

    curves: list[list[float]]
    losses: list[list[float]]
    seconds: float


def epoch_batches(n: int, batch_size: int, padding: int, generator: torch.Generator
                  ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch's (indices, dy, dx, flips) per batch, drawn on the CPU: a random permutation cut
    into batches (the last may be smaller; a batch of one image is dropped)."""
    order = torch.randperm(n, generator=generator)
    dy, dx, flips = draw(n, padding, generator)
    parts = zip(*(t.split(batch_size) for t in (order, dy, dx, flips)))
    return [p for p in parts if len(p[0]) > 1]


def train(archs: list[Arch], indices: list[int], split: Split, recipe: Recipe, seed: int,
          device: torch.device | str = "cpu", amp: str | None = None,
          workers: int | None = None, group_size: int | None = None) -> Result:
    """Train ``archs`` (NB201 indices ``indices``, which seed their initial weights) under
    ``recipe`` on ``split``; return each one's validation curve.

    The archs are trained in fused groups of ``group_size`` networks (default: all of them on
    CUDA; :data:`CPU_NETWORKS_PER_GROUP` on a CPU). On a CPU the groups are spread over
    ``workers`` threads (default: ``torch.get_num_threads()``), each with one intra-op thread and
    taking the next group when it is done: small networks use a core far better that way than
    with several intra-op threads per op (which, on a busy machine, spin against each other:
    measured 5-10x slower). Every group sees the same batches."""
    started = time.perf_counter()
    device = torch.device(device)
    if group_size is None:
        group_size = len(archs) if device.type == "cuda" else CPU_NETWORKS_PER_GROUP
    if workers is None:
        workers = 1 if device.type == "cuda" else torch.get_num_threads()
    # networks are built here, in one thread: their initialisation draws from torch's global RNG
    nets = [init_network(a, recipe, split.num_classes, seed, i) for a, i in zip(archs, indices)]
    groups = [nets[g:g + max(1, group_size)] for g in range(0, len(nets), max(1, group_size))]
    if device.type == "cuda":
        parts = [_train_group(g, split, recipe, seed, device, amp) for g in groups]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max(1, min(workers, len(groups)))) as pool:
                parts = list(pool.map(lambda g: _train_group(g, split, recipe, seed, device, amp),
                                      groups))
        finally:
            torch.set_num_threads(threads)
    curves = [c for part in parts for c in part[0]]
    losses = [c for part in parts for c in part[1]]
    return Result(curves, losses, time.perf_counter() - started)


def _train_group(nets: list[Network], split: Split, recipe: Recipe, seed: int, device: torch.device,
                 amp: str | None) -> tuple[list[list[float]], list[list[float]]]:
    model = fuse(nets).to(device, memory_format=torch.channels_last)
    dtype = _dtype(model)
    optimizer = make_optimizer(model, recipe)
    generator = _generator(seed, _BATCHES)
    curves: list[list[float]] = []
    losses: list[list[float]] = []
    model.train()
    for epoch in range(recipe.epochs):
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        total, images = torch.zeros(len(nets), device=device, dtype=dtype), 0
        batches = epoch_batches(len(split.train_y), recipe.batch_size, split.padding, generator)
        for idx, dy, dx, flips in batches:
            idx = idx.to(device)
            x = crop_flip(split.train_x[idx], dy, dx, flips, split.padding)
            x = _to_model(normalize(x, recipe.mean, recipe.std, dtype))
            total += train_step(model, optimizer, x, split.train_y[idx], amp) * len(idx)
            images += len(idx)
        losses.append((total / max(1, images)).tolist())
        curves.append(evaluate(model, split.valid_x, split.valid_y, recipe, amp))
    return [list(c) for c in zip(*curves)], [list(c) for c in zip(*losses)]

#: Validation images scored after every epoch: None = the whole validation split; a number = a
#: fixed seeded subset of it. All 25,000 at C=4, 8x8 cost about as much as 2-3 training epochs
#: of 1/10 of the data on a CPU; kept whole, since the subset would add sampling noise to every
#: score.
DEFAULT_VALID_IMAGES: int | None = None
#: Networks stacked in one fused group on a CPU. Measured on a 2-core CPU at C=4, 8x8
#: (docs/BENCHMARKS.md): stacking does not make the arithmetic cheaper per network there
#: (PyTorch's CPU kernels are compute-bound on these shapes, the channel permutations cost extra
#: and larger stacked maps fall out of the caches), so each network is its own group.
CPU_NETWORKS_PER_GROUP = 1
#: Archs per batch (commit) on a CPU, per thread: enough groups to keep every thread busy.
CPU_ARCHS_PER_THREAD = 4


def auto_fuse(device: torch.device, recipe: Recipe, native_resolution: int) -> int:
    """How many archs to train at once (one batch, committed together). CPU: 4 per torch thread
    (their groups are shared out over the threads, see :func:`train`). CUDA: as many as half the
    free memory holds (estimated activation memory per network), at most 512."""
    if device.type != "cuda":
        return CPU_ARCHS_PER_THREAD * torch.get_num_threads()
    free, _ = torch.cuda.mem_get_info(device)
    per_network = activation_bytes(recipe, native_resolution) * recipe.batch_size
    return int(np.clip(free // 2 // max(1, per_network), 1, 512))


def activation_bytes(recipe: Recipe, native_resolution: int) -> int:
    """A generous estimate of the float32 activations one network keeps for backward per image:
    about 30 feature maps per cell (edges, BN, ReLU, permutations) plus the reductions."""
    res = recipe.resolution(native_resolution)
    per_stage = [recipe.width * 2 ** s * max(1, res // 2 ** s) ** 2 for s in range(3)]
    return 4 * sum(m * (30 * recipe.cells + 10) for m in per_stage)


def estimate_seconds(recipe: Recipe, native_resolution: int = 32, valid_images: int = 25000) -> float:
    """Rough seconds per arch on an idle 2-core CPU, for the estimate printed before a run.

    Fitted on the quick experiment's runs of a fresh clone (16 archs each; ``./run_all.sh``):
    1.2 s fixed, then per epoch 1.3e-4 s per training image and 2.7e-5 s per validation image at
    C=4, 8x8 (c4r4s8e5 6.6 s measured, 6.6 s here; c4r4s8e10 12.0 / 12.0; c4r4s4e5 8.6 / 8.6;
    c4r4s16e10 9.4 / 10.0). Larger networks scale with their FLOPs; smaller ones are
    overhead-bound and save less (c8r4s8e5 6.0 s measured: x0.88; c4r8s8e5 3.5 s: x0.42).
    """
    res = recipe.resolution(native_resolution)
    width, pixels = recipe.width / 4, (res / 8) ** 2
    scale = max(width ** 2 * pixels, width ** 0.18 * pixels ** 0.62)
    train = recipe.train_size(25000) * 1.3e-4
    valid = (recipe.valid_images or valid_images) * 2.7e-5
    return float(1.2 + recipe.epochs * (train + valid) * scale)
