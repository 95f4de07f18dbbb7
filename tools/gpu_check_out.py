"""The GPU check's out folder (tools/gpu_check.py): what comes back from a device lease.

Only files directly in the folder, at most :data:`MAX_FILES` (the device tool returns at most 8
files from ``$OUT``): ``summary.json`` (the environment, the configuration, every phase's status;
rewritten after each phase), one JSON file per phase (rewritten after each chunk), the results
pack of every stored row (``gpu-check-<device>.jsonl.gz``, a :mod:`nb201.packs` pack that can be
committed as is under ``data/results/``; rewritten after each chunk, at most every
``pack_seconds``, and after each phase), and ``log.txt`` (the progress lines). Every file is
written whole to a temporary name and renamed, so a kill leaves the last complete version.
"""
from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path

#: the device tool brings back at most 8 files from $OUT
MAX_FILES = 8


def default_out() -> str:
    """``$OUT`` when it is set (a device lease), else ``results/gpu_check``."""
    return os.environ.get("OUT") or "results/gpu_check"


def slug(name: str) -> str:
    """A device name as a file-name part: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


class OutFolder:
    """The out folder: JSON files, the results pack and the log, each rewritten whole."""

    def __init__(self, path: str | Path, device: str, pack_seconds: float = 10.0):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.pack_name = f"gpu-check-{slug(device)}.jsonl.gz"
        self.pack_seconds = pack_seconds
        self.written: set[str] = set()
        self._packed_at = -float("inf")
        self._log = None

    def _claim(self, name: str) -> Path:
        if name not in self.written and len(self.written) >= MAX_FILES:
            raise RuntimeError(f"the out folder would hold more than {MAX_FILES} files ({name})")
        self.written.add(name)
        return self.path / name

    def write_json(self, name: str, value) -> None:
        path = self._claim(name)
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(json.dumps(value, indent=1, default=str, allow_nan=True))
        os.replace(tmp, path)

    def log(self, message: str) -> None:
        """One progress line, to stderr and ``log.txt`` (appended, flushed)."""
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, file=sys.stderr, flush=True)
        if self._log is None:
            self._log = open(self._claim("log.txt"), "a", buffering=1, encoding="utf-8")
        self._log.write(line + "\n")

    def write_pack(self, store, computed_on: dict, force: bool = False) -> int | None:
        """Every row of ``store`` (its own rows) as the results pack; skipped (None) when the last
        write was less than ``pack_seconds`` ago, unless ``force``. Returns the rows written."""
        from nb201.packs import write_pack
        now = time.monotonic()
        if not force and now - self._packed_at < self.pack_seconds:
            return None
        rows = store.rows()
        write_pack(rows, self._claim(self.pack_name), computed_on=computed_on)
        self._packed_at = time.monotonic()
        return len(rows)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def environment(device, started_load: float) -> dict:
    """What the figures were measured on: the device (GPU name, memory, multiprocessors,
    capability), torch, CUDA and cuDNN versions, float32 precision flags (TF32) as they stand and
    as scored computations run, the CPU, Python, numba, the suite's version and commit."""
    import numpy as np
    import torch

    from nb201 import devices
    from nb201.packs import machine
    from nb201.provenance import SUITE_VERSION, git_hash
    from nb201.training import engine
    out = {"device": devices.device_name(device), "device_type": device.type,
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
           "float32_flags": devices.float32_precision(),
           "scored_with_tf32": devices.TF32, "numpy": np.__version__,
           "numba": engine.direct_available(), "python": platform.python_version(),
           "machine": machine(), "torch_threads": torch.get_num_threads(),
           "suite_version": SUITE_VERSION, "git": git_hash(),
           "load_average_before": started_load}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out["gpu"] = {"name": props.name, "total_memory": props.total_memory,
                      "multiprocessors": props.multi_processor_count,
                      "capability": f"{props.major}.{props.minor}"}
    return out
