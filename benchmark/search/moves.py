"""What a strategy may do with archs: draw them at random and mutate them (one edge's op).

Archs are NB201 indices. With ``unique`` the space is NB201's 6,466 isomorphism classes
(``Arch.canonical``), each stood for by its lowest index: draws are uniform over classes and a
mutation lands on the class of the mutated cell. Nothing here reads the truth.
"""
from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np

from nb201 import groundtruth as gt


class Moves:
    def __init__(self, unique: bool = False):
        self.unique = unique

    @cached_property
    def _representative(self) -> np.ndarray:
        """Index -> the lowest index of its isomorphism class."""
        first: dict[str, int] = {}
        return np.array([first.setdefault(gt.arch_of(i).canonical(), i)
                         for i in range(gt.NUM_ARCHS)])

    @cached_property
    def _space(self) -> np.ndarray:
        return (np.unique(self._representative) if self.unique
                else np.arange(gt.NUM_ARCHS))

    @property
    def size(self) -> int:
        return len(self._space)

    def sample(self, rng: np.random.Generator, n: int, distinct: bool = False) -> list[int]:
        """``n`` archs drawn uniformly, with replacement unless ``distinct``."""
        picks = (rng.choice(self.size, size=n, replace=False) if distinct
                 else rng.integers(self.size, size=n))
        return [int(self._space[p]) for p in picks]

    def neighbours(self, index: int) -> list[int]:
        """The archs one edge's op away (24 of them; fewer distinct classes with ``unique``)."""
        out = _neighbours(index)
        if self.unique:
            out = [int(r) for r in dict.fromkeys(self._representative[list(out)]) if r != index]
        return list(out)

    def mutate(self, index: int, rng: np.random.Generator) -> int:
        """A uniformly random neighbour."""
        options = self.neighbours(index)
        return options[int(rng.integers(len(options)))]


@lru_cache(maxsize=None)
def _neighbours(index: int) -> tuple[int, ...]:
    return tuple(gt.index_of(a) for a in gt.arch_of(index).neighbours())
