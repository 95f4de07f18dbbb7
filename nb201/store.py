"""The results store: one SQLite file, one row per (computation, arch index). All of the suite's
SQL is here.

A computation is identified by the digest of its fingerprint (:meth:`nb201.api.Proxy.
fingerprint`: proxy, version, dataset, seed, the data's content digest, and every option that
changes the value), so a stored score is served only for the exact computation that made it.
The readable fields (proxy, version, dataset, source, seed, the fingerprint itself as ``config``)
are kept beside it, and ``setting`` (the digest without the seed) groups the seeds of one
computation. Rows are written in one transaction per finished arch or fused batch, so a killed
run keeps what it finished and never leaves half a batch; ``ON CONFLICT DO NOTHING`` on the
primary key means a rerun never duplicates a row, unless the runner asks to replace rows (a
training run that was continued further). NaN scores are stored as NULL and read back as NaN.
Unfinished training runs keep their state in files in :attr:`Store.runs_dir`, beside the database.
:func:`read_scores` is the one way stored outcomes become per-arch scores.

Reads also serve the rows of results packs (:mod:`nb201.packs`: the suite's shipped measurements
in ``data/results/``), as if stored, each for exactly the computation that made it; the store's
own rows come first, and nothing is ever written into a pack.

Stores written before rows had these keys (a ``results`` table) are left as they are and
ignored, with a one-line notice: those rows do not record what made them.
"""
from __future__ import annotations

import json
import math
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .api import Outcome, Proxy
from .catalog import DEFAULT_RESULTS
from .errors import UserError
from .numbers import json_number
from .packs import COLUMNS, Pack, shipped
from .provenance import config_digest

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_PATH = DEFAULT_RESULTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    setting TEXT NOT NULL, seed INTEGER NOT NULL, arch_index INTEGER NOT NULL,
    proxy TEXT NOT NULL, version INTEGER NOT NULL, dataset TEXT NOT NULL, source TEXT NOT NULL,
    score REAL, curve TEXT, parts TEXT, segments TEXT, seconds REAL NOT NULL, device TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (setting, seed, arch_index)
);
CREATE INDEX IF NOT EXISTS scores_by_proxy ON scores (proxy, version, dataset)"""
#: the table of stores written before rows were keyed by their fingerprint
LEGACY_TABLE = "results"


@dataclass(frozen=True)
class Key:
    """Everything that identifies a row except the arch index: the readable fields, and the
    fingerprint (canonical JSON) whose digest without the seed is the row's ``setting``."""

    proxy: str
    version: int
    dataset: str
    source: str
    seed: int
    fingerprint: str = ""

    @classmethod
    def of(cls, proxy: Proxy, ctx) -> Key:
        """The key of ``proxy``'s rows on ``ctx`` (its dataset, seed, data and options)."""
        return cls(proxy.store_name, proxy.version, ctx.dataset, proxy.data_source(ctx), ctx.seed,
                   json.dumps(proxy.fingerprint(ctx), sort_keys=True))

    @property
    def config(self) -> dict:
        if self.fingerprint:
            return json.loads(self.fingerprint)
        return {"proxy": self.proxy, "version": self.version, "dataset": self.dataset,
                "source": self.source, "seed": self.seed}

    @cached_property
    def setting(self) -> str:
        """Digest of the fingerprint without the seed: the seeds of one computation share it."""
        rest = {k: v for k, v in self.config.items() if k != "seed"}
        return config_digest(rest)


@dataclass(frozen=True)
class Selection:
    """Which stored results to read: one proxy (as the registry names it) on one dataset. None
    means "whatever is stored" (every source, setting, arch or seed); ``setting`` pins one
    computation (:attr:`Key.setting`); ``command`` scores the same alone."""

    proxy: str
    dataset: str
    source: str | None = None
    indices: tuple[int, ...] | None = None
    seeds: tuple[int, ...] | None = None
    command: str | None = None
    setting: str | None = None


def _encode(values: list[float] | None) -> str | None:
    """A list of numbers as JSON text (non-finite values as null: :mod:`nb201.numbers`)."""
    return None if values is None else json.dumps([json_number(v) for v in values])


def _decode(text) -> list[float] | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    return [math.nan if v is None else v for v in json.loads(text)]


