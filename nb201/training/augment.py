"""Image preparation on the device: one antialiased resize before training, and per-batch
augmentation (random crop with zero padding, horizontal flip) and normalisation.

Random draws come from a CPU ``torch.Generator`` so that a seed gives the same batches on every
device; only the small offset/flip tensors travel to the device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resize(images: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, resolution, resolution), bilinear with antialiasing
    (as PIL's reduction filters do), rounded. A no-op at the same resolution."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    parts = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].float()
        y = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True,
                          align_corners=False)
        parts.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(parts) if parts else images.new_empty((0, 3, resolution, resolution))


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 images -> (x / 255 - mean) / std as ``dtype``."""
    m = torch.tensor(mean, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    return (images.to(dtype) / 255 - m) / s


def draw(n: int, padding: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crop offsets (dy, dx in 0..2*padding) and flip flags for n images, on the CPU."""
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return offsets[0], offsets[1], flips


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor,
              padding: int) -> torch.Tensor:
    """Random-crop ``images`` (N, C, H, W) from their zero-padded version at offsets (dy, dx) and
    flip the flagged ones horizontally; the same dtype as the input (uint8 stays uint8, so the
    padding is black before normalisation, as in torchvision's RandomCrop)."""
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    dy, dx, flips = dy.to(device), dx.to(device), flips.to(device)
    cols = torch.arange(w, device=device)
    cols = torch.where(flips[:, None], cols.flip(0), cols)            # (N, W): flip = read backwards
    rows = dy[:, None] + torch.arange(h, device=device)               # (N, H)
    cols = dx[:, None] + cols                                          # (N, W)
    batch = torch.arange(n, device=device)[:, None, None, None]
    chan = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def augment(images: torch.Tensor, padding: int, generator: torch.Generator,
            mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """One training batch: random crop with zero padding, horizontal flip, normalisation."""
    dy, dx, flips = draw(len(images), padding, generator)
    return normalize(crop_flip(images, dy, dx, flips, padding), mean, std)
