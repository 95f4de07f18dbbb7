"""How big and how costly training is, before anything is trained: a network's relative step cost
(the order in which the engine hands out its groups), how many networks are fused in one group and
trained at once (CPU and CUDA), a generous activation-memory estimate, and the training cost model
behind a training proxy's estimated seconds (:data:`DIRECT_ESTIMATE_CONSTANTS` and
:data:`ESTIMATE_CONSTANTS`, one per CPU trainer, measured with ``perf/econas_point.py``;
``perf/fit_estimate.py`` refits them on a store's runs). Image counts come from the dataset specs of :mod:`nb201.catalog`.

Pure arithmetic on a :class:`~nb201.training.recipe.Recipe` and an arch: nothing here trains,
and nothing here imports the engine (:mod:`nb201.training.engine` imports this module).
"""
from __future__ import annotations

import os
import time
from functools import lru_cache

import numpy as np
import torch

from nb201.catalog import DatasetSpec, dataset_spec
from nb201.devices import accelerated
from nb201.space import EDGES, Arch

from .fused import live_ops
from .recipe import NB201, Recipe


#: A training step's cost per live op, in units of the ops every network has (stem, reductions,
#: head): fitted on 60 archs at 4 channels, 8x8, one thread, with the direct kernels (steps of
#: 1.8 + 6.4 per 3x3 conv + 3.1 per 1x1 conv + 1.7 per pool + 0.8 per skip ms).
OP_COSTS = {"nor_conv_3x3": 3.5, "nor_conv_1x1": 1.7, "avg_pool_3x3": 0.9, "skip_connect": 0.45}


def relative_cost(arch: Arch) -> float:
    """A training step's cost, roughly, in units of a network whose cells do nothing: each live
    op (:data:`OP_COSTS`) adds its cost, except a pool or skip of a zero node (nothing to do) and
    a conv of one (only its batch norm of zeros); an arch whose cells ignore their input trains
    only its last cell and head (about nothing). Sets the order in which groups are handed out."""
    ops = live_ops(arch)
    if not any(op != "none" and i == 0 for (_, i), op in zip(EDGES, ops)):
        return 0.05
    zero, cost = [False, True, True, True], 1.0
    for (j, i), op in zip(EDGES, ops):
        conv = op.startswith("nor_conv")
        if op == "none" or (zero[i] and not conv):
            continue
        zero[j] = False
        cost += 0.05 if zero[i] else OP_COSTS[op]
    return cost


# ------------------------------------------------------------------ group sizing

#: Networks stacked in one fused group on a CPU. Measured on a 2-core CPU at C=4, 8x8
#: (docs/BENCHMARKS.md): stacking does not make the arithmetic cheaper per network there
#: (PyTorch's CPU kernels are compute-bound on these shapes, the channel permutations cost extra
#: and larger stacked maps fall out of the caches), so each network is its own group.
CPU_NETWORKS_PER_GROUP = 1
#: Archs per batch (commit) on a CPU, per thread: enough groups to keep every worker busy.
CPU_ARCHS_PER_THREAD = 4
#: Activation memory one CUDA group may use, by :func:`activation_bytes`. A constant, not a share
#: of the free memory, so that the grouping (and with it the float rounding) is the same on every
#: run and on every GPU that has the room (the estimate is generous: 1.6x the tensors autograd
#: saves for backward in the heaviest cell, every edge a 3x3 conv, and 3.4x in a typical mix,
#: measured on the CUDA arm by tests/test_accelerated.py; an 80 GB GPU holds it with room to spare;
#: with less memory pass --fuse).
CUDA_GROUP_BYTES = 32 * 2 ** 30
#: Most networks in one CUDA group.
CUDA_MAX_GROUP = 512


