"""How a computation runs, declared once: :class:`RunOptions`. Each field's metadata (what it
means, what a valid value is) feeds the command line's flags (``benchmark.cli``), the keys of
experiment files (``benchmark.experiments.spec``) and :class:`nb201.context.Context` (which is a
RunOptions plus the dataset and seed), and so reaches Ray tasks with the Context itself. None of
them changes what a score means; those that change its value are in the proxies' fingerprints.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .catalog import EMBEDDED_DATASETS
from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def _device_name(value) -> bool:
    name = str(value)      # a torch.device prints as its name
    return name in DEVICES or name.startswith("cuda:")


def _count(value) -> bool:
    return _is(value, int) and value >= 1


def _optional_count(value) -> bool:
    return value is None or _count(value)


def option(default, help: str, kind: type, what: str, valid: Callable[[object], bool],
           in_file: bool = True):
    """A run option: its default, its help text, its type on the command line and in files, what
    a valid value is (in words) and the test of it; ``in_file``: whether experiment files may set
    it (as a top-level key)."""
    return field(default=default, metadata={"help": help, "kind": kind, "what": what,
                                            "valid": valid, "in_file": in_file})


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a computation runs (keyword-only, so that :class:`nb201.context.Context` can add its
    positional dataset and seed). :meth:`check` validates; nothing is checked on construction."""

    device: object = option("auto", "auto, cpu or cuda (auto: cuda when available)", str,
                            "auto, cpu, cuda or cuda:N", _device_name)
    # experiment files name a folder per dataset instead (their [data_dirs] table)
    data_dir: str | None = option(
        None, "dataset folder or archive (else $NB201_DATA_DIR, else the copy shipped in data/: "
        f"{', '.join(EMBEDDED_DATASETS)})", str,
        "a path", lambda v: v is None or isinstance(v, (str, os.PathLike)), in_file=False)
    fuse: int | None = option(None, "networks trained at once (default: the engine's choice)", int,
                              "a positive number of networks", _optional_count)
    amp: str | None = option(None, "bf16 autocast (CUDA only)", str, '"bf16"',
                             lambda v: v in (None, "bf16"))
    zc_batch: int = option(64, "images in the zero-cost minibatch", int,
                           "a positive number of images", _count)
    full_curve: bool = option(False, "training proxies: evaluate after every epoch trained "
                              "(default: only the epochs read; a stored run is not retrained for "
                              "it)", bool, "true or false", lambda v: isinstance(v, bool))

    def check(self, where: Callable[[str], str] = lambda name: f"{name} (--{flag(name)})"
              ) -> None:
        """A UserError naming the first invalid option (``where(name)`` says how to name it)."""
        for f in run_option_fields():
            value = getattr(self, f.name)
            if not f.metadata["valid"](value):
                raise UserError(f"{where(f.name)} must be {f.metadata['what']}, got {value!r}")


def _is(value, kind: type) -> bool:
    """``isinstance`` where bools are not ints."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def run_option_fields() -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(RunOptions)


def flag(name: str) -> str:
    """The command-line flag of an option (without the dashes)."""
    return name.replace("_", "-")
