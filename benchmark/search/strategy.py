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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nb201.errors import UserError
from nb201.registry import Registry
from .ladder import Ladder

Ask = Callable[[int, list[int]], list[float]]


def _option(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Options:
    """Every strategy option, declared once: its default and its help text (the search command's
    flags and the keys of ``[[search]]`` tables are made from these fields). A strategy's dataclass
    names the ones it reads, without defaults."""

    population: int = _option(10, "rea, zc-warmup: population size")
    sample_size: int = _option(3, "rea, zc-warmup: tournament size")
    unique: bool = _option(False, "search NB201's 6,466 isomorphism classes instead of its 15,625 "
                                  "cells")
    zc_proxy: str = _option("synflow", "zc-warmup: the zero-cost proxy")
    pool: int = _option(3000, "zc-warmup: archs scored by --zc-proxy")
    zc_move: bool = _option(False, "zc-warmup: mutate to the best neighbour by --zc-proxy 75%% "
                                   "of the time")
    age: int = _option(10, "econas: cycles without an update after which an arch leaves the "
                           "pools")

    def check(self) -> Options:
        for f in dataclasses.fields(self):      # what the flags' types enforce, for the API too
            value, kind = getattr(self, f.name), type(f.default)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                what = {int: "an integer", bool: "true or false"}.get(kind, "a name")
                raise UserError(f"--{f.name.replace('_', '-')} must be {what}, got {value!r}")
        if self.population < 1:
            raise UserError(f"--population must be >= 1, got {self.population}")
        if not 1 <= self.sample_size <= self.population:
            raise UserError(f"--sample-size must be between 1 and --population "
                            f"({self.population}), got {self.sample_size}")
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

    def max_reads(self, level: int) -> float:
        """At most how many archs one run reads at ``level`` whatever its budget (for a plan's
        estimate; default: no bound of its own)."""
        return math.inf

    def run(self, ask: Ask, moves, rng: np.random.Generator, ladder: Ladder) -> None:
        """Search until ``ask`` raises (budget spent); ``ladder`` is :meth:`levels`' result."""
        raise NotImplementedError


#: the strategies, by name (``benchmark/search/__init__.py`` imports the modules that fill it)
STRATEGIES: Registry[type[Strategy]] = Registry("strategy", lambda cls: cls.name)
