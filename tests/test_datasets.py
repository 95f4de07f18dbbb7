"""Dataset loading: official formats and image folders on tiny files written here, splits, errors."""
import os
import pickle
import tarfile
import time

import numpy as np
import pytest
import torch
from PIL import Image

from nb201 import datasets as D
from nb201 import formats
from nb201.catalog import EMBEDDED_DATASETS, SPECS
from nb201.datasets import ImageData, load_dataset, proxy_split
from nb201.errors import UserError

_USER_CACHE_DIR = os.environ.get("NB201_CACHE_DIR")


pytestmark = pytest.mark.usefixtures("isolated")


def _dump(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=2))   # the official files are Python 2 pickles


def _images(rng, n, res):
    return rng.integers(0, 256, (n, 3 * res * res), dtype=np.uint8)


def write_cifar10(root, rng, per_class=2):
    """cifar-10-batches-py with 5 train batches and a test batch; returns (x_train, y_train)."""
    xs, ys = [], []
    for i in range(1, 6):
        labels = [int(v) for v in rng.permutation(np.repeat(np.arange(10), per_class))]
        data = _images(rng, len(labels), 32)
        _dump(root / "cifar-10-batches-py" / f"data_batch_{i}",
              {b"batch_label": b"training batch", b"labels": labels, b"data": data})
        xs.append(data)
        ys += labels
    _dump(root / "cifar-10-batches-py" / "test_batch",
          {b"labels": list(range(10)), b"data": _images(rng, 10, 32)})
    return np.concatenate(xs), np.asarray(ys)


