"""The two ways of training NB201 networks that the engine is measured against (perf/train_throughput.py).

* :func:`naive_train`: NB201's reference loop: one arch at a time, a torch DataLoader over a
  Dataset that augments each image on its own (random crop with zero padding 4 at 32x32,
  horizontal flip, resize to the proxy resolution, normalisation; held-out images resized and
  normalised one by one).
* :func:`tight_train`: the strongest simple alternative, what a careful user writes (the airbench
  style): the whole split as one uint8 tensor at the training resolution, each batch cropped and
  flipped by one vectorised gather, one network at a time with all of torch's threads, no
  DataLoader, evaluation in large no-grad batches.

Both build NB201's network (:class:`nb201.network.Network`, the engine's initial weights) and
use NB201's SGD and per-epoch cosine, and evaluate after the same epochs as the engine.
"""
from __future__ import annotations

import random
from collections.abc import Collection

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from nb201.training import engine, torch_trainer
from nb201.training.data import Split
from nb201.training.recipe import Recipe


class PerSampleImages(Dataset):
    """NB201-style per-image transforms on uint8 CHW tensors (torchvision is not used here)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, train: bool):
        self.x, self.y, self.recipe, self.train = x, y, recipe, train
        self.native = x.shape[-1]
        self.resolution = recipe.resolution(self.native)
        self.mean = torch.tensor(recipe.mean).view(3, 1, 1)
        self.std = torch.tensor(recipe.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = self.x[i]
        if self.train:
            if random.random() < 0.5:
                img = img.flip(-1)
            p = self.recipe.crop_padding
            img = F.pad(img, (p, p, p, p))
            dy, dx = random.randint(0, 2 * p), random.randint(0, 2 * p)
            img = img[:, dy:dy + self.native, dx:dx + self.native]
        img = img.float() / 255
        if self.resolution != self.native:
            img = F.interpolate(img[None], size=(self.resolution, self.resolution), mode="bilinear",
                                antialias=True, align_corners=False)[0]
        return (img - self.mean) / self.std, self.y[i]


def naive_train(arch, index: int, data: tuple, recipe: Recipe, num_classes: int, seed: int,
                device: torch.device, workers: int, evaluate_at: Collection[int]) -> list[float]:
    """One arch, NB201's reference loop. Returns the accuracy after each epoch (NaN: not evaluated)."""
    random.seed(seed)
    torch.manual_seed(seed)
    train_x, train_y, valid_x, valid_y = data
    net = engine.init_network(arch, recipe, num_classes, seed, index).to(device)
    optimizer = torch_trainer.make_optimizer(net.parameters(), recipe)
    loader = dict(batch_size=recipe.batch_size, num_workers=workers, persistent_workers=workers > 0)
    train_loader = DataLoader(PerSampleImages(train_x, train_y, recipe, True), shuffle=True, **loader)
    valid_loader = DataLoader(PerSampleImages(valid_x, valid_y, recipe, False), shuffle=False, **loader)
    curve = []
    for epoch in range(max(evaluate_at)):
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        net.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch + 1 not in evaluate_at:
            curve.append(float("nan"))
            continue
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in valid_loader:
                correct += (net(x.to(device)).argmax(1) == y.to(device)).sum().item()
        curve.append(100.0 * correct / len(valid_y))
    return curve


def tight_train(arch, index: int, split: Split, recipe: Recipe, seed: int, device: torch.device,
                evaluate_at: Collection[int], channels_last: bool = False,
                eval_batch: int = 2048) -> list[float]:
    """One arch, the tight tensor loop. Returns the accuracy after each epoch (NaN: not evaluated)."""
    gen = torch.Generator().manual_seed(seed)
    net = engine.init_network(arch, recipe, split.num_classes, seed, index).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    optimizer = torch_trainer.make_optimizer(net.parameters(), recipe)
    mean = torch.tensor(recipe.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(recipe.std, device=device).view(1, 3, 1, 1)
    x_all, y_all, pad = split.train_x, split.train_y, split.padding
    n, side = len(y_all), x_all.shape[-1]
    ramp = torch.arange(side, device=device)
    curve = []
    for epoch in range(max(evaluate_at)):
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr_at(epoch)
        net.train()
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            if len(idx) < 2:
                continue
            b = len(idx)
            shift = torch.randint(0, 2 * pad + 1, (2, b), generator=gen).to(device)
            flip = (torch.rand(b, generator=gen) < 0.5).to(device)
            rows = shift[0, :, None] + ramp
            cols = shift[1, :, None] + torch.where(flip[:, None], ramp.flip(0), ramp)
            padded = F.pad(x_all[idx], (pad, pad, pad, pad))
            x = padded[torch.arange(b, device=device)[:, None, None, None],
                       torch.arange(3, device=device)[None, :, None, None],
                       rows[:, None, :, None], cols[:, None, None, :]]
            x = ((x.float() / 255 - mean) / std).contiguous(memory_format=fmt)
            loss = F.cross_entropy(net(x), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch + 1 not in evaluate_at:
            curve.append(float("nan"))
            continue
        net.eval()
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(split.valid_y), eval_batch):
                x = (split.valid_x[start:start + eval_batch].float() / 255 - mean) / std
                logits = net(x.contiguous(memory_format=fmt))
                correct += (logits.argmax(1) == split.valid_y[start:start + eval_batch]).sum().item()
        curve.append(100.0 * correct / len(split.valid_y))
    return curve
