"""``zc-warmup``: zero-cost warm-start of regularized evolution.

Score a pool of ``pool`` distinct random archs with a zero-cost proxy (``zc_proxy``: level 0 of
the ladder, each score charged), seed the population with the ``population`` best of the pool
(evaluated with ``--fitness``, level 1), then run :mod:`~benchmark.search.rea`'s aging evolution.
With ``zc_move``, a mutation picks the neighbour with the best zero-cost score 75% of the time
(scoring the 24 neighbours, charged) and a random neighbour otherwise.

Source: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, section 5
(warmup of aging evolution with the top of a 3,000-arch pool; zero-cost move proposal).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .ladder import Ladder, Level
from .rea import evolve
from .strategy import STRATEGIES, Strategy

GUIDED_SHARE = 0.75


@STRATEGIES.register
@dataclass(frozen=True)
class ZeroCostWarmup(Strategy):
    name = "zc-warmup"
    summary = "REA seeded with the zero-cost top of a random pool; optional zero-cost moves"
    source = "Abdelfattah et al. 2021"
    labelled = ("zc_proxy", "pool")

    population: int
    sample_size: int
    zc_proxy: str
    pool: int
    zc_move: bool
    unique: bool

    def levels(self, fitness: Ladder) -> Ladder:
        return Ladder((Level(self.zc_proxy), *fitness.single(self.name).levels)).distinct()

    def max_reads(self, level: int) -> float:
        """Without zc_move, level 0 scores the pool and nothing more."""
        return float(self.pool) if level == 0 and not self.zc_move else math.inf

    def run(self, ask, moves, rng, ladder) -> None:
        pool = moves.sample(rng, min(self.pool, moves.size), distinct=True)
        zc = np.asarray(ask(0, pool))
        top = [pool[i] for i in np.argsort(-zc, kind="stable")[:self.population]]
        members = deque((ask(1, [index])[0], index) for index in top)

        def mutate(parent: int) -> int:
            if self.zc_move and rng.random() < GUIDED_SHARE:
                options = moves.neighbours(parent)
                scores = ask(0, options)
                return options[int(np.argmax(scores))]
            return moves.mutate(parent, rng)

        evolve(ask, moves, rng, members, self.sample_size, 1, mutate)