def write_cifar100(root, rng):
    fine = [int(v) for v in rng.permutation(np.repeat(np.arange(100), 2))]
    data = _images(rng, len(fine), 32)
    folder = root / "cifar-100-python"
    _dump(folder / "train", {b"data": data, b"fine_labels": fine, b"coarse_labels": [f // 5 for f in fine]})
    _dump(folder / "test", {b"data": _images(rng, 100, 32), b"fine_labels": list(range(100))})
    _dump(folder / "meta", {b"fine_label_names": [b"c%d" % i for i in range(100)]})
    return data, np.asarray(fine)


def write_imagenet16(root, rng):
    """ImageNet16 batches with 1-based labels 1..1000; returns what an ImageNet16-120 load keeps."""
    folder = root / "ImageNet16"
    kept_x, kept_y = [], []
    for i in range(1, 11):
        every_kept_label = list(range(12 * i - 11, 12 * i + 1))
        labels = rng.integers(1, 1001, 40).tolist() + [1, 120, 121, 1000] + every_kept_label
        data = _images(rng, len(labels), 16)
        _dump(folder / f"train_data_batch_{i}", {"data": data, "labels": labels, "mean": np.zeros(768)})
        keep = np.asarray(labels) <= 120
        kept_x.append(data[keep])
        kept_y.append(np.asarray(labels)[keep] - 1)
    _dump(folder / "val_data", {"data": _images(rng, 130, 16), "labels": list(range(1, 131))})
    return np.concatenate(kept_x), np.concatenate(kept_y)


def write_folder(root, rng, classes, res=32, per_class=(2, 1)):
    """train/<class>/*.png and test/<class>/*.png; returns {(split, class): [HWC arrays]}."""
    written = {}
    for split, n in zip(("train", "test"), per_class):
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for j in range(n):
                pixels = rng.integers(0, 256, (res, res, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{j:03d}.png")
                written.setdefault((split, cls), []).append(pixels)
    return written


def tar_folder(folder, out, arcname):
    with tarfile.open(out, "w:gz") as tf:
        tf.add(folder, arcname=arcname)
    return out


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def assert_one_line_user_error(fn, *args, match):
    with pytest.raises(UserError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- official formats

@pytest.mark.parametrize("pick", [lambda root: root, lambda root: root / "cifar-10-batches-py"])
def test_cifar10_official_batches(tmp_path, pick):
    x, y = write_cifar10(tmp_path, np.random.default_rng(0))
    data = load_dataset("cifar10", pick(tmp_path))
    assert (data.source, data.num_classes, data.resolution, data.official_order) == \
        ("cifar10-official", 10, 32, True)
    assert data.x_train.shape == (100, 3, 32, 32) and data.x_train.dtype == torch.uint8
    assert data.y_train.dtype == torch.int64 and data.x_test.shape == (10, 3, 32, 32)
    assert torch.equal(data.x_train, torch.from_numpy(x.reshape(-1, 3, 32, 32)))   # R plane, G, B
    assert data.y_train.tolist() == y.tolist()


def test_cifar100_official(tmp_path):
    x, y = write_cifar100(tmp_path, np.random.default_rng(1))
    data = load_dataset("cifar100", str(tmp_path))
    assert (data.source, data.num_classes, data.official_order) == ("cifar100-official", 100, True)
    assert torch.equal(data.x_train, torch.from_numpy(x.reshape(-1, 3, 32, 32)))
    assert data.y_train.tolist() == y.tolist()
    assert data.y_test.tolist() == list(range(100))


def test_imagenet16_120_keeps_labels_up_to_120_zero_based(tmp_path):
    x, y = write_imagenet16(tmp_path, np.random.default_rng(2))
    data = load_dataset("imagenet16-120", tmp_path / "ImageNet16")
    assert (data.source, data.num_classes, data.resolution) == ("imagenet16-120-official", 120, 16)
    assert data.x_train.shape == (len(y), 3, 16, 16)
    assert torch.equal(data.x_train, torch.from_numpy(x.reshape(-1, 3, 16, 16)))
    assert data.y_train.tolist() == y.tolist()
    assert data.y_train.min() == 0 and data.y_train.max() == 119
    assert data.y_test.tolist() == list(range(120))          # val labels 121..130 dropped


def test_nb201_data_root_with_all_three_picks_each(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    write_cifar10(tmp_path, rng)
    write_cifar100(tmp_path, rng)
    write_imagenet16(tmp_path, rng)
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path))
    assert [load_dataset(n).source for n in SPECS] == \
        ["cifar10-official", "cifar100-official", "imagenet16-120-official"]


def test_official_batches_inside_a_tarball(tmp_path):
    x, _ = write_cifar10(tmp_path / "src", np.random.default_rng(4))
    archive = tar_folder(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz",
                         "cifar-10-batches-py")
    data = load_dataset("cifar10", archive)
    assert data.source == "cifar10-official" and data.official_order
    assert torch.equal(data.x_train, torch.from_numpy(x.reshape(-1, 3, 32, 32)))


# ---------------------------------------------------------------- image folders

def _check_folder(data, written, classes):
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        expected = [(img, label) for label, cls in enumerate(classes) for img in written[(split, cls)]]
        assert y.tolist() == [label for _, label in expected]
        assert torch.equal(x, torch.from_numpy(np.stack([img.transpose(2, 0, 1) for img, _ in expected])))


def test_image_folder_sorted_classes_pixel_exact(tmp_path):
    classes = sorted(CIFAR10_CLASSES, reverse=True)          # written in reverse, loaded sorted
    written = write_folder(tmp_path / "mycifar", np.random.default_rng(5), classes)
    data = load_dataset("cifar10", tmp_path / "mycifar")
    assert (data.source, data.official_order) == ("imagefolder:mycifar", False)
    _check_folder(data, written, sorted(classes))


def test_image_folder_tarball_is_cached_until_it_changes(tmp_path, monkeypatch):
    classes = [f"c{i:03d}" for i in range(120)]
    written = write_folder(tmp_path / "src", np.random.default_rng(6), classes, res=16, per_class=(1, 1))
    archive = tar_folder(tmp_path / "src", tmp_path / "in16.tar.gz", "in16")
    first = load_dataset("imagenet16-120", archive)
    assert (first.source, first.resolution) == ("imagefolder:in16.tar.gz", 16)
    _check_folder(first, written, classes)
    assert len(list((tmp_path / "cache" / "datasets").glob("*.npz"))) == 1

    def no_decode(*_):
        raise AssertionError("decoded again instead of reading the cache")
    monkeypatch.setattr(formats, "_decode_images", no_decode)
    second = load_dataset("imagenet16-120", archive)
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    os.utime(archive, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("imagenet16-120", archive)


def test_parallel_decode_equals_serial(tmp_path, monkeypatch):
    write_folder(tmp_path / "f", np.random.default_rng(7), CIFAR10_CLASSES, per_class=(3, 1))
    serial = load_dataset("cifar10", tmp_path / "f")
    monkeypatch.setattr(formats, "_PARALLEL_MIN_IMAGES", 1)
    monkeypatch.setattr(formats, "_CHUNK", 7)
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "other-cache"))
    parallel = load_dataset("cifar10", tmp_path / "f")
    assert torch.equal(serial.x_train, parallel.x_train) and torch.equal(serial.x_test, parallel.x_test)


def test_explicit_data_dir_beats_env(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "a", np.random.default_rng(8))
    monkeypatch.setenv("NB201_DATA_DIR", str(tmp_path / "does-not-exist"))
    assert load_dataset("cifar10", tmp_path / "a").source == "cifar10-official"
    assert_one_line_user_error(load_dataset, "cifar10", match="does not exist")


# ---------------------------------------------------------------- errors

def test_errors_are_one_line_user_errors(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hello")
    (tmp_path / "file.bin").write_bytes(b"\x00" * 100)
    write_folder(tmp_path / "three", np.random.default_rng(9), ["a", "b", "c"], per_class=(1, 1))
    write_cifar10(tmp_path / "c10", np.random.default_rng(10))
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "missing", match="does not exist")
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "junk", match="unknown data format")
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "file.bin", match="unknown data format")
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "three", match="3 class folders")
    assert_one_line_user_error(load_dataset, "cifar100", tmp_path / "c10", match="CIFAR-10.*not cifar100")
    for name in set(SPECS) - set(EMBEDDED_DATASETS):     # no copy shipped: say where to get one
        assert_one_line_user_error(load_dataset, name, None, match="not shipped.*--data-dir.*NB201_DATA_DIR")
    assert_one_line_user_error(load_dataset, "cifar-10", None, match="did you mean 'cifar10'")


def test_bad_files_are_user_errors(tmp_path):
    write_folder(tmp_path / "big", np.random.default_rng(11), CIFAR10_CLASSES, res=16, per_class=(1, 1))
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "big", match="16x16, expected 32x32")
    write_folder(tmp_path / "broken", np.random.default_rng(12), CIFAR10_CLASSES, per_class=(1, 1))
    (tmp_path / "broken" / "train" / "cat" / "000.png").write_bytes(b"not a png")
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "broken", match="cannot decode")
    write_cifar10(tmp_path / "evil", np.random.default_rng(13))
    (tmp_path / "evil" / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": os.system}))
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "evil", match="not a dataset batch")
    write_cifar10(tmp_path / "labels", np.random.default_rng(14))
    _dump(tmp_path / "labels" / "cifar-10-batches-py" / "test_batch",
          {b"labels": [10], b"data": _images(np.random.default_rng(0), 1, 32)})
    assert_one_line_user_error(load_dataset, "cifar10", tmp_path / "labels", match="labels must be 0..9")


