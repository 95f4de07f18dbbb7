"""vote: the majority vote of synflow, jacov and snip of Abdelfattah et al., "Zero-Cost Proxies for
Lightweight NAS", ICLR 2021 (code: SamsungLabs/zero-cost-nas,
``notebooks/nasbench201_correlations.ipynb``, "Voting between 3 metrics").

The reference defines the vote on pairs: arch i is predicted better than arch j when at least
two of the three proxies score i strictly higher than j (its ``vote`` counts positive score
differences, ``numpos >= 3/2``), and reports the share of pairs it orders like the truth. To rank
a set of archs, each arch's vote score here is its Copeland score in that tournament: the
number of other archs of the scored set it beats by majority, divided by n - 1. Ranking by it
orders every pair the majority orders when the majority relation has no cycles.

Each arch's stored row holds its three component scores (``Outcome.parts``: synflow, jacov, snip,
each computed exactly as that proxy, in its own BN mode and inputs); the runner combines them.
Non-finite component scores rank last (the suite's NaN/inf policy). Higher is better.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from nb201.api import REGISTRY

from .harness import RankedProxy, ZeroCostProxy

COMPONENTS = ("synflow", "jacov", "snip")


def copeland(components: np.ndarray, block: int = 512) -> np.ndarray:
    """(m, n) scores, higher better -> for each arch the share of the others that a strict
    majority of the m scores rates lower."""
    m, n = components.shape
    wins = np.zeros(n)
    for lo in range(0, n, block):
        rows = components[:, lo:lo + block, None] > components[:, None, :]   # (m, b, n)
        wins[lo:lo + block] = (2 * rows.sum(axis=0) > m).sum(axis=1)
    return wins / max(n - 1, 1)


@dataclasses.dataclass(frozen=True)
class Vote(RankedProxy):
    components: tuple[ZeroCostProxy, ...] = ()

    def value(self, arch, index, ctx):
        parts = [dataclasses.replace(p, channels=self.channels, cells=self.cells)
                 for p in self.components]
        return tuple(p.value(arch, index, ctx) for p in parts)

    def fingerprint(self, ctx) -> dict:
        return {**super().fingerprint(ctx),
                "components": [(p.name, p.version) for p in self.components]}

    def aggregate(self, components: np.ndarray) -> np.ndarray:
        return copeland(components)


REGISTRY.register(Vote(
    "vote", "zero-cost", version=2, cost_s=1.15, inputs="images",
    components=tuple(REGISTRY.get(name) for name in COMPONENTS),
    description="majority vote of synflow, jacov and snip (Abdelfattah et al. 2021) as a "
                "Copeland score within the scored set"))
