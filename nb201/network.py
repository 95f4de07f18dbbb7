"""NAS-Bench-201's own network: a stem, three stages of N cells joined by residual reduction
blocks, and a BN-ReLU-pool-linear head. Only the chosen edges of a cell are built.

With C=16 and N=5 the parameter count equals NB201's ``params`` for every arch and class count.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .space import Arch


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


#: One factory per op, all with the signature (channels) -> Module. ``none`` builds nothing.
OP_FACTORIES = {
    "skip_connect": lambda c: nn.Identity(),
    "nor_conv_1x1": lambda c: ReLUConvBN(c, c, 1),
    "nor_conv_3x3": lambda c: ReLUConvBN(c, c, 3),
    "avg_pool_3x3": lambda c: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
}


class Cell(nn.Module):
    """An NB201 cell (channels kept, stride 1): node j sums its incoming edges; node 3 is the output.

    As in NB201, every non-none edge runs, also one whose source node is zero (a ReLU-Conv-BN on
    zeros outputs its BN bias, which trains); a node with no non-none incoming edge is zero."""

    def __init__(self, arch: Arch, channels: int):
        super().__init__()
        self.arch = arch
        self.edges = [(j, i) for j, i, op in arch.edges if op != "none"]
        self.ops = nn.ModuleList(OP_FACTORIES[op](channels) for _, _, op in arch.edges if op != "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (j, i), op in zip(self.edges, self.ops):
            src = nodes[i] if nodes[i] is not None else torch.zeros_like(x)
            nodes[i] = src
            y = op(src)
            nodes[j] = y if nodes[j] is None else nodes[j] + y
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """NB201's reduction block: ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN, shortcut AvgPool2x2 + Conv1x1."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Network(nn.Module):
    def __init__(self, arch: Arch, channels: int = 16, cells: int = 5, num_classes: int = 10):
        super().__init__()
        self.arch = arch
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(Cell(arch, c) for _ in range(cells))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled pre-classifier features."""
        return self.head(self.cells(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_params(model: nn.Module) -> float:
    """Trainable parameters in millions (NB201's ``params``)."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def count_flops(model: nn.Module, resolution: int) -> float:
    """Forward FLOPs in millions for one 3 x resolution x resolution image, as torch's
    ``FlopCounterMode`` counts them: 2 per multiply-add of every conv and linear layer; BN, ReLU,
    pooling and additions are not counted. Multiply-adds are half of this number."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, resolution, resolution, device=device))
    model.train(was_training)
    return counter.get_total_flops() / 1e6
