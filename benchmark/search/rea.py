"""``rea``: regularized (aging) evolution, as NB201's paper ran it.

A population of ``population`` random archs, each evaluated; then every cycle draws
``sample_size`` members with replacement, mutates the fittest of them (one edge's op changed,
uniformly over the 24 neighbours), evaluates the child, appends it and removes the oldest member.

Source: Real et al., "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019
(Algorithm 1); NB201's settings (population 10, sample 3, 12-epoch validation accuracy as fitness,
12,000 s) from Dong & Yang, ICLR 2020 (AutoDL-Projects ``exps/algos/R_EA.py``). NB201's own
mutation picks a node, then one of its incoming edges (so the edge into node 1 is mutated a third
of the time); here every edge is equally likely.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .strategy import STRATEGIES, Strategy


def evolve(ask, moves, rng, population: deque, sample_size: int, level: int, mutate) -> None:
    """Aging evolution on ``population`` (a deque of (score, index), oldest first), forever."""
    while True:
        picks = rng.integers(len(population), size=sample_size)
        parent = max((population[int(p)] for p in picks), key=lambda m: m[0])[1]
        child = mutate(parent)
        population.append((ask(level, [child])[0], child))
        population.popleft()


@STRATEGIES.register
@dataclass(frozen=True)
class RegularizedEvolution(Strategy):
    name = "rea"
    summary = "aging evolution: tournament of sample_size, one-edge mutation, oldest dies"
    source = "Real et al. 2019; NB201's settings (Dong & Yang 2020)"

    population: int
    sample_size: int
    unique: bool

    def run(self, ask, moves, rng, ladder) -> None:
        members: deque = deque()
        for index in moves.sample(rng, self.population):
            members.append((ask(0, [index])[0], index))
        evolve(ask, moves, rng, members, self.sample_size, 0, lambda p: moves.mutate(p, rng))