def _outcome(score, seconds, curve, parts, segments=None) -> Outcome:
    return Outcome(score=math.nan if score is None or score != score else float(score),
                   seconds=float(seconds), curve=_decode(curve), parts=_decode(parts),
                   segments=None if not isinstance(segments, str) else json.loads(segments))


def _same(a: tuple, b: tuple) -> bool:
    """Whether two rows' (score, curve, parts) are the same value (NaN scores stored as NULL)."""
    score_a, score_b = (None if v is None or v != v else float(v) for v in (a[0], b[0]))
    return score_a == score_b and a[1:] == b[1:]


_NOTICED: set[Path] = set()


@dataclass
class Tally:
    """What a command took from a store and what it added: rows served from the store's own file
    (``stored``), from results packs (``shipped``, per pack in ``packs``), and rows computed and
    written (``computed``). A row read but recomputed (a training run not yet at the epoch asked
    for) counts as computed only."""

    stored: int = 0
    shipped: int = 0
    computed: int = 0
    packs: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The ``store`` object of every computing command's JSON."""
        return {"served": self.stored + self.shipped, "computed": self.computed,
                "from_store": self.stored, "from_packs": self.shipped, "packs": dict(self.packs)}

    def line(self) -> str:
        return tally_line(self.as_dict())


def tally_line(tally: dict) -> str:
    """:meth:`Tally.as_dict` as one line for stderr, e.g. ``store: 50 rows served (12 from results
    packs: econas-cpu.jsonl.gz 12), 0 computed``."""
    packs = (f" ({tally['from_packs']:,} from results packs: "
             + ", ".join(f"{name} {n:,}" for name, n in sorted(tally["packs"].items())) + ")"
             if tally["from_packs"] else "")
    return (f"store: {tally['served']:,} rows served from the store{packs}, "
            f"{tally['computed']:,} computed now")


