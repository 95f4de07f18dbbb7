"""The training engine: networks trained under a :class:`Recipe`, evaluated only after the epochs
that are asked for, and continued from a saved :class:`RunState`.

Two trainers do the work (:func:`make_trainer`, named by :func:`kernels`, which every stored run's
fingerprint records): on a CPU the direct kernels (:mod:`nb201.training.direct`: one network at a
time, forward and backward written for these small maps); on CUDA, and on a CPU with autocast,
PyTorch on K networks fused into one module (:mod:`nb201.training.torch_trainer`).

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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import torch

from nb201.catalog import derive_seed
from nb201.devices import accelerated
from nb201.network import Network
from nb201.space import Arch

from . import processes, sizing
from .data import INIT, Split, epoch_batches
from .recipe import Recipe
from .sizing import CPU_NETWORKS_PER_GROUP, relative_cost
from .torch_trainer import TorchTrainer

#: Bump whenever a change alters what a run computes (batches, initialisation, kernels' grouping,
#: evaluation): stored runs and saved run states of other versions are then not reused.
#: 2: per-epoch batch streams (continuable runs), stratified ``s{k}`` subsets.
#: 3: on a CPU, convolutions and average pools of small maps as matrix products
#: (:mod:`nb201.training.kernels`, :class:`~nb201.training.fused.BoxPool`): the same sums in
#: another order, so other float rounding.
#: 4: on a CPU, the direct kernels (:mod:`nb201.training.direct`): each network's forward and
#: backward pass written out for small maps, batch innermost; the same sums in another order
#: (equal to PyTorch's in float64, tests/test_direct.py), so other float rounding. Batches, crops,
#: initialisation and evaluation are unchanged. The optimizer steps all of a network's parameters
#: as one flat tensor (the same elementwise update).
ENGINE_VERSION = 4
#: The trainers, by the name :func:`kernels` gives (and fingerprints record).
KERNELS = ("direct", "torch")


class Trainer(Protocol):
    """What the engine's loop asks of a trainer of one group of networks."""

    def set_lr(self, lr: float) -> None: ...

    def step(self, idx: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor
             ) -> torch.Tensor:
        """One optimizer step on the batch of training images ``idx`` (cropped at ``dy``, ``dx``,
        flipped where ``flips``); each network's mean loss."""

    def accuracies(self) -> list[float]:
        """Each network's top-1 accuracy (%) on the split's held-out images."""

    def states(self) -> list[tuple[dict, dict]]:
        """Each network's (weights, optimizer state) as :class:`RunState` holds them."""


