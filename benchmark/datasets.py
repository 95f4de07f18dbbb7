"""Image datasets loaded once as uint8 tensors (no DataLoader).

`load_dataset(name, data_dir)` reads, by the files it finds:
  * official CIFAR-10 python batches (`cifar-10-batches-py/`, or its parent),
  * official CIFAR-100 python (`cifar-100-python/`, or its parent),
  * official ImageNet16 batches as NAS-Bench-201 uses them (`train_data_batch_1..10`, `val_data`;
    labels are 1-based, only labels 1..120 are kept and shifted to 0-based),
  * an image folder `train/<class>/*`, `test/<class>/*` (classes sorted by name),
and any of these inside a tar archive (.tar.gz). Without a data dir, cifar10 falls back to the
embedded JPEG copy in `data/`. Tar archives and image folders are decoded once and cached as .npz
under $NB201_CACHE_DIR (default `<repo>/.cache`), keyed by path, size and mtime.

`proxy_split(data, seed)` gives the images that training proxies train on and score on.
"""
from __future__ import annotations

import difflib
import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, NamedTuple, Protocol

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from benchmark.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_CIFAR10 = REPO_ROOT / "data" / "cifar10-jpeg.tar.gz"
EMBEDDED_SOURCE = "cifar10-jpeg75"
SPLITS_DIR = REPO_ROOT / "data" / "splits"
CACHE_FORMAT_VERSION = 1  # bump when decoding changes: old cache files are then ignored
_PARALLEL_MIN_IMAGES = 4096
_CHUNK = 1000


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    resolution: int
    split_file: str         # NB201 split file under data/splits
    valid_from_test: bool   # NB201 validates on the `xvalid` half of the test set
    embedded: bool          # a copy ships in data/


DATASETS = {s.name: s for s in (
    DatasetSpec("cifar10", 10, 32, "cifar-split.txt.gz", False, True),
    DatasetSpec("cifar100", 100, 32, "cifar100-test-split.txt.gz", True, False),
    DatasetSpec("imagenet16-120", 120, 16, "imagenet-16-120-test-split.txt.gz", True, False),
)}


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


def dataset_spec(name: str) -> DatasetSpec:
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown dataset {name!r}{hint}; choose from {', '.join(DATASETS)}")


def cache_dir() -> Path:
    return Path(os.environ.get("NB201_CACHE_DIR") or REPO_ROOT / ".cache") / "datasets"


# ---------------------------------------------------------------- file trees (folder or tar)

class _Tree(Protocol):
    def dirs(self, rel: str) -> list[str]: ...    # sorted visible subfolder names
    def files(self, rel: str) -> list[str]: ...   # sorted visible file names
    def read(self, rel: str) -> bytes: ...


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _visible(name: str) -> bool:
    return not name.startswith(".")


