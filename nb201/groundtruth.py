"""NAS-Bench-201 ground truth: the shipped table, per-(dataset, metric) vectors, index <-> arch.

The table (``data/nb201_groundtruth.csv.gz``, built by ``tools/build_groundtruth.py``; sources in
``data/PROVENANCE.md``) has one row per NB201 index, in NB201's own order, which is not
lexicographic. Columns are ``arch`` and ``{dataset}_{metric}`` for the datasets and metrics below.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .catalog import dataset_spec, derive_rng
from .errors import UserError
from .lists import comma_list
from .provenance import DATA_DIR, cache_root, require_file
from .space import Arch

if TYPE_CHECKING:
    import pandas as pd

TABLE = DATA_DIR / "nb201_groundtruth.csv.gz"
NUM_ARCHS = 15625
#: test_200: 200-epoch test accuracy, mean over seeds (CIFAR-10: trained on train+valid);
#: valid_200 (+ _s0.._s2 per seed, _nseeds): 200-epoch validation accuracy (CIFAR-10: cifar10-valid);
#: test_12 / valid_12: NB201's 12-epoch schedule; params: millions (C=16, N=5);
#: latency_s and train_time_200_s: NB201's measurements.
METRICS = ("test_200", "valid_200", "valid_200_s0", "valid_200_s1", "valid_200_s2",
           "valid_200_nseeds", "test_12", "valid_12", "params", "latency_s", "train_time_200_s")


@lru_cache(maxsize=1)
def table() -> pd.DataFrame:
    """The whole ground-truth table as a DataFrame indexed by NB201 index."""
    import pandas as pd
    return pd.read_csv(require_file(TABLE))


@lru_cache(maxsize=1)
def columns() -> dict[str, np.ndarray]:
    """Every column of :func:`table` as an array (``arch``: strings, the others: floats), read from
    the suite's cache (``groundtruth-<digest>.npz``, named by the table file's content) once the
    table has been parsed: a lookup then loads neither pandas nor the CSV."""
    data = require_file(TABLE).read_bytes()
    cache = cache_root() / f"groundtruth-{hashlib.sha256(data).hexdigest()[:20]}.npz"
    try:
        with np.load(cache) as saved:
            return {name: saved[name] for name in saved.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    frame = table()
    out = {c: frame[c].to_numpy(dtype=str if c == "arch" else float) for c in frame.columns}
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npz")
    try:                  # a cache: an unwritable folder only means parsing the CSV next time
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **out)
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)
    return out


def vector(dataset: str, metric: str) -> np.ndarray:
    """One metric for all 15,625 archs, in index order (NaN where NB201 has no value)."""
    dataset_spec(dataset)
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return columns()[f"{dataset}_{metric}"]


@lru_cache(maxsize=1)
def _strings() -> tuple[str, ...]:
    return tuple(str(s) for s in columns()["arch"])


@lru_cache(maxsize=1)
def _index() -> dict[str, int]:
    return {s: i for i, s in enumerate(_strings())}


def arch_of(index: int) -> Arch:
    if not 0 <= index < NUM_ARCHS:
        raise UserError(f"NB201 index {index} is out of range 0..{NUM_ARCHS - 1}")
    return Arch.parse(_strings()[index])


def index_of(arch: Arch | str) -> int:
    arch = Arch.parse(arch) if isinstance(arch, str) else arch
    return _index()[str(arch)]


def resolve(token: str) -> int:
    """An NB201 index from a user's token: an index or an arch string."""
    token = token.strip()
    if token.lstrip("-").isdigit():
        index = int(token)
        arch_of(index)
        return index
    return index_of(Arch.parse(token))


def resolve_archs(archs, what: str = "--archs") -> list[int]:
    """The NB201 indices of a user's archs, in the order given (repeats kept): a comma-separated
    text (``--archs 1,2,|...|``, :func:`nb201.lists.comma_list`'s rule) or a list of NB201 indices
    (integers, numpy's included) and arch strings. Anything else (a float, None, a bare number,
    an index out of range) is a one-line UserError; ``what`` names the argument."""
    if isinstance(archs, str):
        return [resolve(t) for t in comma_list(archs, what, "archs")]
    if not isinstance(archs, (list, tuple, range, np.ndarray)):
        raise UserError(f"{what} must be a list of NB201 indices or arch strings (or one "
                        f"comma-separated string), got {archs!r}")
    if len(archs) == 0:
        raise UserError(f"{what} lists no archs: {archs!r}")
    return [_resolve_one(a, what) for a in archs]


def _resolve_one(arch, what: str) -> int:
    if isinstance(arch, str):
        return resolve(arch)
    if isinstance(arch, (int, np.integer)) and not isinstance(arch, (bool, np.bool_)):
        arch_of(int(arch))
        return int(arch)
    raise UserError(f"{what}: {arch!r} is neither an NB201 index (an integer "
                    f"0..{NUM_ARCHS - 1}) nor an arch string")


def sample(n: int, seed: int, what: str = "--sample") -> list[int]:
    """``n`` distinct NB201 indices drawn uniformly; the same (n, seed) always gives the same list,
    and for one seed a smaller sample is a prefix of a larger one. ``what`` names ``n`` in the
    message of a bad value."""
    if not (isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
            and 1 <= n <= NUM_ARCHS):
        raise UserError(f"{what} must be an integer between 1 and {NUM_ARCHS}, got {n!r}")
    return [int(i) for i in derive_rng(seed).permutation(NUM_ARCHS)[:n]]