@lru_cache(maxsize=1)
def direct_available() -> bool:
    """Whether the direct kernels can run here: they are compiled by numba, which a machine may
    lack (a GPU machine that has only what travelled as wheels). Imported on first use only, so
    that importing the engine (and training on CUDA) never needs numba."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def kernels(device: torch.device | str, amp: str | None, recipe: Recipe, resolution: int) -> str:
    """The trainer of ``recipe`` at ``resolution`` pixels on ``device``: ``direct`` for small
    networks (:func:`nb201.training.sizing.small`) on a CPU without autocast where numba is
    installed (:func:`direct_available`), else ``torch``."""
    small = sizing.small(recipe.width, resolution)
    if not accelerated(device) and amp is None and small and direct_available():
        return "direct"
    return "torch"


def make_trainer(name: str, nets: list[Network], momenta: list[dict] | None, recipe: Recipe,
                 split: Split, device: torch.device, amp: str | None) -> Trainer:
    """The trainer ``name`` (of :data:`KERNELS`) for ``nets``, from their optimizer states
    ``momenta`` (None: from scratch)."""
    if name == "direct":
        from . import direct_trainer  # numba: only where the direct trainer runs
        return direct_trainer.DirectTrainer(nets, momenta, recipe, split)
    return TorchTrainer(nets, momenta, recipe, split, device, amp)


def init_network(arch: Arch, recipe: Recipe, num_classes: int, seed: int, index: int) -> Network:
    """NB201's network at the recipe's width, initialised from (seed, arch index) only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, INIT, index))
        return Network(arch, channels=recipe.width, cells=recipe.cells, num_classes=num_classes)


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
          checkpoint_seconds: float = 0.0, trainer: str | None = None) -> Result:
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
    is done, the costliest groups first (:func:`~nb201.training.sizing.relative_cost`); why, with
    measurements: docs/BENCHMARKS.md, "Training: engine vs a tight loop vs NB201's DataLoader
    loop". Every group sees the same batches. Each returned state's last segment holds its
    seconds: on a CPU the CPU time of the worker thread that trained it over the number of workers
    that ran alongside (its share of an idle machine's wall time, whatever else the machine was
    doing), on CUDA its share of the call's wall time. ``checkpoint`` is called in this process,
    whichever worker trained the network. ``trainer``: one of :data:`KERNELS` (default:
    :func:`kernels`; ``direct`` needs a CPU)."""
    started = time.perf_counter()
    device = torch.device(device)
    trainer = trainer or kernels(device, amp, recipe, split.resolution)
    if trainer not in KERNELS or (trainer == "direct" and (accelerated(device) or amp)):
        raise ValueError(f"trainer {trainer!r} cannot train on {device.type} with amp={amp}")
    if trainer == "direct" and not direct_available():
        raise ValueError("the direct trainer needs numba, which is not installed here")
    until = recipe.epochs if until is None else until
    if not 1 <= until <= recipe.epochs:
        raise ValueError(f"until={until} is not an epoch of the {recipe.epochs}-epoch schedule")
    evaluate_at = frozenset(range(1, until + 1) if evaluate_at is None else evaluate_at)
    states = list(states) if states is not None else [None] * len(archs)
    if any(s is not None and s.epoch > until for s in states):
        raise ValueError(f"a run state is past epoch {until}: start those runs from scratch")
    group_size, workers = placement(device, len(archs), group_size, workers)
    # networks are built here, in one thread: their initialisation draws from torch's global RNG
    nets = [init_network(a, recipe, split.num_classes, seed, i) for a, i in zip(archs, indices)]
    for net, state in zip(nets, states):
        if state is not None:
            net.load_state_dict(state.weights)
    if trainer == "direct" and nets:
        from . import direct_trainer
        direct_trainer.warm(nets[0].stem[0].weight.dtype)     # compiled once, before workers fork
    by_start: dict[int, list[int]] = {}
    for k, state in enumerate(states):
        by_start.setdefault(0 if state is None else state.epoch, []).append(k)
    size = max(1, group_size)
    groups = [members[g:g + size] for members in by_start.values() for g in range(0, len(members), size)]
    # the costliest groups first, so that the workers finish together (only the order changes)
    groups.sort(key=lambda g: -sum(relative_cost(archs[k]) for k in g))
    job = _Job(split, recipe, seed, device, amp, trainer, until, evaluate_at, checkpoint,
               checkpoint_seconds, concurrency=max(1, min(workers, len(groups))))

    def run(group: list[int], job: _Job = job) -> list[RunState]:
        return job.train_group(group, [nets[k] for k in group], [states[k] for k in group])

    def in_process(i: int, send: Callable) -> list[RunState]:    # a checkpoint goes to the parent
        tell = None if checkpoint is None else lambda position, state: send((position, state))
        return run(groups[i], dataclasses.replace(job, checkpoint=tell))

    if accelerated(device):
        parts = [run(g) for g in groups]        # one group at a time, in this process
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if job.concurrency == 1:
                parts = [run(g) for g in groups]
            elif processes.available():
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
    if accelerated(device):
        # share the call's wall time out in proportion to each group's own measured time
        spent = [s.segments[-1][2] for s in final]
        scale = seconds / sum(spent) if sum(spent) > 0 else 0.0
        for state in final:
            state.segments[-1][2] *= scale
    return Result(final, seconds)


def placement(device: torch.device | str, archs: int, group_size: int | None = None,
              workers: int | None = None) -> tuple[int, int]:
    """(networks per fused group, worker processes) of a call of :func:`train` on ``archs``
    networks, where not given: on an accelerated device one group of them all (the caller's chunk
    is the group) trained in this process; on a CPU :data:`CPU_NETWORKS_PER_GROUP` per group,
    spread over ``torch.get_num_threads()`` workers."""
    if accelerated(device):
        return (archs if group_size is None else group_size), 1
    return (CPU_NETWORKS_PER_GROUP if group_size is None else group_size,
            torch.get_num_threads() if workers is None else workers)


@dataclass(frozen=True)
class _Job:
    split: Split
    recipe: Recipe
    seed: int
    device: torch.device
    amp: str | None
    kernels: str
    until: int
    evaluate_at: frozenset[int]
    checkpoint: Checkpoint | None
    checkpoint_seconds: float
    concurrency: int

    def clock(self) -> float:
        """The group's own time: its thread's CPU time on a CPU (not moved by other work on the
        machine), the wall clock on CUDA (where the work is the device's)."""
        return time.perf_counter() if accelerated(self.device) else time.thread_time()

    def train_group(self, group: list[int], nets: list[Network], states: list[RunState | None]
                    ) -> list[RunState]:
        began = self.clock()
        split, recipe = self.split, self.recipe
        start = 0 if states[0] is None else states[0].epoch
        trainer = make_trainer(self.kernels, nets, [s.momentum for s in states] if start else None,
                               recipe, split, self.device, self.amp)
        curves = [list(s.curve) if s else [] for s in states]
        losses = [list(s.losses) if s else [] for s in states]
        history = [[list(seg) for seg in s.segments] if s else [] for s in states]
        k = len(nets)
        if start and start in self.evaluate_at and any(math.isnan(c[start - 1]) for c in curves):
            for curve, acc in zip(curves, trainer.accuracies()):
                curve[start - 1] = acc
        saved = time.perf_counter()
        for epoch in range(start, self.until):
            trainer.set_lr(recipe.lr_at(epoch))
            total, images = 0.0, 0
            for idx, dy, dx, flips in epoch_batches(len(split.train_y), recipe.batch_size,
                                                    split.padding, self.seed, epoch):
                total = total + trainer.step(idx, dy, dx, flips) * len(idx)
                images += len(idx)
            for loss, value in zip(losses, (total / max(1, images)).tolist()):
                loss.append(value)
            accuracy = trainer.accuracies() if epoch + 1 in self.evaluate_at else [math.nan] * k
            for curve, acc in zip(curves, accuracy):
                curve.append(acc)
            now = time.perf_counter()
            if self.checkpoint is not None and epoch + 1 < self.until and now - saved >= self.checkpoint_seconds:
                for position, state in zip(group, self._states(trainer, epoch + 1, curves, losses,
                                                                history, start, self.clock() - began)):
                    self.checkpoint(position, state)
                saved = time.perf_counter()
        final = self._states(trainer, max(start, self.until), curves, losses, history, start,
                             self.clock() - began)
        if self.checkpoint is not None:
            for position, state in zip(group, final):
                self.checkpoint(position, state)
        return final

    def _states(self, trainer: Trainer, epoch, curves, losses, history, start, elapsed
                ) -> list[RunState]:
        """Each network's state now; its last segment is [start, epoch, its share of ``elapsed``]
        (the group's own time over its networks and the workers that ran alongside)."""
        parts = trainer.states()
        share = elapsed / len(parts) / self.concurrency
        return [RunState(epoch, list(curves[k]), list(losses[k]), weights, momentum,
                         history[k] + [[start, epoch, share]])
                for k, (weights, momentum) in enumerate(parts)]
