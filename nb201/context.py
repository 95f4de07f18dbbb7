"""What a proxy may read besides the archs it scores: :class:`Context` (the run options, the
dataset and the seed), the device it runs on (resolved by :mod:`nb201.devices`), and the
dataset's images (loaded once per process).
The torch-bound half of the proxy interface (:mod:`nb201.api` imports no torch)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from .catalog import check_seed, dataset_spec
from .complexity import activations
from .devices import Device, accelerated, memory_bytes, resolve_device  # noqa: F401 (imported from here)
from .errors import UserError
from .options import RunOptions, run_option_fields


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
        """Bad values are UserErrors here, before anything is computed (or allocated)."""
        check_seed(self.seed)
        self.check()
        object.__setattr__(self, "device", resolve_device(self.device))
        if self.amp is not None and not accelerated(self.device):
            raise UserError(f"amp {self.amp} (--amp) is CUDA autocast; this run is on "
                            f"{self.device.type}")
        self._check_zc_batch()

    def _check_zc_batch(self) -> None:
        """The zero-cost minibatch: at most the dataset's training images (what it is drawn
        from), and small enough that its activations in NB201's network
        (:func:`nb201.complexity.activations`, float32) fit in the device's memory."""
        spec = dataset_spec(self.dataset)
        if self.zc_batch > spec.train_images:
            raise UserError(f"zc_batch (--zc-batch) must be at most {spec.train_images:,}, the "
                            f"training images of {spec.name}; got {self.zc_batch:,}")
        per_image = 4 * activations(spec.resolution)
        have = memory_bytes(self.device)
        if have is not None and self.zc_batch * per_image > have:
            raise UserError(f"zc_batch (--zc-batch) {self.zc_batch:,} cannot fit in memory: its "
                            f"activations in NB201's network take about "
                            f"{self.zc_batch * per_image / 1e9:,.1f} GB ({per_image / 1e6:.1f} MB "
                            f"per image), more than the {have / 1e9:,.1f} GB of this "
                            f"{self.device.type.upper()}'s memory")

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

    def check_data(self, proxies=()) -> None:
        """The data, checked before anything is computed or stored: loaded (once per process)
        if one of ``proxies`` reads images, else a data dir the user gave is checked all the same
        (:func:`nb201.datasets.check_data_dir`: a wrong option is an error where it is not read)."""
        if any(p.needs_images for p in proxies):
            self.images
        else:
            from .datasets import check_data_dir
            check_data_dir(self.data_dir)

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
