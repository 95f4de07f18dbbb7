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


#: Seeds are stored as SQLite integers (signed 64-bit) and seed numpy's generators (non-negative).
MAX_SEED = 2 ** 63 - 1


def check_seed(seed: int, what: str = "seed") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"{what} must be between 0 and 2**63-1, got {seed}")
    return seed


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

    def __post_init__(self):
        """Bad values are UserErrors here, before anything is computed."""
        check_seed(self.seed)
        if self.fuse is not None and self.fuse < 1:
            raise UserError(f"fuse (--fuse) must be a positive number of networks, got {self.fuse}")
        if self.zc_batch < 1:
            raise UserError(f"zc_batch (--zc-batch) must be a positive number of images, "
                            f"got {self.zc_batch}")
        if self.amp not in (None, "bf16"):
            raise UserError(f"amp (--amp) must be bf16, got {self.amp!r}")
        if self.amp is not None and torch.device(self.device).type != "cuda":
            raise UserError(f"amp {self.amp} (--amp) is CUDA autocast; this run is on "
                            f"{torch.device(self.device).type}")

    @property
    def images(self):
        """The dataset's images (:class:`benchmark.datasets.ImageData`), loaded once per process."""
        return _load(self.dataset, self.data_dir)

    def with_seed(self, seed: int) -> Context:
        return dataclasses.replace(self, seed=seed)
