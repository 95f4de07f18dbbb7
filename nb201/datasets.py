"""Image datasets loaded once as uint8 tensors (no DataLoader).

`load_dataset(name, data_dir)` reads, by the files it finds (see `nb201.formats`):
  * official CIFAR-10 python batches (`cifar-10-batches-py/`, or its parent),
  * official CIFAR-100 python (`cifar-100-python/`, or its parent),
  * official ImageNet16 batches as NAS-Bench-201 uses them (`train_data_batch_1..10`, `val_data`;
    labels are 1-based, only labels 1..120 are kept and shifted to 0-based),
  * an image folder `train/<class>/*`, `test/<class>/*` (classes sorted by name),
and any of these inside a tar archive (.tar.gz). Without a data dir, a dataset with a copy in the
shipped data (`nb201.catalog.EmbeddedCopy`: cifar10 and cifar100, JPEG image folders in
`nb201.provenance.DATA_DIR`, `data/` in a checkout) falls back to it, and its rows carry the
copy's data-source name (`cifar10-jpeg75`, `cifar100-jpeg90`), never `<dataset>-official`.

Tar archives and image folders are decoded once and cached as .npz, keyed by path, size and
mtime, under `cache_root()/datasets`: $NB201_CACHE_DIR when set, else `<repo>/.cache` when the
suite runs from its checkout (editable installs included), else the user cache dir of an
installed copy: `$XDG_CACHE_HOME/nb201`, or `~/.cache/nb201` (never inside site-packages).

`proxy_split(data, seed)` gives the images that training proxies train on and score on.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .catalog import SPECS, DatasetSpec, dataset_spec
from .errors import UserError
from .formats import FORMAT_BY_KEY, Arrays, DirTree, Format, detect, formats_in, is_tar, read_tar
from .provenance import DATA_DIR, cache_root, require_file  # noqa: F401  (cache_root re-exported)

#: the shipped copy of each dataset that has one (nb201.catalog), by dataset name
EMBEDDED = {name: DATA_DIR / spec.embedded.file for name, spec in SPECS.items() if spec.embedded}
EMBEDDED_CIFAR10 = EMBEDDED["cifar10"]
SPLITS_DIR = DATA_DIR / "splits"
#: the environment variable naming the data dir when no --data-dir is given
DATA_DIR_ENV = "NB201_DATA_DIR"
CACHE_FORMAT_VERSION = 1  # bump when decoding (nb201.formats) changes: old cache files are then ignored


@dataclass(frozen=True, eq=False)
class ImageData:
    name: str                 # "cifar10" | "cifar100" | "imagenet16-120"
    source: str               # e.g. "cifar10-jpeg75", "cifar10-official", "imagefolder:<basename>"
    x_train: torch.Tensor = field(repr=False)   # uint8 (N, 3, H, W), CPU
    y_train: torch.Tensor = field(repr=False)   # int64 (N,)
    x_test: torch.Tensor = field(repr=False)    # uint8 (M, 3, H, W)
    y_test: torch.Tensor = field(repr=False)    # int64 (M,)
    num_classes: int
    resolution: int
    official_order: bool      # images in the official order: NB201's index-based splits apply

    @cached_property
    def digest(self) -> str:
        """A content digest of the images and labels (BLAKE2b, 128 bits): what the results store
        keys image-reading proxies by, so two copies that differ are never mixed up."""
        h = hashlib.blake2b(digest_size=16)
        for t in (self.x_train, self.y_train, self.x_test, self.y_test):
            a = np.ascontiguousarray(t.numpy())
            h.update(repr((a.dtype.str, a.shape)).encode())
            h.update(memoryview(a).cast("B"))
        return h.hexdigest()


def cache_dir() -> Path:
    return cache_root() / "datasets"


# ---------------------------------------------------------------- cache and loading

def _cache_key(spec: DatasetSpec, path: Path, stamps: object) -> str:
    text = json.dumps([CACHE_FORMAT_VERSION, spec.name, str(path.resolve()), stamps])
    return f"{spec.name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _cached(key: str, build: Callable[[], tuple[Format, Arrays]]) -> tuple[Format, Arrays]:
    path = cache_dir() / f"{key}.npz"
    try:
        with np.load(path) as z:
            return FORMAT_BY_KEY[str(z["format"])], Arrays(*(z[k] for k in Arrays._fields))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass   # no cache yet, or an unreadable one: rebuild it
    fmt, arrays = build()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, format=np.str_(fmt.key), **arrays._asdict())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        tqdm.write(f"warning: could not write the dataset cache {path}: {e}")
    return fmt, arrays


def _read(path: Path, spec: DatasetSpec) -> tuple[Format, Arrays]:
    if path.is_dir():
        tree = DirTree(path)
        fmt, root = detect(tree, spec, str(path))
        if fmt.official:   # pickled arrays read as fast as a cache would
            return fmt, fmt.load(tree, root, spec)
        key = _cache_key(spec, path, tree.stamps(root))
        return _cached(key, lambda: (fmt, fmt.load(tree, root, spec)))
    if path.is_file() and is_tar(path):
        st = path.stat()

        def build() -> tuple[Format, Arrays]:
            tree = read_tar(path)
            fmt, root = detect(tree, spec, str(path))
            return fmt, fmt.load(tree, root, spec)
        return _cached(_cache_key(spec, path, [st.st_size, st.st_mtime_ns]), build)
    raise UserError(f"{path}: unknown data format (neither a folder nor a tar archive)")


def _given(data_dir: str | os.PathLike | None) -> Path | None:
    """The data dir a user gave: ``data_dir``, else $NB201_DATA_DIR (None: neither), which must
    exist."""
    given, where = (data_dir, "") if data_dir is not None else \
        (os.environ.get(DATA_DIR_ENV) or None, f" ({DATA_DIR_ENV})")
    if given is None:
        return None
    path = Path(given).expanduser()
    if not str(given).strip() or not path.exists():    # Path("") is the working directory
        shown = path if str(given).strip() else repr(str(given))
        raise UserError(f"data dir {shown}{where} does not exist")
    return path


def check_data_dir(data_dir: str | os.PathLike | None) -> None:
    """The data dir a user gave (``data_dir``, else $NB201_DATA_DIR; neither: nothing to check)
    exists and holds a dataset in a known format (:func:`nb201.formats.formats_in`), whichever
    dataset it is meant for: a wrong option is an error even in a run that reads no image. No
    image is decoded; a tar archive is read through (a truncated one is an error) unless the
    dataset cache holds it decoded."""
    path = _given(data_dir)
    if path is None:
        return
    if path.is_dir():
        formats_in(DirTree(path), str(path))
    elif path.is_file() and is_tar(path):
        st = path.stat()
        cached = (cache_dir() / f"{_cache_key(spec, path, [st.st_size, st.st_mtime_ns])}.npz"
                  for spec in SPECS.values())
        if not any(p.is_file() for p in cached):
            formats_in(read_tar(path, contents=False), str(path))
    else:
        raise UserError(f"{path}: unknown data format (neither a folder nor a tar archive)")


def _data_path(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> Path:
    path = _given(data_dir)
    if path is not None:
        return path
    if spec.embedded is None:
        raise UserError(f"{spec.name} is not shipped: pass --data-dir or set NB201_DATA_DIR "
                        "to its official files or an image folder")
    shipped = EMBEDDED[spec.name]
    if not shipped.is_file():
        raise UserError(f"the embedded {spec.name} copy {shipped} is missing; pass --data-dir")
    return shipped


def _source_id(fmt: Format, spec: DatasetSpec, path: Path) -> str:
    """``<dataset>-official`` for official files, the copy's own name for a shipped copy (also when
    given as --data-dir), else ``imagefolder:<basename>``."""
    if fmt.official:
        return f"{spec.name}-official"
    shipped = EMBEDDED.get(spec.name)
    if shipped is not None and shipped.is_file() and path.is_file() and path.samefile(shipped):
        return spec.embedded.source
    return f"imagefolder:{path.resolve().name}"


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(a, requirements=["C", "W"]))


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Load a dataset as CPU uint8 tensors. Data dir: `data_dir`, else $NB201_DATA_DIR, else
    (cifar10, cifar100) the embedded JPEG copy. Raises UserError on a bad name, path or format."""
    spec = dataset_spec(name)
    path = _data_path(spec, data_dir)
    fmt, arrays = _read(path, spec)
    for split, y in (("train", arrays.y_train), ("test", arrays.y_test)):
        if len(y) == 0 or y.min() < 0 or y.max() >= spec.num_classes:
            raise UserError(f"{path}: {split} labels must be 0..{spec.num_classes - 1} for {spec.name} "
                            f"(found {len(y)} images)")
    return ImageData(spec.name, _source_id(fmt, spec, path), *(_tensor(a) for a in arrays),
                     num_classes=spec.num_classes, resolution=spec.resolution,
                     official_order=fmt.official)


