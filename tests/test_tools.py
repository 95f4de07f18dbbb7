"""The analysis tools behind docs/RESULTS.md: JPEG re-encoding and PSNR, cell properties."""
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools import jpeg_sensitivity
from tools import proxy_anatomy
from tools import zero_cost_transfer
from nb201 import groundtruth as gt
from nb201.api import Outcome
from nb201.context import Context
from nb201.datasets import load_dataset
from nb201.options import RunOptions
from nb201.store import Key, Store
from proxies import REGISTRY
from nb201.space import OPS

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


pytestmark = pytest.mark.usefixtures("isolated")


def test_psnr_of_known_errors():
    a = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    assert jpeg_sensitivity.psnr(a, a + 1) == pytest.approx(10 * np.log10(255.0 ** 2))   # MSE 1
    b = a.copy()
    b[1] = 16                                                       # image 0 exact, image 1 MSE 256
    expected = (10 * np.log10(255.0 ** 2 / 1e-12) + 10 * np.log10(255.0 ** 2 / 256)) / 2
    assert jpeg_sensitivity.psnr(a, b) == pytest.approx(expected)


def _jpeg_archive(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    for split, n in (("train", 2), ("test", 1)):
        for c, cls in enumerate(CLASSES):
            folder = tmp_path / "src" / split / cls
            folder.mkdir(parents=True)
            for j in range(n):
                phase = rng.uniform(0, 6.28, 3)
                img = np.stack([128 + 100 * np.sin(xx / (3 + c) + yy / 5 + p) for p in phase], -1)
                Image.fromarray(img.astype(np.uint8)).save(folder / f"{j:04d}.jpg", quality=95)
    out = tmp_path / "cifar10-small.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        tf.add(tmp_path / "src", arcname="cifar10")
    return out


def test_reencode_keeps_layout_and_order_and_degrades_pixels(tmp_path):
    src = _jpeg_archive(tmp_path)
    copy = jpeg_sensitivity.reencode(src, tmp_path / "out" / "cifar10-jpeg30.tar.gz", quality=30)
    base, worse = load_dataset("cifar10", str(src)), load_dataset("cifar10", str(copy))
    assert worse.source == "imagefolder:cifar10-jpeg30.tar.gz"
    assert np.array_equal(base.y_train.numpy(), worse.y_train.numpy())
    assert np.array_equal(base.y_test.numpy(), worse.y_test.numpy())
    db = jpeg_sensitivity.psnr(base.x_train.numpy(), worse.x_train.numpy())
    assert 20 < db < 60                                   # changed, but the same pictures
    stamp = copy.stat().st_mtime_ns
    assert jpeg_sensitivity.reencode(src, copy, quality=30) == copy and copy.stat().st_mtime_ns == stamp
    assert not list(copy.parent.glob("*.part"))


def test_cell_properties_count_every_edge():
    indices = gt.sample(50, 3)
    props = proxy_anatomy.properties("cifar10", indices)
    counts = sum(props[f"#{op}"] for op in OPS)
    assert np.all(counts == 6)
    first = str(gt.arch_of(indices[0]))
    assert props["#nor_conv_3x3"][0] == first.count("nor_conv_3x3")
    assert np.array_equal(props["params"], gt.vector("cifar10", "params")[indices])


def test_cli_snapshot_ignores_wall_time_and_reports_other_changes(tmp_path, capsys):
    from tools import cli_snapshot
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir(), after.mkdir()
    row = {"proxy": "params", "kendall_tau": 0.5, "seconds": 1.0, "wall_seconds": 2.0,
           "message": "done in 2 min 3 s"}
    (before / "score-x.txt").write_text("rc 0\n" + json.dumps(row))
    (after / "score-x.txt").write_text("rc 0\n" + json.dumps(
        {**row, "seconds": 9.0, "wall_seconds": 8.0, "message": "done in 5 min 1 s"}))
    (before / "help-x.txt").write_text("rc 0\nusage: x\n")
    (after / "help-x.txt").write_text("rc 0\nusage: x\n")
    assert cli_snapshot.compare(before, after) == 0
    (after / "score-x.txt").write_text("rc 0\n" + json.dumps({**row, "kendall_tau": 0.6}))
    (after / "help-x.txt").write_text("rc 0\nusage: y\n")
    assert cli_snapshot.compare(before, after) == 1
    out = capsys.readouterr().out
    assert "score-x.txt: differs at [1].kendall_tau" in out and "help-x.txt: differs" in out

def test_zero_cost_transfer_tables_read_the_store(tmp_path):
    """Rows written as truth-copies: a proxy scored with CIFAR-100's truth ranks it perfectly; the
    same proxy scored with CIFAR-10's truth is exactly the reference row (CIFAR-10's truth as a
    proxy), so the paired difference is 1 - that tau. Missing rows are counted, not invented."""
    indices = gt.sample(40, 0)
    store = Store(tmp_path / "r.sqlite")
    proxy, unscored = REGISTRY.get("l2_norm"), REGISTRY.get("synflow")
    for dataset in ("cifar100", "cifar10"):
        truth = gt.vector(dataset, "test_200")
        store.put(Key.of(proxy, Context(dataset, 0, device="cpu")),
                  {i: Outcome(float(truth[i]), 0.5) for i in indices[:30]},
                  device="cpu", git="g", suite_version="t", run={})
    options = RunOptions(device="cpu")
    table = zero_cost_transfer.table_rows([proxy, unscored], store, "cifar100", indices, options, 0)
    assert [r["n"] for r in table] == [30, 0]
    assert table[0]["test_200"]["kendall_tau"] == pytest.approx(1.0)
    assert table[0]["valid_200"]["kendall_tau"] < 1.0 and table[0]["seconds_per_arch"] == 0.5
    reference, row, missing = zero_cost_transfer.transfer_rows(
        [proxy, unscored], store, "cifar100", "cifar10", indices[:30], options, 0, "test_200")
    assert reference["n"] == row["n"] == 30 and missing["n"] == 0 and "target" not in missing
    assert row["target"]["kendall_tau"] == pytest.approx(1.0)
    assert row["source"]["kendall_tau"] == pytest.approx(reference["source"]["kendall_tau"])
    assert row["difference"]["difference"] == pytest.approx(1 - reference["source"]["kendall_tau"])
    assert 0.3 < reference["source"]["kendall_tau"] < 0.99
    assert zero_cost_transfer.main(["--results", str(tmp_path / "none.sqlite")]) == 2
