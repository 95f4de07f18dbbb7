"""``econas``: EcoNAS's hierarchical proxy strategy, generalised to a ladder of levels.

Each level is a proxy with a count (``--fitness c4r4s0e60@20:16,c4r4s0e60@40:8,c4r4s0e60@60:4``,
or any ladder; a level read at epoch m of a training schedule continues the run of the level
below, and is charged only the extra epochs: :mod:`benchmark.search.cost`). The search starts from
``count[0]`` random archs read at level 0. Then every cycle:

1. archs not updated (read at a new level) for ``age`` cycles leave the pools; the pools (level
   i's pool: the archs whose highest level read is i) are fixed for the rest of the cycle;
2. parents are drawn first, from these pools, as they stand before this cycle's promotions:
   ``count[0]`` tournaments split over the levels as evenly as possible, lower levels first (16
   over 3 levels: 6, 5, 5; an empty pool gives no parents, so the first cycle draws from level 0
   only); a tournament draws ``len(pool) // 4 + 1`` members with replacement and keeps the best;
3. then the best ``count[i+1]`` archs of level i's pool are read at level i+1 (an arch drawn as a
   parent from level i may be promoted in the same cycle);
4. each parent's child (one edge's op changed) is read at level 0 unless this run has seen it
   already.

The answer is the best arch at the highest level read. Source: Zhou et al., "EcoNAS: Finding
Proxies for Economical Neural Architecture Search", CVPR 2020, and its code (search/main.py:
16 random nets, continue the best 8 of stage 1 and the best 4 of stage 2, 6/5/5 mothers from
tournaments of size len//4+1 in the three stages, nets not updated for 10 iterations age out;
its code labels the initial nets and its first iteration both 0, so its initial nets stay one
iteration longer than here).
"""
from __future__ import annotations

from dataclasses import dataclass

from .ladder import Ladder
from .strategy import STRATEGIES, Strategy

DEFAULT_COUNT = 16


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal integers, the larger ones first (16, 3 -> 6, 5, 5)."""
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


@STRATEGIES.register
@dataclass(frozen=True)
class EcoNAS(Strategy):
    name = "econas"
    summary = "aging evolution over a ladder: the best of each level continue to the next"
    source = "Zhou et al. 2020 (EcoNAS), search/main.py of its code"

    age: int
    unique: bool

    def levels(self, fitness: Ladder) -> Ladder:
        return fitness.with_counts(DEFAULT_COUNT)

    def run(self, ask, moves, rng, ladder: Ladder) -> None:
        counts = [level.count for level in ladder.levels]
        depth = len(counts)
        level_of: dict[int, int] = {}      # arch -> highest level read
        score: dict[int, float] = {}       # arch -> its score at that level
        updated: dict[int, int] = {}       # arch -> cycle of its last read

        def read(level: int, archs: list[int], cycle: int) -> None:
            for arch, value in zip(archs, ask(level, archs)):
                level_of[arch], score[arch], updated[arch] = level, value, cycle

        read(0, list(dict.fromkeys(moves.sample(rng, counts[0]))), 0)
        cycle = 0
        while True:
            cycle += 1
            pools = [sorted((a for a, lv in level_of.items()
                             if lv == level and cycle - updated[a] < self.age),
                            key=lambda a: -score[a]) for level in range(depth)]
            parents = []      # drawn before promotion: stored runs depend on this order
            for pool, n in zip(pools, split(counts[0], depth)):
                if pool:
                    size = len(pool) // 4 + 1
                    parents += [pool[int(rng.integers(len(pool), size=size).min())]
                                for _ in range(n)]
            for level in range(depth - 1):
                read(level + 1, pools[level][:counts[level + 1]], cycle)
            children = [moves.mutate(p, rng) for p in parents]
            children = [c for c in dict.fromkeys(children) if c not in level_of]
            read(0, children, cycle)
