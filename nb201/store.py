"""The results store: one SQLite file, one row per (computation, arch index). All of the suite's
SQL is here and in :mod:`nb201.store_file` (the file itself: tables, opening, writing).

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

Nothing is written before something is to be stored (:class:`nb201.store_file.StoreFile`): a
store that does not exist yet reads as empty and its file is created by the first write, so a
refused command or a dry run leaves no file behind; a store that cannot be written (a read-only
file, folder or file system) is read, and asking it to store something is a one-line UserError,
as is a write that fails (a full disk: nothing of the batch is stored). A row that cannot be read
(a score that is not a number: what a plugin could store before outcomes were checked,
:func:`nb201.api.outcome_problem`) is skipped with a one-line notice naming ``python -m benchmark
prune``, which deletes such rows (:meth:`Store.prune`).
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .api import Outcome, Proxy, outcome_problem
from .catalog import DEFAULT_RESULTS
from .commands import command_line
from .numbers import json_number
from .packs import COLUMNS, Pack, shipped
from .provenance import config_digest
from .store_file import StoreFile, notice

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_PATH = DEFAULT_RESULTS

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
    values = json.loads(text)
    return [math.nan if v is None else v for v in values] if isinstance(values, list) else values


def _outcome(score, seconds, curve, parts, segments=None) -> Outcome:
    """The outcome of a stored row (NULL scores are NaN); a ValueError saying what is wrong with a
    row that breaks :func:`nb201.api.outcome_problem` (or holds text that is not JSON)."""
    try:
        outcome = Outcome(score=math.nan if score is None or score != score else score,
                          seconds=seconds, curve=_decode(curve), parts=_decode(parts),
                          segments=None if not isinstance(segments, str) else json.loads(segments))
    except (TypeError, ValueError) as err:
        raise ValueError(f"a curve, parts or segments that is not JSON ({err})") from None
    problem = outcome_problem(outcome)
    if problem:
        raise ValueError(problem.removeprefix("its "))
    return Outcome(float(outcome.score), float(outcome.seconds), outcome.curve, outcome.parts,
                   outcome.segments)


def _same(a: tuple, b: tuple) -> bool:
    """Whether two rows' (score, curve, parts) are the same value (NaN scores stored as NULL)."""
    score_a, score_b = (None if v is None or v != v else v for v in (a[0], b[0]))
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
    """The results store at ``path``. A missing one is created by its first write (unless
    ``create`` is False: then a missing store is a UserError); until then it reads as empty. A
    store that fails SQLite's ``PRAGMA quick_check`` is refused before anything is written into
    it; one that cannot be written is read (:attr:`read_only` says why it cannot be written)."""

    def __init__(self, path: str | Path | None = DEFAULT_PATH, create: bool = True,
                 packs: tuple[Pack, ...] | None = None):
        self.path = Path(DEFAULT_PATH if path is None else path)
        self._packs = packs
        self.file = StoreFile(self.path, create)
        self.tally = Tally()
        self._served_from: dict[tuple[str, int, int], str] = {}   # rows get() took from packs

    @property
    def db(self) -> sqlite3.Connection:
        """The connection reads go through (:attr:`StoreFile.db`)."""
        return self.file.db

    @property
    def read_only(self) -> str:
        """Why nothing can be stored here ("" when it can)."""
        return self.file.read_only

    def check_writable(self) -> None:
        """A one-line UserError if nothing can be stored here (called before computing what
        would be stored)."""
        self.file.check_writable()

    def write(self, sql: str, rows: list[tuple]) -> None:
        """Run ``sql`` over ``rows`` in one transaction (:meth:`StoreFile.write`): the only way
        anything is written."""
        self.file.write(sql, rows)


    # ---------------------------------------------------------------- rows

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

    def _unreadable(self, rows: list[tuple[str, str, str]]) -> None:
        """The notice for rows skipped as unreadable: (proxy, dataset, problem) each."""
        if rows:
            proxy, dataset, problem = rows[0]
            notice("unreadable", self.path,
                    f"{self.path} holds rows that cannot be read; they are ignored (and "
                    f"recomputed when asked for): {len(rows):,} here, the first of {proxy} on "
                    f"{dataset}: {problem}; `{command_line('prune', results=self.path)}` "
                    "deletes them")

    def get(self, key: Key, indices: list[int]) -> dict[int, Outcome]:
        """Stored outcomes for those arch indices (missing ones are absent): the store's rows, else
        a shipped pack's. A row that cannot be read is skipped (a notice says so)."""
        found: dict[int, Outcome] = {}
        bad = []
        wanted = sorted(set(indices))
        for start in range(0, len(wanted), 900):  # SQLite's limit on bound parameters
            chunk = wanted[start:start + 900]
            rows = self.db.execute(
                f"SELECT arch_index, score, seconds, curve, parts, segments FROM scores "
                f"WHERE setting=? AND seed=? AND arch_index IN ({','.join('?' * len(chunk))})",
                (key.setting, key.seed, *chunk))
            for index, *values in rows:
                try:
                    found[index] = _outcome(*values)
                except ValueError as err:
                    bad.append((key.proxy, key.dataset, f"arch {index}: {err}"))
        self._unreadable(bad)
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
        self.write(
            "INSERT INTO scores (setting, seed, arch_index, proxy, version, dataset, source, "
            "score, curve, parts, segments, seconds, device, git, suite_version, config, "
            "created) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
            f"(setting, seed, arch_index) {conflict}", rows)

    def _readable(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Outcome]]:
        """The rows of ``frame`` (the scores table's columns) that can be read, and their
        outcomes; the others are skipped with the notice."""
        import pandas as pd
        outcomes, keep, bad = [], [], []
        for k, row in enumerate(zip(frame["score"], frame["seconds"], frame["curve"],
                                    frame["parts"], frame["segments"])):
            try:
                outcomes.append(_outcome(*row))
                keep.append(k)
            except ValueError as err:
                bad.append((frame["proxy"].iat[k], frame["dataset"].iat[k],
                            f"arch {frame['arch_index'].iat[k]}: {err}"))
        self._unreadable(bad)
        if bad:
            frame = frame.iloc[keep].reset_index(drop=True)
            frame = frame.assign(score=pd.to_numeric(frame["score"]),
                                 seconds=pd.to_numeric(frame["seconds"]))
        return frame, outcomes

    def frame(self, own: bool = False) -> pd.DataFrame:
        """Every row that can be read as a DataFrame, with each row's decoded :class:`Outcome` in
        ``outcome`` and, in ``pack``, the name of the results pack it was served from ("" for the
        store's own; the packs' rows are left out with ``own``)."""
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
        frame, outcomes = self._readable(frame)
        frame["outcome"] = outcomes
        return frame

    def rows(self, proxies: list[str] | None = None, dataset: str | None = None) -> list[dict]:
        """The store's own rows that can be read (dicts of its columns), of ``proxies`` (stored
        names) and ``dataset`` (None: all), in key order: what a results pack holds."""
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
        rows, bad = [], []
        for row in (dict(zip(names, values)) for values in cursor):
            try:
                _outcome(row["score"], row["seconds"], row["curve"], row["parts"], row["segments"])
                rows.append(row)
            except ValueError as err:
                bad.append((row["proxy"], row["dataset"], f"arch {row['arch_index']}: {err}"))
        self._unreadable(bad)
        return rows

    def prune(self) -> list[dict]:
        """Delete every row that cannot be read (in one transaction); returns what each held."""
        pruned = []
        for rowid, proxy, dataset, seed, index, *values in self.db.execute(
                "SELECT rowid, proxy, dataset, seed, arch_index, score, seconds, curve, parts, "
                "segments FROM scores"):
            try:
                _outcome(*values)
            except ValueError as err:
                pruned.append({"rowid": rowid, "proxy": proxy, "dataset": dataset, "seed": seed,
                               "arch_index": index, "problem": str(err)})
        if pruned:
            self.write("DELETE FROM scores WHERE rowid=?", [(r["rowid"],) for r in pruned])
        return pruned

    def merge(self, rows: list[dict]) -> dict:
        """Add rows (a results pack's) in one transaction: a row whose key is stored with the same
        value (score, curve, parts) is skipped, one stored with another value is a conflict (kept
        as stored, and listed), the rest are added. Returns the counts and the conflicts."""
        self.check_writable()
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
        if added:
            self.write(f"INSERT INTO scores ({', '.join(columns)}) VALUES "
                       f"({','.join('?' * len(columns))})",
                       [tuple(row[c] for c in columns) for row in added])
        return {"added": len(added), "already_stored": same, "conflicts": conflicts}

    def seconds_by_setting(self, device: str) -> dict[tuple[str, int, str], dict[str, list]]:
        """(proxy, version, dataset) -> setting -> the stored seconds of each row computed on
        ``device`` (what the plan's per-arch rates are made of)."""
        rows = list(self.db.execute("SELECT proxy, version, dataset, setting, seconds FROM scores "
                                    "WHERE device=? AND typeof(seconds) IN ('real', 'integer')",
                                    (device,)))
        have = {(r[3]) for r in rows}
        rows += [(r["proxy"], r["version"], r["dataset"], r["setting"], r["seconds"])
                 for r, _ in self._packed.values() if r["device"] == device and r["setting"] not in have]
        found: dict[tuple[str, int, str], dict[str, list]] = {}
        for proxy, version, dataset, setting, seconds in rows:
            found.setdefault((proxy, version, dataset), {}).setdefault(setting, []).append(seconds)
        return found

    def close(self) -> None:
        self.file.close()


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

