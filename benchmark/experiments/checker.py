"""Typed reads of the TOML tables of experiment files (:class:`Checker`): every mistake is one
line naming the file, the table and the key. Used by ``spec`` (the top level and groups) and by the
modules that own the other tables (``benchmark.search.experiment``: ``[[search]]``;
``benchmark.learn``: ``[[learn]]``; ``benchmark.find.experiment``: ``[[find]]``)."""
from __future__ import annotations

import difflib

from nb201.catalog import DATASETS, is_seed
from nb201.errors import UserError


class Checker:
    """Typed reads of a TOML table with one-line errors naming the file and the place (every
    table of an experiment file: the top level, groups, ``[[search]]``, ``[[learn]]``,
    ``[[find]]``); an unknown key is refused with the closest allowed one."""

    def __init__(self, where: str, table: dict, allowed: tuple[str, ...]):
        self.where, self.table = where, table
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
                raise UserError(f"{where}: unknown key {key!r}{hint}")

    def fail(self, key: str, what: str):
        raise UserError(f"{self.where}: {key!r} must be {what}, got {self.table[key]!r}")

    def get(self, key: str, kind: type, default, what: str):
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.fail(key, what)        # a bool is an int to Python, not a number here
        return value

    def values(self, key: str, kind, default=None) -> list | None:
        """A value of ``kind`` (a type or a tuple of types) or a non-empty list of them, as a list
        (a bool is not a number here); ``default`` when the key is absent."""
        if key not in self.table:
            return default
        value = self.table[key]
        values = value if isinstance(value, list) else [value]
        ok = (lambda v: isinstance(v, bool)) if kind is bool else \
            (lambda v: isinstance(v, kind) and not isinstance(v, bool))
        if not values or not all(ok(v) for v in values):
            what = kind.__name__ if isinstance(kind, type) else "number"
            self.fail(key, f"a {what} or a non-empty list of them")
        return values

    def strings(self, key: str, default, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.get(key, list, None, "a list of strings")
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value) or (not value and not allow_empty):
            self.fail(key, "a non-empty list of strings" if not allow_empty else "a list of strings")
        return tuple(value)

    def datasets(self, key: str, default) -> tuple[str, ...]:
        datasets = self.strings(key, default)
        for d in datasets:
            if d not in DATASETS:
                raise UserError(f"{self.where}: unknown dataset {d!r}; choose from "
                                f"{', '.join(DATASETS)}")
        return datasets

    def seeds(self, key: str, default) -> tuple[int, ...]:
        value = self.get(key, list, None, "a non-empty list of integers")
        if value is None:
            return default
        if not value or not all(is_seed(v) for v in value):
            self.fail(key, "a non-empty list of integers 0..2**63-1")
        if len(set(value)) != len(value):
            self.fail(key, "a list of distinct integers")
        return tuple(value)
