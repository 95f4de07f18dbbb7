"""Readers of the on-disk dataset formats, each giving uint8 arrays (N, 3, H, W) and int64 labels:
  * official CIFAR-10 python batches (`data_batch_1..5`, `test_batch`),
  * official CIFAR-100 python (`train`, `test`),
  * official ImageNet16 batches as NAS-Bench-201 uses them (`train_data_batch_1..10`, `val_data`;
    labels are 1-based, only labels 1..120 are kept and shifted to 0-based),
  * an image folder `train/<class>/*`, `test/<class>/*` (classes sorted by name),
found in a folder or one of its children, on disk (`DirTree`) or in a tar archive (`read_tar`).
Pickled batches are read with an unpickler that accepts arrays, lists and dicts only.
`detect` picks the format holding a dataset; `nb201.datasets` caches and wraps the result.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Protocol

import numpy as np
from PIL import Image
from .catalog import DatasetSpec
from .errors import UserError
from .progress import Progress

_PARALLEL_MIN_IMAGES = 4096
_CHUNK = 1000


class Arrays(NamedTuple):
    """What every format gives: uint8 images (N, 3, H, W) and int64 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


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
class DirTree:
    """A folder on disk."""

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


#: What reading a truncated or damaged (compressed) tar archive raises.
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)


def _unreadable(path: Path, err: BaseException) -> UserError:
    return UserError(f"{path}: cannot read this archive, is it complete? ({err})")


def is_tar(path: Path) -> bool:
    """Whether ``path`` is a tar archive (plain or compressed); a truncated one is a UserError."""
    try:
        return tarfile.is_tarfile(path)
    except _DAMAGED as err:
        raise _unreadable(path, err) from None


def read_tar(path: Path, contents: bool = True) -> _TarTree:
    """Every file of a tar archive, read into memory (without ``contents``: the names only, each
    file empty; the archive is still read through). A truncated or damaged archive is a
    UserError."""
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if member.isfile():
                    name = member.name.removeprefix("./").strip("/")
                    blobs[name] = tf.extractfile(member).read() if contents else b""
    except _DAMAGED as err:
        raise _unreadable(path, err) from None
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


def _load_cifar10(tree: _Tree, root: str, spec: DatasetSpec) -> Arrays:
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return Arrays(*_batches(tree, root, train, "labels", spec.resolution),
                   *_batches(tree, root, ["test_batch"], "labels", spec.resolution))


def _load_cifar100(tree: _Tree, root: str, spec: DatasetSpec) -> Arrays:
    return Arrays(*_batches(tree, root, ["train"], "fine_labels", spec.resolution),
                   *_batches(tree, root, ["test"], "fine_labels", spec.resolution))


def _load_imagenet16(tree: _Tree, root: str, spec: DatasetSpec) -> Arrays:
    train = [f"train_data_batch_{i}" for i in range(1, 11)]
    n, res = spec.num_classes, spec.resolution
    return Arrays(*_batches(tree, root, train, "labels", res, keep_below=n),
                   *_batches(tree, root, ["val_data"], "labels", res, keep_below=n))


# ---------------------------------------------------------------- image folders

def _open(name: str, blob: bytes, res: int):
    """The image in ``blob``, opened (its header read); a UserError if it is none, or not
    res x res."""
    try:
        im = Image.open(io.BytesIO(blob))
    except (OSError, ValueError) as e:
        raise UserError(f"{name}: cannot decode image ({e})") from None
    if im.size != (res, res):
        raise UserError(f"{name}: image is {im.size[0]}x{im.size[1]}, expected {res}x{res}")
    return im


def _decode_chunk(items: list[tuple[str, bytes]], res: int) -> np.ndarray:
    out = np.empty((len(items), res, res, 3), np.uint8)
    for i, (name, blob) in enumerate(items):
        with _open(name, blob, res) as im:
            try:
                out[i] = np.asarray(im.convert("RGB"))
            except (OSError, ValueError) as e:
                raise UserError(f"{name}: cannot decode image ({e})") from None
    return out


