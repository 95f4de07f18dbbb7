"""What a proxy may read besides the archs it scores: :class:`Context` (the run options, the
dataset and the seed), the device it runs on, and the dataset's images (loaded once per process).
The torch-bound half of the proxy interface (:mod:`nb201.api` imports no torch)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from .catalog import check_seed
from .errors import UserError
from .lazy import torch
from .options import RunOptions, run_option_fields

#: device files without which no GPU can be used (NVIDIA's driver, ROCm, WSL's GPU bridge)
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


class Device(str):
    """A resolved device: its name (``cpu``, ``cuda``, ``cuda:1``), which every torch function
    takes where it takes a ``torch.device``, with the ``type`` and ``index`` of one. A string, so
    that a context is built (and a stored result found) without importing torch."""

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        _, sep, index = self.partition(":")
        return int(index) if sep else None


def _cuda_available() -> bool:
    """torch's answer, asked only where a GPU's device files exist (importing torch costs about a
    second; without those files CUDA cannot start)."""
    from pathlib import Path
    return any(Path(p).exists() for p in GPU_DEVICE_FILES) and torch.cuda.is_available()


def resolve_device(name="auto") -> Device:
    """``auto`` picks CUDA when it is available, else the CPU; a device already resolved (a
    :class:`Device` or a ``torch.device``) is kept as it is (so a CUDA context can be built, not
    run, without a GPU)."""
    if isinstance(name, Device):
        return name
    if not isinstance(name, str):          # a torch.device
        return Device(str(name))
    if name == "auto":
        return Device("cuda" if _cuda_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name.startswith("cuda") and not _cuda_available():
        raise UserError("--device cuda was asked for but CUDA is not available here")
    return Device(name)


@lru_cache(maxsize=4)
def _load(dataset: str, data_dir: str | None):
    from .datasets import load_dataset
    return load_dataset(dataset, data_dir)


@dataclass(frozen=True)
class Context(RunOptions):
    """The run options (:class:`nb201.options.RunOptions`, keyword-only: device, data_dir, fuse,
    amp, zc_batch, full_curve) for one dataset and proxy seed. ``device`` is resolved to a
    :class:`Device` on construction. ``state_dir``: where training proxies keep each unfinished
    run's state, so that a later request continues it and a killed run resumes (the runner sets
    it beside the store). Neither it nor ``full_curve`` changes a score. ``reader``: how a proxy
    that reads other proxies' scores (a learned proxy's features) gets them: the runner sets it to
    read through the store (:meth:`scores`).
    """

    dataset: str
    seed: int = 0
    state_dir: str | None = field(default=None, kw_only=True)
    reader: Callable | None = field(default=None, kw_only=True, compare=False, repr=False)

    def __post_init__(self):
        """Bad values are UserErrors here, before anything is computed."""
        check_seed(self.seed)
        self.check()
        object.__setattr__(self, "device", resolve_device(self.device))
        if self.amp is not None and self.device.type != "cuda":
            raise UserError(f"amp {self.amp} (--amp) is CUDA autocast; this run is on "
                            f"{self.device.type}")

    @classmethod
    def of(cls, dataset: str, seed: int = 0, options: RunOptions = RunOptions(), **changes
           ) -> Context:
        """The context of ``options`` (a RunOptions or a Context) for ``dataset`` and ``seed``."""
        fields = {f.name: getattr(options, f.name) for f in run_option_fields()}
        return cls(dataset, seed, **{**fields, **changes})

    @property
    def images(self):
        """The dataset's images (:class:`nb201.datasets.ImageData`), loaded once per process."""
        return _load(self.dataset, self.data_dir)

    def scores(self, proxy, indices: list[int], ctx: Context | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Another proxy's scores of ``indices`` on ``ctx`` (default: this context) and their
        seconds, read through the runner's store (computed there when missing)."""
        if self.reader is None:
            raise UserError(f"{proxy.name}: reading other proxies' scores needs the runner "
                            "(benchmark.runner.compute sets Context.reader)")
        return self.reader(proxy, list(indices), ctx or self)

    def with_seed(self, seed: int) -> Context:
        return dataclasses.replace(self, seed=seed)
