"""The strategy interface, its options, and the registry of strategies by name.

A strategy is a small frozen dataclass whose fields are the options it reads. Its :meth:`run`
gets four things and nothing else: ``ask(level, indices)`` (fitness values of NB201 indices at a
level of its ladder, oriented so that higher is better, charged against the budget; it raises
:class:`~benchmark.search.loop.BudgetSpent` when the budget is spent), ``moves`` (drawing and
mutating archs: :class:`~benchmark.search.moves.Moves`), a seeded ``rng`` and its ladder (the
levels :meth:`levels` made of ``--fitness``). It never sees the
truth: the observer, which the run loop owns, is the only holder of it. Which arch a search would
return at any moment is decided by the loop, by one rule for every strategy: the best fitness at
the highest level of the ladder that has been read.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nb201.errors import UserError
from .ladder import Ladder

Ask = Callable[[int, list[int]], list[float]]


@dataclass(frozen=True)
class Options:
    """Every strategy option, with its default; a strategy keeps the ones it has fields for."""

    population: int = 10
    sample_size: int = 3
    unique: bool = False
    zc_proxy: str = "synflow"
    pool: int = 3000
    zc_move: bool = False
    age: int = 10

    def check(self) -> Options:
        if self.population < 1:
            raise UserError(f"--population must be >= 1, got {self.population}")
        if not 1 <= self.sample_size <= self.population:
            raise UserError(f"--sample-size must be between 1 and --population ({self.population}), "
                            f"got {self.sample_size}")
        if self.pool < 1:
            raise UserError(f"--pool must be >= 1, got {self.pool}")
        if self.age < 1:
            raise UserError(f"--age must be >= 1, got {self.age}")
        return self


@dataclass(frozen=True)
class Strategy:
    """Base class. Subclasses set ``name``, ``source`` and ``summary`` and implement :meth:`levels`
    (the ladder they read, from ``--fitness``) and :meth:`run`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    source: ClassVar[str] = ""
    #: options named in the search's label even at their default
    labelled: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_options(cls, options: Options) -> Strategy:
        return cls(**{f.name: getattr(options, f.name) for f in dataclasses.fields(cls)})

    def options(self) -> dict:
        """The options this strategy reads (part of a stored search's identity)."""
        return dataclasses.asdict(self)

    def levels(self, fitness: Ladder) -> Ladder:
        """The ladder this strategy reads (default: ``--fitness``, which must be one proxy)."""
        return fitness.single(self.name)

    def run(self, ask: Ask, moves, rng: np.random.Generator, ladder: Ladder) -> None:
        """Search until ``ask`` raises (budget spent); ``ladder`` is :meth:`levels`' result."""
        raise NotImplementedError


@dataclass
class StrategyRegistry:
    """Strategies by name. Refuses duplicate names and suggests the closest name on a typo."""

    _classes: dict[str, type[Strategy]] = field(default_factory=dict)

    def register(self, cls: type[Strategy]) -> type[Strategy]:
        if not cls.name:
            raise ValueError(f"{cls.__name__} has no name")
        if cls.name in self._classes:
            raise ValueError(f"a strategy named {cls.name!r} is already registered")
        self._classes[cls.name] = cls
        return cls

    def get(self, name: str) -> type[Strategy]:
        if name in self._classes:
            return self._classes[name]
        close = difflib.get_close_matches(name, list(self._classes), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown strategy {name!r}{hint} (choose from {', '.join(self._classes)})")

    def __iter__(self) -> Iterator[type[Strategy]]:
        return iter(self._classes.values())

    def names(self) -> list[str]:
        return list(self._classes)


STRATEGIES = StrategyRegistry()
