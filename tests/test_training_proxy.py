"""Training proxies through the registry, the runner and the CLI, on a tiny image folder."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import proxies  # noqa: F401  registers the families
from nb201.api import REGISTRY, Outcome
from nb201.context import Context
from nb201.errors import UserError
from benchmark.runner import compute
from nb201.store import Store

ROOT = Path(__file__).resolve().parent.parent
CLASSES = [f"c{i}" for i in range(10)]


def write_folder(root: Path, train_per_class: int = 16, test_per_class: int = 2) -> Path:
    """A CIFAR-10-shaped image folder: each class a colour plus noise, so it is learnable."""
    rng = np.random.default_rng(0)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        for label, cls in enumerate(CLASSES):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            colour = np.array([25 * label, 255 - 25 * label, (80 * label) % 256])
            for j in range(n):
                pixels = np.clip(colour + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{j:03d}.png")
    return root


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp_path / "cache"))
    return write_folder(tmp_path / "tiny")


def test_family_resolves_names_and_shares_a_store_name():
    a, b = REGISTRY.get("c4r4s0e40@20"), REGISTRY.get("c4r4s0e40b256@15")
    assert a.kind == b.kind == "training" and a.needs_images and a.higher_is_better
    assert a.store_name == b.store_name == "c4r4s0e40"
    assert REGISTRY.get("c4r4s0e40").read(Outcome(1.0, curve=list(range(40)))) == 39
    assert a.read(Outcome(1.0, curve=list(range(40)))) == 19 and b.read(Outcome(1.0, curve=list(range(40)))) == 14
    assert REGISTRY.get("c4r4s0e40b2048").store_name == "c4r4s0e40b2048"
    assert "held-out split" in a.description and a.cost_s > 0
    with pytest.raises(UserError):
        REGISTRY.get("c4r4s0e10@11")


def test_chunk_size_is_fuse_or_four_archs_per_thread():
    proxy = REGISTRY.get("c4r4s0e1")
    assert proxy.chunk_size(Context("cifar10", fuse=5)) == 5
    assert proxy.chunk_size(Context("cifar10")) == 4 * torch.get_num_threads()


def test_score_stores_curves_and_is_reproducible(folder, tmp_path):
    proxy = REGISTRY.get("c4r4s0e2b16")
    ctx = Context("cifar10", seed=1, data_dir=str(folder), fuse=3)
    first = compute(proxy, [0, 1, 2, 3], ctx, Store(tmp_path / "a.sqlite"), progress=False)
    again = compute(proxy, [0, 1, 2, 3], ctx, Store(tmp_path / "b.sqlite"), progress=False)
    np.testing.assert_array_equal([first[i].curve for i in range(4)], [again[i].curve for i in range(4)])
    for o in first.values():
        assert len(o.curve) == 2 and o.score == o.curve[-1] and o.seconds > 0
    at2 = compute(REGISTRY.get("c4r4s0e2b16@2"), [0, 1, 2, 3], ctx, Store(tmp_path / "a.sqlite"),
                  progress=False)     # read from the stored run, nothing retrained
    assert all(at2[i].segments == first[i].segments for i in range(4))


def _rows(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as con:
        try:
            return con.execute("SELECT arch_index, seed FROM scores").fetchall()
        except sqlite3.OperationalError:          # table not created yet
            return []


def test_kill_and_resume_keeps_finished_work_without_duplicates(folder, tmp_path):
    """One chunk of 6 archs (the CPU default chunk is larger) killed mid-way keeps its networks'
    checkpoints; the resumed run continues them and gives the uninterrupted run's scores."""
    db = tmp_path / "results.sqlite"
    env = {**os.environ, "NB201_DATA_DIR": str(folder), "PYTHONPATH": str(ROOT),
           "NB201_CHECKPOINT_SECONDS": "0"}
    args = [sys.executable, "-m", "benchmark", "score", "--proxy", "c4r4s0e6b16", "--dataset",
            "cifar10", "--sample", "6", "--seed", "0", "--fuse", "6", "--results", str(db),
            "--json", "--quiet"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runs = Path(f"{db}.runs")
    deadline = time.time() + 240
    while not list(runs.glob("*.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _rows(db) == [] and list(runs.glob("*.pt")), "killed before the first checkpoint"

    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = _rows(db)
    assert len(rows) == 6 and len(set(rows)) == 6
    assert len(result["scores"]) == 6 and all(s["seconds"] > 0 for s in result["scores"])
    with sqlite3.connect(db) as con:
        segments = [json.loads(s) for (s,) in con.execute("SELECT segments FROM scores")]
    assert any(seg[-1][0] > 0 for seg in segments)          # continued from a checkpoint
    indices = [s["index"] for s in result["scores"]]
    whole = compute(REGISTRY.get("c4r4s0e6b16"), indices, Context("cifar10", seed=0, data_dir=str(folder), fuse=6),
                    Store(tmp_path / "whole.sqlite"), progress=False)
    assert [s["score"] for s in result["scores"]] == [whole[i].curve[-1] for i in indices]
