"""What the hostile-input tables (tests/test_cli_errors.py, tests/test_robustness.py) point at:
plugins that misbehave, a store poisoned by one, image folders, small and read-only file systems,
and how a case looks at what it left behind (files by content, rows by store)."""
from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nb201.api
import proxies
import proxies.zero_cost.harness as harness
from nb201.api import Outcome
from nb201.context import Context
from nb201.store import Key, Store
from proxies.table import TableProxy

#: plugin files, by name: each misbehaves in one way (plug_fixed is plug_str mended)
PLUGINS = {
    "plug_str.py": '''
from nb201.api import REGISTRY
from proxies.table import TableProxy

class Str(TableProxy):
    def value(self, arch, index, ctx):
        return "high"

REGISTRY.register(Str("p-str", "table", source="network"))
''',
    "plug_fixed.py": '''
from nb201.api import REGISTRY
from proxies.table import TableProxy

class Fixed(TableProxy):
    def value(self, arch, index, ctx):
        return float(index % 7)

REGISTRY.register(Fixed("p-str", "table", source="network"))
''',
    "plug_count.py": '''
from nb201.api import REGISTRY, Outcome, Proxy

class Few(Proxy):
    def chunk_size(self, ctx):
        return 4

    def score(self, archs, indices, ctx):
        return [Outcome(score=1.0)]

REGISTRY.register(Few("p-few", "table", source="network"))
''',
    "plug_raise.py": '''
from nb201.api import REGISTRY
from proxies.table import TableProxy
from proxies.zero_cost.harness import zero_cost

class Boom(TableProxy):
    def value(self, arch, index, ctx):
        if index == 1:
            raise ZeroDivisionError("my proxy divided by zero")
        return 1.0

REGISTRY.register(Boom("p-raise", "table", source="network"))

@zero_cost("zc-raise", inputs="none")
def zc_raise(net, batch):
    raise RuntimeError("my zero-cost proxy broke")

@zero_cost("zc-str", inputs="none")
def zc_str(net, batch):
    return "high"
''',
}
#: the archs a poisoned store holds TEXT scores of (p-str's, what plug_str.py stored before
#: outcomes were checked): the first three of the sample of seed 0
POISONED = (11759, 10533, 8177)


def isolate_plugins(monkeypatch, request) -> None:
    """Plugins loaded by a test register into a registry of its own (every place a plugin
    registers through), their modules are forgotten and $NB201_PLUGINS restored afterwards."""
    own = proxies.REGISTRY.copy()
    for module in (nb201.api, proxies, harness):
        monkeypatch.setattr(module, "REGISTRY", own)
    monkeypatch.setenv("NB201_PLUGINS", "")
    before = set(sys.modules)
    request.addfinalizer(lambda: [sys.modules.pop(m) for m in set(sys.modules) - before
                                  if m.startswith("nb201_plugin_")])


def poison(path: Path, rows: tuple[int, ...] = POISONED) -> None:
    """A store holding p-str's TEXT scores of ``rows`` and two good params rows, written the way
    the runner wrote them before it checked outcomes (``Store.put`` takes what it is given)."""
    store = Store(path)
    ctx = Context("cifar10", device="cpu")
    key = Key.of(TableProxy("p-str", "table", source="network"), ctx)
    store.put(key, {i: Outcome("high", 0.001) for i in rows}, device="cpu", git="test",
              suite_version="test")
    params = Key.of(TableProxy("params", "table", source="network"), ctx)
    store.put(params, {0: Outcome(1.5, 0.1), 1: Outcome(0.5, 0.1)}, device="cpu", git="test",
              suite_version="test")
    store.close()


def image_folder(root: Path, per_class: int, corrupt: str | None = None) -> Path:
    """A CIFAR-10-shaped image folder of ``per_class`` PNGs per class and split; ``corrupt``: the
    name of a file in train/c0/ that holds no image."""
    pixels = np.zeros((32, 32, 3), np.uint8)
    for split in ("train", "test"):
        for label in range(10):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True)
            pixels[:] = 25 * label
            Image.fromarray(pixels).save(folder / "000.png")
            data = (folder / "000.png").read_bytes()
            for j in range(1, per_class):
                (folder / f"{j:03d}.png").write_bytes(data)
    if corrupt:
        (root / "train" / "c0" / corrupt).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG after all")
    return root


