"""The proxy interface: :class:`Proxy`, :class:`Outcome`, the one :class:`Registry` and the
:class:`Context` the harness hands a proxy.

A proxy scores a batch of archs and returns one :class:`Outcome` per arch. The harness (the
runner) decides batching, caching and bookkeeping; proxies stay small and pure. Proxies are
registered by name at import time of their module (``proxies/__init__.py`` imports them all); a
*family* resolves names that follow a pattern (e.g. EcoNAS training specs like ``c4r4s0e40@20``).
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from .datasets import load_dataset
from .errors import UserError

KINDS = ("table", "zero-cost", "training")
#: what a proxy's cost is, by kind
COST_KIND = {"table": "lookup", "zero-cost": "forward/backward passes", "training": "training"}


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

    def combine(self, outcomes: list[Outcome]) -> list[float]:
        """The scores of a set of archs scored together (default: each one's :meth:`read`).
        Proxies defined by ranks within the scored set (AZ-NAS, vote) override it."""
        return [self.read(o) for o in outcomes]

    def describe(self) -> dict:
        """What a proxy is, for listings and reports: name, kind, direction, version, cost kind
        (what ``cost_s`` counts); families add their own keys (training: its EcoNAS ``factors``,
        c, r, s, e, b, m, each >= 1)."""
        return {"name": self.name, "kind": self.kind, "higher_is_better": self.higher_is_better,
                "version": self.version, "cost": COST_KIND[self.kind]}


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

    def copy(self) -> Registry:
        """A registry with the same proxies and families, to add to without touching this one."""
        return Registry(dict(self._proxies), list(self._families))


REGISTRY = Registry()


# ---------------------------------------------------------------- what a proxy may read

def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available here")
    return torch.device(name)


#: Seeds are stored as SQLite integers (signed 64-bit) and seed numpy's generators (non-negative).
MAX_SEED = 2 ** 63 - 1


def check_seed(seed: int, what: str = "seed") -> int:
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"{what} must be between 0 and 2**63-1, got {seed}")
    return seed


@lru_cache(maxsize=4)
def _load(dataset: str, data_dir: str | None):
    return load_dataset(dataset, data_dir)


@dataclass(frozen=True)
class Context:
    """Everything a proxy may read besides the archs it scores.

    ``fuse``: networks trained at once (None: the engine's choice); ``amp``: None or ``bf16``;
    ``zc_batch``: images in the zero-cost minibatch. ``full_curve``: training proxies evaluate after
    every epoch they train (default: only after the epochs read); ``state_dir``: where training
    proxies keep each unfinished run's state, so that a later request continues it and a killed
    run resumes (the runner sets it beside the store). Neither changes a score.
    """

    dataset: str
    seed: int = 0
    device: torch.device = torch.device("cpu")
    data_dir: str | None = None
    fuse: int | None = None
    amp: str | None = None
    zc_batch: int = 64
    full_curve: bool = False
    state_dir: str | None = None

    def __post_init__(self):
        """Bad values are UserErrors here, before anything is computed."""
        check_seed(self.seed)
        if self.fuse is not None and self.fuse < 1:
            raise UserError(f"fuse (--fuse) must be a positive number of networks, got {self.fuse}")
        if self.zc_batch < 1:
            raise UserError(f"zc_batch (--zc-batch) must be a positive number of images, "
                            f"got {self.zc_batch}")
        if self.amp not in (None, "bf16"):
            raise UserError(f"amp (--amp) must be bf16, got {self.amp!r}")
        if self.amp is not None and torch.device(self.device).type != "cuda":
            raise UserError(f"amp {self.amp} (--amp) is CUDA autocast; this run is on "
                            f"{torch.device(self.device).type}")

    @property
    def images(self):
        """The dataset's images (:class:`nb201.datasets.ImageData`), loaded once per process."""
        return _load(self.dataset, self.data_dir)

    def with_seed(self, seed: int) -> Context:
        return dataclasses.replace(self, seed=seed)
