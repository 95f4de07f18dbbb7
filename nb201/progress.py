"""Progress bars on stderr that keep a failure to its one line: a bar appears only once its work
has run for :data:`DELAY` seconds (a bad input found at once prints no bar), and a bar whose work
fails is cleared instead of left on the screen. Every progress bar of the suite is a
:class:`Progress`, used as a context manager."""
from __future__ import annotations

import sys

from tqdm import tqdm

#: seconds of work before a bar is shown
DELAY = 0.5


class Progress(tqdm):
    """A tqdm bar on stderr (``delay`` :data:`DELAY`, dynamic width), cleared when the ``with``
    block it is the context manager of raises."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"file": sys.stderr, "delay": DELAY, "dynamic_ncols": True,
                                   **kwargs})

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None:
            self.leave = False
        return super().__exit__(exc_type, exc, traceback)