# ---------------------------------------------------------------- splits

def _fake(name, y_train, y_test, official):
    spec = SPECS[name]
    return ImageData(name, "test", torch.zeros(len(y_train), 1, 1, 1, dtype=torch.uint8), y_train,
                     torch.zeros(len(y_test), 1, 1, 1, dtype=torch.uint8), y_test,
                     spec.num_classes, spec.resolution, official)


def test_nb201_split_files_partition_their_pools():
    for file, keys, n in (("cifar-split.txt.gz", ("train", "valid"), 50000),
                          ("cifar100-test-split.txt.gz", ("xvalid", "xtest"), 10000),
                          ("imagenet-16-120-test-split.txt.gz", ("xvalid", "xtest"), 6000)):
        a, b = (D.nb201_split(file)[k] for k in keys)
        assert len(a) == len(b) == n // 2
        assert sorted(torch.cat([a, b]).tolist()) == list(range(n))


def test_proxy_split_cifar10_official_uses_nb201_indices():
    data = _fake("cifar10", torch.arange(50000), torch.arange(10), official=True)
    train_x, train_y, valid_x, valid_y = proxy_split(data, seed=5)
    split = D.nb201_split("cifar-split.txt.gz")
    assert torch.equal(train_y, split["train"]) and torch.equal(valid_y, split["valid"])
    assert train_x.shape == valid_x.shape == (25000, 1, 1, 1)
    assert train_y[:5].tolist() == [0, 5, 7, 11, 13]


@pytest.mark.parametrize("name", ["cifar100", "imagenet16-120"])
def test_proxy_split_test_set_datasets_validate_on_xvalid(name):
    spec = SPECS[name]
    n_test = 1 + int(torch.cat(list(D.nb201_split(spec.split_file).values())).max())
    data = _fake(name, torch.arange(30) % spec.num_classes, torch.arange(n_test), official=True)
    train_x, train_y, valid_x, valid_y = proxy_split(data)
    assert train_x is data.x_train and train_y is data.y_train
    assert torch.equal(valid_y, D.nb201_split(spec.split_file)["xvalid"]) and len(valid_x) == n_test // 2


def test_proxy_split_official_with_wrong_size_is_user_error(tmp_path):
    write_cifar10(tmp_path, np.random.default_rng(15))
    assert_one_line_user_error(proxy_split, load_dataset("cifar10", tmp_path), match="indexes 50000 images")


