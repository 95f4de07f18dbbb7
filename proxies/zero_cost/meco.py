"""MeCo: Jiang et al., "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
Eigenvalue of Correlation", NeurIPS 2023 (code: HamsterMimi/MeCo ``correlation/NAS_Bench_201.py``).

One real training image (the first of the zero-cost minibatch) goes through the network once.
For the output of every module (each one the forward pass calls, containers included, as the
reference registers a hook on every named module), the C x (H*W) feature map of that image
gives a C x C correlation matrix between channels (NaN and inf entries set to 0); MeCo is the
sum of the minimum eigenvalues. Higher is better. BN in train mode (statistics of the single
image's feature maps), PyTorch's default init, no gradients.

The module tree is this suite's NB201 network: the reference's tree wraps ReLU-Conv-BN and
pooling ops in one more module, so some feature maps are counted once here and twice there.
Not in NASLib's reference file: no agreement check is possible.
"""
from __future__ import annotations

from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, zero_cost


def _min_eigenvalue(feature: torch.Tensor) -> float:
    rows = feature.reshape(feature.shape[0], -1).double()
    if rows.shape[1] < 2:   # one value per channel: no correlation defined, all entries set to 0
        return 0.0
    corr = torch.corrcoef(rows)
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros_like(corr))
    return float(torch.linalg.eigvalsh(corr)[0])


@zero_cost("meco", n_inputs=1, cost_s=0.1,
           description="MeCo: sum of minimum eigenvalues of channel correlations (Jiang et al. 2023)")
def meco(net: nn.Module, batch: Batch) -> float:
    """sum over module outputs of lambda_min(corr of the first image's channels)."""
    values: list[float] = []

    def record(module, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        values.append(_min_eigenvalue(out[0]))

    handles = [m.register_forward_hook(record) for m in net.modules()]
    try:
        net(batch.x[:1])
    finally:
        for h in handles:
            h.remove()
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    return float(sum(finite))