class SearchRuns:
    """Finished search runs, in the results store's SQLite file (table ``searches``): one row per
    (options digest, seed, run) with the search's spec and the run's result as JSON. A row is
    written when its run has finished, so a killed search resumes at the first missing run."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, digest: str, seed: int, runs: list[int]) -> dict[int, dict]:
        """Stored results of those runs (missing runs are absent)."""
        wanted = set(runs)
        rows = self.store.db.execute("SELECT run, result FROM searches WHERE digest=? AND seed=?",
                                     (digest, seed))
        return {run: json.loads(result) for run, result in rows if run in wanted}

    def put(self, digest: str, seed: int, run: int, spec: dict, result: dict, *, git: str,
            suite_version: str) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.write(
            "INSERT INTO searches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT "
            "(digest, seed, run) DO NOTHING",
            [(digest, seed, run, spec["strategy"], spec["fitness"], spec["dataset"],
              spec["truth"], spec["label"], json.dumps(spec, sort_keys=True),
              json.dumps(result, allow_nan=False), git, suite_version, now)])

    def frame(self) -> pd.DataFrame:
        """Every stored run, as a DataFrame (``spec`` and ``result`` as JSON text)."""
        import pandas as pd
        return pd.read_sql_query("SELECT * FROM searches ORDER BY digest, seed, run", self.store.db)


# ------------------------------------------------------------------ finder results

class FindResults:
    """Results of the proxy finder (``python -m benchmark find``), in the results store's SQLite
    file (table ``finds``): one row per finder configuration (its digest: space, candidates,
    dataset, seed, truth, objective, budget, pool, rule, version), the whole result as JSON with
    its git hash and suite version. A rerun replaces the row (it reads the same stored scores)."""

    def __init__(self, store: Store):
        self.store = store

    def put(self, result: dict) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.store.write(
            "INSERT INTO finds VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (digest) DO UPDATE SET "
            "result=excluded.result, git=excluded.git, suite_version=excluded.suite_version, "
            "created=excluded.created",
            [(result["digest"], result["space"], result["dataset"], result["seed"],
              json.dumps(result, allow_nan=False), result["git"], result["suite_version"], now)])

    def get(self, digests: list[str] | None = None) -> list[dict]:
        """Stored results (all, or those of ``digests`` in that order, missing ones left out)."""
        rows = dict(self.store.db.execute("SELECT digest, result FROM finds ORDER BY created, digest"))
        wanted = list(rows) if digests is None else [d for d in digests if d in rows]
        return [json.loads(rows[d]) for d in wanted]
