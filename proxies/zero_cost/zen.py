"""Zen-score: Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition",
ICCV 2021 (code: idstcv/ZenNAS ``compute_zen_score.py``; NASLib ``measures/zen.py``).

With every conv/linear weight drawn from N(0, 1) (BN weight 1, bias 0), Gaussian inputs x and
a perturbation eps ~ N(0, 1), the score is
log E_n[ sum |f(x) - f(x + 0.01 eps)| ] + sum over BN layers of log sqrt(mean running_var),
f the pre-global-pooling feature map (after the head's BN and ReLU). BN in train mode, so both
forward passes update the running variances from their initial 1 with momentum 0.1, exactly as
the reference code reads them. Higher is better. Data: Gaussian noise (no images), the batch
size of the zero-cost minibatch.

Every BN layer counts, including the cells' ones. NASLib's NB201 cells use BN with
``track_running_stats=False``; its reference values (75-276 on CIFAR-10) are only reachable with
the cells' BN layers counted, so its runs saw running variances there as well.
"""
from __future__ import annotations

from nb201.lazy import torch
from nb201.lazy import nn

from .harness import Batch, zero_cost


def gaussian_init(net: nn.Module) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def pre_pool_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map the head pools: BN and ReLU applied, before global average pooling."""
    return net.head[:2](net.cells(net.stem(x)))


@zero_cost("zen", inputs="gaussian", init=gaussian_init, cost_s=0.4,
           description="Zen-score: log feature sensitivity to input noise + BN scaling (Lin et al. 2021)")
def zen(net: nn.Module, batch: Batch) -> float:
    """log mean_n sum |f(x) - f(x + 0.01 eps)| + sum_BN log sqrt(mean running_var)."""
    x = batch.x
    mixed = x + 0.01 * torch.randn_like(x)
    delta = (pre_pool_features(net, x) - pre_pool_features(net, mixed)).abs()
    score = torch.log(delta.sum(dim=(1, 2, 3)).mean())
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
            score = score + torch.log(torch.sqrt(m.running_var.mean()))
    return float(score)
