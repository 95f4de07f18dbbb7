"""What every stored result carries besides its score: suite version and git hash."""
from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

SUITE_VERSION = "0.1.0"
ROOT = Path(__file__).resolve().parent.parent


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
