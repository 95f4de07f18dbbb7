"""The results store's SQLite file (:class:`StoreFile`), apart from what its rows mean
(:mod:`nb201.store`): every table's columns; opening the file for writing where it can be written
and read-only where it cannot (a WAL store on a read-only file system as immutable: nothing can
change it there); a damaged file refused before anything is written into it; a missing file read
as empty and created by the first write; every write one transaction, whose failure (a full disk)
is a one-line UserError that stores nothing of it."""
from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

from .errors import UserError
from .files import unwritable

#: every table of the store: name -> its columns (created when the store is, and by a read-only
#: opening as an empty temporary table where the file lacks it)
TABLES = {
    "scores": """(
    setting TEXT NOT NULL, seed INTEGER NOT NULL, arch_index INTEGER NOT NULL,
    proxy TEXT NOT NULL, version INTEGER NOT NULL, dataset TEXT NOT NULL, source TEXT NOT NULL,
    score REAL, curve TEXT, parts TEXT, segments TEXT, seconds REAL NOT NULL, device TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, config TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (setting, seed, arch_index))""",
    "searches": """(
    digest TEXT NOT NULL, seed INTEGER NOT NULL, run INTEGER NOT NULL,
    strategy TEXT NOT NULL, fitness TEXT NOT NULL, dataset TEXT NOT NULL, truth TEXT NOT NULL,
    label TEXT NOT NULL, spec TEXT NOT NULL, result TEXT NOT NULL,
    git TEXT NOT NULL, suite_version TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (digest, seed, run))""",
    "finds": """(
    digest TEXT NOT NULL PRIMARY KEY, space TEXT NOT NULL, dataset TEXT NOT NULL,
    seed INTEGER NOT NULL, result TEXT NOT NULL, git TEXT NOT NULL, suite_version TEXT NOT NULL,
    created TEXT NOT NULL)""",
}
INDEX = "CREATE INDEX IF NOT EXISTS scores_by_proxy ON scores (proxy, version, dataset)"


def _create_tables(db: sqlite3.Connection, temporary: bool = False) -> None:
    """Every table of :data:`TABLES` (``temporary``: as empty temporary tables, those that the
    file lacks: a read-only store)."""
    have = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for name, columns in TABLES.items():
        if not temporary:
            db.execute(f"CREATE TABLE IF NOT EXISTS {name} {columns}")
        elif name not in have:
            db.execute(f"CREATE TEMP TABLE {name} {columns}")
    if not temporary:
        db.execute(INDEX)
    db.commit()


#: the table of stores written before rows were keyed by their fingerprint
LEGACY_TABLE = "results"


_NOTICED: set[tuple[str, Path]] = set()


def notice(kind: str, path: Path, text: str) -> None:
    """A one-line note on stderr, once per process for each kind of note and store."""
    if (kind, path.resolve()) not in _NOTICED:
        _NOTICED.add((kind, path.resolve()))
        print(f"note: {text}", file=sys.stderr)


