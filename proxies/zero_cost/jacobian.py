"""Proxies on the Jacobian of the network's summed output with respect to its input images.

* jacov: Mellor et al., "Neural Architecture Search without Training", ICML 2021 (arXiv v1, the
  Jacobian covariance score); as used by Abdelfattah et al., ICLR 2021 (``jacob_cov``) and NASLib.
  With J the (N, 3HW) matrix of per-image input gradients of sum(logits) and C its correlation
  matrix (N x N), jacov = -sum_i [log(lambda_i + k) + 1 / (lambda_i + k)], k = 1e-5, over C's
  eigenvalues. Higher is better (the maximum, -N, is reached when the images' Jacobians are
  uncorrelated).
* epe_nas: Lopes et al., "EPE-NAS: Efficient Performance Estimation Without Training for Neural
  Architecture Search", ICANN 2021 (code: VascoLopes/EPE-NAS; NASLib ``measures/epe_nas.py``).
  For each class c present in the batch, s_c = sum log(|corr(J_c)| + k) over the entries of the
  correlation matrix of that class's Jacobians; with at most 100 classes the score is
  sum_c |s_c|; with more (ImageNet16-120) it is sum_{c, c'} |s_c/n_c - s_c'/n_c'| / #classes,
  n_c the class's image count. A class with one image contributes log(1 + k) (<= 100 classes)
  or is skipped (> 100 classes), as in the reference code. Higher is better.

Both: BN in train mode, one minibatch of real training images, PyTorch's default init. An arch
whose output does not depend on its input has a zero Jacobian: the correlations and the score
are NaN (ranked last by the suite's policy; NASLib stores -1e8).
"""
from __future__ import annotations

import numpy as np
from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, zero_cost

K = 1e-5


def input_jacobian(net: nn.Module, batch: Batch) -> np.ndarray:
    """(N, 3*H*W) float64: row n is d sum(net(x))/d x_n (the gradient of the summed logits)."""
    rows = []
    for x, _, _ in batch.parts():
        x = x.detach().clone().requires_grad_(True)
        out = net(x)
        (g,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
        rows.append(torch.zeros_like(x) if g is None else g)
    return torch.cat(rows).reshape(len(batch), -1).double().cpu().numpy()


def _corrcoef(rows: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.corrcoef(rows)


@zero_cost("jacov", grad=True, cost_s=0.5,
           description="Jacobian covariance score of Mellor et al. 2021 (v1), as in NASLib")
def jacov(net: nn.Module, batch: Batch) -> float:
    """-sum(log(lambda + k) + 1/(lambda + k)) over the eigenvalues of corr(J)."""
    corr = _corrcoef(input_jacobian(net, batch))
    if not np.isfinite(corr).all():
        return float("nan")
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))


def epe_score(jacobian: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    per_class = {}
    for c in np.unique(labels):
        rows = jacobian[labels == c]
        if len(rows) < 2:
            if num_classes > 100:
                continue   # the reference code fails on len() of a scalar and skips the class
            per_class[c] = float(np.log(1.0 + K))
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            s = float(np.sum(np.log(np.abs(_corrcoef(rows)) + K)))
        per_class[c] = s / len(rows) if num_classes > 100 else s
    values = np.array(list(per_class.values()))
    if num_classes <= 100:
        return float(np.sum(np.abs(values)))
    if len(values) == 0:
        return float("nan")
    return float(np.abs(values[:, None] - values[None, :]).sum() / len(values))


@zero_cost("epe_nas", grad=True, cost_s=0.5,
           description="EPE-NAS per-class Jacobian correlation score (Lopes et al. 2021)")
def epe_nas(net: nn.Module, batch: Batch) -> float:
    """sum over classes of |sum log(|corr(J_c)| + k)| (see the module docstring).

    Below the agreement target: Spearman 0.874 with NASLib on the 320 fixture archs (target
    0.9). Unlike grasp and plain, noise explains only part of the gap: on the first 100 archs
    our own seed s vs s + 1 agree at 0.939, ours vs NASLib there 0.854; scoring each arch with
    its own seed, as NASLib's runner, agrees 0.894 with our run and 0.871 with NASLib's. Our
    median is 5% lower (1410 vs 1488). Known differences, not tested: the images (our embedded
    CIFAR-10 is a lossy JPEG copy; NASLib reads the official batches, and its CIFAR-10 training
    transform adds a random crop and flip, ``naslib/utils/utils.py``; ours is unaugmented);
    epe_nas splits the 64 images by class (about 6 a class), so it depends on which images more
    than jacov does (0.941).
    (``tools/validate_zero_cost.py --ceiling 100 --per-arch-seeds 100 --scales``.)
    """
    return epe_score(input_jacobian(net, batch), batch.y.cpu().numpy(), batch.num_classes)
