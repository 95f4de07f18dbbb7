"""The results store: one SQLite file, one row per
(proxy, proxy version, dataset, data source, arch index, seed).

Rows are written in one transaction per finished arch or fused batch, so a killed run keeps
what it finished and never leaves half a batch; ``ON CONFLICT DO NOTHING`` on the primary key
means a rerun never duplicates a row. NaN scores are stored as NULL and read back as NaN.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .errors import UserError
from .registry import Outcome

DEFAULT_PATH = Path("results") / "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    proxy TEXT NOT NULL, version INTEGER NOT NULL, dataset TEXT NOT NULL, source TEXT NOT NULL,
    arch_index INTEGER NOT NULL, seed INTEGER NOT NULL,
    score REAL, curve TEXT, seconds REAL NOT NULL, device TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL,
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


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


class Store:
    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
        except (OSError, sqlite3.DatabaseError) as err:
            raise UserError(f"cannot open results store {self.path}: {err}") from None

    def get(self, key: Key, indices: list[int]) -> dict[int, Outcome]:
        """Stored outcomes for those arch indices (missing ones are absent)."""
        found: dict[int, Outcome] = {}
        wanted = sorted(set(indices))
        for start in range(0, len(wanted), 900):  # SQLite's limit on bound parameters
            chunk = wanted[start:start + 900]
            rows = self.db.execute(
                f"SELECT arch_index, score, seconds, curve FROM results WHERE proxy=? AND version=? "
                f"AND dataset=? AND source=? AND seed=? AND arch_index IN ({','.join('?' * len(chunk))})",
                (key.proxy, key.version, key.dataset, key.source, key.seed, *chunk))
            for index, score, seconds, curve in rows:
                found[index] = Outcome(score=math.nan if score is None else score, seconds=seconds,
                                       curve=None if curve is None else [
                                           math.nan if c is None else c for c in json.loads(curve)])
        return found

    def put(self, key: Key, results: dict[int, Outcome], *, device: str, git: str,
            suite_version: str, config: dict) -> None:
        """Write one finished batch atomically; rows already present are kept as they are."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        config_json = json.dumps(config, sort_keys=True)
        rows = [(key.proxy, key.version, key.dataset, key.source, index, key.seed,
                 _finite_or_none(o.score),
                 None if o.curve is None else json.dumps([_finite_or_none(c) for c in o.curve]),
                 o.seconds, device, git, suite_version, config_json, now)
                for index, o in results.items()]
        with self.db:
            self.db.executemany(
                "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
                "(proxy, version, dataset, source, arch_index, seed) DO NOTHING", rows)

    def frame(self) -> pd.DataFrame:
        """Every row, as a DataFrame (for reports)."""
        return pd.read_sql_query("SELECT * FROM results", self.db)

    def close(self) -> None:
        self.db.close()


# ------------------------------------------------------------------ search runs

SEARCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    digest TEXT NOT NULL, seed INTEGER NOT NULL, run INTEGER NOT NULL,
    strategy TEXT NOT NULL, fitness TEXT NOT NULL, dataset TEXT NOT NULL, truth TEXT NOT NULL,
    label TEXT NOT NULL, spec TEXT NOT NULL, result TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (digest, seed, run)
)"""


class SearchRuns:
    """Finished search runs, in the results store's SQLite file (table ``searches``): one row per
    (options digest, seed, run) with the search's spec and the run's result as JSON. A row is
    written when its run has finished, so a killed search resumes at the first missing run."""

    def __init__(self, store: Store):
        self.store = store
        with store.db:
            store.db.execute(SEARCH_SCHEMA)

    def get(self, digest: str, seed: int, runs: list[int]) -> dict[int, dict]:
        """Stored results of those runs (missing runs are absent)."""
        wanted = set(runs)
        rows = self.store.db.execute("SELECT run, result FROM searches WHERE digest=? AND seed=?",
                                     (digest, seed))
        return {run: json.loads(result) for run, result in rows if run in wanted}

    def put(self, digest: str, seed: int, run: int, spec: dict, result: dict, *, git: str,
            suite_version: str) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.store.db:
            self.store.db.execute(
                "INSERT INTO searches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
                "(digest, seed, run) DO NOTHING",
                (digest, seed, run, spec["strategy"], spec["fitness"], spec["dataset"],
                 spec["truth"], spec["label"], json.dumps(spec, sort_keys=True),
                 json.dumps(result, allow_nan=False), git, suite_version, now))

    def frame(self) -> pd.DataFrame:
        """Every stored run, as a DataFrame (``spec`` and ``result`` as JSON text)."""
        return pd.read_sql_query("SELECT * FROM searches ORDER BY digest, seed, run", self.store.db)
