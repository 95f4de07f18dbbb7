"""Bad input on the command line: exit status 2, one line on stderr (no progress bar before it),
nothing on stdout, and nothing written (no new file or folder, no row added, no store created or
touched), including what issue 30 found (plugins that misbehave, full and read-only file systems,
options that are wrong where the run would not read them).

Each case runs ``benchmark.cli.main`` in-process inside an empty temporary folder (the working
directory too, so a default path written by mistake would show), arranged by
:func:`tests.hostile.arrange`. The tests run as root, for whom no folder is read-only: an
unwritable output folder is a path under a regular file, where creating a folder fails for every
user; full and read-only file systems are small tmpfs mounts (skipped where mounting is not
allowed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cli import main
from nb201.datasets import EMBEDDED_CIFAR10
from nb201.api import Outcome
from nb201.store import Key, Store
from tests.hostile import PLUGINS, arrange, case, image_folder, rows, snapshot


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
    """The inputs the cases point at (folders are linked into each case's folder, not copied)."""
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
    for name, text in PLUGINS.items():
        (tmp / name).write_text(text)
    (tmp / "empty").mkdir()
    # 4,100 images: enough for the decoding progress bar, with one file that is no image
    image_folder(tmp / "imgs_corrupt", per_class=205, corrupt="zzz.jpg")


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
    # issue 30, 1-3: plugins that misbehave are one line naming the plugin, the proxy and the arch
    "plugin-score-is-text": (["score", "--plugins", "plug_str.py", "--proxy", "p-str", "--sample",
                              "3"] + R, "/plug_str.py) failed on arch 11759: its score 'high' is "
                                        "not a number; nothing of this chunk was stored"),
    "plugin-too-few-outcomes": (["score", "--plugins", "plug_count.py", "--proxy", "p-few",
                                 "--archs", "8177,1,2"] + R,
                                "failed on archs 8177, 1, 2 (one chunk): it returned 1 outcome for "
                                "3 archs"),
    "plugin-table-proxy-raises": (["score", "--plugins", "plug_raise.py", "--proxy", "p-raise",
                                   "--archs", "0,1,2"] + R,
                                  "proxy p-raise (plugin "),
    "plugin-table-proxy-raises-names-the-arch": (
        ["score", "--plugins", "plug_raise.py", "--proxy", "p-raise", "--archs", "2,1,0"] + R,
        "/plug_raise.py) failed on arch 1: raised ZeroDivisionError: my proxy divided by zero"),
    "plugin-zero-cost-raises": (["score", "--plugins", "plug_raise.py", "--proxy", "zc-raise",
                                 "--archs", "8177"] + R,
                                "failed on arch 8177: raised RuntimeError: my zero-cost proxy "
                                "broke"),
    "plugin-zero-cost-returns-text": (
        ["score", "--plugins", "plug_raise.py", "--proxy", "zc-str", "--archs", "8177"] + R,
        "failed on arch 8177: raised ValueError: could not convert string to float: 'high'"),
    # 4: --zc-batch is bounded before anything is allocated (even where it is not read)
    "zc-batch-beyond-the-training-images": (["score", "--proxy", "nwot", "--sample", "2",
                                             "--zc-batch", "100000000"] + R,
                                            "zc_batch (--zc-batch) must be at most 50,000, the "
                                            "training images of cifar10; got 100,000,000"),
    "zc-batch-beyond-the-training-images-unread": (SCORE + ["--sample", "2", "--zc-batch",
                                                            "100000000"] + R,
                                                   "must be at most 50,000"),
    "zc-batch-beyond-memory": case(["score", "--proxy", "nwot", "--sample", "2", "--zc-batch",
                                    "50000"] + R, "zc_batch (--zc-batch) 50,000 cannot fit in "
                                                  "memory", patch={"nb201.context:memory_bytes":
                                                                   lambda device: 16 << 30}),
    # 5: full disks
    "store-disk-full": case(SCORE + ["--sample", "2000", "--results", "small/r.sqlite"],
                            "cannot write to results store small/r.sqlite: database or disk is "
                            "full; nothing of this batch was stored", disk="small"),
    "report-disk-full-keeps-the-old-report": case(
        ["report", "--results", "good.sqlite", "--out", "small/out"],
        "cannot write the report into small/out: No space left on device; the files there were "
        "left as they were", disk="small-full-of-a-report"),
    "report-disk-full-midway-keeps-the-old-report": case(
        ["report", "--results", "good.sqlite", "--out", "small/out"],
        "cannot write the report into small/out: No space left on device",
        disk="small-nearly-full-of-a-report"),
    # 6: refused commands create no store (and validate before opening it)
    "versus-unknown-proxy": (SCORE + ["--archs", "0,1", "--versus", "nosuchproxy"] + R,
                             "unknown proxy 'nosuchproxy'"),
    "search-data-dir-empty-folder": (["search", "--strategy", "random", "--fitness", "params",
                                      "--queries", "5", "--data-dir", "empty"] + R,
                                     "empty: unknown data format"),
    "learn-data-dir-truncated-tar": (["learn", "--features", "graph,params", "--train", "20",
                                      "--test", "20", "--data-dir", "cifar10-jpeg.tar.gz"] + R,
                                     "cannot read this archive, is it complete?"),
    # 8: a read-only store serves its rows; what it lacks cannot be stored: said before computing
    "read-only-store-lacks-rows": case(SCORE + ["--archs", "0,1,2", "--results", "ro/r.sqlite"],
                                       "results store ro/r.sqlite cannot be written",
                                       disk="read-only-store"),
    # 9: empty list items
    "archs-empty-item": (SCORE + ["--archs", "1,,2"] + R, "--archs has an empty item in '1,,2'"),
    "archs-trailing-comma": (SCORE + ["--archs", "1,2,"] + R, "--archs has an empty item"),
    "seeds-empty-item": (SCORE + ["--archs", "1", "--seeds", "0,,1"] + R,
                         "--seeds has an empty item"),
    "plugins-empty-item": (SCORE + ["--archs", "1", "--plugins", "plug_fixed.py,,x.py"] + R,
                           "--plugins has an empty item"),
    "find-space-empty-item": (FIND + ["--space", "synflow,,nwot", "--budget", "10"] + R,
                              "find space has an empty item in 'synflow,,nwot'"),
    "run-data-dir-empty-item": (["run", "ok.toml", "--data-dir", "cifar10=empty,,cifar100=empty",
                                 "--out", "out"] + R, "--data-dir has an empty item"),
    # 10: a wrong option is an error even where this run would not read it
    "data-dir-env-garbage": case(SCORE + ["--archs", "0"] + R,
                                 "data dir garbage (NB201_DATA_DIR) does not exist",
                                 env={"NB201_DATA_DIR": "garbage"}),
    "run-data-dir-no-folder": (["run", "ok.toml", "--data-dir", "cifar10=", "--out", "out"] + R,
                               "--data-dir: expected DIR or dataset=DIR,... with datasets"),
    "run-data-dir-empty-folder": (["run", "ok.toml", "--data-dir", "empty", "--out", "out"] + R,
                                  "empty: unknown data format"),
    "run-dry-run-data-dir-empty-folder": (["run", "ok.toml", "--dry-run", "--data-dir", "empty"]
                                          + R, "empty: unknown data format"),
    # 11: a file that is no image is the one line, before the progress bar starts
    "data-dir-corrupt-image": (["score", "--proxy", "nwot", "--archs", "0", "--data-dir",
                                "imgs_corrupt"] + R, "train/c0/zzz.jpg: cannot decode image"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    setup(root)
    return root


@pytest.mark.parametrize("name", CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(name, inputs, tmp_path, monkeypatch,
                                                            capsys, request):
    c = CASES[name] if not isinstance(CASES[name], tuple) else case(*CASES[name])
    arrange(tmp_path, inputs, c, monkeypatch, request)
    before, stored = snapshot(tmp_path), rows(tmp_path)
    code = main(list(c.argv))
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "\r" not in err, err            # no progress bar, not even a cleared one
    assert c.message in err, err
    assert rows(tmp_path) == stored
    assert snapshot(tmp_path) == before


def test_the_table_holds_every_case_of_issue_30():
    """The hostile-input pass of issue 30, by item: each has its case(s) here (items 7 and 12, and
    the reads that succeed, are in tests/test_robustness.py)."""
    for prefix in ("plugin-", "zc-batch-", "store-disk-full", "report-disk-full", "versus-",
                   "search-data-dir", "learn-data-dir", "read-only-store", "archs-empty-item",
                   "find-space-empty-item", "data-dir-env", "run-data-dir", "data-dir-corrupt"):
        assert any(n.startswith(prefix) for n in CASES), prefix


def test_the_damaged_store_is_damaged_and_the_good_one_is_not(inputs):
    """The fixture itself: quick_check flags the damaged copy only."""
    import sqlite3
    for name, ok in (("good.sqlite", True), ("damaged.sqlite", False)):
        with sqlite3.connect(inputs / name) as db:
            assert (db.execute("PRAGMA quick_check").fetchall() == [("ok",)]) == ok
