"""What the harness hands a proxy: dataset, seed, device, and lazily the dataset's images."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import torch

from .errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available here")
    return torch.device(name)


@lru_cache(maxsize=4)
def _load(dataset: str, data_dir: str | None):
    from .datasets import load_dataset
    return load_dataset(dataset, data_dir)


@dataclass(frozen=True)
class Context:
    """Everything a proxy may read besides the archs it scores.

    ``fuse``: networks trained at once (None: chosen from device memory); ``amp``: None or
    ``bf16``; ``zc_batch``: images in the zero-cost minibatch.
    """

    dataset: str
    seed: int = 0
    device: torch.device = torch.device("cpu")
    data_dir: str | None = None
    fuse: int | None = None
    amp: str | None = None
    zc_batch: int = 64

    @property
    def images(self):
        """The dataset's images (:class:`benchmark.datasets.ImageData`), loaded once per process."""
        return _load(self.dataset, self.data_dir)

    def with_seed(self, seed: int) -> Context:
        return dataclasses.replace(self, seed=seed)
