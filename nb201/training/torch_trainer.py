"""The PyTorch training path: K networks stacked in one fused module
(:mod:`nb201.training.fused`), trained by autograd and ``torch.optim``. The engine's path on CUDA,
and on a CPU where the direct kernels do not apply (autocast; or asked for, as the float64
reference and in benchmarks). Also the optimizer every path uses (:func:`make_optimizer`).
"""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from nb201.devices import accelerated, exact_float32

from .augment import normalize
from .data import Split, batch_images
from .fused import (FusedNetwork, HostCopies, fold_batchnorm, fuse, load_momentum, momentum_of,
                    unfuse)
from .recipe import Recipe


def make_optimizer(params: Iterable[torch.Tensor], recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over every parameter (weight decay included on BN, as NB201 does):
    NB201's SGD (Nesterov momentum), or Adam / AdamW with the recipe's lr and weight decay. Each
    is elementwise, so every fused network's update is its own."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov, weight_decay=recipe.weight_decay,
                               foreach=True)
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
    return kind(params, lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True)


def network_losses(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
                   ) -> torch.Tensor:
    """Mean cross-entropy of each network: logits (N, K, classes), targets (N,) -> (K,), in at
    least float32 (bf16 logits are widened; float64 stays float64)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    per_image = F.cross_entropy(logits.transpose(1, 2),
                                targets[:, None].expand(-1, logits.shape[1]), reduction="none",
                                label_smoothing=label_smoothing)
    return per_image.mean(0)


def _autocast(device: torch.device, amp: str | None):
    if amp is None:
        return nullcontext()
    return torch.autocast(device.type, dtype={"bf16": torch.bfloat16}[amp])


def train_step(model: FusedNetwork, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor, amp: str | None = None, label_smoothing: float = 0.0
               ) -> torch.Tensor:
    """One SGD step on the sum over networks of each network's mean loss (so each network's
    gradient is its own). Returns the K losses (detached)."""
    with _autocast(x.device, amp):
        losses = network_losses(model(x), y, label_smoothing)
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
    dtype = model_dtype(model)
    chunk = chunk or eval_chunk(k, recipe.width, x.shape[-1], accelerated(x.device))
    correct = torch.zeros(k, dtype=torch.int64, device=x.device)
    for start in range(0, len(y), chunk):
        batch = normalize(x[start:start + chunk], recipe.mean, recipe.std, dtype)
        with _autocast(batch.device, amp):
            logits = model(batch.contiguous(memory_format=model.input_format))
        correct += (logits.argmax(-1) == y[start:start + chunk, None]).sum(0)
    return (100.0 * correct.double() / max(1, len(y))).tolist()


#: On a CPU, stages whose networks have fewer channels than this run in NCHW, the others in
#: channels-last. Measured (CPU time, one thread, batch 256): at 4 channels, 8x8 a 3x3 conv takes
#: 0.73 ms in NCHW against 1.32 ms channels-last and training-mode BN 0.23 against 0.95 ms; from 8
#: channels channels-last wins (8 channels, 16x16: conv 2.9 against 11.3 ms; BN 1.4 against 2.1).
CPU_CHANNELS_LAST_FROM = 8


def apply_layout(model: FusedNetwork, device: torch.device) -> FusedNetwork:
    """Put ``model`` (on ``device``) in the faster memory format per stage: channels-last on an
    accelerated device (CUDA); on a CPU NCHW for stages of fewer than
    :data:`CPU_CHANNELS_LAST_FROM` channels per network. Sets ``model.input_format``. Activations
    follow the weights' format from layer to layer."""
    model.to(memory_format=torch.channels_last)
    model.input_format = torch.channels_last
    if accelerated(device):
        return model
    first = model.width // 4
    for s, modules in enumerate(model.stages()):
        if first * 2 ** s < CPU_CHANNELS_LAST_FROM:
            for module in modules:
                module.to(memory_format=torch.contiguous_format)
            if s == 0:
                model.input_format = torch.contiguous_format
    return model


#: Stacked activations per feature map of one evaluation pass on an accelerated device: 2**27
#: (512 MiB in float32; a pass keeps about ten such maps alive, a few GiB beside the training
#: group's memory), so that a pass of a large CUDA group holds about a thousand images (468
#: networks at 4 channels, 8x8: 1,120) instead of the CPU's 64.
ACCELERATED_EVAL_ACTIVATIONS = 2 ** 27


def eval_chunk(networks: int, width: int, resolution: int, accelerated: bool = False) -> int:
    """Images per evaluation forward pass. CPU: about 2**19 stacked activations per feature map
    (2 MB: measured fastest on a 2-core CPU at C=4, 8x8; larger maps fall out of the caches), 64
    to 8,192 images. Accelerated: :data:`ACCELERATED_EVAL_ACTIVATIONS`, 64 to 16,384 images."""
    per_image = networks * width * resolution * resolution
    if accelerated:
        return int(np.clip(ACCELERATED_EVAL_ACTIVATIONS // per_image, 64, 2 ** 14))
    return int(np.clip(2 ** 19 // per_image, 64, 8192))


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The model's floating-point dtype (float32 unless its networks were built in another, as the
    float64 equivalence tests do with ``torch.set_default_dtype``)."""
    return next(model.parameters()).dtype


class TorchTrainer:
    """K networks trained as one fused module on ``device``; the engine's trainer interface
    (:class:`nb201.training.engine.Trainer`)."""

    def __init__(self, nets, momenta, recipe: Recipe, split: Split, device: torch.device,
                 amp: str | None):
        self.nets, self.recipe, self.split, self.amp = nets, recipe, split, amp
        self.model = apply_layout(fuse(nets).to(device), device)
        self.optimizer = make_optimizer(self.model.parameters(), recipe)
        if momenta is not None:
            load_momentum(self.model, self.optimizer, nets, momenta)
        self.dtype = model_dtype(self.model)
        self.model.train()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, idx, dy, dx, flips) -> torch.Tensor:
        idx = idx.to(self.split.train_y.device)
        x = batch_images(self.split, self.recipe, idx, dy, dx, flips, self.model.input_format,
                         self.dtype)
        with exact_float32(x.device):
            return train_step(self.model, self.optimizer, x, self.split.train_y[idx], self.amp,
                              self.recipe.label_smoothing)

    def accuracies(self) -> list[float]:
        with exact_float32(self.split.valid_x.device):
            return evaluate(self.model, self.split.valid_x, self.split.valid_y, self.recipe,
                            self.amp)

    def states(self) -> list[tuple[dict, dict]]:
        """Each network's (weights, optimizer state) on the CPU; every fused tensor is copied to
        the host once (:class:`~nb201.training.fused.HostCopies`), not once per network."""
        host, out = HostCopies(), []
        for k, net in enumerate(self.nets):
            unfuse(self.model, k, net, host)
            weights = {name: t.detach().clone() for name, t in net.state_dict().items()}
            out.append((weights, momentum_of(self.model, self.optimizer, k, net, host)))
        return out