def _decode_images(items: list[tuple[str, bytes]], res: int) -> np.ndarray:
    """Decode images to uint8 (N, 3, res, res), in parallel over the CPU cores when many. Every
    image's header is checked first, so that a file that is no image, or one of another size, is
    the one-line error before the progress bar starts (a bar cut short by an image whose data is
    damaged is cleared)."""
    for name, blob in items:
        _open(name, blob, res).close()
    chunks = [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    workers = min(os.cpu_count() or 1, 8, len(chunks))
    bar = Progress(total=len(items), desc="decoding images (cached afterwards)", unit="img",
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


def _load_folder(tree: _Tree, root: str, spec: DatasetSpec) -> Arrays:
    classes = tree.dirs(_join(root, "train"))
    if tree.dirs(_join(root, "test")) != classes:
        raise UserError(f"{_join(root, 'test')}/ and {_join(root, 'train')}/ hold different class folders")
    train_items, y_train = _folder_items(tree, _join(root, "train"), classes)
    test_items, y_test = _folder_items(tree, _join(root, "test"), classes)
    if not train_items or not test_items:
        raise UserError(f"image folder {root or '.'} has no images in train/ or test/")
    x = _decode_images(train_items + test_items, spec.resolution)
    return Arrays(x[:len(train_items)], y_train, x[len(train_items):], y_test)


# ---------------------------------------------------------------- format detection

@dataclass(frozen=True)
class Format:
    key: str
    official: bool                                          # official order; else image folder
    matches: Callable[[_Tree, str], bool]
    mismatch: Callable[[_Tree, str, DatasetSpec], str]      # "" when it holds the dataset
    load: Callable[[_Tree, str, DatasetSpec], Arrays]


def _has_files(*names: str) -> Callable[[_Tree, str], bool]:
    return lambda tree, root: set(names) <= set(tree.files(root))


def _holds_only(dataset: str, what: str) -> Callable[[_Tree, str, DatasetSpec], str]:
    return lambda tree, root, spec: "" if spec.name == dataset else f"holds {what}, not {spec.name}"


def _folder_mismatch(tree: _Tree, root: str, spec: DatasetSpec) -> str:
    n = len(tree.dirs(_join(root, "train")))
    return "" if n == spec.num_classes else \
        f"has {n} class folders in train/ but {spec.name} has {spec.num_classes} classes"


_FORMATS = (
    Format("cifar10-batches", True, _has_files("data_batch_1", "test_batch"),
           _holds_only("cifar10", "CIFAR-10 batches (10 classes)"), _load_cifar10),
    Format("cifar100-python", True, _has_files("train", "test"),
           _holds_only("cifar100", "CIFAR-100 (100 classes)"), _load_cifar100),
    Format("imagenet16", True, _has_files("train_data_batch_1", "val_data"),
           _holds_only("imagenet16-120", "ImageNet16 batches"), _load_imagenet16),
    Format("imagefolder", False, lambda tree, root: {"train", "test"} <= set(tree.dirs(root)),
           _folder_mismatch, _load_folder),
)
FORMAT_BY_KEY = {f.key: f for f in _FORMATS}


def formats_in(tree: _Tree, label: str) -> list[tuple[Format, str]]:
    """Every (format, root folder) found in the top folder and its children, whichever dataset
    each holds; a UserError when there is none."""
    found = [(fmt, root) for root in ["", *tree.dirs("")] for fmt in _FORMATS if fmt.matches(tree, root)]
    if not found:
        raise UserError(f"{label}: unknown data format (expected CIFAR-10/100 python batches, "
                        "ImageNet16 batches, or train/<class>/ and test/<class>/ image folders, or "
                        "a .tar.gz of one)")
    return found


def detect(tree: _Tree, spec: DatasetSpec, label: str) -> tuple[Format, str]:
    """The first (format, root folder) holding `spec`, looking in the top folder and its children."""
    found = formats_in(tree, label)
    for fmt, root in found:
        if not fmt.mismatch(tree, root, spec):
            return fmt, root
    fmt, root = found[0]
    raise UserError(f"{label}: {fmt.mismatch(tree, root, spec)}")
