"""The proxy interface: :class:`Proxy`, :class:`Outcome`, :class:`Charge` and the registry of
proxies (:data:`REGISTRY`, a :class:`nb201.registry.Registry`). Torch-free: what a proxy reads when
it computes (:class:`nb201.context.Context`) lives in its own module.

A proxy scores a batch of archs and returns one :class:`Outcome` per arch. The harness (the
runner) decides batching, caching and bookkeeping; proxies stay small and pure. Proxies are
registered by name at import time of their module (``proxies/__init__.py`` imports them all); a
*family* resolves names that follow a pattern (e.g. EcoNAS training specs like ``c4r4s0e40@20``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .commands import command_line
from .registry import Registry


@dataclass(frozen=True)
class Kind:
    """What a kind of proxy implies, asked through the proxy (:attr:`Proxy.lookup`, ...) rather
    than by testing its kind's name."""

    name: str
    #: what its ``cost_s`` counts (``describe()``'s "cost")
    cost: str
    #: read, not computed: free, on no device; a search reads it for every arch at once, and an
    #: executor reads it in the driver (cheaper than a task)
    lookup: bool = False
    #: reads other proxies' scores through the runner (``Context.scores``), so it is computed in
    #: the driver's process, never by an executor
    reads_scores: bool = False


#: the kinds, cheapest first (a plan's order among equal estimates: :attr:`Proxy.cost_rank`)
KINDS = {k.name: k for k in (
    Kind("table", "lookup", lookup=True),
    Kind("zero-cost", "forward/backward passes"),
    Kind("training", "training"),
    Kind("learned", "its features per arch, its labels once", reads_scores=True),
)}


@dataclass
class Outcome:
    """What a proxy returns for one arch. ``curve`` is a per-epoch score curve (training proxies;
    NaN after epochs that were not evaluated); ``parts`` are component scores that
    :meth:`Proxy.combine` turns into scores within a scored set (AZ-NAS, vote); ``seconds`` is the
    compute time attributed to this arch; ``segments`` (training proxies) is one
    ``[from epoch, to epoch, seconds]`` per stretch of training behind it (a run continued later
    has several)."""

    score: float
    seconds: float = 0.0
    curve: list[float] | None = None
    parts: list[float] | None = None
    segments: list[list[float]] | None = None


