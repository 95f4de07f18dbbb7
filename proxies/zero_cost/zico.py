"""ZiCo: Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients",
ICLR 2023 (code: SLDGroup/ZiCo ``ZeroShotProxy/compute_zico.py``).

The loss gradient of every conv/linear weight is computed on B separate batches; per weight,
mean_b |g_b| / std_b(g_b) (population std) is summed over the layer's weights where the std is
non-zero, and ZiCo = sum over layers of log of that sum (layers whose sum is 0 are skipped).
Higher is better. BN in train mode, PyTorch's default init, cross-entropy on real training images.

Batches: the paper computes the statistics over two batches; here the zero-cost minibatch is
split into two halves (B = 2, or the harness's split count if CUDA ran out of memory), each
half's gradient computed from zero. The official snippet omits ``zero_grad`` between batches and
so accumulates gradients; this follows the paper's definition (independent per-batch gradients).
Not in NASLib's reference file: no agreement check is possible.
"""
from __future__ import annotations

import math

from nb201.lazy import torch
from nb201.lazy import F
from nb201.lazy import nn

from .harness import Batch, weight_grad, weighted_layers, zero_cost


@zero_cost("zico", grad=True, cost_s=0.65,
           description="ZiCo: sum over layers of log sum mean|g|/std(g) across batches (Li et al. 2023)")
def zico(net: nn.Module, batch: Batch) -> float:
    """sum_l log sum_w mean_b|g_bw| / std_b(g_bw) over two halves of the minibatch."""
    groups = max(2, batch.splits)
    layers = weighted_layers(net)
    grads: list[list[torch.Tensor]] = [[] for _ in layers]
    n = len(batch)
    for k in range(groups):
        lo, hi = k * n // groups, (k + 1) * n // groups
        net.zero_grad()
        F.cross_entropy(net(batch.x[lo:hi]), batch.y[lo:hi]).backward()
        for i, m in enumerate(layers):
            grads[i].append(weight_grad(m).detach().reshape(-1).double())
    score = 0.0
    for per_batch in grads:
        g = torch.stack(per_batch)
        std = g.std(dim=0, unbiased=False)
        keep = std != 0
        total = float((g.abs().mean(dim=0)[keep] / std[keep]).sum())
        if total != 0:
            score += math.log(total)
    return score
