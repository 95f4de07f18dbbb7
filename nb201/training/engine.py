"""The training engine: networks trained under a :class:`Recipe`, K at a time (fused), evaluated
only after the epochs that are asked for, and continued from a saved :class:`RunState`.

Everything random is a function of the seed (batches, crops, flips, the training subset, the
validation subset: :mod:`nb201.training.data`) or of (seed, arch index) (the initial weights),
never of K, of which archs share a batch, or of where a run was stopped and continued: a run
trained to epoch m, saved and continued to n gives the same weights, bit for bit, as one trained to
n at once (the same kernels on the same state). Which archs share a fused group changes only float
rounding (grouped kernels of other sizes); near chance level, where many predictions are almost
ties, that can move an accuracy by a point or so (docs/BENCHMARKS.md, "How much a score moves").
On a CPU each network is its own group, so there a score does not depend on the other archs of its
batch at all. On CUDA the group size depends only on the recipe (not on free memory) and the
runner forms chunks from sorted indices, so a rerun or a resumed run groups the same archs.
How many archs form a group, in which order groups are handed out and what a run is estimated to
cost: :mod:`nb201.training.sizing`.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from nb201.catalog import derive_seed
from nb201.network import Network
from nb201.space import Arch

from . import processes
from .augment import normalize
from .data import INIT, Split, batch_images, epoch_batches
from .fused import FusedNetwork, fold_batchnorm, fuse, load_momentum, momentum_of, unfuse
from .recipe import Recipe
from .sizing import CPU_NETWORKS_PER_GROUP, relative_cost

#: Bump whenever a change alters what a run computes (batches, initialisation, kernels' grouping,
#: evaluation): stored runs and saved run states of other versions are then not reused.
#: 2: per-epoch batch streams (continuable runs), stratified ``s{k}`` subsets.
#: 3: on a CPU, convolutions and average pools of small maps as matrix products
#: (:mod:`nb201.training.kernels`, :class:`~nb201.training.fused.BoxPool`): the same sums in
#: another order, so other float rounding.
ENGINE_VERSION = 3


def init_network(arch: Arch, recipe: Recipe, num_classes: int, seed: int, index: int) -> Network:
    """NB201's network at the recipe's width, initialised from (seed, arch index) only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, INIT, index))
        return Network(arch, channels=recipe.width, cells=recipe.cells, num_classes=num_classes)


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimizer over every parameter (weight decay included on BN, as NB201 does):
    NB201's SGD (Nesterov momentum), or Adam / AdamW with the recipe's lr and weight decay. Each
    is elementwise, so every fused network's update is its own."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov, weight_decay=recipe.weight_decay,
                               foreach=True)
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
    return kind(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay, foreach=True)


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
    dtype = _dtype(model)
    chunk = chunk or _eval_chunk(k, recipe.width, x.shape[-1])
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
    """Put ``model`` (on ``device``) in the faster memory format per stage: channels-last on CUDA;
    on a CPU NCHW for stages of fewer than :data:`CPU_CHANNELS_LAST_FROM` channels per network.
    Sets ``model.input_format``. Activations follow the weights' format from layer to layer."""
    model.to(memory_format=torch.channels_last)
    model.input_format = torch.channels_last
    if torch.device(device).type != "cpu":
        return model
    first = model.width // 4
    for s, modules in enumerate(model.stages()):
        if first * 2 ** s < CPU_CHANNELS_LAST_FROM:
            for module in modules:
                module.to(memory_format=torch.contiguous_format)
            if s == 0:
                model.input_format = torch.contiguous_format
    return model


