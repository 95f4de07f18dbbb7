"""NASWOT (nwot): Mellor et al., "Neural Architecture Search without Training", ICML 2021 (the
final version's score; code: BayesWatch/nas-without-training; NASLib ``measures/nwot.py``).

Each ReLU's input gives every image a binary code (unit > 0). K = sum over ReLUs of
c c^T + (1 - c)(1 - c)^T (N x N: the number of units on which two images agree), and
nwot = log |det K| (``slogdet``). Higher is better: images that a network tells apart get a
better-conditioned K. BN in train mode (the reference nets run in train mode), one minibatch of
real training images, PyTorch's default init, no gradients.
"""
from __future__ import annotations

from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, zero_cost


@zero_cost("nwot", cost_s=0.45,
           description="NASWOT log|det K| of ReLU activation codes (Mellor et al. 2021)")
def nwot(net: nn.Module, batch: Batch) -> float:
    """log |det K|, K = sum over ReLUs of the Hamming-agreement kernel of the binary codes."""
    n = len(batch)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=batch.x.device)

    def count(module, inputs, output):
        nonlocal kernel
        codes = (inputs[0].reshape(n, -1) > 0).float()
        agree = codes @ codes.T + (1 - codes) @ (1 - codes).T
        kernel = kernel + agree.double()

    handles = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net(batch.x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel.cpu())[1])
