"""Reading truth from official NAS-Bench-201 / NATS-Bench files, on tiny fakes written here.

The fakes have the official on-disk structure (all 15,625 arch strings in ``meta_archs``, results
for three archs) as plain dicts, i.e. what ``ArchResults.state_dict()`` / ``ResultsCount.__dict__``
hold after ``clear_params()``, so the official packages read them exactly as the real files.
"""
import bz2
import os
import pickle
import sys

import numpy as np
import pytest
import torch

from nb201 import groundtruth
from nb201 import nb201_file as F
from nb201.errors import UserError

SEEDS = (777, 888, 999)
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
#: index -> hp -> official dataset -> one {eval set: top-1} per seed. Each number is distinct, so
#: reading the wrong dataset, split, schedule or seed shows.
RESULTS = {
    0: {
        "200": {"cifar10-valid": [{"x-valid": 80.0, "ori-test": 81.0},
                                  {"x-valid": 82.0, "ori-test": 83.0}],
                "cifar10": [{"ori-test": 90.0}, {"ori-test": 92.0}],
                "cifar100": [{"x-valid": 60.0, "x-test": 61.0, "ori-test": 62.0}],
                "ImageNet16-120": [{"x-valid": 40.0, "x-test": 41.0, "ori-test": 42.0}]},
        "12": {"cifar10-valid": [{"x-valid": 70.0, "ori-test": 71.0}],
               "cifar10": [{"ori-test": 72.0}],
               "cifar100": [{"x-valid": 50.0, "x-test": 51.0, "ori-test": 52.0}],
               "ImageNet16-120": [{"x-valid": 30.0, "x-test": 31.0, "ori-test": 32.0}]},
    },
    # like NAS-Bench-201 v1_0: the 12-epoch ('less') results only have cifar10-valid
    6111: {
        "200": {"cifar10-valid": [{"x-valid": 91.0, "ori-test": 93.0}] * 3,
                "cifar10": [{"ori-test": 94.0}, {"ori-test": 94.5}, {"ori-test": 95.0}]},
        "12": {"cifar10-valid": [{"x-valid": 75.0, "ori-test": 76.0}]},
    },
    15624: {
        "200": {"cifar100": [{"x-valid": 65.0, "x-test": 66.0, "ori-test": 67.0},
                             {"x-valid": 67.0, "x-test": 68.0, "ori-test": 69.0}]},
        "12": {},
    },
}
#: (dataset, metric) -> {index: value}; every other index must read NaN.
EXPECTED = {
    ("cifar10", "test_200"): {0: 91.0, 6111: 94.5},
    ("cifar10", "valid_200"): {0: 81.0, 6111: 91.0},
    ("cifar10", "test_12"): {0: 72.0},
    ("cifar10", "valid_12"): {0: 70.0, 6111: 75.0},
    ("cifar100", "test_200"): {0: 61.0, 15624: 67.0},
    ("cifar100", "valid_200"): {0: 60.0, 15624: 66.0},
    ("cifar100", "test_12"): {0: 51.0},
    ("imagenet16-120", "test_200"): {0: 41.0},
    ("imagenet16-120", "valid_12"): {0: 30.0},
}


def _run(arch, dataset, seed, epochs, evals):
    """A ResultsCount as stored: training and eval numbers kept for the last epoch only (as the
    v1_0 'OLD' records are), no weights, no times."""
    last = epochs - 1
    return {"name": dataset, "net_state_dict": None, "train_acc1es": {last: 99.0},
            "train_acc5es": None, "train_losses": {last: 0.05}, "train_times": None,
            "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch,
                            "class_num": CLASSES[dataset]},
            # a numpy scalar, which torch's weights-only unpickling refuses
            "params": 0.5, "flop": np.float64(80.0), "seed": seed, "epochs": epochs,
            "latency": [0.01], "eval_names": list(evals),
            "eval_acc1es": {f"{name}@{last}": acc for name, acc in evals.items()},
            "eval_times": {}, "eval_losses": {f"{name}@{last}": 1.0 for name in evals}}


def _arch_results(index, hp):
    """An ArchResults as stored (its state_dict)."""
    arch, spec = groundtruth._strings()[index], RESULTS[index][hp]
    runs = {(dataset, seed): _run(arch, dataset, seed, int(hp), evals)
            for dataset, trials in spec.items() for seed, evals in zip(SEEDS, trials)}
    return {"arch_index": index, "arch_str": arch, "all_results": runs,
            "dataset_seed": {dataset: list(SEEDS[:len(trials)])
                             for dataset, trials in spec.items()},
            "clear_net_done": True}


def write_nb201(path, archs=None):
    """NAS-Bench-201-v1_*.pth: a torch.save'd dict; 'full' = 200 epochs, 'less' = 12 epochs."""
    archs = list(groundtruth._strings()) if archs is None else archs
    torch.save({"meta_archs": archs, "total_archs": len(archs),
                "arch2infos": {i: {"full": _arch_results(i, "200"), "less": _arch_results(i, "12")}
                               for i in RESULTS},
                "evaluated_indexes": sorted(RESULTS)}, path)
    return path