def _real(value) -> bool:
    """A real number (NaN and +-inf included): an int or float, numpy's too, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def _reals(values) -> bool:
    return isinstance(values, (list, tuple, np.ndarray)) and all(_real(v) for v in values)


def outcome_problem(outcome) -> str:
    """What makes ``outcome`` something the store cannot hold, in words ("" if nothing): it must be
    an :class:`Outcome` whose score is a real number (NaN and +-inf are scores: the suite ranks
    them last), whose seconds are a finite number >= 0, whose curve and parts are lists of real
    numbers (or None) and whose segments are [from, to, seconds] triples of numbers (or None). The
    one rule for what a proxy may return (the runner checks every outcome before it is stored) and
    for what a stored row may hold (a row that breaks it is skipped when read)."""
    if not isinstance(outcome, Outcome):
        return f"returned {type(outcome).__name__} {_short(outcome)}, not an Outcome"
    if not _real(outcome.score):
        return f"its score {_short(outcome.score)} is not a number"
    if not (_real(outcome.seconds) and math.isfinite(outcome.seconds) and outcome.seconds >= 0):
        return f"its seconds {_short(outcome.seconds)} are not a finite number >= 0"
    for name in ("curve", "parts"):
        values = getattr(outcome, name)
        if values is not None and not _reals(values):
            return f"its {name} {_short(values)} is not a list of numbers"
    segments = outcome.segments
    if segments is not None and not (isinstance(segments, (list, tuple)) and all(
            _reals(s) and len(s) == 3 for s in segments)):
        return f"its segments {_short(segments)} are not [from, to, seconds] triples"
    return ""


def plain(outcome: Outcome) -> Outcome:
    """A checked outcome (:func:`outcome_problem` is "") with Python floats only (what SQLite
    binds; numpy's float32 it does not)."""
    def floats(values):
        return None if values is None else [float(v) for v in values]
    return Outcome(float(outcome.score), float(outcome.seconds), floats(outcome.curve),
                   floats(outcome.parts),
                   None if outcome.segments is None else [floats(s) for s in outcome.segments])


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Charge:
    """How a search pays for one fitness value: it is read from a *schedule* (a run that costs
    ``seconds`` in full) after ``upto`` of its ``of`` epochs. Reading a schedule further later in a
    search run pays only the extra epochs (``benchmark.search.cost``). ``setup``/``setup_s``: a
    one-off cost paid once per search run, with the first read that names it (a learned proxy's
    labels); "" for none."""

    schedule: str
    upto: float
    of: float
    seconds: float
    setup: str = ""
    setup_s: float = 0.0


@dataclass(frozen=True)
class Proxy:
    """Base class. Subclasses set the metadata fields and implement :meth:`score`.

    - ``kind``: table | zero-cost | training | learned (:data:`KINDS`); what it implies is asked
      through :attr:`lookup`, :attr:`reads_scores` and :attr:`cost_rank`.
    - ``version``: bump it whenever the proxy's behaviour changes; cached rows of other versions
      are then ignored (only this proxy's rows).
    - ``cost_s``: rough seconds per arch on a 2-core CPU, for estimates printed before a run.
    - ``needs_images``: whether scoring reads the dataset's images (else the data source is
      ``source``).
    """

    name: str
    kind: str
    higher_is_better: bool = True
    version: int = 1
    cost_s: float = 0.0
    needs_images: bool = False
    source: str = "nb201-table"
    description: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"proxy {self.name}: kind must be one of {tuple(KINDS)}, got "
                             f"{self.kind!r}")

    @property
    def lookup(self) -> bool:
        """Whether its scores are read, not computed (:attr:`Kind.lookup`: table proxies)."""
        return KINDS[self.kind].lookup

    @property
    def reads_scores(self) -> bool:
        """Whether it reads other proxies' scores, so is computed in the driver's process
        (:attr:`Kind.reads_scores`: learned proxies)."""
        return KINDS[self.kind].reads_scores

    @property
    def cost_rank(self) -> int:
        """The position of its kind in :data:`KINDS`, cheapest first."""
        return list(KINDS).index(self.kind)

    @property
    def store_name(self) -> str:
        """The name its rows are stored under. Proxies that read one stored run in several ways
        (``c4r4s0e40@20`` and ``@15`` read one 40-epoch run) share a store name."""
        return self.name

    def check(self, dataset: str) -> None:
        """Raise UserError if this proxy cannot score archs on ``dataset`` (called before anything
        is computed; default: it can)."""

    def chunk_size(self, ctx) -> int:
        """How many archs the runner hands to :meth:`score` at once (and commits together)."""
        return 1

    def score(self, archs: list, indices: list[int], ctx) -> list[Outcome]:
        """One :class:`Outcome` per arch, in order (the runner checks them with
        :func:`outcome_problem` before anything is stored)."""
        raise NotImplementedError

    def origin(self) -> str:
        """The module whose code computes this proxy's scores (default: its class's): the suite's
        own, or a plugin's, which the runner names when that code fails."""
        return type(self).__module__

    def read(self, outcome: Outcome) -> float:
        """This proxy's score from a stored outcome (default: the stored score)."""
        return outcome.score

    def data_source(self, ctx) -> str:
        """The readable name of what the scores are computed from: the dataset's images, or what
        the proxy reads instead (``source``)."""
        return ctx.images.source if self.needs_images else self.source

    def fingerprint(self, ctx) -> dict:
        """Everything that changes this proxy's scores on ``ctx`` besides the arch: the store keys
        each row by its digest, so a stored score is served only for the exact computation that
        made it. Families add their options (zero-cost: batch, network, harness and device class;
        training: the whole recipe, engine version, amp, device class)."""
        out = {"proxy": self.store_name, "version": self.version, "dataset": ctx.dataset,
               "seed": ctx.seed, "source": self.data_source(ctx)}
        if self.needs_images:
            out["images"] = ctx.images.digest
        return out

    def covers(self, outcome: Outcome) -> bool:
        """Whether a stored outcome holds what :meth:`read` needs (default: yes). A training proxy's
        stored run may not have reached, or not have evaluated, the epoch it reads: the runner then
        computes it again and stores :meth:`merge` of the two."""
        return True

    def merge(self, stored: Outcome, new: Outcome) -> Outcome:
        """The row to keep when ``new`` was computed because ``stored`` did not cover this proxy
        (default: ``new``)."""
        return new

    def joined(self, others: list[Proxy]) -> Proxy:
        """The proxy that computes one stored run for all of ``others`` (names sharing this store
        name, e.g. ``c4r4s0e40@20`` and ``c4r4s0e40``: one run evaluated after epochs 20 and 40).
        Default: this one."""
        return self

    def cost(self, outcome: Outcome) -> float:
        """The compute seconds behind this proxy's read of a stored outcome (default: all of the
        outcome's seconds; a training proxy read at ``@m`` counts the epochs up to m)."""
        return outcome.seconds

    def charge(self, index: int, seconds: float, dataset: str) -> Charge:
        """What a search is charged for reading this proxy's score of arch ``index`` on
        ``dataset``; ``seconds`` is :meth:`cost` of its stored outcome. Default: those measured
        seconds, as a one-step schedule of its own (see :meth:`charge_basis`)."""
        return Charge(self.store_name, 1, 1, seconds)

    def charge_basis(self) -> str:
        """In words, what :meth:`charge` charges (shown with a search's levels)."""
        return "measured seconds (stored with the score)"

    def excluded(self, seed: int) -> frozenset[int]:
        """Archs this proxy must not be judged on at ``seed`` (a learned proxy's training archs:
        their labels were its input); scorecards and reports leave them out. Default: none."""
        return frozenset()

    def setup(self, ctx) -> tuple[str, float] | None:
        """A one-off cost of this proxy on ``ctx``, not per arch: (what, seconds), or None (the
        default). A learned proxy's labels: a search pays it once, with its first read."""
        return None

    def combine(self, outcomes: list[Outcome]) -> list[float]:
        """The scores of a set of archs scored together (default: each one's :meth:`read`).
        Proxies defined by ranks within the scored set (AZ-NAS, vote) override it."""
        return [self.read(o) for o in outcomes]

    def describe(self) -> dict:
        """What a proxy is, for listings and reports: name, kind, direction, version, cost kind
        (what ``cost_s`` counts); families add their own keys (training: its EcoNAS ``factors``,
        c, r, s, e, b, m, each >= 1)."""
        return {"name": self.name, "kind": self.kind, "higher_is_better": self.higher_is_better,
                "version": self.version, "cost": KINDS[self.kind].cost}


def proxy_registry() -> Registry[Proxy]:
    """An empty registry of proxies (by :attr:`Proxy.name`)."""
    return Registry("proxy", lambda p: p.name, listing=f"see `{command_line('proxies')}`")


#: every proxy, by name (``proxies/__init__.py`` imports the modules that fill it)
REGISTRY = proxy_registry()
