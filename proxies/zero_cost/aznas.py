"""AZ-NAS: Lee and Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search",
CVPR 2024 (code: cvlab-yonsei/AZ-NAS ``NB201/ZeroShotProxy/compute_az_nas_score.py`` and the
rank aggregation of ``NB201/tss_general.ipynb``).

Four components per arch, from the features F_0 (stem output) and F_1..F_L (every cell's and
reduction block's output) of one batch of Gaussian inputs, with Kaiming-normal (fan-in, ReLU)
conv/linear weights, BN weight 1 and bias 0, BN in train mode:

* expressivity  sum_l H(F_l): H the entropy of the normalised eigenvalues of the channel
  covariance of F_l (samples: every image and position);
* progressivity min_l H(F_l) - H(F_{l-1});
* trainability  mean_l 2 - s_l - 1/(s_l + 1e-6), s_l the largest singular value of the average
  outer product between a random +-1 gradient at F_l and its back-propagation to F_{l-1} (after
  pixel-unshuffle where the resolution halves); -inf for a block that is the identity, as in
  the reference; a block whose input is outside the autograd graph (a cell that outputs the
  constant zero, e.g. one whose output node has only ``none`` inputs) back-propagates zero, as
  the reference's ``none`` op (``x * 0``) does;
* complexity    FLOPs of the network.

The AZ-NAS score of an arch is defined within the scored set: sum over the four components of
log(rank / n), ranks ascending (average ranks for ties) among the n archs scored together. Each
arch's stored row holds its four components (``Outcome.parts``); the runner combines them.
Non-finite components rank last (the suite's NaN/inf policy; the reference maps NaN to -inf).
Higher is better. Data: Gaussian noise of the zero-cost batch size (the reference feeds random
inputs to AZ-NAS). Eigenvalues are computed in float64 (the reference: float32). Not in NASLib's
reference file: no agreement check is possible.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from nb201.lazy import torch
from nb201.lazy import nn

from nb201.api import REGISTRY

from .harness import Batch, RankedProxy

COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")


def kaiming_fan_in_init(net: nn.Module) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def block_features(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The stem's output and the output of every cell and reduction block, in order."""
    feats = [net.stem(x)]
    for block in net.cells:
        feats.append(block(feats[-1]))
    return feats


def _entropy(feature: torch.Tensor) -> float:
    b, c, h, w = feature.shape
    f = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c).double()
    f = f - f.mean(dim=0, keepdim=True)
    s = torch.linalg.eigvalsh(f.T @ f / f.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def _trainability(f_in: torch.Tensor, f_out: torch.Tensor) -> float:
    g_out = (torch.bernoulli(torch.full_like(f_out, 0.5)) - 0.5) * 2
    g_in = None
    if f_out.requires_grad and f_in.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -float("inf")
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    bo, co, ho, wo = g_out.shape
    mat = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).T @ \
        g_out.permute(0, 2, 3, 1).reshape(-1, co) / (bo * ho * wo)
    s = float(torch.linalg.svdvals(mat.double()).max())
    return -s - 1 / (s + 1e-6) + 2


def az_components(net: nn.Module, batch: Batch) -> tuple[float, float, float, float]:
    """(expressivity, progressivity, trainability, complexity) of one network."""
    from nb201.network import count_flops
    feats = block_features(net, batch.x)
    entropies = np.array([_entropy(f) for f in feats])
    expressivity = float(entropies.sum())
    progressivity = float(np.min(entropies[1:] - entropies[:-1]))
    trainability = float(np.mean([_trainability(feats[i - 1], feats[i])
                                  for i in reversed(range(1, len(feats)))]))
    complexity = count_flops(net, batch.resolution)
    fix = [v if v == v else -float("inf") for v in (expressivity, progressivity, trainability)]
    return (*fix, complexity)


@dataclasses.dataclass(frozen=True)
class AZNAS(RankedProxy):
    def aggregate(self, components: np.ndarray) -> np.ndarray:
        from scipy import stats
        n = components.shape[1]
        return np.sum([np.log(stats.rankdata(c) / n) for c in components], axis=0)


REGISTRY.register(AZNAS(
    "az-nas", "zero-cost", version=2, cost_s=0.95,
    description="AZ-NAS: sum of log rank/n of expressivity, progressivity, trainability and "
                "FLOPs within the scored set (Lee and Ham 2024)",
    fn=az_components, bn="train", grad=True, inputs="gaussian", init=kaiming_fan_in_init,
    components=COMPONENTS))
