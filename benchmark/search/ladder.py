"""Fitness ladders: ``--fitness`` as one proxy, a ladder of proxies, or a preset name.

Syntax: ``NAME[:COUNT],NAME[:COUNT],...`` from the cheapest level to the most trusted, e.g.
``synflow:64,nb201-12ep-valid:8,nb201-200ep-valid:2`` or one training schedule read at several
epochs, ``c4r4s0e60@20:16,c4r4s0e60@40:8,c4r4s0e60@60:4``. ``COUNT`` is how many archs the
``econas`` strategy evaluates at that level per cycle (new children at the first level, the best
of the level below at the others); for ``top-k``, how many archs a level reads in all (random ones
at the first level, default: all; the best of the level below at the others). A name alone is a
one-level ladder. A proxy appears at one level only (one schedule read at several epochs is
several proxies). Proxy names are checked against the registry by the caller
(``benchmark.search.fitness``), not here.
"""
from __future__ import annotations

import re

from dataclasses import dataclass

from nb201.errors import UserError

#: Named ladders (``--fitness NAME``).
PRESETS = {
    # EcoNAS's hierarchical proxy (search/main.py of its code): 16 children per cycle trained to
    # epoch 20 of a 60-epoch schedule, the best 8 continued to 40, the best 4 to 60
    "econas": "c4r4s0e60@20:16,c4r4s0e60@40:8,c4r4s0e60@60:4",
    # the same shape at a size this 2-core CPU trains in minutes
    "econas-tiny": "c8r4s8e6@2:8,c8r4s8e6@4:4,c8r4s8e6@6:2",
    # computable from the shipped table plus one zero-cost proxy
    "table": "synflow:64,nb201-12ep-valid:8,nb201-200ep-valid:1",
}


@dataclass(frozen=True)
class Level:
    proxy: str
    count: int | None = None

    def __str__(self) -> str:
        return self.proxy if self.count is None else f"{self.proxy}:{self.count}"


@dataclass(frozen=True)
class Ladder:
    levels: tuple[Level, ...]

    def __str__(self) -> str:
        return ",".join(map(str, self.levels))

    def __len__(self) -> int:
        return len(self.levels)

    def names(self) -> list[str]:
        return [level.proxy for level in self.levels]

    def single(self, strategy: str) -> Ladder:
        """This ladder if it is one proxy without a count; else a UserError naming ``strategy``."""
        if len(self.levels) != 1 or self.levels[0].count is not None:
            raise UserError(f"strategy {strategy!r} takes one proxy as --fitness, not the ladder "
                            f"{str(self)!r} (ladders are for econas and top-k)")
        return self

    def distinct(self) -> Ladder:
        """This ladder unless a proxy name appears at two levels (a UserError). One schedule read
        at several epochs (``c4r4s0e60@20``, ``c4r4s0e60@40``) is several names, and allowed."""
        names = self.names()
        twice = next((n for k, n in enumerate(names) if n in names[:k]), None)
        if twice is not None:
            raise UserError(f"bad ladder {str(self)!r}: the proxy {twice!r} appears twice (give "
                            f"each proxy at one level)")
        return self

    def with_counts(self, default: int) -> Ladder:
        return Ladder(tuple(Level(v.proxy, default if v.count is None else v.count)
                            for v in self.levels))


def parse(text: str) -> Ladder:
    """A ladder from ``--fitness``: a preset name, ``NAME[:COUNT],...``, or one name. Names may
    hold colons (``naslib:synflow``, ``learned:gbm:200:graph``): only a last ``:`` followed by
    a number (or nothing) is a count."""
    text = PRESETS.get(text.strip(), text.strip())
    if not text:
        raise UserError("--fitness is empty: give a proxy name, a ladder or a preset "
                        f"({', '.join(PRESETS)})")
    levels = []
    for part in text.split(","):
        name, sep, count = part.strip().rpartition(":")
        if not sep or not re.fullmatch(r"\s*[-+.\d]*\s*", count):
            name, sep, count = part.strip(), "", ""       # the colon is the name's
        name = name.strip()
        if not name:
            raise UserError(f"bad ladder {text!r}: empty level in {part!r} "
                            f"(syntax NAME[:COUNT],...)")
        if sep and not (count.strip().isdigit() and int(count) > 0):
            raise UserError(f"bad ladder {text!r}: the count of {name!r} must be a positive "
                            f"integer, got {count!r}")
        levels.append(Level(name, int(count) if sep else None))
    return Ladder(tuple(levels)).distinct()
