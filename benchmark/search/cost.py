"""What a search is charged for each fitness query: the one place where charges are added up.

What one read costs is the proxy's to say (:meth:`nb201.api.Proxy.charge`, a
:class:`~nb201.api.Charge`, with its basis in words: :meth:`~nb201.api.Proxy.charge_basis`).
Every fitness value is read from a *schedule*: a run that costs ``seconds`` in full and is read
after ``upto`` of its ``of`` epochs. Reading it costs the epochs trained so far, pro rata; reading
the same schedule of the same arch again, later in the run (a later ``@m``), costs only the extra
epochs; reading it at an epoch already paid for costs nothing (the search keeps what it learnt).

- Training proxies (``c8r4s8e6@2``): the schedule is the run's spec (``c8r4s8e6``); ``seconds`` is
  the stored run's seconds per trained epoch times the ``m`` epochs read (``Proxy.cost``; runs
  stop at the epoch read and continue later), with ``upto = of = m``; ``@2`` then ``@4`` of one
  arch's run is charged 2 epochs, then 2 more.
- Table proxies that stand for NB201 training (``charge_epochs``): the schedule is NB201's
  ``charge_epochs``-epoch run; ``seconds`` is that share of NB201's recorded 200-epoch training
  time of the arch. Different schedules never continue each other (NB201's 12- and 200-epoch runs
  are separate cosine schedules).
- Everything else (zero-cost proxies, params, ...): its measured seconds, ``upto = of = 1``.
- A one-off cost (``Charge.setup``: a learned proxy's labels, bought when its first prediction is
  read) is paid once per search run, with the first read that names it.
"""
from __future__ import annotations

from nb201.api import Charge


def increment(charge: Charge, done: float) -> float:
    """Seconds to go from ``done`` epochs of ``charge.schedule`` (already paid in this run) to
    ``charge.upto``: the schedule's seconds pro rata to the extra epochs (0 if none)."""
    extra = max(0.0, charge.upto - done)
    return charge.seconds * extra / charge.of if charge.of > 0 else 0.0


def from_scratch(charge: Charge) -> float:
    """What reading ``charge`` would cost with nothing paid before (a restarted run)."""
    return increment(charge, 0.0)


class Ledger:
    """Per search run: how far each (schedule, arch) has been paid for."""

    def __init__(self):
        self._done: dict[tuple[str, int], float] = {}
        self._setups: set[str] = set()

    def quote(self, index: int, charge: Charge) -> float:
        """The seconds this read would add now (nothing is recorded)."""
        setup = charge.setup_s if charge.setup and charge.setup not in self._setups else 0.0
        return setup + increment(charge, self._done.get((charge.schedule, index), 0.0))

    def pay(self, index: int, charge: Charge) -> None:
        key = (charge.schedule, index)
        self._done[key] = max(self._done.get(key, 0.0), charge.upto)
        if charge.setup:
            self._setups.add(charge.setup)
