"""One kind of experiment-file section (:class:`Section`: its key and its parse, plan, run and
report hooks) and the file's values its tables default to (:class:`FileDefaults`); the kinds are
registered in :mod:`.sections`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FileDefaults:
    """The file's top-level values that a section's tables default to."""

    file: str
    datasets: tuple[str, ...]
    seed: int
    seeds: tuple[int, ...]
    truth: str


def _no_lines(entries, plan, duration) -> list[str]:
    return []


@dataclass(frozen=True)
class Section:
    """One kind of section: its TOML key, how the "no section" message names it, its tables' keys
    and its hooks.

    - ``parse(tables, defaults, registry)``: the checked entries of the key's tables;
    - ``plan(entries, plan, duration)``: the lines it adds to the printed plan;
    - ``run(entries, contexts, store, registry, progress, executor)``: rows stored in the run's
      summary under ``done_key`` (its seconds under ``seconds_key``), and
      ``ran(seconds, plan, duration)``:
      what the run's message says of it; None: computed by the plan's units (the groups);
    - ``report(exp, entries, done, store, registry)``: the ``analysis.report.ReportSpec`` fields
      it fills, from the run's rows (``done``) or, when None, from what the store holds."""

    key: str
    parse: Callable
    what: str = ""
    keys: tuple[str, ...] = ()       # the keys its tables may hold (docs/EXPERIMENTS.md names each)
    plan: Callable = _no_lines
    run: Callable | None = None
    done_key: str = ""
    seconds_key: str = ""
    ran: Callable = lambda seconds, plan, duration: ""
    report: Callable = lambda exp, entries, done, store, registry: {}

    @property
    def title(self) -> str:
        return self.what or f"[[{self.key}]]"
