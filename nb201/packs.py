"""Results packs: stored rows that outlive the machine that computed them.

A pack is one gzip-compressed, line-oriented, versioned file (``*.jsonl.gz``): a header line
(:data:`FORMAT`, :data:`PACK_VERSION`, the suite version and commit of the export, the machine
that wrote it, when, and what it holds: rows per proxy, version, dataset, source, device and the
CPU the rows record), one JSON line per stored row with every column of the store's ``scores`` table (score,
per-epoch curve, parts, segments, seconds, device, git hash, suite version, the fingerprint as
``config``, readable fields, created), and a closing line with the row count and the SHA-256 of
the row lines, so a truncated or edited pack is refused whole (:func:`read_pack`).

Packs shipped in ``data/results/`` are the suite's own measurements; :class:`nb201.store.Store`
serves their rows as if stored (:func:`shipped`), each only for the exact computation that made it
(a row's key is the digest of its fingerprint: proxy version, engine version and trainer, data,
options, device class), the store's own rows first.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from .errors import UserError
from .provenance import DATA_DIR, SUITE_VERSION, git_hash

FORMAT = "nb201-results-pack"
PACK_VERSION = 1
#: where the suite's own packs are shipped
SHIPPED_DIR = DATA_DIR / "results"
SUFFIX = ".jsonl.gz"
#: the store's columns a row line holds, with the JSON types each may take
COLUMNS = {"setting": (str,), "seed": (int,), "arch_index": (int,), "proxy": (str,),
           "version": (int,), "dataset": (str,), "source": (str,),
           "score": (float, int, type(None)), "curve": (str, type(None)),
           "parts": (str, type(None)), "segments": (str, type(None)), "seconds": (float, int),
           "device": (str,), "git": (str,), "suite_version": (str,), "config": (str,),
           "created": (str,)}
#: $NB201_PACKS: a folder of packs to serve instead of data/results/, or "none"
ENVIRONMENT = "NB201_PACKS"


@dataclass(frozen=True)
class Pack:
    """A read and checked pack: its header and its rows (dicts of :data:`COLUMNS`)."""

    path: Path
    header: dict
    rows: tuple[dict, ...]

    @property
    def machine(self) -> str:
        return str(self.header.get("machine", {}).get("cpu", "unknown"))


@lru_cache(maxsize=1)
def _machine() -> tuple:
    return tuple(_read_machine().items())


def machine() -> dict:
    """The machine rows are computed on: CPU model, cores, OS, Python (read once per process)."""
    return dict(_machine())


def _read_machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "system": platform.system(),
            "python": platform.python_version()}


def row_machine(row: dict) -> str:
    """The CPU model a row records (``run.machine`` of its config; "" where not recorded)."""
    try:
        return str(json.loads(row["config"]).get("run", {}).get("machine", ""))
    except (json.JSONDecodeError, AttributeError):
        return ""


def _holds(rows: list[dict]) -> list[dict]:
    counts: dict[tuple, int] = {}
    for row in rows:
        key = (row["proxy"], row["version"], row["dataset"], row["source"], row["device"],
               row_machine(row) or "not recorded")
        counts[key] = counts.get(key, 0) + 1
    return [{"proxy": p, "version": v, "dataset": d, "source": s, "device": dev, "machine": m,
             "rows": n} for (p, v, d, s, dev, m), n in sorted(counts.items())]


def write_pack(rows: list[dict], out: str | Path, *, computed_on: dict | None = None) -> dict:
    """Write ``rows`` (dicts of :data:`COLUMNS`) as a pack at ``out``, atomically (a temporary file
    renamed into place); returns its header. ``computed_on``: the machine (default: this one)."""
    out = Path(out)
    if not out.name.endswith(SUFFIX):
        raise UserError(f"a results pack's name ends in {SUFFIX}: {out}")
    lines = [json.dumps({c: row[c] for c in COLUMNS}, sort_keys=True) for row in rows]
    header = {"format": FORMAT, "pack_version": PACK_VERSION, "suite_version": SUITE_VERSION,
              "git": git_hash(), "machine": computed_on or machine(),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "rows": len(lines), "holds": _holds(rows)}
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # mtime 0: the same rows give the same bytes
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write((json.dumps(header, sort_keys=True) + "\n").encode())
            for line in lines:
                f.write((line + "\n").encode())
            f.write((json.dumps({"end": len(lines), "sha256": digest}) + "\n").encode())
        os.replace(tmp, out)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write results pack {out}: {err.strerror or err}") from None
    return header


def read_pack(path: str | Path) -> Pack:
    """Read and check a whole pack; a malformed, truncated or edited one is one UserError."""
    path = Path(path)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UserError(f"no results pack at {path}") from None
    except EOFError:
        raise UserError(f"{path} is truncated (its compressed stream ends early); nothing was "
                        "read") from None
    except (OSError, zlib.error, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not a readable results pack ({err}); nothing was read") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise UserError(f"{path} is not a results pack (no header and end lines); nothing was read")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path} is not a results pack (no {FORMAT!r} header); nothing was read")
    try:
        end = json.loads(lines[-1])
    except json.JSONDecodeError:
        end = None
    if header.get("pack_version") != PACK_VERSION:
        raise UserError(f"{path} is a results pack of version {header.get('pack_version')!r}; "
                        f"this suite reads version {PACK_VERSION}")
    body = lines[1:-1]
    if not isinstance(end, dict) or "end" not in end:
        raise UserError(f"{path} is truncated (no end line; {header.get('rows', '?')} rows "
                        "announced); nothing was read")
    if end.get("end") != len(body) or header.get("rows") != len(body):
        raise UserError(f"{path} is truncated or edited ({len(body)} rows, {header.get('rows')} "
                        "announced); nothing was read")
    if hashlib.sha256("\n".join(body).encode()).hexdigest() != end.get("sha256"):
        raise UserError(f"{path}: its rows do not match their checksum (edited or damaged); "
                        "nothing was read")
    rows = []
    for number, line in enumerate(body, start=2):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"{path}: line {number} is not JSON; nothing was read") from None
        problem = _row_problem(row)
        if problem:
            raise UserError(f"{path}: line {number}: {problem}; nothing was read")
        rows.append(row)
    return Pack(path, header, tuple(rows))


def _row_problem(row) -> str | None:
    if not isinstance(row, dict):
        return "a row is not a JSON object"
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        return f"the row lacks {', '.join(missing)}"
    for column, kinds in COLUMNS.items():
        value = row[column]
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"{column} is {type(value).__name__}, not {' or '.join(k.__name__ for k in kinds)}"
    return None


def pack_paths(folder: str | Path | None = None) -> list[Path]:
    """The packs to serve: those in ``folder``, else in $NB201_PACKS (``none``: no packs), else
    the shipped ones (:data:`SHIPPED_DIR`)."""
    chosen = folder if folder is not None else os.environ.get(ENVIRONMENT) or SHIPPED_DIR
    if str(chosen) == "none":
        return []
    return sorted(Path(chosen).glob(f"*{SUFFIX}"))


def shipped(folder: str | Path | None = None) -> tuple[Pack, ...]:
    """The packs served as stored rows (:func:`pack_paths`), read once per process and file
    version. A shipped pack that cannot be read is a UserError (the install is damaged)."""
    return tuple(_cached(str(p), p.stat().st_mtime_ns) for p in pack_paths(folder))


@lru_cache(maxsize=32)
def _cached(path: str, mtime: int) -> Pack:
    return read_pack(path)