def mount_small(path: Path, size: str, request) -> Path:
    """A tmpfs of ``size`` at ``path`` (a small disk; unmounted when the test ends); the test is
    skipped where mounting is not allowed (it needs root)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"a small file system needs `mount -t tmpfs` (root): {done.stderr.strip()}")
    request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(path)], check=True))
    return path


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder`` up but ``leave`` bytes (a file of zeros)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        os.close(fd)


def snapshot(root: Path) -> dict[str, str]:
    """Every file (by content) and folder under ``root`` (symlinks to folders are not entered)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() and not p.is_symlink() else "folder" for p in sorted(root.rglob("*"))}


def rows(root: Path) -> dict[str, list]:
    """Every store under ``root``: its rows (proxy, arch, score) as SQLite holds them, read from a
    copy (reading the store itself could add its -shm file)."""
    out = {}
    for path in sorted(root.rglob("*.sqlite")):
        if not path.is_file() or any(p.is_symlink() for p in path.parents):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for suffix in ("", "-wal"):
                if Path(f"{path}{suffix}").is_file():
                    shutil.copyfile(f"{path}{suffix}", Path(tmp) / f"r.sqlite{suffix}")
            db = sqlite3.connect(Path(tmp) / "r.sqlite")
            try:
                out[str(path.relative_to(root))] = sorted(db.execute(
                    "SELECT proxy, arch_index, score FROM scores"), key=repr)
            except sqlite3.DatabaseError as err:
                out[str(path.relative_to(root))] = [f"unreadable: {err}"]
            finally:
                db.close()
    return out


# ------------------------------------------------------------------ cases and their folders

@dataclass(frozen=True)
class Case:
    """One command line of a table: its arguments, a piece of the one line it must print, the
    environment variables it runs with, attributes patched for it (``"module:name"``: value) and
    the file systems it needs (:data:`DISKS`)."""

    argv: tuple[str, ...]
    message: str
    env: tuple[tuple[str, str], ...] = ()
    patch: tuple[tuple[str, object], ...] = ()
    disk: str | None = None


def case(argv, message: str, *, env: dict | None = None, patch: dict | None = None,
         disk: str | None = None) -> Case:
    return Case(tuple(argv), message, tuple((env or {}).items()), tuple((patch or {}).items()),
                disk)


def _small(tmp: Path, request) -> None:
    mount_small(tmp / "small", "300k", request)


def _small_full_of_a_report(tmp: Path, request, leave: int = 0) -> None:
    """A good report in small/out, on a file system with ``leave`` bytes of room left."""
    small = mount_small(tmp / "small", "300k", request)
    (small / "out" / "figures").mkdir(parents=True)
    (small / "out" / "report.html").write_text("<html>a good report</html>\n")
    (small / "out" / "figures" / "d-score-vs-truth-cifar10.png").write_bytes(b"a good figure")
    fill(small, leave)


def _read_only_store(tmp: Path, request) -> None:
    """ro/r.sqlite: params of archs 0 and 1 stored, on a read-only file system."""
    ro = mount_small(tmp / "ro", "2m", request)
    store = Store(ro / "r.sqlite")
    key = Key.of(proxies.REGISTRY.get("params"), Context("cifar10", device="cpu"))
    store.put(key, {0: Outcome(1.5, 0.1), 1: Outcome(0.5, 0.1)}, device="cpu", git="test",
              suite_version="test")
    store.close()
    remount_read_only(ro)


#: the file systems a case may need, made inside its folder
DISKS = {"small": _small, "small-full-of-a-report": _small_full_of_a_report,
         "small-nearly-full-of-a-report":    # the tables fit, a figure does not (its PDF, here)
         lambda tmp, request: _small_full_of_a_report(tmp, request, leave=56 << 10),
         "read-only-store": _read_only_store}


def arrange(tmp: Path, inputs: Path, c: Case, monkeypatch, request) -> None:
    """The case's folder: the inputs (files copied, folders linked), the working directory, a
    dataset cache of its own, no $NB201_DATA_DIR unless the case sets it, plugins isolated, its
    patches and file systems."""
    for path in inputs.iterdir():
        if path.is_dir():
            (tmp / path.name).symlink_to(path)
        else:
            (tmp / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("NB201_CACHE_DIR", str(tmp.with_name(tmp.name + "-cache")))  # not an output
    monkeypatch.delenv("NB201_DATA_DIR", raising=False)
    isolate_plugins(monkeypatch, request)
    for name, value in c.env:
        monkeypatch.setenv(name, value)
    for target, value in c.patch:
        module, name = target.split(":")
        monkeypatch.setattr(importlib.import_module(module), name, value)
    if c.disk:
        DISKS[c.disk](tmp, request)