class StoreFile:
    """The SQLite file at ``path``: read through :attr:`db`, written through :meth:`write`. A missing
    file is created by its first write (unless ``create`` is False: then it is a UserError);
    :attr:`read_only` says why one cannot be written ("" when it can)."""

    def __init__(self, path: Path, create: bool = True):
        self.path = path
        self.read_only = ""
        self._fresh = False          # created by this object and not written yet
        if self.path.is_file():
            self._open()
        elif not create:
            raise UserError(f"there is no results store at {self.path}")
        else:
            self._check_creatable()
            self._db = self._empty()

    def _empty(self) -> sqlite3.Connection:
        """What a store that does not exist yet reads: empty tables, in memory."""
        db = sqlite3.connect(":memory:")
        _create_tables(db)
        self._placeholder = True
        return db

    def _check_creatable(self) -> None:
        """The store's file can be created (:func:`nb201.files.unwritable`)."""
        if self.path.exists():
            raise UserError(f"cannot open results store {self.path}: it is not a file")
        why = unwritable(self.path.parent)
        if why:
            raise UserError(f"cannot create results store {self.path}: {why}")

    def _open(self) -> None:
        """Open the existing file: for writing if it and its folder can be written, else
        read-only (a read-only file system's WAL store as immutable: nothing can change it)."""
        self._placeholder = False
        if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            self.read_only = "it is on a read-only file system or lacks write permission"
        try:
            db = self._connect()
        except (OSError, sqlite3.Error) as err:
            raise UserError(f"cannot open results store {self.path}: {err}") from None
        try:
            self._check(db)
            if not self.read_only:
                db.execute("PRAGMA journal_mode=WAL")
            _create_tables(db, temporary=bool(self.read_only))
            legacy = self._legacy_rows(db)
        except sqlite3.OperationalError as err:     # locked, unwritable, ...
            db.close()
            raise UserError(f"cannot open results store {self.path}: {err}") from None
        except sqlite3.DatabaseError as err:        # malformed, not a database
            db.close()
            raise self._damaged(str(err)) from None
        self._db = db
        if legacy:
            notice("legacy", self.path, f"{self.path} holds {legacy:,} rows written before "
                    f"scores were keyed by everything that made them (table {LEGACY_TABLE!r}); "
                    "they are ignored and recomputed when asked for")

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=60)
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:     # WAL without its -shm file, which cannot be made
            return sqlite3.connect(f"{uri}?immutable=1", uri=True)

    def _create(self) -> None:
        """Create the store's file (its first write); a failure removes what it made."""
        existed = self.path.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                _create_tables(db)
            finally:
                db.close()
        except (OSError, sqlite3.Error) as err:
            if not existed:
                self._remove_files()
            raise UserError(f"cannot create results store {self.path}: {err}") from None
        self._db.close()
        self._open()
        self._fresh = not existed

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _check(self, db: sqlite3.Connection) -> None:
        rows = [row[0] for row in db.execute("PRAGMA quick_check")]
        if rows != ["ok"]:
            problems = [line for row in rows for line in row.splitlines()
                        if line.strip() and not line.startswith("***")] or rows
            db.close()
            raise self._damaged(f"{problems[0]}; {len(problems)} problem(s) found by quick_check")

    def _damaged(self, problem: str) -> UserError:
        return UserError(f"results store {self.path} is damaged ({problem}) and was left as it is; "
                         f"recover its rows with `sqlite3 {self.path} .dump | sqlite3 "
                         f"recovered.sqlite` and pass --results recovered.sqlite, or move it "
                         f"aside to start a new store")

    @staticmethod
    def _legacy_rows(db: sqlite3.Connection) -> int:
        found = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                           (LEGACY_TABLE,)).fetchone()
        return db.execute(f"SELECT COUNT(*) FROM {LEGACY_TABLE}").fetchone()[0] if found else 0

    @property
    def db(self) -> sqlite3.Connection:
        """The connection reads go through (the file's, once another process has created it)."""
        if self._placeholder and self.path.is_file():
            self._db.close()
            self._open()
        return self._db

    # ---------------------------------------------------------------- writing

    def check_writable(self) -> None:
        """A one-line UserError if nothing can be stored here (called before computing what
        would be stored)."""
        if self.read_only:
            raise UserError(f"results store {self.path} cannot be written ({self.read_only}): "
                            "what is missing from it cannot be stored; pass --results with a "
                            "store that can be written (rows stored here are read as they are)")

    def write(self, sql: str, rows: list[tuple]) -> None:
        """Run ``sql`` over ``rows`` in one transaction: the only way anything is written. The
        store's file is created by its first write; a write that fails (a full disk) is a
        one-line UserError and stores nothing of the transaction (a store it would have created
        is removed)."""
        self.check_writable()
        self.db                       # the file's, if another process has created it since
        if self._placeholder:
            self._create()
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.OperationalError as err:
            if self._fresh:
                self._db.close()
                self._remove_files()
                self._db, self._fresh = self._empty(), False
            raise UserError(f"cannot write to results store {self.path}: {err}; nothing of this "
                            "batch was stored") from None
        self._fresh = False

    def close(self) -> None:
        self._db.close()
