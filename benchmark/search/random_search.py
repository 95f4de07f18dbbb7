"""``random``: draw archs uniformly (with replacement, as NB201's random search does; over
isomorphism classes with ``--unique``), evaluate each, return the best by fitness.

Source: Bergstra & Bengio, JMLR 2012; run on NB201 as in Dong & Yang, ICLR 2020 (AutoDL-Projects
``exps/algos/RANDOM.py``)."""
from __future__ import annotations

from dataclasses import dataclass

from .strategy import STRATEGIES, Strategy

BATCH = 32  # archs drawn per ask (the loop charges them one at a time)


@STRATEGIES.register
@dataclass(frozen=True)
class RandomSearch(Strategy):
    name = "random"
    summary = "uniform random archs, the best by fitness"
    source = "Bergstra & Bengio 2012; NB201 (Dong & Yang 2020)"

    unique: bool

    def run(self, ask, moves, rng, ladder) -> None:
        while True:
            ask(0, moves.sample(rng, BATCH))
