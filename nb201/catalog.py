"""Facts every layer shares: the datasets (names, classes, resolution, image counts, NB201 split
files, the copies shipped in data/ and their data-source names), NB201's normalisation, and how seeds are derived. The one place these are written down."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError


@dataclass(frozen=True)
class EmbeddedCopy:
    """A copy of a dataset's images shipped in data/ (an image-folder archive), found when no data
    dir is given. What it is and is not, its source and checksum: data/PROVENANCE.md."""

    file: str                # the archive, under data/
    source: str              # the data-source name its rows are stored under (never "-official")
    note: str                # what it is and is not, in one sentence (the report's data sources)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    resolution: int          # native image side (ImageNet16-120: 16)
    split_file: str          # NB201 split file under data/splits
    valid_from_test: bool    # NB201 validates on the `xvalid` half of the test set
    embedded: EmbeddedCopy | None   # the copy shipped in data/, if any
    train_images: int        # the training set
    test_images: int         # the test set

    @property
    def valid_images(self) -> int:
        """Images of NB201's validation split: half of the test set (``xvalid``) where
        ``valid_from_test``, else half of the training set (CIFAR-10's ``valid``)."""
        return (self.test_images if self.valid_from_test else self.train_images) // 2

    @property
    def proxy_train_images(self) -> int:
        """Training images of the proxy split: the training set less the validation half taken
        from it, if any (:func:`nb201.datasets.proxy_split`)."""
        return self.train_images - (0 if self.valid_from_test else self.valid_images)


CIFAR10_JPEG = EmbeddedCopy(
    "cifar10-jpeg.tar.gz", "cifar10-jpeg75",
    "the JPEG (quality 75) copy of CIFAR-10 shipped in data/: lossy, and not in the official order, "
    "so NB201's train/valid split cannot be applied (training proxies use a seeded stratified "
    "half/half split of the training set)")
CIFAR100_JPEG = EmbeddedCopy(
    "cifar100-jpeg.tar.gz", "cifar100-jpeg90",
    "the JPEG (quality 90) copy of CIFAR-100 shipped in data/: lossy, and its train/test folders "
    "are a seeded class-stratified 500/100 split made for the copy, not CIFAR-100's official "
    "split, so NB201's xvalid/xtest split cannot be applied (training proxies train on its 50,000 "
    "training images and validate on a seeded stratified half of its 10,000 test images)")

SPECS = {s.name: s for s in (
    DatasetSpec("cifar10", 10, 32, "cifar-split.txt.gz", False, CIFAR10_JPEG, 50_000, 10_000),
    DatasetSpec("cifar100", 100, 32, "cifar100-test-split.txt.gz", True, CIFAR100_JPEG, 50_000,
                10_000),
    DatasetSpec("imagenet16-120", 120, 16, "imagenet-16-120-test-split.txt.gz", True, None,
                151_700, 6_000),
)}
#: dataset names, in the order reports list them
DATASETS = tuple(SPECS)
#: the dataset of a command, an experiment or a request that names none
DEFAULT_DATASET = "cifar10"
#: the datasets whose images ship in data/ (found with no --data-dir)
EMBEDDED_DATASETS = tuple(name for name, spec in SPECS.items() if spec.embedded)

#: where results are stored unless a command says otherwise (--results)
DEFAULT_RESULTS = Path("results") / "results.sqlite"

#: the truths a user may pick, and what each is (nb201.groundtruth has every metric of the table)
TRUTHS = {"test_200": "NAS-Bench-201 200-epoch test accuracy, mean over seeds",
          "valid_200": "NAS-Bench-201 200-epoch validation accuracy, mean over seeds"}
#: what scores are judged against unless a command says otherwise
DEFAULT_TRUTH = "test_200"
#: what a procedure that selects or fits reads unless told otherwise (the finder's truth, a learned
#: proxy's label): the validation accuracy, so that it never selects on the test accuracy
SELECTION_TRUTH = "valid_200"

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


#: Seeds are stored as SQLite integers (signed 64-bit) and seed numpy's generators (non-negative).
MAX_SEED = 2 ** 63 - 1


def is_seed(value) -> bool:
    """Whether ``value`` is a seed: an integer 0..2**63-1 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED


def check_seed(seed: int, what: str = "seed") -> int:
    """``seed`` if it is a seed (:func:`is_seed`), else a one-line UserError."""
    if not is_seed(seed):
        raise UserError(f"{what} must be between 0 and 2**63-1, got {seed!r}")
    return seed


def check_truth(truth: str, what: str = "--truth") -> str:
    """``truth`` if it is one of :data:`TRUTHS`, else a one-line UserError."""
    if truth not in TRUTHS:
        raise UserError(f"{what} must be one of {', '.join(TRUTHS)}, got {truth!r}")
    return truth


def _mixed(parts) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) for p in parts])


def check_seeds(seeds, what: str = "seeds") -> tuple[int, ...]:
    """A non-empty list of seeds (each :func:`check_seed`) as a tuple, else a one-line UserError."""
    if not isinstance(seeds, (list, tuple, range)):
        raise UserError(f"{what} must be a list of seeds, got {seeds!r}")
    if len(seeds) == 0:
        raise UserError(f"{what} lists no seeds: {seeds!r}")
    return tuple(check_seed(s, what) for s in seeds)


def derive_seed(*parts: int, bits: int = 63) -> int:
    """A seed of ``bits`` bits (63 or 32) from integers (numpy's SeedSequence mixing of the
    parts): the suite's one way to seed a random stream from (run seed, purpose, arch index,
    ...), independent of other streams; a torch generator is seeded with it. The zero-cost
    harness seeds torch with 32 bits (the width its stored scores were made with)."""
    state = _mixed(parts)
    if bits == 32:
        return int(state.generate_state(1)[0])
    if bits == 63:
        return int(state.generate_state(2, np.uint64)[0] >> 1)
    raise ValueError(f"bits must be 63 or 32, got {bits}")


def derive_rng(*parts: int) -> np.random.Generator:
    """A numpy generator seeded from integers by the same mixing as :func:`derive_seed`, for numpy
    draws (samples, training sets, the random proxy). It is ``np.random.default_rng([parts])``:
    the stored samples and scores were drawn that way, and seeding numpy with ``derive_seed``'s
    integer instead would draw other archs; trailing zero parts change nothing (``(seed, 0)``
    draws what ``(seed,)`` does)."""
    return np.random.default_rng(_mixed(parts))
