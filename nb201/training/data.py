"""The images a training run reads: which ones (the held-out split, a stratified ``1/s`` subset),
prepared once on the device, and each epoch's batches.

Everything random is a function of the seed alone (and of the epoch, for the batches), never of
which archs are trained together or of how far a run got before: a run continued from epoch m
draws the same batches as one that went through without stopping.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from nb201.catalog import derive_seed
from nb201.datasets import ImageData, proxy_split

from .augment import crop_flip, draw, normalize, resize
from .recipe import Recipe

# salts that keep the random streams of one seed apart
SUBSET, VALID, BATCHES, INIT = 1, 2, 3, 4


def generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded from integers (:func:`nb201.catalog.derive_seed`)."""
    return torch.Generator().manual_seed(derive_seed(*parts))


@dataclass(frozen=True, eq=False)
class Split:
    """Training and held-out images, uint8, on the device. ``train_x`` is at the training
    resolution, or at the native one when the recipe crops before resizing (then ``resolution``
    is what each batch is resized to); ``padding`` is the crop's zero padding at ``train_x``'s size."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    padding: int
    num_classes: int
    resolution: int = 0

    def __post_init__(self):
        if not self.resolution:
            object.__setattr__(self, "resolution", self.valid_x.shape[-1])


def pools(images: ImageData, recipe: Recipe, seed: int) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, held_x, held_y) before subsetting: the seed's proxy split
    (:func:`nb201.datasets.proxy_split`: NB201's held-out validation images), or, for a recipe
    with ``held_out="test"``, the whole training set and the test set."""
    if recipe.held_out == "test":
        return images.x_train, images.y_train, images.x_test, images.y_test
    return proxy_split(images, seed)


def stratified_subset(labels: torch.Tensor, factor: int, gen: torch.Generator) -> torch.Tensor:
    """Sorted indices of a random ``1/factor`` of each class (at least one image of each)."""
    keep = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        order = torch.randperm(len(members), generator=gen)
        keep.append(members[order[:max(1, len(members) // factor)]])
    return torch.cat(keep).sort().values


def prepare_indices(images: ImageData, recipe: Recipe, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Which images of :func:`pools` a run uses: (training indices, held-out indices), sorted: a
    seeded stratified ``1/s`` of the training pool (``1/s`` of each class, as NB201's own splits
    are class-balanced), ``recipe.valid_images`` of the held-out pool (all when None)."""
    _, train_y, _, valid_y = pools(images, recipe, seed)
    train = torch.arange(len(train_y))
    if max(1, recipe.sample_factor) > 1:
        train = stratified_subset(train_y, recipe.sample_factor, generator(seed, SUBSET))
    valid = torch.arange(len(valid_y))
    if recipe.valid_images is not None and recipe.valid_images < len(valid_y):
        valid = torch.randperm(len(valid_y), generator=generator(seed, VALID))[:recipe.valid_images]
        valid = valid.sort().values
    return train, valid


def prepare(images: ImageData, recipe: Recipe, seed: int, device: torch.device) -> Split:
    """The run's images (:func:`prepare_indices`) resized once and put on the device. Cached per
    process (the last few)."""
    data_only = Recipe(resolution_factor=recipe.resolution_factor, sample_factor=recipe.sample_factor,
                       crop_padding=recipe.crop_padding, valid_images=recipe.valid_images,
                       held_out=recipe.held_out, resize_after_crop=recipe.resize_after_crop)
    return _prepare(images, data_only, seed, torch.device(device))


@lru_cache(maxsize=2)
def _prepare(images: ImageData, recipe: Recipe, seed: int, device: torch.device) -> Split:
    train_x, train_y, valid_x, valid_y = pools(images, recipe, seed)
    train, valid = prepare_indices(images, recipe, seed)
    resolution = recipe.resolution(images.resolution)
    crop_at = images.resolution if recipe.resize_after_crop else resolution
    return Split(resize(train_x[train].to(device), crop_at), train_y[train].to(device),
                 resize(valid_x[valid].to(device), resolution), valid_y[valid].to(device),
                 recipe.padding(crop_at), images.num_classes, resolution)


def epoch_batches(n: int, batch_size: int, padding: int, seed: int, epoch: int
                  ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Epoch ``epoch``'s (indices, dy, dx, flips) per batch, drawn on the CPU from (seed, epoch)
    alone: a random permutation cut into batches (the last may be smaller; a batch of one image
    is dropped)."""
    gen = generator(seed, BATCHES, epoch)
    order = torch.randperm(n, generator=gen)
    dy, dx, flips = draw(n, padding, gen)
    parts = zip(*(t.split(batch_size) for t in (order, dy, dx, flips)))
    return [p for p in parts if len(p[0]) > 1]


def batch_images(split: Split, recipe: Recipe, idx: torch.Tensor, dy: torch.Tensor,
                 dx: torch.Tensor, flips: torch.Tensor,
                 memory_format: torch.memory_format = torch.channels_last,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One training batch, normalised to ``dtype`` (the model's): crop and flip (then resize,
    when the split keeps native images)."""
    x = crop_flip(split.train_x[idx], dy, dx, flips, split.padding)
    x = resize(x, split.resolution)
    return normalize(x, recipe.mean, recipe.std, dtype).contiguous(memory_format=memory_format)
