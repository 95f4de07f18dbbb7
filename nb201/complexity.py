"""Parameters and FLOPs of NB201 networks, fast enough for all 15,625 archs, and the activations
a minibatch keeps (:func:`activations`).

Every non-none edge of the NB201 network runs whatever its position (network.Cell), all cell
edges see the same channels and resolution, and both counts are sums over layers, so
``count(arch) = count(all-none arch) + sum over edges of the count of that edge's op``. The
per-op counts are measured once on real networks (meta device) with network.count_params and
network.count_flops; tests check the sum against the full network for hundreds of archs.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from .network import Network, count_flops, count_params
from .space import EDGES, OPS, Arch



def _counts(arch: Arch, channels: int, cells: int, num_classes: int, resolution: int):
    with torch.device("meta"):
        net = Network(arch, channels, cells, num_classes)
    return count_params(net), count_flops(net, resolution)


@lru_cache(maxsize=None)
def _table(channels: int, cells: int, num_classes: int, resolution: int):
    empty = Arch(("none",) * len(EDGES))
    base = _counts(empty, channels, cells, num_classes, resolution)
    per_op = {}
    for op in OPS:
        one = _counts(Arch((op,) + ("none",) * (len(EDGES) - 1)), channels, cells, num_classes,
                      resolution)
        per_op[op] = (one[0] - base[0], one[1] - base[1])
    return base, per_op


def params_m(arch: Arch, num_classes: int = 10, channels: int = 16, cells: int = 5) -> float:
    """Trainable parameters in millions."""
    base, per_op = _table(channels, cells, num_classes, 32)
    return base[0] + sum(per_op[op][0] for op in arch.ops)


def flops_m(arch: Arch, num_classes: int = 10, resolution: int = 32, channels: int = 16,
            cells: int = 5) -> float:
    """Forward FLOPs in millions for one image (2 per multiply-add; see network.count_flops)."""
    base, per_op = _table(channels, cells, num_classes, resolution)
    return base[1] + sum(per_op[op][1] for op in arch.ops)


def activations(resolution: int, channels: int = 16, cells: int = 5) -> int:
    """Numbers per image that a gradient-based zero-cost proxy keeps for the backward pass through
    NB201's network whose every edge is a convolution (the densest cell), counting each edge's
    ReLU input: ``cells x 6 x c x side**2`` per stage (c: channels, 2x, 4x; side: resolution, /2,
    /4). Times 4 bytes (float32): what a minibatch of one image takes, about (3.4 MB at C=16,
    N=5, 32x32)."""
    return sum(cells * 6 * (channels << stage) * (resolution >> stage) ** 2 for stage in range(3))
