"""The results store: one SQLite file, one row per
(proxy, proxy version, dataset, data source, arch index, seed). All of the suite's SQL is here.

Rows are written in one transaction per finished arch or fused batch, so a killed run keeps
what it finished and never leaves half a batch; ``ON CONFLICT DO NOTHING`` on the primary key
means a rerun never duplicates a row, unless the runner asks to replace rows (a training run that
was continued further). NaN scores are stored as NULL and read back as NaN. Unfinished training
runs keep their state in files in :attr:`Store.runs_dir`, beside the database.
:func:`read_scores` is the one way stored outcomes become per-arch scores.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .api import Outcome, Proxy
from .errors import UserError

DEFAULT_PATH = Path("results") / "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    proxy TEXT NOT NULL, version INTEGER NOT NULL, dataset TEXT NOT NULL, source TEXT NOT NULL,
    arch_index INTEGER NOT NULL, seed INTEGER NOT NULL,
    score REAL, curve TEXT, seconds REAL NOT NULL, device TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL,
    parts TEXT, segments TEXT,
    PRIMARY KEY (proxy, version, dataset, source, arch_index, seed)
)"""


@dataclass(frozen=True)
class Key:
    """Everything that identifies a row except the arch index."""

    proxy: str
    version: int
    dataset: str
    source: str
    seed: int


@dataclass(frozen=True)
class Selection:
    """Which stored results to read: one proxy (as the registry names it) on one dataset. None
    means "whatever is stored" (every source, arch or seed); ``command`` scores the same alone."""

    proxy: str
    dataset: str
    source: str | None = None
    indices: tuple[int, ...] | None = None
    seeds: tuple[int, ...] | None = None
    command: str | None = None


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


def _encode(values: list[float] | None) -> str | None:
    return None if values is None else json.dumps([_finite_or_none(v) for v in values])


def _decode(text) -> list[float] | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    return [math.nan if v is None else v for v in json.loads(text)]


def _outcome(score, seconds, curve, parts, segments=None) -> Outcome:
    return Outcome(score=math.nan if score is None or score != score else float(score),
                   seconds=float(seconds), curve=_decode(curve), parts=_decode(parts),
                   segments=None if not isinstance(segments, str) else json.loads(segments))


class Store:
    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
            for column in ("parts", "segments"):   # stores written before these columns
                if column not in columns:
                    self.db.execute(f"ALTER TABLE results ADD COLUMN {column} TEXT")
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"cannot open results store {self.path}: {err}") from None

    def get(self, key: Key, indices: list[int]) -> dict[int, Outcome]:
        """Stored outcomes for those arch indices (missing ones are absent)."""
        found: dict[int, Outcome] = {}
        wanted = sorted(set(indices))
        for start in range(0, len(wanted), 900):  # SQLite's limit on bound parameters
            chunk = wanted[start:start + 900]
            rows = self.db.execute(
                f"SELECT arch_index, score, seconds, curve, parts, segments FROM results WHERE proxy=? "
                f"AND version=? AND dataset=? AND source=? AND seed=? "
                f"AND arch_index IN ({','.join('?' * len(chunk))})",
                (key.proxy, key.version, key.dataset, key.source, key.seed, *chunk))
            for index, *values in rows:
                found[index] = _outcome(*values)
        return found

    @property
    def runs_dir(self) -> Path:
        """Where training proxies keep the state of unfinished runs: ``<store>.runs/`` beside it."""
        return self.path.with_name(self.path.name + ".runs")

    def put(self, key: Key, results: dict[int, Outcome], *, device: str, git: str,
            suite_version: str, config: dict, replace: bool = False) -> None:
        """Write one finished batch atomically; rows already present are kept as they are, or
        replaced with ``replace`` (a run that was continued)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        config_json = json.dumps(config, sort_keys=True)
        rows = [(key.proxy, key.version, key.dataset, key.source, index, key.seed,
                 _finite_or_none(o.score), _encode(o.curve), o.seconds, device, git,
                 suite_version, config_json, now, _encode(o.parts),
                 None if o.segments is None else json.dumps(o.segments))
                for index, o in results.items()]
        conflict = ("DO UPDATE SET score=excluded.score, curve=excluded.curve, "
                    "seconds=excluded.seconds, device=excluded.device, git=excluded.git, "
                    "suite_version=excluded.suite_version, config=excluded.config, "
                    "created=excluded.created, parts=excluded.parts, segments=excluded.segments"
                    if replace else "DO NOTHING")
        with self.db:
            self.db.executemany(
                "INSERT INTO results (proxy, version, dataset, source, arch_index, seed, score, "
                "curve, seconds, device, git, suite_version, config, created, parts, segments) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
                f"(proxy, version, dataset, source, arch_index, seed) {conflict}", rows)

    def frame(self) -> pd.DataFrame:
        """Every row as a DataFrame, with each row's decoded :class:`Outcome` in ``outcome``."""
        frame = pd.read_sql_query("SELECT * FROM results", self.db)
        frame["outcome"] = [_outcome(*row) for row in zip(
            frame["score"], frame["seconds"], frame["curve"], frame["parts"], frame["segments"])]
        return frame

    def seconds_per_arch(self, key: Key, device: str) -> tuple[float, int]:
        """Mean stored seconds per arch of this proxy version's rows on ``key.dataset`` and
        ``device`` (every source and seed), and how many rows that mean is over."""
        mean, count = self.db.execute(
            "SELECT AVG(seconds), COUNT(*) FROM results WHERE proxy=? AND version=? AND dataset=? "
            "AND device=?", (key.proxy, key.version, key.dataset, device)).fetchone()
        return (mean or 0.0), count

    def mean_seconds(self, device: str) -> list[tuple[str, int, float]]:
        """(proxy, version, mean seconds per arch) of every (proxy, version, dataset) on ``device``."""
        return self.db.execute("SELECT proxy, version, AVG(seconds) FROM results WHERE device=? "
                               "GROUP BY proxy, version, dataset", (device,)).fetchall()

    def close(self) -> None:
        self.db.close()


def read_scores(proxy: Proxy, per_seed: list[dict[int, Outcome]], indices
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per arch of ``indices``: the proxy's score and its compute seconds (:meth:`Proxy.cost`)
    summed over seeds.

    ``per_seed`` holds each seed's stored outcomes. Each seed's outcomes of ``indices`` are read
    together through :meth:`Proxy.combine` (set-level proxies rank within this set); an arch's
    score is the mean over the seeds that hold it (NaN if any of them is NaN, +-inf kept: the
    suite ranks every non-finite score last)."""
    indices = list(indices)
    values = np.full((len(per_seed), len(indices)), np.nan)
    present = np.zeros(values.shape, dtype=bool)
    seconds = np.zeros(len(indices))
    for k, outcomes in enumerate(per_seed):
        have = [j for j, i in enumerate(indices) if i in outcomes]
        if not have:
            continue
        held = [outcomes[indices[j]] for j in have]
        values[k, have] = np.asarray(proxy.combine(held), dtype=float)
        present[k, have] = True
        seconds[have] += [proxy.cost(o) for o in held]
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(present.any(axis=0),
                          np.sum(np.where(present, values, 0.0), axis=0) / present.sum(axis=0),
                          np.nan)
    return scores, seconds
