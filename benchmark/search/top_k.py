"""``top-k``: rank archs by a cheap proxy, then read only the top of that ranking with the
trusted one: the baseline a ladder of proxies has to beat.

Level 0 reads every arch of the space (``--unique``: NB201's 6,466 isomorphism classes), or
``COUNT[0]`` distinct random ones, in a random order; each level i above reads the best
``COUNT[i]`` of level i-1's reads, best first. Ties keep the random order, so runs differ only in
how ties are broken (the parameter count ties often: cells that differ in parameter-free ops).
The search then ends (or earlier, when the budget is spent), and returns the best arch at the
highest level read. ``--fitness params,nb201-12ep-valid:64``: the 64 largest archs, each read at
NB201's 12-epoch validation accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nb201.errors import UserError

from .ladder import Ladder
from .strategy import STRATEGIES, Strategy


@STRATEGIES.register
@dataclass(frozen=True)
class TopK(Strategy):
    name = "top-k"
    summary = "read every arch (or COUNT[0]) at level 0, then the best COUNT[i] at level i"
    source = "baseline: a filter by the cheap level, no evolution"

    unique: bool

    def levels(self, fitness: Ladder) -> Ladder:
        if any(level.count is None for level in fitness.levels[1:]):
            raise UserError(f"strategy 'top-k' needs a count at every level above the first, "
                            f"e.g. params,nb201-12ep-valid:64; got {str(fitness)!r}")
        return fitness

    def run(self, ask, moves, rng, ladder: Ladder) -> None:
        first = ladder.levels[0].count or moves.size
        archs = moves.sample(rng, min(first, moves.size), distinct=True)
        for level, spec in enumerate(ladder.levels):
            archs = archs if level == 0 else archs[:spec.count]
            order = np.argsort(-np.asarray(ask(level, archs)), kind="stable")
            archs = [archs[int(i)] for i in order]
