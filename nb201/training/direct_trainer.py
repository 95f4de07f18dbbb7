"""The engine's CPU trainer on the direct kernels: :class:`DirectTrainer` trains a group of
:class:`~nb201.training.direct.DirectNetwork` (one optimizer step per network on its flat
parameters: :class:`FlatSGD`, or a ``torch.optim`` optimizer), keeps their optimizer state in the
engine's format, and :func:`warm` compiles the kernels once before the engine forks its workers."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nb201.network import Network
from nb201.space import Arch

from . import direct_kernels as k
from .data import Split, batch_images
from .direct import DirectNetwork, _Maps
from .recipe import Recipe
from .torch_trainer import make_optimizer


class FlatSGD:
    """``torch.optim.SGD``'s update (weight decay, momentum with the first step's buffer the
    gradient, Nesterov) on one flat parameter tensor, in one kernel call; its ``state`` and
    ``param_groups`` look like the torch optimizer's."""

    def __init__(self, flat: nn.Parameter, recipe: Recipe):
        self.flat = flat
        self.param_groups = [{"lr": recipe.lr}]
        self.state: dict = {}
        self.momentum, self.weight_decay, self.nesterov = (recipe.momentum, recipe.weight_decay,
                                                           recipe.nesterov)
        self._value, self._grad = flat.detach().numpy(), flat.grad.numpy()

    def step(self) -> None:
        state = self.state.setdefault(self.flat, {})
        first = "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = torch.zeros_like(self.flat.detach())
        k.sgd(self._value, self._grad, state["momentum_buffer"].numpy(), self.param_groups[0]["lr"],
              self.momentum, self.weight_decay, self.nesterov, first)


class DirectTrainer:
    """The engine's trainer (:class:`nb201.training.engine.Trainer`) on a CPU: each network of the
    group a :class:`DirectNetwork` with its own optimizer on its flat parameters; a batch is
    gathered once (crop, flip, normalise: :func:`~.direct_kernels.gather_batch`) for them all."""

    def __init__(self, nets: list[Network], momenta: list[dict] | None, recipe: Recipe,
                 split: Split):
        self.recipe, self.split = recipe, split
        dtype = np.dtype(str(nets[0].stem[0].weight.dtype).removeprefix("torch."))
        shared = _Maps(dtype)
        self.nets = [DirectNetwork(net, split.resolution, shared) for net in nets]
        self.optimizers = [FlatSGD(d.flat, recipe) if recipe.optimizer == "sgd"
                           else make_optimizer([d.flat], recipe) for d in self.nets]
        for d, optimizer, momentum in zip(self.nets, self.optimizers, momenta or []):
            _load_optimizer_state(d, optimizer, momentum)
        self.mean = np.array(recipe.mean, np.float64)
        self.std = np.array(recipe.std, np.float64)
        self.train_x, self.train_y = split.train_x.numpy(), split.train_y.numpy()
        self.torch_dtype = nets[0].stem[0].weight.dtype
        #: the split keeps native images that each batch is resized to after its crop
        self.resize = split.train_x.shape[-1] != split.resolution

    def set_lr(self, lr: float) -> None:
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def step(self, idx, dy, dx, flips) -> torch.Tensor:
        batch = len(idx)
        xp, labels = self.nets[0].inputs(batch)
        if self.resize:
            x = batch_images(self.split, self.recipe, idx, dy, dx, flips, torch.contiguous_format,
                             self.torch_dtype)
            k.images_to_padded(x.numpy(), xp, batch)
        else:
            k.gather_batch(self.train_x, idx.numpy(), dy.numpy(), dx.numpy(), flips.numpy(),
                           self.split.padding, self.mean, self.std, xp)
        labels[:] = self.train_y[idx.numpy()]
        losses = []
        for d, optimizer in zip(self.nets, self.optimizers):
            losses.append(d.step(batch, self.recipe.label_smoothing))
            optimizer.step()
        return torch.tensor(losses, dtype=torch.float64)

    def accuracies(self) -> list[float]:
        x, y = self.split.valid_x.numpy(), self.split.valid_y.numpy()
        chunk = self.recipe.batch_size
        correct = [0] * len(self.nets)
        for start in range(0, len(y), chunk):
            idx = np.arange(start, min(start + chunk, len(y)))
            batch = len(idx)
            xp, labels = self.nets[0].inputs(batch)
            zeros = np.zeros(batch, np.int64)
            k.gather_batch(x, idx, zeros, zeros, np.zeros(batch, np.bool_), 0, self.mean,
                           self.std, xp)
            labels[:] = y[idx]
            for n, d in enumerate(self.nets):
                correct[n] += d.correct(batch)
        return [100.0 * c / max(1, len(y)) for c in correct]

    def states(self) -> list[tuple[dict, dict]]:
        out = []
        for d, optimizer in zip(self.nets, self.optimizers):
            d.sync()
            weights = {name: t.detach().clone() for name, t in d.net.state_dict().items()}
            out.append((weights, _optimizer_state(d, optimizer)))
        return out


def _optimizer_state(d: DirectNetwork, optimizer) -> dict[str, torch.Tensor]:
    """The optimizer state of ``d``'s flat parameters by parameter name, as
    :func:`nb201.training.fused.momentum_of` names it (SGD's momentum under the parameter's name,
    other state as ``NAME|KEY``, scalar state as ``|KEY``)."""
    out = {}
    for key, value in optimizer.state.get(d.flat, {}).items():
        if not torch.is_tensor(value):
            continue
        if value.dim() == 0:
            out[f"|{key}"] = value.clone()
            continue
        for name, part in d.params.split(value).items():
            out[name if key == "momentum_buffer" else f"{name}|{key}"] = part
    return out


def _load_optimizer_state(d: DirectNetwork, optimizer, saved: dict[str, torch.Tensor]) -> None:
    """The inverse of :func:`_optimizer_state`."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    state = optimizer.state.setdefault(d.flat, {})
    for name, value in saved.items():
        param, _, key = name.partition("|")
        if not param:
            state[key] = value.clone()
        else:
            parts.setdefault(key or "momentum_buffer", {})[param] = value
    for key, tensors in parts.items():
        state[key] = d.params.join(tensors)


def warm(dtype: torch.dtype = torch.float32) -> None:
    """Compile (or load from numba's cache) every kernel for ``dtype`` by training a tiny network
    a step: done once in the engine's process, before it forks its workers."""
    if dtype in _WARM:
        return
    recipe = Recipe()
    for arch in _WARM_ARCHS:
        net = Network(Arch.parse(arch), channels=1, cells=1, num_classes=2).to(dtype)
        d = DirectNetwork(net, 4)
        d.step(2)
        FlatSGD(d.flat, recipe).step()
        d.correct(2)
    _WARM.add(dtype)


_WARM: set[torch.dtype] = set()
#: every op, a conv reading a zero node, and a cell that ignores its input
_WARM_ARCHS = ("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|",
               "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|")
