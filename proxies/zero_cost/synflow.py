"""SynFlow: Tanaka et al., "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020; as a NAS proxy, Abdelfattah et al., ICLR 2021 (code:
SamsungLabs/zero-cost-nas ``measures/synflow.py``; NASLib keeps it).

Definition: take |theta| for every parameter, remove BatchNorm (BN mode ``off``: NASLib's
``bn=False`` makes every BN a no-op), feed one all-ones input, back-propagate R = sum of the
outputs, and sum |theta * dR/dtheta| over the weights of every conv and linear layer.

Overflow: the raw sum reaches ~1e50 on NB201 (C=16, N=5), beyond float32 for larger networks,
so the network runs in float64 and the score is stored as its natural log, as NASLib's
``ZeroCost`` predictor does (``log(score)``). The log keeps the ranking of the raw SynFlow. A sum
of 0 (no path from input to output) gives -inf, ranked last by the suite's NaN/inf policy.
Sign convention: higher is better. Data: none (the input is all ones).
"""
from __future__ import annotations

import math

from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, weight_grad, weighted_layers, zero_cost


@zero_cost("synflow", grad=True, bn="off", inputs="none", double=True, cost_s=0.05,
           description="log of SynFlow sum |theta * dR/dtheta|, |theta|, no BN, all-ones input, "
                       "float64 (Tanaka et al. 2020)")
def synflow(net: nn.Module, batch: Batch) -> float:
    """log sum |theta * dR/dtheta| over conv/linear weights, R = sum of outputs for a ones input."""
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    net(torch.ones_like(batch.x[:1])).sum().backward()
    with torch.no_grad():
        total = float(sum((m.weight * weight_grad(m)).abs().sum() for m in weighted_layers(net)))
    return math.log(total) if total > 0 else -math.inf