def test_stratified_split_is_deterministic_disjoint_and_stratified():
    y = torch.tensor([c for c in range(10) for _ in range(7 + c)])          # unequal classes
    data = _fake("cifar10", y, torch.arange(10), official=False)
    a = proxy_split(data, seed=0)
    assert all(torch.equal(u, v) for u, v in zip(a, proxy_split(data, seed=0)))
    train_idx, valid_idx = D.stratified_halves(y, 0)
    assert torch.equal(a[1], y[train_idx]) and torch.equal(a[3], y[valid_idx])
    assert sorted(torch.cat([train_idx, valid_idx]).tolist()) == list(range(len(y)))
    assert torch.equal(train_idx, D.stratified_halves(y, 0)[0])
    assert not torch.equal(train_idx, D.stratified_halves(y, 1)[0])
    for cls in range(10):
        n_train, n_valid = int((a[1] == cls).sum()), int((a[3] == cls).sum())
        assert n_train + n_valid == 7 + cls and n_train - n_valid in (0, 1)


def test_stratified_split_of_the_test_set_without_official_order():
    y_test = torch.arange(40) % 4
    data = _fake("cifar100", torch.arange(8), y_test, official=False)
    train_x, _, _, valid_y = proxy_split(data, seed=3)
    assert len(train_x) == 8 and torch.bincount(valid_y).tolist() == [5, 5, 5, 5]


# ---------------------------------------------------------------- the embedded copy

#: the official training sets' channel means (0..255, R, G, B): a copy's must match them closely
OFFICIAL_TRAIN_MEANS = {"cifar10": (125.3, 123.0, 113.9), "cifar100": (129.3, 124.1, 112.4)}


def test_every_embedded_copy_has_its_reference_values():
    assert set(OFFICIAL_TRAIN_MEANS) == set(EMBEDDED_DATASETS) and EMBEDDED_DATASETS
    sources = [SPECS[name].embedded.source for name in EMBEDDED_DATASETS]
    assert len(set(sources)) == len(sources) and not any(s.endswith("-official") for s in sources)
    assert set(D.EMBEDDED) == set(EMBEDDED_DATASETS)


@pytest.mark.parametrize("name", EMBEDDED_DATASETS)
def test_embedded_copy_loads_and_caches(monkeypatch, name):
    # the real cache (default <repo>/.cache): decoded once, reused by later runs
    if _USER_CACHE_DIR:
        monkeypatch.setenv("NB201_CACHE_DIR", _USER_CACHE_DIR)
    else:
        monkeypatch.delenv("NB201_CACHE_DIR")
    spec = SPECS[name]
    data = load_dataset(name)
    assert (data.name, data.source, data.num_classes, data.resolution, data.official_order) == \
        (name, spec.embedded.source, spec.num_classes, spec.resolution, False)
    side = spec.resolution
    assert data.x_train.shape == (spec.train_images, 3, side, side)
    assert data.x_test.shape == (spec.test_images, 3, side, side)
    assert data.x_train.dtype == torch.uint8 and data.y_train.dtype == torch.int64
    assert torch.bincount(data.y_train).tolist() == [spec.train_images // spec.num_classes] * spec.num_classes
    assert torch.bincount(data.y_test).tolist() == [spec.test_images // spec.num_classes] * spec.num_classes
    means = data.x_train.double().mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor(OFFICIAL_TRAIN_MEANS[name], dtype=torch.double), atol=0.3)
    start = time.perf_counter()
    again = load_dataset(name)
    assert time.perf_counter() - start < 3.0
    assert torch.equal(again.x_test, data.x_test)
    # the shipped archive named as --data-dir is still the shipped copy (same rows, same cache)
    assert load_dataset(name, D.EMBEDDED[name]).source == spec.embedded.source
    train_x, train_y, valid_x, valid_y = proxy_split(data, seed=0)
    assert (len(train_x), len(valid_x)) == (spec.proxy_train_images, spec.valid_images)
    per_class = spec.valid_images // spec.num_classes
    assert torch.bincount(valid_y).tolist() == [per_class] * spec.num_classes
    assert not torch.equal(proxy_split(data, seed=1)[2], valid_x)      # the seed draws the halves


def test_embedded_cifar100_labels_follow_cifar100s_order():
    """Class folders sorted by name are CIFAR-100's fine labels 0..99 (apple ... worm), and the
    loader numbers them in that order (formats._load_folder)."""
    with tarfile.open(D.EMBEDDED["cifar100"]) as tf:
        classes = sorted({m.name.split("/")[1] for m in tf if m.isfile() and m.name.startswith("train/")})
    assert len(classes) == SPECS["cifar100"].num_classes
    assert (classes[0], classes[1], classes[30], classes[99]) == ("apple", "aquarium_fish", "dolphin", "worm")


@pytest.mark.parametrize("name", EMBEDDED_DATASETS)
def test_a_missing_embedded_copy_is_a_one_line_user_error(monkeypatch, tmp_path, name):
    monkeypatch.setitem(D.EMBEDDED, name, tmp_path / "gone.tar.gz")
    assert_one_line_user_error(load_dataset, name, None, match=f"embedded {name} copy .*gone.tar.gz is missing")
