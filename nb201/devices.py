"""Where a computation runs: the device a run option names (:func:`resolve_device`), and the one
decision every device-dependent branch takes, :func:`accelerated`: a CPU takes the CPU paths
(worker processes, small-map kernels, NCHW where it is faster, CPU-sized chunks), every other
device the accelerated ones (one fused group per chunk in this process, channels-last, the
depthwise-conv box filter, large chunks, CUDA autocast). The ``meta`` device takes the accelerated
paths too, so tests run them on a CPU-only machine (shapes and dtypes, no values).

Also the few calls that need the CUDA runtime itself, each a no-op elsewhere (:func:`synchronize`,
:func:`release`, :func:`device_name`, :func:`peak_memory`), and float32 precision: on CUDA,
cuDNN convolutions run in TF32 by default, which rounds their inputs to 10 bits of mantissa;
training proxies and zero-cost proxies run inside :func:`exact_float32` (TF32 off), and their
fingerprints record that (:data:`TF32` under ``tf32``, on accelerated devices only).
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError
from .lazy import torch

#: device files without which no GPU can be used (NVIDIA's driver, ROCm, WSL's GPU bridge)
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")

#: Whether scored computations on accelerated devices may use TF32 (they may not: full float32,
#: as on a CPU). Recorded in the fingerprints of computations on accelerated devices, so that a
#: change of this value never serves a score computed under the other.
TF32 = False


class Device(str):
    """A resolved device: its name (``cpu``, ``cuda``, ``cuda:1``), which every torch function
    takes where it takes a ``torch.device``, with the ``type`` and ``index`` of one. A string, so
    that a context is built (and a stored result found) without importing torch."""

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        _, sep, index = self.partition(":")
        return int(index) if sep else None


def _cuda_available() -> bool:
    """torch's answer, asked only where a GPU's device files exist (importing torch costs about a
    second; without those files CUDA cannot start)."""
    return any(Path(p).exists() for p in GPU_DEVICE_FILES) and torch.cuda.is_available()


def resolve_device(name="auto") -> Device:
    """``auto`` picks CUDA when it is available, else the CPU; a device already resolved (a
    :class:`Device` or a ``torch.device``, ``meta`` in tests) is kept as it is (so a CUDA context
    can be built, not run, without a GPU)."""
    if isinstance(name, Device):
        return name
    if not isinstance(name, str):          # a torch.device
        return Device(str(name))
    if name == "auto":
        return Device("cuda" if _cuda_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    if name.startswith("cuda") and not _cuda_available():
        raise UserError("--device cuda was asked for but CUDA is not available here")
    return Device(name)


def memory_bytes(device: torch.device) -> int | None:
    """The memory of ``device`` in bytes (a GPU's, or this machine's RAM); None where it cannot
    be told."""
    if Device(str(device)).type == "cuda":
        if not torch.cuda.is_available():
            return None
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):    # no sysconf (Windows) or no such name
        return None


def accelerated(device: torch.device | str) -> bool:
    """Whether ``device`` (a torch.device or its name) takes the accelerated paths: anything but
    a CPU (CUDA; ``meta`` in tests). Imports no torch."""
    return Device(str(device)).type != "cpu"


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (before reading a clock); a no-op but on CUDA."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device | str) -> None:
    """Give cached device memory back after a failed or finished attempt (CUDA only)."""
    if torch.device(device).type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def device_name(device: torch.device | str) -> str:
    """The device's model name as stored with every row (``cpu`` for a CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def peak_memory(device: torch.device | str, reset: bool = False) -> dict:
    """The device's peak memory since the last reset, in bytes (allocated and reserved by
    PyTorch's allocator; CUDA only, else empty); ``reset`` starts a new period after reading."""
    device = torch.device(device)
    if device.type != "cuda":
        return {}
    out = {"allocated": torch.cuda.max_memory_allocated(device),
           "reserved": torch.cuda.max_memory_reserved(device)}
    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return out


def float32_precision() -> dict:
    """Torch's float32 precision settings as they stand (for the record): whether cuDNN
    convolutions and cuBLAS matrix products may use TF32, and the matmul precision."""
    out: dict = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    for key, read in (("cudnn_allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
                      ("matmul_allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32)):
        try:
            out[key] = bool(read())
        except RuntimeError as err:       # torch refuses to answer after mixed API use
            out[key] = f"unreadable: {str(err).splitlines()[0][:120]}"
    return out


@contextmanager
def exact_float32(device: torch.device | str):
    """Inside: on an accelerated device, convolutions and matrix products in float32 use TF32
    only if :data:`TF32` says so (by default they do not); the settings before are restored after.
    A no-op on a CPU (it has no TF32)."""
    if not accelerated(device):
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    before = (cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.allow_tf32 = matmul.allow_tf32 = TF32
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = before