def cuda_group_size(recipe: Recipe, native_resolution: int) -> int:
    """Networks per fused CUDA group: as many as :data:`CUDA_GROUP_BYTES` of activations hold (a
    function of the recipe only), at most :data:`CUDA_MAX_GROUP`."""
    per_network = activation_bytes(recipe, native_resolution) * recipe.batch_size
    return int(np.clip(CUDA_GROUP_BYTES // max(1, per_network), 1, CUDA_MAX_GROUP))


def auto_fuse(device: torch.device, recipe: Recipe, native_resolution: int) -> int:
    """How many archs to train at once (one batch, committed together). CPU: 4 per torch thread
    (their groups are shared out over the worker processes, see
    :func:`nb201.training.engine.train`). CUDA (any accelerated device): one group
    (:func:`cuda_group_size`)."""
    if not accelerated(device):
        return CPU_ARCHS_PER_THREAD * torch.get_num_threads()
    return cuda_group_size(recipe, native_resolution)


def activation_bytes(recipe: Recipe, native_resolution: int) -> int:
    """A generous estimate of the float32 activations one network keeps for backward per image:
    about 30 feature maps per cell (edges, BN, ReLU, permutations) plus the reductions. At least
    what any cell saves (tests/test_accelerated.py bounds it by the measured saved tensors)."""
    res = recipe.resolution(native_resolution)
    per_stage = [recipe.width * 2 ** s * max(1, res // 2 ** s) ** 2 for s in range(3)]
    return 4 * sum(m * (30 * recipe.cells + 10) for m in per_stage)


# ------------------------------------------------------------------ which trainer, cost model

#: A CPU trains networks whose first stage has (channels x resolution) at most this with the direct
#: kernels (:mod:`nb201.training.direct`), larger ones with PyTorch. Per step, one thread, batch
#: 256, four archs (docs/BENCHMARKS.md, "Engine v4"): PyTorch's step takes 7.3x the direct one at
#: 4 channels on 4x4, 3.9x on 8x8, 2.5x on 16x16 and 1.55x at 8 channels on 8x8; at 8 channels
#: on 16x16 and 16 on 8x8 (and above) PyTorch's oneDNN kernels, vectorised over channels, are as
#: fast or faster.
MAX_WIDTH_TIMES_RESOLUTION = 64


def small(width: int, resolution: int) -> bool:
    """Whether the direct kernels are the faster trainer on a CPU (:data:`MAX_WIDTH_TIMES_RESOLUTION`)."""
    return width * resolution <= MAX_WIDTH_TIMES_RESOLUTION


#: The training cost model's constants for the PyTorch trainer, which a CPU uses for the networks
#: above the direct kernels' threshold (:func:`small`): seconds per arch, per training image and
#: epoch, per evaluated image, per unit of :func:`estimate_terms`' scale (the network's FLOPs
#: relative to C=4, 8x8). Fitted on ``python perf/econas_point.py --proxy P --sample 4 --trainers
#: torch`` at c2r2s0e1, c0r4s0e1 and c1r2s0e1 (8-16 channels on 8x8-16x16 maps) on an idle 2-core
#: AMD EPYC (docs/BENCHMARKS.md, "The plan's estimate"), in the reference CPU's seconds, with an
#: evaluated image a third of a training image as for the direct kernels.
ESTIMATE_CONSTANTS = (0.1, 1.5e-5, 5.2e-6)
#: PyTorch's cost per FLOP at fewer than 8 channels, relative to 8 or more (oneDNN's convolutions
#: vectorise over channels): c4r0s0e1 (4 channels, 32x32) took 6.1x what the constants above
#: predict from its FLOPs, in the same measurement.
NARROW_FACTOR = 6.0
NARROW_CHANNELS = 8
#: The same for the direct kernels (engine version 4), whose cost follows the network's FLOPs
#: (:func:`estimate_terms`): from ``python perf/econas_point.py`` on an idle 2-core Intel Xeon
#: (AVX-512): 8.2 s per arch of ``c4r4s0e40@20`` (500,000 training images x epochs, 25,000
#: evaluated, an evaluation costing a third of a training image), in the reference CPU's seconds
#: (this CPU's speed factor 0.5: :func:`cpu_speed_factor`).
DIRECT_ESTIMATE_CONSTANTS = (0.1, 3.2e-5, 1.1e-5)


#: Seconds of :func:`speed_workload` on the CPU that :data:`ESTIMATE_CONSTANTS` and the proxies'
#: ``cost_s`` describe (a 2-core AMD EPYC, AVX2). That machine is gone; the value was set from the
#: quick experiment on a 2-core Intel Xeon with AVX-512 (docs/BENCHMARKS.md, "The plan's
#: estimate"): 391 s of computing against 761 s estimated unscaled, a factor of 0.514, and its
#: workload took 0.0191 s there (median of 5 processes, idle), so 0.0191 / 0.514.
REFERENCE_WORKLOAD_S = 0.0371


def speed_workload() -> float:
    """Seconds of a fixed single-thread torch workload (a 3x3 convolution's forward and backward
    pass on 64 images of 16 channels, 16x16), ten times: the fastest of 15 timings of one pass,
    after a warm-up, times ten (the minimum, so that other work on the machine hardly moves it). A
    measure of this CPU's speed on the kernels the engine and the zero-cost proxies spend their
    time in."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randn(64, 16, 16, 16, generator=torch.Generator().manual_seed(0))
        conv = torch.nn.Conv2d(16, 16, 3, padding=1)
        conv(x).relu().sum().backward()
        best = float("inf")
        for _ in range(15):
            started = time.perf_counter()
            conv(x).relu().sum().backward()
            best = min(best, time.perf_counter() - started)
        return 10 * best
    finally:
        torch.set_num_threads(threads)


def cpu_speed_factor() -> float:
    """This CPU's seconds per reference second (:func:`speed_workload` over
    :data:`REFERENCE_WORKLOAD_S`, measured once per process): what an unmeasured proxy's
    ``cost_s`` is scaled by in a plan. ``$NB201_CPU_FACTOR`` sets it (tests)."""
    if os.environ.get("NB201_CPU_FACTOR"):
        return float(os.environ["NB201_CPU_FACTOR"])
    return _measured_factor()


@lru_cache(maxsize=1)
def _measured_factor() -> float:
    return speed_workload() / REFERENCE_WORKLOAD_S


def image_pools(recipe: Recipe, spec: DatasetSpec) -> tuple[int, int]:
    """(training images before the recipe's subset, held-out images) of a run on ``spec``: the
    proxy split (:func:`nb201.datasets.proxy_split`), or with ``held_out="test"`` the whole
    training set and the test set (:func:`nb201.training.data.pools`)."""
    if recipe.held_out == "test":
        return spec.train_images, spec.test_images
    return spec.proxy_train_images, spec.valid_images


def estimate_terms(recipe: Recipe, dataset: str = "cifar10", epochs: int | None = None,
                   evaluations: int | None = None) -> tuple[float, float]:
    """(training images x epochs, evaluated images), each scaled by the network's size relative to
    C=4, 8x8: ``epochs`` of training (default: the whole schedule) and ``evaluations`` of the
    held-out images (default: one, at the end), on ``dataset``'s images at its resolution (a
    proxy's estimate is CIFAR-10's, whatever it is run on). Either trainer's cost scales with the
    network's FLOPs (channels squared x pixels); PyTorch's (above the direct kernels' threshold)
    is :data:`NARROW_FACTOR` times dearer per FLOP below 8 channels. Fewer cells per stage (a
    variant's ``n``) scale both by the network's depth in cells and reduction blocks, 3N + 2 of
    NB201's 17."""
    spec = dataset_spec(dataset)
    res = recipe.resolution(spec.resolution)
    width, pixels = recipe.width / 4, (res / 8) ** 2
    depth = (3 * recipe.cells + 2) / (3 * NB201.cells + 2)
    scale = depth * width ** 2 * pixels
    if not small(recipe.width, res) and recipe.width < NARROW_CHANNELS:
        scale *= NARROW_FACTOR
    pool, held_out = image_pools(recipe, spec)
    epochs = recipe.epochs if epochs is None else epochs
    evaluations = 1 if evaluations is None else evaluations
    return (epochs * recipe.train_size(pool) * scale,
            evaluations * (recipe.valid_images or held_out) * scale)


def estimate_seconds(recipe: Recipe, dataset: str = "cifar10", epochs: int | None = None,
                     evaluations: int | None = None) -> float:
    """Rough seconds per arch on an idle 2-core CPU, for the estimate printed before a run: the
    constants of the recipe's CPU trainer (:data:`DIRECT_ESTIMATE_CONSTANTS` or
    :data:`ESTIMATE_CONSTANTS`) applied to :func:`estimate_terms`. A step's cost varies up to 6x
    between archs (perf/econas_point.py), so a small sample can be far from the estimate."""
    res = recipe.resolution(dataset_spec(dataset).resolution)
    fixed, per_train, per_eval = (DIRECT_ESTIMATE_CONSTANTS if small(recipe.width, res)
                                  else ESTIMATE_CONSTANTS)
    train, valid = estimate_terms(recipe, dataset, epochs, evaluations)
    return float(fixed + train * per_train + valid * per_eval)
