"""Published rank agreements (``data/published.toml``, the one place they are written down): what
the main table's "published" column shows beside the suite's own numbers, with its source.

:func:`published` reads and checks the file once (a malformed entry is a UserError naming it);
:func:`for_proxy` gives the values a proxy is compared with on a dataset, and :func:`cell` writes
them as the column's text, e.g. ``rho 0.737 vs valid_200, all archs [Abdelfattah et al. 2021]``.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache

from nb201.catalog import DATASETS, TRUTHS
from nb201.errors import UserError
from nb201.provenance import DATA_DIR, require_file

FILE = DATA_DIR / "published.toml"
#: metric -> its symbol in the column
SYMBOLS = {"spearman": "rho", "kendall_tau": "tau", "retrieval_top10": "top-10%"}
VALUE_KEYS = {"proxies", "dataset", "metric", "value", "truth", "archs", "source", "note"}


@dataclass(frozen=True)
class Published:
    proxies: tuple[str, ...]
    dataset: str
    metric: str
    value: float
    truth: str
    archs: str
    source: str          # a key of the file's [sources]
    label: str           # the source's short label
    citation: str
    note: str = ""

    def text(self) -> str:
        value = f"{self.value:.0%}" if self.metric == "retrieval_top10" else f"{self.value:g}"
        truth = f" vs {self.truth}" if self.truth else ""
        archs = {"15625": ", all archs", "": ""}.get(self.archs, f", {self.archs} archs")
        return f"{SYMBOLS[self.metric]} {value}{truth}{archs} [{self.label}]"


@lru_cache(maxsize=1)
def published() -> tuple[Published, ...]:
    """Every value of the file, checked."""
    path = require_file(FILE)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None
    sources = raw.get("sources", {})
    out = []
    for number, entry in enumerate(raw.get("value", []), start=1):
        where = f"{path.name}: value #{number}"
        if not isinstance(entry, dict) or set(entry) - VALUE_KEYS or \
                not {"proxies", "dataset", "metric", "value", "source"} <= set(entry):
            raise UserError(f"{where}: keys must be {', '.join(sorted(VALUE_KEYS))}")
        source = sources.get(entry["source"])
        truth = entry.get("truth", "")
        if source is None or entry["dataset"] not in DATASETS or entry["metric"] not in SYMBOLS \
                or (truth and truth not in TRUTHS) or not isinstance(entry["value"], (int, float)):
            raise UserError(f"{where}: unknown source, dataset, metric or truth, or a value that "
                            "is not a number")
        out.append(Published(tuple(entry["proxies"]), entry["dataset"], entry["metric"],
                             float(entry["value"]), truth, str(entry.get("archs", "")),
                             entry["source"], source["label"], source["citation"],
                             entry.get("note", "")))
    return tuple(out)


def for_proxy(name: str, dataset: str) -> list[Published]:
    """The published values ``name`` is compared with on ``dataset`` (those that name it)."""
    return [p for p in published() if p.dataset == dataset and name in p.proxies]


def cell(name: str, dataset: str) -> str:
    """The main table's "published" cell of a proxy: its values joined by "; " ("" for none);
    a value measured by another protocol than ``name``'s says so ("protocol: zc-paper:...")."""
    parts = []
    for p in for_proxy(name, dataset):
        exact = p.proxies[0] == name or not p.note
        parts.append(p.text() + ("" if exact else f" (protocol of {p.proxies[0]})"))
    return "; ".join(parts)


def sources_note(table) -> str:
    """" Published values: LABEL: citation; ..." for the sources a table's "published" column
    names ("" for none)."""
    named = {p.label: p.citation for p in published()
             if "published" in getattr(table, "columns", ()) and
             any(f"[{p.label}]" in cell for cell in table["published"])}
    return ("" if not named else " Published values: "
            + "; ".join(f"{label}: {citation}" for label, citation in named.items()) + ".")
