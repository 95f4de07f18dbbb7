"""The zero-cost harness: builds the network, the minibatch and the BN mode, runs a pure scoring
function, and handles no_grad, CUDA out-of-memory (split the batch and retry) and cleanup.

A zero-cost proxy is a pure function ``fn(net, batch) -> float`` registered with its metadata by
the :func:`zero_cost` decorator. The harness, not the function, decides

* the network: NB201's own (``nb201.network.Network``, C=16, N=5 by default; tests use
  ``dataclasses.replace(proxy, channels=4, cells=1)``), built under a seed drawn from
  (``ctx.seed``, arch index), so an arch's score does not depend on which other archs are scored;
* the weights' initialisation: PyTorch's default unless the proxy names one (``init``);
* the BN mode: ``train`` (batch statistics, as every reference implementation runs its net),
  ``eval`` (running statistics), or ``off`` (every BatchNorm replaced by the identity: SynFlow);
* the minibatch (:class:`Batch`): ``ctx.zc_batch`` training images of ``ctx.dataset`` drawn
  with ``ctx.seed`` (the same images for every arch), scaled to [0, 1] and normalised with
  NB201's mean and std, no augmentation; or Gaussian noise drawn with ``ctx.seed``
  (``inputs="gaussian"``); or nothing but the input shape (``inputs="none"``);
* gradients: the function runs under ``torch.no_grad()`` unless it declares ``grad=True``;
* CUDA out-of-memory: the batch is split in 2, 4, ... parts and the function retried; functions
  that can accumulate over parts iterate :meth:`Batch.parts` (loss weights keep the total equal to
  the full-batch mean loss), the others see the whole batch and fail again at the last split;
* degenerate cells: on an arch whose cell output does not depend on its input
  (``Arch.is_connected()`` is False: all-``none`` cells, an output fed only from zero nodes), a
  function that fails with an arithmetic, linear-algebra or autograd error scores NaN (with a
  warning) instead of stopping the run; on any other arch the error propagates.

Scores are returned as computed; NaN and +-inf are stored as they are and ranked last by the
suite's one NaN/inf policy (``nb201.ranking.orient``).
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from nb201.lazy import torch
from nb201.lazy import nn

from nb201.devices import TF32, accelerated, exact_float32, release, synchronize
from nb201.ranking import orient
from nb201.catalog import MEAN, STD, dataset_spec, derive_seed
from nb201.api import REGISTRY, Outcome, Proxy
from nb201.space import Arch

#: bump when the harness changes what any zero-cost proxy computes (network, batch, seeding, dtype)
HARNESS_VERSION = 1
BN_MODES = ("train", "eval", "off")
#: What a scoring function may raise on a degenerate cell (autograd and linear algebra raise
#: RuntimeError; CUDA out-of-memory, also a RuntimeError, is handled before these).
DEGENERATE_FAILURES = (RuntimeError, ValueError, ArithmeticError)
INPUTS = ("images", "gaussian", "none")


@dataclass(frozen=True)
class Batch:
    """The minibatch a scoring function sees: inputs ``x`` (N, 3, H, W) on the device, labels
    ``y`` (N,), the dataset's class count and ``splits``, the number of parts the harness asks
    functions to process the batch in (1 unless CUDA ran out of memory)."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    resolution: int
    splits: int = 1

    def __len__(self) -> int:
        return len(self.x)

    def parts(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        """(x, y, weight) for each of ``splits`` contiguous parts; weight = part size / batch size,
        so that ``sum(weight * mean loss of part)`` is the full batch's mean loss."""
        n = len(self.x)
        for k in range(self.splits):
            lo, hi = k * n // self.splits, (k + 1) * n // self.splits
            if hi > lo:
                yield self.x[lo:hi], self.y[lo:hi], (hi - lo) / n


ScoreFn = Callable[["nn.Module", Batch], "float | Sequence[float]"]


@dataclass(frozen=True)
class ZeroCostProxy(Proxy):
    """A registered zero-cost proxy: a pure scoring function plus how the harness runs it."""

    fn: ScoreFn | None = None
    bn: str = "train"
    grad: bool = False
    inputs: str = "images"
    n_inputs: int | None = None          # images the function gets (None: ctx.zc_batch)
    double: bool = False                 # run the network in float64
    init: Callable[[nn.Module], None] | None = None
    channels: int = 16
    cells: int = 5

    def __post_init__(self):
        super().__post_init__()
        # what the proxy reads follows from its inputs: images (of the dataset) or none
        object.__setattr__(self, "needs_images", self.inputs == "images")
        object.__setattr__(self, "source", f"{self.inputs}-input")
        if self.bn not in BN_MODES:
            raise ValueError(f"proxy {self.name}: bn must be one of {BN_MODES}, got {self.bn!r}")
        if self.inputs not in INPUTS:
            raise ValueError(f"proxy {self.name}: inputs must be one of {INPUTS}, got {self.inputs!r}")

    def score(self, archs: list, indices: list[int], ctx) -> list[Outcome]:
        out = []
        for arch, index in zip(archs, indices):
            start = time.perf_counter()
            value = self.value(arch, index, ctx)
            synchronize(ctx.device)
            out.append(self.outcome(value, time.perf_counter() - start))
        return out

    def outcome(self, value, seconds: float) -> Outcome:
        return Outcome(score=float(value), seconds=seconds)

    def origin(self) -> str:
        return self.fn.__module__

    def fingerprint(self, ctx) -> dict:
        """The base fingerprint plus how the harness runs the proxy: the network, BN mode, dtype,
        init, the minibatch (``ctx.zc_batch`` images drawn with the seed, of which ``n_inputs``
        are used) and the device class (CPU and CUDA kernels round differently); on CUDA (any
        accelerated device) also whether float32 convolutions may use TF32
        (:data:`nb201.devices.TF32`; CPU fingerprints are as they were before this key)."""
        init = None if self.init is None else f"{self.init.__module__}.{self.init.__qualname__}"
        out = {**super().fingerprint(ctx), "harness": HARNESS_VERSION, "channels": self.channels,
               "cells": self.cells, "bn": self.bn, "grad": self.grad, "inputs": self.inputs,
               "n_inputs": self.n_inputs, "double": self.double, "init": init,
               "zc_batch": None if self.inputs == "none" else ctx.zc_batch,
               "device": ctx.device.type}
        if accelerated(ctx.device):
            out["tf32"] = TF32
        return out

    def value(self, arch: Arch, index: int, ctx):
        """This proxy's raw value for one arch (a float; a tuple for ranked proxies)."""
        return run(self, arch, index, ctx)

    def undefined(self):
        """The raw value of an arch on which the proxy cannot be computed."""
        return float("nan")


@dataclass(frozen=True)
class RankedProxy(ZeroCostProxy):
    """A proxy defined by ranks within the scored set (AZ-NAS, vote). Each arch's row stores its
    component scores in ``Outcome.parts`` and NaN as its score; :meth:`combine` turns the
    components of a whole set of archs into one score per arch. The runner calls ``combine``."""

    components: tuple[str, ...] = ()     # the names of the stored components, in order

    def undefined(self):
        return (float("nan"),) * len(self.components)

    def outcome(self, value, seconds: float) -> Outcome:
        return Outcome(score=float("nan"), seconds=seconds, parts=[float(v) for v in value])

    def combine(self, outcomes: list[Outcome]) -> np.ndarray:
        if not outcomes:
            return np.zeros(0)
        components = np.array([o.parts for o in outcomes], dtype=float).T
        oriented = np.stack([orient(c, True)[0] for c in components])
        return self.aggregate(oriented)

    def aggregate(self, components: np.ndarray) -> np.ndarray:
        """(m components, n archs), finite and oriented higher-is-better -> n scores."""
        raise NotImplementedError


def zero_cost(name: str, *, higher_is_better: bool = True, version: int = 1, cost_s: float = 1.0,
              bn: str = "train", grad: bool = False, inputs: str = "images",
              n_inputs: int | None = None, double: bool = False,
              init: Callable[[nn.Module], None] | None = None, description: str = ""):
    """Register ``fn(net, batch) -> float`` as the zero-cost proxy ``name`` (returns fn unchanged)."""
    def register(fn: ScoreFn) -> ScoreFn:
        REGISTRY.register(ZeroCostProxy(
            name, "zero-cost", higher_is_better=higher_is_better, version=version, cost_s=cost_s,
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            fn=fn, bn=bn, grad=grad, inputs=inputs, n_inputs=n_inputs, double=double, init=init))
        return fn
    return register


# ---------------------------------------------------------------- running one arch

def run(proxy: ZeroCostProxy, arch: Arch, index: int, ctx):
    """Run ``proxy.fn`` on ``arch``; on CUDA out-of-memory split the batch 2, 4, ... ways; on a
    degenerate cell that the function cannot score, NaN (``proxy.undefined()``)."""
    batch = make_batch(proxy, ctx)
    splits = 1
    while True:
        try:
            return _attempt(proxy, arch, index, ctx, dataclasses.replace(batch, splits=splits))
        except torch.cuda.OutOfMemoryError:
            release(ctx.device)
            if splits >= len(batch):
                raise
            splits = min(2 * splits, len(batch))
        except DEGENERATE_FAILURES as err:
            if arch.is_connected():
                raise
            reason = (str(err).splitlines() or [type(err).__name__])[0]
            warnings.warn(f"{proxy.name} cannot score cells whose output does not depend on their "
                          f"input ({reason}): scored NaN", RuntimeWarning, stacklevel=2)
            return proxy.undefined()


def _attempt(proxy: ZeroCostProxy, arch: Arch, index: int, ctx, batch: Batch):
    torch.manual_seed(derive_seed(ctx.seed, index, bits=32))
    net = build(proxy, arch, batch.num_classes, ctx.device)
    try:
        with torch.set_grad_enabled(proxy.grad), exact_float32(ctx.device):
            return proxy.fn(net, batch)
    finally:
        del net
        release(ctx.device)


def build(proxy: ZeroCostProxy, arch: Arch, num_classes: int, device: torch.device) -> nn.Module:
    """The network as the proxy wants it: initialised, BN mode set, on the device and dtype."""
    from nb201.network import Network
    net = Network(arch, channels=proxy.channels, cells=proxy.cells, num_classes=num_classes)
    if proxy.init is not None:
        proxy.init(net)
    if proxy.bn == "off":
        _remove_batchnorm(net)
    net.train(proxy.bn != "eval")
    net.to(device=device, dtype=torch.float64 if proxy.double else torch.float32)
    return net


def _remove_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _remove_batchnorm(child)


# ---------------------------------------------------------------- the minibatch

def make_batch(proxy: ZeroCostProxy, ctx) -> Batch:
    spec = dataset_spec(ctx.dataset)
    n = proxy.n_inputs or ctx.zc_batch
    dtype = torch.float64 if proxy.double else torch.float32
    if proxy.inputs == "images":
        images = ctx.images
        x, y = _image_batch(images, ctx.seed, ctx.zc_batch)
        x, y = x[:n], y[:n]
        num_classes, resolution = images.num_classes, x.shape[-1]
    else:
        resolution, num_classes = spec.resolution, spec.num_classes
        shape = (n if proxy.inputs == "gaussian" else 1, 3, resolution, resolution)
        gen = torch.Generator().manual_seed(ctx.seed)
        x = torch.randn(shape, generator=gen) if proxy.inputs == "gaussian" else torch.zeros(shape)
        y = torch.randint(0, num_classes, shape[:1], generator=gen)
    return Batch(x.to(ctx.device, dtype), y.to(ctx.device), num_classes, resolution)


@lru_cache(maxsize=8)
def _image_batch(images, seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images drawn with ``seed`` (float32, normalised, CPU) and their labels."""
    if n < 1:
        raise ValueError(f"the zero-cost batch must hold at least one image, got {n}")
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(images.y_train), generator=gen)[:n]
    x = images.x_train[pick].float() / 255
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std, images.y_train[pick].long()


# ---------------------------------------------------------------- helpers for scoring functions

def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """The conv and linear layers, in module order: the layers every saliency proxy sums over."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def weight_grad(layer: nn.Module) -> torch.Tensor:
    g = layer.weight.grad
    return torch.zeros_like(layer.weight) if g is None else g
