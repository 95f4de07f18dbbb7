"""Bad input on the command line: exit status 2, one line on stderr, nothing on stdout, and
nothing written (no new file or folder, no row added, no store created or touched).

Each case runs ``benchmark.cli.main`` in-process inside an empty temporary folder (the working
directory too, so a default path written by mistake would show). The tests run as root, for whom
no folder is read-only: an unwritable output folder is a path under a regular file, where
creating a folder fails for every user."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from benchmark.cli import main
from nb201.datasets import EMBEDDED_CIFAR10
from nb201.api import Outcome
from nb201.store import Key, Store


def _experiment(spec: str) -> str:
    return f'[[group]]\nname = "g"\nproxies = ["{spec}"]\nsample = 2\n'


def _store(path: Path, rows: int = 2000) -> None:
    store = Store(path)
    store.put(Key("params", 1, "cifar10", "network", 0),
              {i: Outcome(float(i), 0.1) for i in range(rows)},
              device="cpu", git="test", suite_version="test", run={"pad": "x" * 64})
    store.close()


def _damage(path: Path) -> None:
    """Overwrite part of one data page in the middle of the file (the header page stays intact)."""
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 // 2
    data[page * 4096 + 100:page * 4096 + 400] = b"\xff" * 300
    path.write_bytes(bytes(data))


def setup(tmp: Path) -> None:
    """The inputs the cases point at."""
    (tmp / "r3.toml").write_text(_experiment("c8r3s16e1"))
    (tmp / "r32.toml").write_text(_experiment("c8r32s16e1"))
    (tmp / "ok.toml").write_text(_experiment("params"))
    with open(EMBEDDED_CIFAR10, "rb") as f:
        (tmp / "cifar10-jpeg.tar.gz").write_bytes(f.read(1 << 20))      # the first MiB only
    (tmp / "garbage.pth").write_bytes(b"not a NAS-Bench-201 file\n" * 10)
    (tmp / "a-file").write_text("a regular file: nothing can be created under it\n")
    _store(tmp / "good.sqlite")
    _store(tmp / "damaged.sqlite")
    _damage(tmp / "damaged.sqlite")


R = ["--results", "r.sqlite"]
SCORE = ["score", "--proxy", "params", "--dataset", "cifar10"]
FIND = ["find", "--dataset", "cifar10", "--seed", "0"]
CASES = {   # id: (argv, a piece of the message)
    "archs-empty": (SCORE + ["--archs", ""] + R, "--archs lists no archs"),
    "archs-comma": (SCORE + ["--archs", ","] + R, "--archs lists no archs"),
    "seed-negative-sample": (SCORE + ["--sample", "3", "--seed", "-1"] + R, "--seed must be between 0"),
    "seed-too-large-for-sqlite": (SCORE + ["--archs", "0", "--seed", str(2 ** 63)] + R,
                                  "--seed must be between 0 and 2**63-1"),
    "seeds-comma": (SCORE + ["--sample", "3", "--seeds", ","] + R, "--seeds lists no seeds"),
    "spec-r3": (["score", "--proxy", "c8r3s16e1", "--archs", "0"] + R,
                "r3: 32x32 images cannot be reduced by 3"),
    "spec-r32": (["score", "--proxy", "c8r32s16e1", "--archs", "0"] + R,
                 "r32: 32x32 images cannot be reduced by 32"),
    "spec-r8-imagenet": (["score", "--proxy", "c4r8s0e1", "--dataset", "imagenet16-120",
                          "--archs", "0"] + R, "r8: 16x16 images cannot be reduced by 8"),
    "run-dry-run-r3": (["run", "r3.toml", "--dry-run", "--out", "out"] + R, "group 'g': r3: 32x32"),
    "run-dry-run-r32": (["run", "r32.toml", "--dry-run", "--out", "out"] + R, "group 'g': r32: 32x32"),
    "data-dir-truncated-tar": (["score", "--proxy", "nwot", "--archs", "0", "--data-dir",
                               "cifar10-jpeg.tar.gz"] + R, "cannot read this archive, is it complete?"),
    "data-dir-missing": (["score", "--proxy", "nwot", "--archs", "0", "--data-dir", "nowhere"] + R,
                         "data dir nowhere does not exist"),
    "zc-batch-0": (["score", "--proxy", "nwot", "--archs", "0", "--zc-batch", "0"] + R,
                   "zc_batch (--zc-batch) must be a positive number"),
    "zc-batch-negative": (["score", "--proxy", "nwot", "--archs", "0", "--zc-batch", "-8"] + R,
                          "zc_batch (--zc-batch) must be a positive number"),
    "fuse-0": (["score", "--proxy", "c8r8s0e1", "--archs", "0", "--fuse", "0"] + R,
               "fuse (--fuse) must be a positive number"),
    "fuse-negative": (["score", "--proxy", "c8r8s0e1", "--archs", "0", "--fuse", "-1"] + R,
                      "fuse (--fuse) must be a positive number"),
    "amp-bf16-on-cpu": (["score", "--proxy", "c8r8s0e1", "--archs", "0", "--amp", "bf16",
                         "--device", "cpu"] + R, "is CUDA autocast; this run is on cpu"),
    "dataset-cifar11": (["score", "--proxy", "params", "--dataset", "cifar11", "--archs", "0"] + R,
                        "'cifar11' (choose from 'cifar10', 'cifar100', 'imagenet16-120')"),
    "truth-file-missing": (SCORE + ["--archs", "0,1", "--nb201-file", "missing.pth"] + R,
                           "no NAS-Bench-201 / NATS-Bench file at"),
    "truth-file-unreadable": (SCORE + ["--archs", "0,1", "--nb201-file", "garbage.pth"] + R,
                              "nas-bench-201 cannot read"),
    "store-damaged": (SCORE + ["--archs", "0,1", "--results", "damaged.sqlite"],
                      "damaged.sqlite .dump | sqlite3 recovered.sqlite"),
    "report-store-damaged": (["report", "--results", "damaged.sqlite", "--out", "out"],
                             "results store damaged.sqlite is damaged"),
    "report-out-unwritable": (["report", "--results", "good.sqlite", "--out", "a-file/out"],
                              "cannot write the report into a-file/out"),
    "report-results-missing": (["report", "--results", "missing.sqlite", "--out", "out"],
                               "there is no results store at missing.sqlite"),
    "run-out-unwritable": (["run", "ok.toml", "--out", "a-file/out"] + R,
                           "cannot write the report into a-file/out"),
    "find-unknown-proxy": (FIND + ["--space", "params,synflw", "--budget", "10"] + R,
                           "unknown proxy 'synflw'; did you mean 'synflow'?"),
    "find-bad-factor": (FIND + ["--space", "params q=2 e=1", "--budget", "10"] + R,
                        "unknown factor 'q' in 'q=2'"),
    "find-bad-factor-value": (FIND + ["--space", "c=x e=1", "--budget", "10"] + R,
                              "c='x': each value must be an integer"),
    "find-empty-space": (FIND + ["--space", " ", "--budget", "10"] + R, "find space is empty"),
    "find-budget-0": (FIND + ["--space", "params", "--budget", "0"] + R,
                      "--budget must be a positive number of seconds, got 0.0"),
    "find-budget-negative": (FIND + ["--space", "params", "--budget", "-5"] + R,
                             "--budget must be a positive number of seconds"),
    "find-bad-objective": (FIND + ["--space", "params", "--budget", "10", "--objective", "tau"]
                           + R, "--objective must be one of kendall_tau, retrieval_top10"),
    "find-pool-2": (FIND + ["--space", "params", "--budget", "10", "--pool", "2"] + R,
                    "--pool must be an integer 3..15625"),
    "find-n0-1": (FIND + ["--space", "params", "--budget", "10", "--n0", "1"] + R,
                  "n0 must be an integer >= 3"),
}


def snapshot(root: Path) -> dict[str, str]:
    """Every file (by content) and folder under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
            else "folder" for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    setup(root)
    return root


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, inputs, tmp_path, monkeypatch,
                                                            capsys):
    argv, message = CASES[case]
    for path in inputs.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NB201_DATA_DIR", raising=False)
    before = snapshot(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert message in err, err
    assert snapshot(tmp_path) == before


def test_the_damaged_store_is_damaged_and_the_good_one_is_not(inputs):
    """The fixture itself: quick_check flags the damaged copy only."""
    import sqlite3
    for name, ok in (("good.sqlite", True), ("damaged.sqlite", False)):
        with sqlite3.connect(inputs / name) as db:
            assert (db.execute("PRAGMA quick_check").fetchall() == [("ok",)]) == ok
