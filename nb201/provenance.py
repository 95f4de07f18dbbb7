"""What every stored result carries besides its score (suite version, git hash), and where the
suite's shipped data is (:data:`DATA_DIR`)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path

from .errors import UserError

SUITE_VERSION = "0.1.0"
#: the name pip installs the suite under (pyproject.toml's project name; tests check both)
DISTRIBUTION = "nb201-proxy-benchmark"
PACKAGE_DIR = Path(__file__).resolve().parent
#: the checkout's root in a source tree (editable installs included); site-packages when installed
ROOT = PACKAGE_DIR.parent


def in_checkout() -> bool:
    """Whether the suite runs from its source tree (a clone, or an editable install of one) rather
    than from an installed copy (a wheel in site-packages): the tree's root holds pyproject.toml
    and data/."""
    return (ROOT / "pyproject.toml").is_file() and (ROOT / "data").is_dir()


def data_dir() -> Path:
    """Where the shipped data is: the checkout's ``data/``, or, installed, the package data
    ``nb201/data`` that pyproject.toml maps that folder to."""
    return ROOT / "data" if in_checkout() else PACKAGE_DIR / "data"


#: the shipped data (truth table, errata, NB201 split files, experiment files, the embedded CIFAR-10
#: and CIFAR-100), see :func:`data_dir`: every reader of a shipped file builds its path from here
DATA_DIR = data_dir()


def cache_root() -> Path:
    """The suite's cache: $NB201_CACHE_DIR, else `<repo>/.cache` in a checkout, else
    `$XDG_CACHE_HOME/nb201` (an absolute XDG_CACHE_HOME only, as the XDG spec says) or
    `~/.cache/nb201`."""
    given = os.environ.get("NB201_CACHE_DIR")
    if given:
        return Path(given).expanduser()
    if in_checkout():
        return ROOT / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "nb201"


def require_file(path: Path) -> Path:
    """``path`` if it is a file, else a one-line UserError naming it (a shipped file that is
    missing: an incomplete checkout or install)."""
    if not path.is_file():
        raise UserError(f"missing data file {path}: the suite's data is incomplete "
                        "(restore data/ from git, or reinstall the package)")
    return path


def config_digest(config: object, length: int = 32) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``config`` as key-sorted JSON: the name
    of a computation (a store setting, a run state, a stored search) by everything it depends on."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:length]


def installed_version() -> str | None:
    """The version pip installed the suite as (None in a checkout without an install)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_hash() -> str:
    """The repo's HEAD commit, with ``-dirty`` when tracked files differ; ``unknown`` outside git
    and for an installed copy (whose site-packages may sit inside some other repository)."""
    if not in_checkout():
        return "unknown"
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")
