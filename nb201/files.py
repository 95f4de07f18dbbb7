"""Whether a folder can be written into, told before anything is written there: checked before
a command computes, so that a bad output path costs nothing and creates nothing (no folder
either)."""
from __future__ import annotations

import os
from pathlib import Path


def unwritable(folder: Path) -> str:
    """Why nothing can be written into ``folder`` (existing or to be created), in words; "" if it
    can: its nearest existing ancestor (itself where it exists) must be a writable folder."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} cannot be written"
    return ""
