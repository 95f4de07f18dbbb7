"""Facts every layer shares: the datasets (names, classes, resolution, NB201 split files), NB201's
normalisation, and how seeds are derived. The one place these are written down."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from .errors import UserError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    resolution: int          # native image side (ImageNet16-120: 16)
    split_file: str          # NB201 split file under data/splits
    valid_from_test: bool    # NB201 validates on the `xvalid` half of the test set
    embedded: bool           # a copy ships in data/


SPECS = {s.name: s for s in (
    DatasetSpec("cifar10", 10, 32, "cifar-split.txt.gz", False, True),
    DatasetSpec("cifar100", 100, 32, "cifar100-test-split.txt.gz", True, False),
    DatasetSpec("imagenet16-120", 120, 16, "imagenet-16-120-test-split.txt.gz", True, False),
)}
#: dataset names, in the order reports list them
DATASETS = tuple(SPECS)

#: NB201's normalisation (CIFAR mean/std in [0, 1] units, as in its reference code)
MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a dataset name; a one-line UserError naming the valid ones otherwise."""
    if name in SPECS:
        return SPECS[name]
    close = difflib.get_close_matches(str(name), DATASETS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown dataset {name!r}{hint}; choose one of {', '.join(DATASETS)}")


def dataset_rank(name: str) -> int:
    """Position in :data:`DATASETS` (unknown names last), for sorting."""
    return DATASETS.index(name) if name in DATASETS else len(DATASETS)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence mixing): the suite's one way to seed a
    random stream from (run seed, purpose, arch index, ...), independent of other streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> 1)
