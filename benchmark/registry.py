"""The one registry of proxies, and the Proxy interface every proxy implements.

A proxy scores a batch of archs and returns one :class:`Outcome` per arch. The harness (the
runner) decides batching, caching and bookkeeping; proxies stay small and pure. Proxies are
registered by name at import time of their module (``proxies/__init__.py`` imports them all); a
*family* resolves names that follow a pattern (e.g. EcoNAS training specs like ``c4r4s0e40@20``).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .errors import UserError

KINDS = ("table", "zero-cost", "training")


@dataclass
class Outcome:
    """What a proxy returns for one arch. ``curve`` is a per-epoch score curve (training proxies);
    ``seconds`` is the compute time attributed to this arch."""

    score: float
    seconds: float = 0.0
    curve: list[float] | None = None


@dataclass(frozen=True)
class Proxy:
    """Base class. Subclasses set the metadata fields and implement :meth:`score`.

    - ``kind``: table | zero-cost | training.
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
            raise ValueError(f"proxy {self.name}: kind must be one of {KINDS}, got {self.kind!r}")

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
        raise NotImplementedError

    def read(self, outcome: Outcome) -> float:
        """This proxy's score from a stored outcome (default: the stored score)."""
        return outcome.score

    def combine(self, outcomes: list[Outcome]) -> list[float]:
        """The scores of a set of archs scored together (default: each one's :meth:`read`).
        Proxies defined by ranks within the scored set (AZ-NAS, vote) override it."""
        return [self.read(o) for o in outcomes]

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "higher_is_better": self.higher_is_better,
                "version": self.version}


@dataclass
class Registry:
    """Proxies by name. Refuses duplicate names and suggests the closest name on a typo."""

    _proxies: dict[str, Proxy] = field(default_factory=dict)
    _families: list[tuple[str, Callable[[str], Proxy | None]]] = field(default_factory=list)

    def register(self, proxy: Proxy) -> Proxy:
        if proxy.name in self._proxies:
            raise ValueError(f"a proxy named {proxy.name!r} is already registered")
        self._proxies[proxy.name] = proxy
        return proxy

    def family(self, pattern: str, factory: Callable[[str], Proxy | None]) -> None:
        """Register a factory for names that no fixed proxy has; ``pattern`` is shown to users."""
        self._families.append((pattern, factory))

    def get(self, name: str) -> Proxy:
        if name in self._proxies:
            return self._proxies[name]
        for _, factory in self._families:
            proxy = factory(name)
            if proxy is not None:
                return proxy
        close = difflib.get_close_matches(name, list(self._proxies), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        patterns = "".join(f" or {p}" for p, _ in self._families)
        raise UserError(f"unknown proxy {name!r}{hint} (see `python -m benchmark proxies`{patterns})")

    def __iter__(self) -> Iterator[Proxy]:
        return iter(self._proxies.values())

    def __contains__(self, name: str) -> bool:
        return name in self._proxies

    def names(self) -> list[str]:
        return list(self._proxies)

    def patterns(self) -> list[str]:
        return [p for p, _ in self._families]


REGISTRY = Registry()
