"""NTK condition number: Chen et al., "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective" (TE-NAS), ICLR 2021 (code: VITA-Group/TENAS ``lib/procedures/
ntk.py``).

The empirical neural tangent kernel of one minibatch at initialisation, Theta = J J^T, J the
gradients of each image's summed logits with respect to every conv and linear weight (N x P);
the score is its condition number lambda_max / lambda_min. Lower is better (a well-conditioned
NTK trains faster); a singular kernel gives inf, ranked last. BN in train mode, as the
reference; PyTorch's default init; 32 real training images (the reference: one batch per
repeat, condition numbers averaged over 3 repeats; here one). The dearest zero-cost proxy: one
backward pass through the whole batch's graph per image (on a 2-core AMD EPYC with other jobs of
ours running, load average 5: 2.6 s per arch on average over the 8 archs of ``--sample 8 --seed
0`` on CIFAR-100, 0.5-4.9 s; arch 6111 10.2 s). Batching the 32 backward passes
(``torch.autograd.grad(..., is_grads_batched=True)``) gave the same Jacobian no faster on a CPU.
"""
from __future__ import annotations

from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, weighted_layers, zero_cost


@zero_cost("ntk_cond", higher_is_better=False, grad=True, n_inputs=32, cost_s=5.0,
           description="condition number of the empirical NTK at init (TE-NAS, Chen et al. 2021)")
def ntk_cond(net: nn.Module, batch: Batch) -> float:
    """lambda_max / lambda_min of J J^T, J the per-image gradients of the summed logits."""
    weights = [m.weight for m in weighted_layers(net)]
    logits = net(batch.x)
    rows = []
    for i in range(len(batch)):
        grads = torch.autograd.grad(logits[i].sum(), weights, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(w) if g is None else g).flatten()
                               for w, g in zip(weights, grads)]))
    jac = torch.stack(rows).double()
    eig = torch.linalg.eigvalsh(jac @ jac.T)
    return float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
