"""Build data/nb201_groundtruth.csv.gz from the merged NAS-Bench-201 table.

Run once by a maintainer (the shipped file is the output):
    python tools/build_groundtruth.py ../shared/data/nb201/nb201_ground_truth_merged.csv
Column names become `{dataset}_{metric}`; see data/PROVENANCE.md.

The source's `params` column is wrong for 150 archs (it holds a neighbouring row's value); the
shipped table carries the exact count of our NB201 network instead, and every corrected value is
listed, with the source's, in data/nb201_params_errata.csv.
"""
import sys
from pathlib import Path

import pandas as pd

from nb201.catalog import dataset_spec
from nb201.complexity import params_m
from nb201.space import Arch

DATASETS = {"cifar10": ("cifar10", "cifar10valid"), "cifar100": ("cifar100", "cifar100"),
            "imagenet16-120": ("imagenet16", "imagenet16")}


def build(src: str, dst: str) -> None:
    raw = pd.read_csv(src)
    assert list(raw["idx"]) == list(range(15625)), "rows must be in NB201 index order"
    out = {"arch": raw["arch_str"]}
    for name, (test_key, valid_key) in DATASETS.items():
        out[f"{name}_test_200"] = raw[f"{test_key}_test_200ep_mean"]
        out[f"{name}_valid_200"] = raw[f"{valid_key}_val_200ep_mean"]
        for s in range(3):
            out[f"{name}_valid_200_s{s}"] = raw[f"{valid_key}_val_200ep_s{s}"]
        out[f"{name}_valid_200_nseeds"] = raw[f"{valid_key}_val_200ep_nseeds"]
        out[f"{name}_test_12"] = raw[f"{test_key}_test_12ep_mean"]
        out[f"{name}_valid_12"] = raw[f"{valid_key}_val_12ep_mean"]
        out[f"{name}_params"] = raw[f"{valid_key}_params_MB"]
        out[f"{name}_latency_s"] = raw[f"{valid_key}_latency_s"]
        out[f"{name}_train_time_200_s"] = raw[f"{valid_key}_train_time_200ep_s_mean"]
    errata = []
    archs = [Arch.parse(a) for a in raw["arch_str"]]
    for name in DATASETS:
        exact = [float(f"{params_m(a, dataset_spec(name).num_classes):.6g}") for a in archs]
        for index, (given, ours) in enumerate(zip(out[f"{name}_params"], exact)):
            if abs(given - ours) > 1e-9:
                errata.append({"index": index, "dataset": name, "source_params": given,
                               "network_params": ours})
        out[f"{name}_params"] = exact
    pd.DataFrame(out).to_csv(dst, index=False, compression={"method": "gzip", "mtime": 0})
    pd.DataFrame(errata).to_csv(Path(dst).parent / "nb201_params_errata.csv", index=False)


if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "data/nb201_groundtruth.csv.gz")