@dataclass(frozen=True)
class _DirTree:
    root: Path

    def _entries(self, rel: str) -> list[os.DirEntry]:
        try:
            with os.scandir(self.root / rel) as it:
                return sorted((e for e in it if _visible(e.name)), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def dirs(self, rel: str) -> list[str]:
        return [e.name for e in self._entries(rel) if e.is_dir()]

    def files(self, rel: str) -> list[str]:
        return [e.name for e in self._entries(rel) if e.is_file()]

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def stamps(self, rel: str) -> list[tuple[str, int, int]]:
        """(path, size, mtime_ns) of every file below rel: the cache key of an image folder."""
        out = []
        for top, _, names in os.walk(self.root / rel):
            for n in names:
                st = os.stat(os.path.join(top, n))
                out.append((os.path.relpath(os.path.join(top, n), self.root), st.st_size, st.st_mtime_ns))
        return sorted(out)


@dataclass(frozen=True)
class _TarTree:
    blobs: dict[str, bytes]
    children: dict[str, tuple[frozenset[str], frozenset[str]]]   # folder -> (subfolders, files)

    def dirs(self, rel: str) -> list[str]:
        return sorted(n for n in self.children.get(rel, ((), ()))[0] if _visible(n))

    def files(self, rel: str) -> list[str]:
        return sorted(n for n in self.children.get(rel, ((), ()))[1] if _visible(n))

    def read(self, rel: str) -> bytes:
        return self.blobs[rel]


def _read_tar(path: Path) -> _TarTree:
    blobs: dict[str, bytes] = {}
    with tarfile.open(path, "r:*") as tf:
        for member in tf:
            if member.isfile():
                name = member.name.removeprefix("./").strip("/")
                blobs[name] = tf.extractfile(member).read()
    subdirs: dict[str, set[str]] = {}
    files: dict[str, set[str]] = {}
    for name in blobs:
        parts = name.split("/")
        for i in range(len(parts) - 1):
            subdirs.setdefault("/".join(parts[:i]), set()).add(parts[i])
        files.setdefault("/".join(parts[:-1]), set()).add(parts[-1])
    children = {k: (frozenset(subdirs.get(k, ())), frozenset(files.get(k, ())))
                for k in subdirs.keys() | files.keys()}
    return _TarTree(blobs, children)


# ---------------------------------------------------------------- official pickled batches

class _Arrays(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


_PICKLE_GLOBALS = {
    ("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dataset batches only: arrays, lists, dicts; refuses any other object."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _unpickle(tree: _Tree, rel: str) -> dict[str, object]:
    try:
        raw = tree.read(rel)
    except (FileNotFoundError, KeyError):
        raise UserError(f"missing file {rel}") from None
    try:
        entry = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise UserError(f"{rel}: not a dataset batch file ({e})") from None
    if not isinstance(entry, dict):
        raise UserError(f"{rel}: not a dataset batch file (no dict inside)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _batch(tree: _Tree, rel: str, label_key: str, res: int) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle(tree, rel)
    if "data" not in entry or label_key not in entry:
        raise UserError(f"{rel}: batch file lacks 'data' or {label_key!r}")
    data, labels = np.asarray(entry["data"]), np.asarray(entry[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape != (len(labels), 3 * res * res):
        raise UserError(f"{rel}: expected uint8 data of shape (N, {3 * res * res}) with N labels, "
                        f"got {data.dtype} {data.shape} with {len(labels)} labels")
    return data.reshape(-1, 3, res, res), labels


def _batches(tree: _Tree, root: str, names: list[str], label_key: str, res: int,
             keep_below: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate batch files; keep_below=K keeps 1-based labels 1..K and makes them 0-based."""
    xs, ys = [], []
    for name in names:
        x, y = _batch(tree, _join(root, name), label_key, res)
        if keep_below is not None:
            keep = (y >= 1) & (y <= keep_below)
            x, y = x[keep], y[keep] - 1
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _load_cifar10(tree: _Tree, root: str, spec: DatasetSpec) -> _Arrays:
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return _Arrays(*_batches(tree, root, train, "labels", spec.resolution),
                   *_batches(tree, root, ["test_batch"], "labels", spec.resolution))


def _load_cifar100(tree: _Tree, root: str, spec: DatasetSpec) -> _Arrays:
    return _Arrays(*_batches(tree, root, ["train"], "fine_labels", spec.resolution),
                   *_batches(tree, root, ["test"], "fine_labels", spec.resolution))


def _load_imagenet16(tree: _Tree, root: str, spec: DatasetSpec) -> _Arrays:
    train = [f"train_data_batch_{i}" for i in range(1, 11)]
    n, res = spec.num_classes, spec.resolution
    return _Arrays(*_batches(tree, root, train, "labels", res, keep_below=n),
                   *_batches(tree, root, ["val_data"], "labels", res, keep_below=n))


# ---------------------------------------------------------------- image folders

def _decode_chunk(items: list[tuple[str, bytes]], res: int) -> np.ndarray:
    out = np.empty((len(items), res, res, 3), np.uint8)
    for i, (name, blob) in enumerate(items):
        try:
            with Image.open(io.BytesIO(blob)) as im:
                pixels = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise UserError(f"{name}: cannot decode image ({e})") from None
        if pixels.shape != (res, res, 3):
            raise UserError(f"{name}: image is {pixels.shape[1]}x{pixels.shape[0]}, expected {res}x{res}")
        out[i] = pixels
    return out


def _decode_images(items: list[tuple[str, bytes]], res: int) -> np.ndarray:
    """Decode images to uint8 (N, 3, res, res), in parallel over the CPU cores when many."""
    chunks = [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    workers = min(os.cpu_count() or 1, 8, len(chunks))
    bar = tqdm(total=len(items), desc="decoding images (cached afterwards)", unit="img",
               disable=len(items) < _PARALLEL_MIN_IMAGES)
    parts = []
    with bar:
        if workers > 1 and len(items) >= _PARALLEL_MIN_IMAGES:
            with ProcessPoolExecutor(workers) as pool:
                for part in pool.map(_decode_chunk, chunks, [res] * len(chunks)):
                    parts.append(part)
                    bar.update(len(part))
        else:
            for chunk in chunks:
                parts.append(_decode_chunk(chunk, res))
                bar.update(len(chunk))
    hwc = np.concatenate(parts) if parts else np.empty((0, res, res, 3), np.uint8)
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))


def _folder_items(tree: _Tree, split: str, classes: list[str]) -> tuple[list[tuple[str, bytes]], np.ndarray]:
    items, labels = [], []
    for label, cls in enumerate(classes):
        folder = _join(split, cls)
        names = tree.files(folder)
        items += [(_join(folder, n), tree.read(_join(folder, n))) for n in names]
        labels += [label] * len(names)
    return items, np.asarray(labels, dtype=np.int64)


def _load_folder(tree: _Tree, root: str, spec: DatasetSpec) -> _Arrays:
    classes = tree.dirs(_join(root, "train"))
    if tree.dirs(_join(root, "test")) != classes:
        raise UserError(f"{_join(root, 'test')}/ and {_join(root, 'train')}/ hold different class folders")
    train_items, y_train = _folder_items(tree, _join(root, "train"), classes)
    test_items, y_test = _folder_items(tree, _join(root, "test"), classes)
    if not train_items or not test_items:
        raise UserError(f"image folder {root or '.'} has no images in train/ or test/")
    x = _decode_images(train_items + test_items, spec.resolution)
    return _Arrays(x[:len(train_items)], y_train, x[len(train_items):], y_test)


# ---------------------------------------------------------------- format detection

@dataclass(frozen=True)
class _Format:
    key: str
    official: bool                                           # official order; else image folder
    matches: Callable[[_Tree, str], bool]
    mismatch: Callable[[_Tree, str, DatasetSpec], str]      # "" when it holds the dataset
    load: Callable[[_Tree, str, DatasetSpec], _Arrays]


def _has_files(*names: str) -> Callable[[_Tree, str], bool]:
    return lambda tree, root: set(names) <= set(tree.files(root))


def _holds_only(dataset: str, what: str) -> Callable[[_Tree, str, DatasetSpec], str]:
    return lambda tree, root, spec: "" if spec.name == dataset else f"holds {what}, not {spec.name}"


def _folder_mismatch(tree: _Tree, root: str, spec: DatasetSpec) -> str:
    n = len(tree.dirs(_join(root, "train")))
    return "" if n == spec.num_classes else \
        f"has {n} class folders in train/ but {spec.name} has {spec.num_classes} classes"


_FORMATS = (
    _Format("cifar10-batches", True, _has_files("data_batch_1", "test_batch"),
            _holds_only("cifar10", "CIFAR-10 batches (10 classes)"), _load_cifar10),
    _Format("cifar100-python", True, _has_files("train", "test"),
            _holds_only("cifar100", "CIFAR-100 (100 classes)"), _load_cifar100),
    _Format("imagenet16", True, _has_files("train_data_batch_1", "val_data"),
            _holds_only("imagenet16-120", "ImageNet16 batches"), _load_imagenet16),
    _Format("imagefolder", False, lambda tree, root: {"train", "test"} <= set(tree.dirs(root)),
            _folder_mismatch, _load_folder),
)
_FORMAT_BY_KEY = {f.key: f for f in _FORMATS}


def _detect(tree: _Tree, spec: DatasetSpec, label: str) -> tuple[_Format, str]:
    """The first (format, root folder) holding `spec`, looking in the top folder and its children."""
    found = [(fmt, root) for root in ["", *tree.dirs("")] for fmt in _FORMATS if fmt.matches(tree, root)]
    for fmt, root in found:
        if not fmt.mismatch(tree, root, spec):
            return fmt, root
    if found:
        fmt, root = found[0]
        raise UserError(f"{label}: {fmt.mismatch(tree, root, spec)}")
    raise UserError(f"{label}: unknown data format (expected CIFAR-10/100 python batches, ImageNet16 "
                    "batches, or train/<class>/ and test/<class>/ image folders, or a .tar.gz of one)")


# ---------------------------------------------------------------- cache and loading

def _cache_key(spec: DatasetSpec, path: Path, stamps: object) -> str:
    text = json.dumps([CACHE_FORMAT_VERSION, spec.name, str(path.resolve()), stamps])
    return f"{spec.name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _cached(key: str, build: Callable[[], tuple[_Format, _Arrays]]) -> tuple[_Format, _Arrays]:
    path = cache_dir() / f"{key}.npz"
    try:
        with np.load(path) as z:
            return _FORMAT_BY_KEY[str(z["format"])], _Arrays(*(z[k] for k in _Arrays._fields))
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


def _read(path: Path, spec: DatasetSpec) -> tuple[_Format, _Arrays]:
    if path.is_dir():
        tree = _DirTree(path)
        fmt, root = _detect(tree, spec, str(path))
        if fmt.official:   # pickled arrays read as fast as a cache would
            return fmt, fmt.load(tree, root, spec)
        key = _cache_key(spec, path, tree.stamps(root))
        return _cached(key, lambda: (fmt, fmt.load(tree, root, spec)))
    if path.is_file() and tarfile.is_tarfile(path):
        st = path.stat()

        def build() -> tuple[_Format, _Arrays]:
            tree = _read_tar(path)
            fmt, root = _detect(tree, spec, str(path))
            return fmt, fmt.load(tree, root, spec)
        return _cached(_cache_key(spec, path, [st.st_size, st.st_mtime_ns]), build)
    raise UserError(f"{path}: unknown data format (neither a folder nor a tar archive)")


def _data_path(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> Path:
    given = data_dir if data_dir is not None else os.environ.get("NB201_DATA_DIR") or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.exists():
            raise UserError(f"data dir {path} does not exist")
        return path
    if not spec.embedded:
        raise UserError(f"{spec.name} is not shipped: pass --data-dir or set NB201_DATA_DIR "
                        "to its official files or an image folder")
    if not EMBEDDED_CIFAR10.is_file():
        raise UserError(f"the embedded CIFAR-10 {EMBEDDED_CIFAR10} is missing; pass --data-dir")
    return EMBEDDED_CIFAR10


def _source_id(fmt: _Format, spec: DatasetSpec, path: Path) -> str:
    if fmt.official:
        return f"{spec.name}-official"
    if EMBEDDED_CIFAR10.is_file() and path.is_file() and path.samefile(EMBEDDED_CIFAR10):
        return EMBEDDED_SOURCE
    return f"imagefolder:{path.resolve().name}"


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(a, requirements=["C", "W"]))


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Load a dataset as CPU uint8 tensors. Data dir: `data_dir`, else $NB201_DATA_DIR, else
    (cifar10 only) the embedded JPEG copy. Raises UserError on a bad name, path or format."""
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
    with gzip.open(SPLITS_DIR / file, "rt") as f:
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
    the test set drawn with `seed`. `seed` is unused where NB201's split applies."""
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
