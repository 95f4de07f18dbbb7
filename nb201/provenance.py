"""What every stored result carries besides its score: suite version and git hash."""
from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from pathlib import Path

SUITE_VERSION = "0.1.0"
ROOT = Path(__file__).resolve().parent.parent


def config_digest(config: object, length: int = 32) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``config`` as key-sorted JSON: the name
    of a computation (a store setting, a run state, a stored search) by everything it depends on."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:length]


@lru_cache(maxsize=1)
def git_hash() -> str:
    """The repo's HEAD commit, with ``-dirty`` when tracked files differ; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")