def _pbz2(path, obj):
    with bz2.BZ2File(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)


def _nats_infos(index):
    return {hp: _arch_results(index, hp) for hp in ("12", "200")}


def write_nats_file(path):
    """NATS-tss-v1_0-3ffb9.pickle.pbz2: one bz2 pickle, hp keys '12' and '200'."""
    _pbz2(path, {"meta_archs": list(groundtruth._strings()),
                 "arch2infos": {i: _nats_infos(i) for i in RESULTS},
                 "evaluated_indexes": sorted(RESULTS)})
    return path


def write_nats_dir(path):
    """NATS-tss-v1_0-3ffb9-simple/: meta.pickle.pbz2 plus one {index:06d}.pickle.pbz2 an arch."""
    path.mkdir()
    _pbz2(path / "meta.pickle.pbz2", {"meta_archs": list(groundtruth._strings())})
    for i in RESULTS:
        _pbz2(path / f"{i:06d}.pickle.pbz2", _nats_infos(i))
    return path


@pytest.fixture(autouse=True)
def _fresh():
    F._open.cache_clear()
    yield
    F._open.cache_clear()


def _check(vector, expected):
    assert vector.shape == (groundtruth.NUM_ARCHS,)
    for index, value in expected.items():
        assert vector[index] == pytest.approx(value), index
    assert np.isnan(np.delete(vector, list(expected))).all()


def test_nb201_file_gives_official_numbers(tmp_path):
    pytest.importorskip("nas_201_api")
    path = write_nb201(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    # the fake needs the full unpickler, as the real files may
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    before = os.environ.get(F._NO_WEIGHTS_ONLY)
    for (dataset, metric), expected in EXPECTED.items():
        _check(F.load_truth(str(path), dataset, metric), expected)
    assert os.environ.get(F._NO_WEIGHTS_ONLY) == before


@pytest.mark.parametrize("writer, name", [(write_nats_file, "NATS-tss-v1_0-3ffb9.pickle.pbz2"),
                                          (write_nats_dir, "NATS-tss-v1_0-3ffb9-simple")])
def test_nats_file_and_folder_give_official_numbers(tmp_path, writer, name):
    pytest.importorskip("nats_bench")
    path = writer(tmp_path / name)
    for key in [("cifar10", "test_200"), ("cifar10", "valid_200"), ("cifar100", "test_12")]:
        _check(F.load_truth(str(path), *key), EXPECTED[key])


def test_indices_read_only_those_archs(tmp_path):
    pytest.importorskip("nas_201_api")
    path = str(write_nb201(tmp_path / "NAS-Bench-201-v1_1-096897.pth"))
    _check(F.load_truth(path, "cifar10", "test_200", indices=[0, 15624]), {0: 91.0})
    _check(F.load_truth(path, "cifar10", "test_200", indices=np.array([6111])), {6111: 94.5})
    with pytest.raises(UserError, match="out of range"):
        F.load_truth(path, "cifar10", "test_200", indices=[15625])


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no NAS-Bench-201"):
        F.load_truth(str(tmp_path / "NAS-Bench-201-v1_1-096897.pth"), "cifar10", "test_200")


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    nb201 = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    nb201.write_bytes(b"")
    nats = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    nats.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "nas_201_api", None)   # makes the import fail
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    with pytest.raises(UserError, match="pip install nas-bench-201"):
        F.load_truth(str(nb201), "cifar10", "test_200")
    with pytest.raises(UserError, match="pip install nats_bench"):
        F.load_truth(str(nats), "cifar10", "test_200")


def test_archs_in_another_order_are_refused(tmp_path):
    pytest.importorskip("nas_201_api")
    archs = list(groundtruth._strings())
    archs[3], archs[4] = archs[4], archs[3]
    path = write_nb201(tmp_path / "swapped.pth", archs)
    with pytest.raises(UserError, match="index 3"):
        F.load_truth(str(path), "cifar10", "test_200")
    short = write_nb201(tmp_path / "short.pth", list(groundtruth._strings())[:15624])
    with pytest.raises(UserError, match="15624 archs"):
        F.load_truth(str(short), "cifar10", "test_200")


def test_unreadable_file(tmp_path):
    pytest.importorskip("nas_201_api")
    path = tmp_path / "other.pth"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(UserError, match="cannot read"):
        F.load_truth(str(path), "cifar10", "test_200")


def test_bad_dataset_or_metric(tmp_path):
    path = str(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    with pytest.raises(UserError, match="unknown dataset"):
        F.load_truth(path, "svhn", "test_200")
    with pytest.raises(UserError, match="test_200, valid_200, test_12, valid_12"):
        F.load_truth(path, "cifar10", "params")


def test_queries_follow_nb201_conventions():
    assert F.QUERIES["cifar10", "test_200"] == F.Query("cifar10", "200", "test-accuracy")
    assert F.QUERIES["cifar10", "valid_200"] == F.Query("cifar10-valid", "200", "valid-accuracy")
    assert F.QUERIES["imagenet16-120", "test_12"] == F.Query("ImageNet16-120", "12",
                                                             "test-accuracy")
    assert len(F.QUERIES) == 3 * 4