def _eval_chunk(networks: int, width: int, resolution: int) -> int:
    """Images per evaluation forward pass: about 2**19 stacked activations per feature map (2 MB:
    measured fastest on a 2-core CPU at C=4, 8x8; larger maps fall out of the caches)."""
    return int(np.clip(2 ** 19 // (networks * width * resolution * resolution), 64, 8192))


def _dtype(model: torch.nn.Module) -> torch.dtype:
    """The model's floating-point dtype (float32 unless its networks were built in another, as the
    float64 equivalence tests do with ``torch.set_default_dtype``)."""
    return next(model.parameters()).dtype


@dataclass
class RunState:
    """Where one network's run stands after ``epoch`` epochs of its schedule: its weights (with BN
    statistics) and SGD momentum, on the CPU, named like :class:`nb201.network.Network`'s
    state dict; and its history: accuracy after each epoch so far (NaN where it was not
    evaluated), mean training loss of each epoch, and ``segments``, one ``[from epoch, to epoch,
    seconds]`` per stretch of training that led here."""

    epoch: int
    curve: list[float]
    losses: list[float]
    weights: dict[str, torch.Tensor] = field(repr=False)
    momentum: dict[str, torch.Tensor] = field(repr=False)
    segments: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """Per network: its final :class:`RunState` (curve NaN where not evaluated); the wall time of
    the whole call (building, training, evaluating)."""

    states: list[RunState]
    seconds: float

    @property
    def curves(self) -> list[list[float]]:
        return [s.curve for s in self.states]

    @property
    def losses(self) -> list[list[float]]:
        return [s.losses for s in self.states]


#: A checkpoint hook: (position of the network in ``archs``, its state), called after an epoch when
#: ``checkpoint_seconds`` have passed since the network's last call, and at the end; in the calling
#: process (from a worker thread where there is no fork).
Checkpoint = Callable[[int, RunState], None]


def train(archs: list[Arch], indices: list[int], split: Split, recipe: Recipe, seed: int,
          device: torch.device | str = "cpu", amp: str | None = None,
          workers: int | None = None, group_size: int | None = None, *,
          until: int | None = None, evaluate_at: Collection[int] | None = None,
          states: list[RunState | None] | None = None, checkpoint: Checkpoint | None = None,
          checkpoint_seconds: float = 0.0) -> Result:
    """Train ``archs`` (NB201 indices ``indices``, which seed their initial weights) under
    ``recipe`` on ``split`` up to epoch ``until`` (default: the whole schedule), each from scratch
    or from its entry of ``states``; evaluate after the epochs in ``evaluate_at`` (1-based; default
    every epoch). A restored state is also evaluated if its own epoch is asked for and missing.

    Networks are trained in fused groups of ``group_size`` that start at the same epoch (default:
    all of them on CUDA, where the caller's chunk is the group, see
    :func:`~nb201.training.sizing.auto_fuse`; :data:`~nb201.training.sizing.CPU_NETWORKS_PER_GROUP`
    on a CPU). On a CPU the groups are spread over ``workers`` forked processes
    (:mod:`nb201.training.processes`; threads where there is no fork), default
    ``torch.get_num_threads()``, each with one intra-op thread and taking the next group when it
    is done, the costliest groups first (:func:`~nb201.training.sizing.relative_cost`):
    small networks use a core far better that way than with several intra-op threads per op, and
    processes, unlike threads, do not wait for each other's GIL between kernel calls. Every group
    sees the same batches. Each returned state's last segment holds its share of the call's wall
    time. ``checkpoint`` is called in this process, whichever worker trained the network."""
    started = time.perf_counter()
    device = torch.device(device)
    until = recipe.epochs if until is None else until
    if not 1 <= until <= recipe.epochs:
        raise ValueError(f"until={until} is not an epoch of the {recipe.epochs}-epoch schedule")
    evaluate_at = frozenset(range(1, until + 1) if evaluate_at is None else evaluate_at)
    states = list(states) if states is not None else [None] * len(archs)
    if any(s is not None and s.epoch > until for s in states):
        raise ValueError(f"a run state is past epoch {until}: start those runs from scratch")
    if group_size is None:
        group_size = len(archs) if device.type == "cuda" else CPU_NETWORKS_PER_GROUP
    if workers is None:
        workers = 1 if device.type == "cuda" else torch.get_num_threads()
    # networks are built here, in one thread: their initialisation draws from torch's global RNG
    nets = [init_network(a, recipe, split.num_classes, seed, i) for a, i in zip(archs, indices)]
    for net, state in zip(nets, states):
        if state is not None:
            net.load_state_dict(state.weights)
    by_start: dict[int, list[int]] = {}
    for k, state in enumerate(states):
        by_start.setdefault(0 if state is None else state.epoch, []).append(k)
    size = max(1, group_size)
    groups = [members[g:g + size] for members in by_start.values() for g in range(0, len(members), size)]
    # the costliest groups first, so that the workers finish together (only the order changes)
    groups.sort(key=lambda g: -sum(relative_cost(archs[k]) for k in g))
    job = _Job(split, recipe, seed, device, amp, until, evaluate_at, checkpoint, checkpoint_seconds,
               concurrency=max(1, min(workers, len(groups))) if device.type == "cpu" else 1)

    def run(group: list[int], job: _Job = job) -> list[RunState]:
        return job.train_group(group, [nets[k] for k in group], [states[k] for k in group])

    def in_process(i: int, send: Callable) -> list[RunState]:    # a checkpoint goes to the parent
        tell = None if checkpoint is None else lambda position, state: send((position, state))
        return run(groups[i], dataclasses.replace(job, checkpoint=tell))

    if device.type == "cuda":
        parts = [run(g) for g in groups]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if job.concurrency > 1 and processes.available():
                parts = processes.run(in_process, len(groups), job.concurrency,
                                      lambda message: checkpoint(*message))
            else:
                with ThreadPoolExecutor(job.concurrency) as pool:
                    parts = list(pool.map(run, groups))
        finally:
            torch.set_num_threads(threads)
    final: list[RunState] = [None] * len(archs)  # type: ignore[list-item]
    for group, group_states in zip(groups, parts):
        for k, state in zip(group, group_states):
            final[k] = state
    seconds = time.perf_counter() - started
    # share the call's wall time out in proportion to each network's own measured time
    spent = [s.segments[-1][2] for s in final]
    scale = seconds / sum(spent) if sum(spent) > 0 else 0.0
    for state in final:
        state.segments[-1][2] *= scale
    return Result(final, seconds)


@dataclass(frozen=True)
class _Job:
    split: Split
    recipe: Recipe
    seed: int
    device: torch.device
    amp: str | None
    until: int
    evaluate_at: frozenset[int]
    checkpoint: Checkpoint | None
    checkpoint_seconds: float
    concurrency: int

    def train_group(self, group: list[int], nets: list[Network], states: list[RunState | None]
                    ) -> list[RunState]:
        began = time.perf_counter()
        split, recipe = self.split, self.recipe
        model = apply_layout(fuse(nets).to(self.device), self.device)
        optimizer = make_optimizer(model, recipe)
        start = 0 if states[0] is None else states[0].epoch
        if start:
            load_momentum(model, optimizer, nets, [s.momentum for s in states])
        curves = [list(s.curve) if s else [] for s in states]
        losses = [list(s.losses) if s else [] for s in states]
        history = [[list(seg) for seg in s.segments] if s else [] for s in states]
        k = len(nets)
        if start and start in self.evaluate_at and any(math.isnan(c[start - 1]) for c in curves):
            model.eval()
            for curve, acc in zip(curves, evaluate(model, split.valid_x, split.valid_y, recipe, self.amp)):
                curve[start - 1] = acc
        model.train()
        saved = time.perf_counter()
        for epoch in range(start, self.until):
            for param_group in optimizer.param_groups:
                param_group["lr"] = recipe.lr_at(epoch)
            total, images = torch.zeros(k, device=self.device, dtype=_dtype(model)), 0
            for idx, dy, dx, flips in epoch_batches(len(split.train_y), recipe.batch_size,
                                                    split.padding, self.seed, epoch):
                idx = idx.to(self.device)
                x = batch_images(split, recipe, idx, dy, dx, flips, model.input_format, _dtype(model))
                total += train_step(model, optimizer, x, split.train_y[idx], self.amp,
                                    recipe.label_smoothing) * len(idx)
                images += len(idx)
            for loss, value in zip(losses, (total / max(1, images)).tolist()):
                loss.append(value)
            accuracy = (evaluate(model, split.valid_x, split.valid_y, recipe, self.amp)
                        if epoch + 1 in self.evaluate_at else [math.nan] * k)
            for curve, acc in zip(curves, accuracy):
                curve.append(acc)
            now = time.perf_counter()
            if self.checkpoint is not None and epoch + 1 < self.until and now - saved >= self.checkpoint_seconds:
                for position, state in zip(group, self._states(model, optimizer, nets, epoch + 1, curves,
                                                                losses, history, start, now - began)):
                    self.checkpoint(position, state)
                saved = time.perf_counter()
        final = self._states(model, optimizer, nets, max(start, self.until), curves, losses, history,
                             start, time.perf_counter() - began)
        if self.checkpoint is not None:
            for position, state in zip(group, final):
                self.checkpoint(position, state)
        return final

    def _states(self, model, optimizer, nets, epoch, curves, losses, history, start, elapsed
                ) -> list[RunState]:
        """Each network's state now; its last segment is [start, epoch, its share of ``elapsed``]
        (the group's time over its networks and the workers that ran alongside)."""
        share = elapsed / len(nets) / self.concurrency
        out = []
        for k, net in enumerate(nets):
            unfuse(model, k, net)
            weights = {name: t.detach().clone() for name, t in net.state_dict().items()}
            out.append(RunState(epoch, list(curves[k]), list(losses[k]), weights,
                                momentum_of(model, optimizer, k, net),
                                history[k] + [[start, epoch, share]]))
        return out
