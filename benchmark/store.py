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
    """The results store at ``path``: created if missing (unless ``create`` is False, then a
    missing store is a UserError). A store that fails SQLite's ``PRAGMA quick_check`` is refused
    before anything is written into it."""

    def __init__(self, path: str | Path = DEFAULT_PATH, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"there is no results store at {self.path}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
        except (OSError, sqlite3.Error) as err:
            raise UserError(f"cannot open results store {self.path}: {err}") from None
        try:
            self._check()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
        except sqlite3.OperationalError as err:     # locked, unwritable, ...
            self.db.close()
            raise UserError(f"cannot open results store {self.path}: {err}") from None
        except sqlite3.DatabaseError as err:        # malformed, not a database
            self.db.close()
            raise self._damaged(str(err)) from None

    def _check(self) -> None:
        rows = [row[0] for row in self.db.execute("PRAGMA quick_check")]
        if rows != ["ok"]:
            problems = [line for row in rows for line in row.splitlines()
                        if line.strip() and not line.startswith("***")] or rows
            self.db.close()
            raise self._damaged(f"{problems[0]}; {len(problems)} problem(s) found by quick_check")

    def _damaged(self, problem: str) -> UserError:
        return UserError(f"results store {self.path} is damaged ({problem}) and was left as it is; "
                         f"recover its rows with `sqlite3 {self.path} .dump | sqlite3 "
                         f"recovered.sqlite` and pass --results recovered.sqlite, or move it "
                         f"aside to start a new store")

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
