"""Truth vectors read from a user's official NAS-Bench-201 / NATS-Bench (topology) file.

Optional: the shipped table (``nb201.groundtruth``) is the default truth. A user who has an
official file can read the same vectors from it, through the benchmark's own package:

- ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` (``torch.save``'d dict:
  ``meta_archs``, ``arch2infos[index] = {'full': 200-epoch results, 'less': 12-epoch results}``,
  ``evaluated_indexes``) via ``pip install nas-bench-201`` (module ``nas_201_api``);
- NATS-Bench's topology space, ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` or the unpacked
  ``NATS-tss-v1_0-3ffb9-simple`` folder (``arch2infos[index] = {'12': ..., '200': ...}``) via
  ``pip install nats_bench``.

Numbers come from ``api.get_more_info(index, dataset, hp=..., is_random=False)``: the mean over
the trials (seeds) after the last epoch. NB201 convention: CIFAR-10's test accuracy comes from
``cifar10`` (trained on train+valid), its validation accuracy from ``cifar10-valid`` (trained on
train); CIFAR-100 and ImageNet16-120 report ``x-valid`` / ``x-test`` halves of the test set.
"""
from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from . import groundtruth
from .catalog import dataset_spec
from .errors import UserError
from .extras import require


@dataclass(frozen=True)
class Query:
    """Where one of our (dataset, metric) pairs lives in the official API."""

    dataset: str  # the official dataset name
    hp: str       # '200' or '12' (epochs of the schedule)
    key: str      # key of get_more_info's dict


#: our dataset -> (official dataset read for test, for valid)
_NAMES = {"cifar10": ("cifar10", "cifar10-valid"), "cifar100": ("cifar100", "cifar100"),
          "imagenet16-120": ("ImageNet16-120", "ImageNet16-120")}
#: (our dataset, our metric) -> Query; the metric names are nb201.groundtruth's.
QUERIES = {
    (ours, f"{kind}_{hp}"): Query(name, hp, f"{kind}-accuracy")
    for ours, (test_name, valid_name) in _NAMES.items()
    for hp in ("200", "12")
    for kind, name in (("test", test_name), ("valid", valid_name))
}
METRICS = tuple(dict.fromkeys(metric for _, metric in QUERIES))

#: What the packages raise when an arch, a dataset, a schedule or a split has no record.
_ABSENT = (KeyError, ValueError, AssertionError, FileNotFoundError)
#: What the packages raise on a file they cannot read.
_UNREADABLE = (AssertionError, ValueError, KeyError, TypeError, OSError, EOFError,
               pickle.UnpicklingError)
_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def load_truth(path: str, dataset: str, metric: str,
               indices: Iterable[int] | None = None) -> np.ndarray:
    """One truth metric for all 15,625 archs in NB201 index order, NaN where the file has none.

    ``metric``: test_200, valid_200, test_12 or valid_12. With ``indices``, only those archs are
    read (the rest stay NaN): a full vector makes 15,625 API calls, up to a minute on a real file.
    Raises UserError when the file is missing or unreadable, its package is not installed, or its
    archs are not in NB201's order. The opened file is kept for the next call on the same path.
    """
    dataset_spec(dataset)
    if (dataset, metric) not in QUERIES:
        raise UserError(f"the official file gives no {metric!r}; "
                        f"choose one of {', '.join(METRICS)}")
    wanted = range(groundtruth.NUM_ARCHS) if indices is None else [int(i) for i in indices]
    for index in wanted:
        if not 0 <= index < groundtruth.NUM_ARCHS:
            raise UserError(f"NB201 index {index} is out of range 0..{groundtruth.NUM_ARCHS - 1}")
    api, query = _open(str(Path(path).expanduser().resolve())), QUERIES[dataset, metric]
    out = np.full(groundtruth.NUM_ARCHS, np.nan)
    for index in wanted:
        out[index] = _value(api, index, query)
    return out


def _value(api: Any, index: int, query: Query) -> float:
    try:
        value = api.get_more_info(index, query.dataset, iepoch=None, hp=query.hp,
                                  is_random=False)[query.key]
    except _ABSENT:
        return float("nan")
    return float("nan") if value is None else float(value)


@lru_cache(maxsize=1)
def _open(path: str) -> Any:
    """The official API over ``path`` (kept for the next metric), after checking the arch order."""
    file = Path(path)
    if not file.exists():
        raise UserError(f"no NAS-Bench-201 / NATS-Bench file at {path}")
    nb201 = file.suffix == ".pth"
    package, module = ("nas-bench-201", "nas_201_api") if nb201 else ("nats_bench", "nats_bench")
    lib = require(module, f"reading {file.name}")
    try:
        with _unpickling_allowed():
            api = (lib.NASBench201API(path, verbose=False) if nb201 else
                   lib.create(path, "tss", fast_mode=file.is_dir(), verbose=False))
    except _UNREADABLE as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise UserError(f"{package} cannot read {path}: {reason}") from err
    _check_order([api[i] for i in range(len(api))], path)
    return api


def _check_order(archs: list[str], path: str) -> None:
    ours = groundtruth._strings()
    if len(archs) != len(ours):
        raise UserError(f"{path} lists {len(archs)} archs, NAS-Bench-201 has {len(ours)}")
    for index, (theirs, mine) in enumerate(zip(archs, ours)):
        if theirs != mine:
            raise UserError(f"{path} lists archs in another order than NAS-Bench-201: index "
                            f"{index} is {theirs} there, {mine} in the shipped table")


@contextmanager
def _unpickling_allowed() -> Iterator[None]:
    """Let ``nas_201_api`` unpickle as it was written to.

    It calls ``torch.load(path)`` without ``weights_only``, which torch >= 2.6 turns into
    weights-only unpickling; the 2020 files may hold objects that mode refuses. The user chose
    the file (and NATS-Bench's reader unpickles its files in full anyway).
    """
    before = os.environ.get(_NO_WEIGHTS_ONLY)
    os.environ[_NO_WEIGHTS_ONLY] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f"Environment variable {_NO_WEIGHTS_ONLY}")
            yield
    finally:
        if before is None:
            os.environ.pop(_NO_WEIGHTS_ONLY, None)
        else:
            os.environ[_NO_WEIGHTS_ONLY] = before