# ---------------------------------------------------------------- splits

@lru_cache(maxsize=None)
def nb201_split(file: str) -> dict[str, torch.Tensor]:
    """An NB201 split file of data/splits: {"train", "valid"} or {"xvalid", "xtest"} -> int64 indices.
    Shared between callers: do not modify."""
    with gzip.open(require_file(SPLITS_DIR / file), "rt") as f:
        raw = json.load(f)
    return {key: torch.tensor([int(i) for i in values], dtype=torch.int64)
            for key, (_, values) in raw.items()}


def stratified_halves(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices per class in two halves (first half gets the odd one), sorted; same seed, same split."""
    y = labels.numpy()
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = (len(idx) + 1) // 2
        first.append(idx[:k])
        second.append(idx[k:])
    return (torch.from_numpy(np.sort(np.concatenate(first))),
            torch.from_numpy(np.sort(np.concatenate(second))))


def _nb201_indices(data: ImageData, file: str, keys: tuple[str, ...], pool: int) -> list[torch.Tensor]:
    split = nb201_split(file)
    needed = 1 + max(int(i.max()) for i in split.values())   # the file's keys cover the whole pool
    if needed != pool:
        raise UserError(f"{data.source}: NB201's split {file} indexes {needed} images, this data has {pool}")
    return [split[k] for k in keys]


Tensors4 = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def proxy_split(data: ImageData, seed: int = 0) -> Tensors4:
    """(train_x, train_y, valid_x, valid_y) for training proxies.

    cifar10: NB201's 25k/25k split of the training set when in official order, else a stratified
    half/half split of the training set drawn with `seed`. cifar100, imagenet16-120: the whole
    training set, and the `xvalid` half of the test set (official order) or a stratified half of
    the test set drawn with `seed`. `seed` is unused where NB201's split applies.

    On the embedded copies (not in official order): cifar10-jpeg75 gives 25,000 / 25,000 (NB201's
    cifar10-valid protocol, train on one half of the training set and validate on the other, but
    another draw of the halves); cifar100-jpeg90 gives its 50,000 training images / 5,000 of its
    10,000 test images, 50 a class (NB201's cifar100 protocol, train on the training set and
    validate on the `xvalid` half of the test set, but on the copy's own 500/100 re-split of the
    pooled images, so neither half is CIFAR-100's official test set)."""
    spec = dataset_spec(data.name)
    if spec.valid_from_test:
        if data.official_order:
            (valid,) = _nb201_indices(data, spec.split_file, ("xvalid",), len(data.y_test))
        else:
            valid, _ = stratified_halves(data.y_test, seed)
        return data.x_train, data.y_train, data.x_test[valid], data.y_test[valid]
    if data.official_order:
        train, valid = _nb201_indices(data, spec.split_file, ("train", "valid"), len(data.y_train))
    else:
        train, valid = stratified_halves(data.y_train, seed)
    return data.x_train[train], data.y_train[train], data.x_train[valid], data.y_train[valid]
