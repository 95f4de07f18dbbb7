"""l2_norm: the sum over conv and linear layers of the L2 (Frobenius) norm of the initial weights.

A data-free baseline of NAS-Bench-Suite-Zero (Krishnakumar et al., "NAS-Bench-Suite-Zero:
Accelerating Research on Zero Cost Proxies", NeurIPS 2022 Datasets and Benchmarks; NASLib
``measures/l2_norm.py``). It measures, for PyTorch's default initialisation, how many conv/linear
weights a network has and of which fan-in. Sign convention: higher is better. BN: irrelevant
(no forward pass). Data: none.
"""
from __future__ import annotations

from nb201.lazy import nn

from .harness import Batch, weighted_layers, zero_cost


@zero_cost("l2_norm", inputs="none", bn="eval", cost_s=0.02,
           description="sum of the L2 norms of the initial conv/linear weights (NAS-Bench-Suite-Zero)")
def l2_norm(net: nn.Module, batch: Batch) -> float:
    """sum_l ||W_l||_2 over conv and linear layers, at initialisation."""
    return float(sum(m.weight.norm() for m in weighted_layers(net)))