class Store:
    """The results store at ``path``: created if missing (unless ``create`` is False, then a
    missing store is a UserError). A store that fails SQLite's ``PRAGMA quick_check`` is refused
    before anything is written into it."""

    def __init__(self, path: str | Path | None = DEFAULT_PATH, create: bool = True,
                 packs: tuple[Pack, ...] | None = None):
        self.path = Path(DEFAULT_PATH if path is None else path)
        self._packs = packs
        self.tally = Tally()
        self._served_from: dict[tuple[str, int, int], str] = {}   # rows get() took from packs
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
            self.db.executescript(SCHEMA)
            legacy = self._legacy_rows()
        except sqlite3.OperationalError as err:     # locked, unwritable, ...
            self.db.close()
            raise UserError(f"cannot open results store {self.path}: {err}") from None
        except sqlite3.DatabaseError as err:        # malformed, not a database
            self.db.close()
            raise self._damaged(str(err)) from None
        if legacy and self.path.resolve() not in _NOTICED:
            _NOTICED.add(self.path.resolve())
            print(f"note: {self.path} holds {legacy:,} rows written before scores were keyed by "
                  f"everything that made them (table {LEGACY_TABLE!r}); they are ignored and "
                  "recomputed when asked for", file=sys.stderr)

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

    def _legacy_rows(self) -> int:
        found = self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                                (LEGACY_TABLE,)).fetchone()
        return self.db.execute(f"SELECT COUNT(*) FROM {LEGACY_TABLE}").fetchone()[0] if found else 0

    @property
    def packs(self) -> tuple[Pack, ...]:
        """The results packs whose rows this store serves (:func:`nb201.packs.shipped` unless
        given), read on first use."""
        if self._packs is None:
            self._packs = shipped()
        return self._packs

    @cached_property
    def _packed(self) -> dict[tuple[str, int, int], tuple[dict, Pack]]:
        """(setting, seed, arch index) -> (row, its pack), the first pack that holds it."""
        out: dict[tuple[str, int, int], tuple[dict, Pack]] = {}
        for pack in self.packs:
            for row in pack.rows:
                out.setdefault((row["setting"], row["seed"], row["arch_index"]), (row, pack))
        return out

    def get(self, key: Key, indices: list[int]) -> dict[int, Outcome]:
        """Stored outcomes for those arch indices (missing ones are absent): the store's rows, else
        a shipped pack's."""
        found: dict[int, Outcome] = {}
        wanted = sorted(set(indices))
        for start in range(0, len(wanted), 900):  # SQLite's limit on bound parameters
            chunk = wanted[start:start + 900]
            rows = self.db.execute(
                f"SELECT arch_index, score, seconds, curve, parts, segments FROM scores "
                f"WHERE setting=? AND seed=? AND arch_index IN ({','.join('?' * len(chunk))})",
                (key.setting, key.seed, *chunk))
            for index, *values in rows:
                found[index] = _outcome(*values)
        if self.packs:
            for index in wanted:
                packed = self._packed.get((key.setting, key.seed, index))
                if index not in found and packed is not None:
                    row = packed[0]
                    self._served_from[(key.setting, key.seed, index)] = packed[1].path.name
                    found[index] = _outcome(row["score"], row["seconds"], row["curve"], row["parts"],
                                            row["segments"])
        return found

    def served(self, key: Key, indices) -> None:
        """Count ``indices`` of ``key`` as served (read by :meth:`get` and used as they were)."""
        for index in indices:
            pack = self._served_from.get((key.setting, key.seed, index))
            if pack is None:
                self.tally.stored += 1
            else:
                self.tally.shipped += 1
                self.tally.packs[pack] = self.tally.packs.get(pack, 0) + 1

    @property
    def runs_dir(self) -> Path:
        """Where training proxies keep the state of unfinished runs: ``<store>.runs/`` beside it."""
        return self.path.with_name(self.path.name + ".runs")

    def put(self, key: Key, results: dict[int, Outcome], *, device: str, git: str,
            suite_version: str, run: dict | None = None, replace: bool = False) -> None:
        """Write one finished batch atomically; rows already present are kept as they are, or
        replaced with ``replace`` (a run that was continued). A row's ``config`` holds the key's
        fingerprint and ``run``: how it was run without changing the value (chunking, data folder)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        config_json = json.dumps({"fingerprint": key.config, "run": run or {}}, sort_keys=True)
        rows = [(key.setting, key.seed, index, key.proxy, key.version, key.dataset, key.source,
                 o.score, _encode(o.curve), _encode(o.parts),   # SQLite: NaN is NULL, inf kept
                 None if o.segments is None else json.dumps(o.segments), o.seconds, device,
                 git, suite_version, config_json, now)
                for index, o in results.items()]
        conflict = ("DO UPDATE SET score=excluded.score, curve=excluded.curve, "
                    "seconds=excluded.seconds, device=excluded.device, git=excluded.git, "
                    "suite_version=excluded.suite_version, config=excluded.config, "
                    "created=excluded.created, parts=excluded.parts, segments=excluded.segments"
                    if replace else "DO NOTHING")
        self.tally.computed += len(rows)
        with self.db:
            self.db.executemany(
                "INSERT INTO scores (setting, seed, arch_index, proxy, version, dataset, source, "
                "score, curve, parts, segments, seconds, device, git, suite_version, config, "
                "created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
                f"(setting, seed, arch_index) {conflict}", rows)

    def frame(self, own: bool = False) -> pd.DataFrame:
        """Every row as a DataFrame, with each row's decoded :class:`Outcome` in ``outcome`` and,
        in ``pack``, the name of the results pack it was served from ("" for the store's own; the
        packs' rows are left out with ``own``)."""
        import pandas as pd
        frame = pd.read_sql_query("SELECT * FROM scores", self.db)
        frame["pack"] = ""
        if self.packs and not own:
            have = set(zip(frame["setting"], frame["seed"], frame["arch_index"]))
            extra = [dict(row, pack=pack.path.name) for key, (row, pack) in self._packed.items()
                     if key not in have]
            if extra:
                frame = pd.concat([frame, pd.DataFrame(extra, columns=list(frame.columns))],
                                  ignore_index=True)
        frame["outcome"] = [_outcome(*row) for row in zip(
            frame["score"], frame["seconds"], frame["curve"], frame["parts"], frame["segments"])]
        return frame

    def rows(self, proxies: list[str] | None = None, dataset: str | None = None) -> list[dict]:
        """The store's own rows (dicts of its columns), of ``proxies`` (stored names) and
        ``dataset`` (None: all), in key order: what a results pack holds."""
        where, args = [], []
        if proxies:
            where.append(f"proxy IN ({','.join('?' * len(proxies))})")
            args += proxies
        if dataset:
            where.append("dataset=?")
            args.append(dataset)
        cursor = self.db.execute("SELECT * FROM scores" + (" WHERE " + " AND ".join(where) if where
                                                           else "") +
                                 " ORDER BY proxy, dataset, setting, seed, arch_index", args)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def merge(self, rows: list[dict]) -> dict:
        """Add rows (a results pack's) in one transaction: a row whose key is stored with the same
        value (score, curve, parts) is skipped, one stored with another value is a conflict (kept
        as stored, and listed), the rest are added. Returns the counts and the conflicts."""
        added, same, conflicts = [], 0, []
        for row in rows:
            stored = self.db.execute(
                "SELECT score, curve, parts FROM scores WHERE setting=? AND seed=? AND arch_index=?",
                (row["setting"], row["seed"], row["arch_index"])).fetchone()
            if stored is None:
                added.append(row)
            elif _same(stored, (row["score"], row["curve"], row["parts"])):
                same += 1
            else:
                conflicts.append({"proxy": row["proxy"], "dataset": row["dataset"],
                                  "seed": row["seed"], "arch_index": row["arch_index"],
                                  "stored": stored[0], "pack": row["score"]})
        columns = list(COLUMNS)
        with self.db:
            self.db.executemany(f"INSERT INTO scores ({', '.join(columns)}) VALUES "
                                f"({','.join('?' * len(columns))})",
                                [tuple(row[c] for c in columns) for row in added])
        return {"added": len(added), "already_stored": same, "conflicts": conflicts}

    def seconds_by_setting(self, device: str) -> dict[tuple[str, int, str], dict[str, list]]:
        """(proxy, version, dataset) -> setting -> the stored seconds of each row computed on
        ``device`` (what the plan's per-arch rates are made of)."""
        rows = list(self.db.execute("SELECT proxy, version, dataset, setting, seconds FROM scores "
                                    "WHERE device=?", (device,)))
        have = {(r[3]) for r in rows}
        rows += [(r["proxy"], r["version"], r["dataset"], r["setting"], r["seconds"])
                 for r, _ in self._packed.values() if r["device"] == device and r["setting"] not in have]
        found: dict[tuple[str, int, str], dict[str, list]] = {}
        for proxy, version, dataset, setting, seconds in rows:
            found.setdefault((proxy, version, dataset), {}).setdefault(setting, []).append(seconds)
        return found

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
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM searches ORDER BY digest, seed, run", self.store.db)


# ------------------------------------------------------------------ finder results

FIND_SCHEMA = """
CREATE TABLE IF NOT EXISTS finds (
    digest TEXT NOT NULL PRIMARY KEY, space TEXT NOT NULL, dataset TEXT NOT NULL,
    seed INTEGER NOT NULL, result TEXT NOT NULL, git TEXT NOT NULL, suite_version TEXT NOT NULL,
    created TEXT NOT NULL
)"""


class FindResults:
    """Results of the proxy finder (``python -m benchmark find``), in the results store's SQLite
    file (table ``finds``): one row per finder configuration (its digest: space, candidates,
    dataset, seed, truth, objective, budget, pool, rule, version), the whole result as JSON with
    its git hash and suite version. A rerun replaces the row (it reads the same stored scores)."""

    def __init__(self, store: Store):
        self.store = store
        with store.db:
            store.db.execute(FIND_SCHEMA)

    def put(self, result: dict) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.store.db:
            self.store.db.execute(
                "INSERT INTO finds VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (digest) DO UPDATE SET "
                "result=excluded.result, git=excluded.git, suite_version=excluded.suite_version, "
                "created=excluded.created",
                (result["digest"], result["space"], result["dataset"], result["seed"],
                 json.dumps(result, allow_nan=False), result["git"], result["suite_version"], now))

    def get(self, digests: list[str] | None = None) -> list[dict]:
        """Stored results (all, or those of ``digests`` in that order, missing ones left out)."""
        rows = dict(self.store.db.execute("SELECT digest, result FROM finds ORDER BY created, digest"))
        wanted = list(rows) if digests is None else [d for d in digests if d in rows]
        return [json.loads(rows[d]) for d in wanted]
