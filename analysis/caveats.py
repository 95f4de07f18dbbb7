"""The one rule for when a Kendall tau cannot be read as a finding, shared by the report (tables,
figures, pages) and the command line (a warning line under ``score`` and ``learn``).

A tau whose 95% CI is wider than :data:`MAX_CI_WIDTH` is "wide" (too few archs to rank the proxy:
a check of the machinery rather than a measurement), one whose CI spans zero is "zero" (no
agreement beyond chance), one without a CI is "none". Pure Python: the command line reads it
without loading pandas.
"""
from __future__ import annotations

import math

#: a Kendall tau whose 95% CI is wider than this cannot rank proxies
MAX_CI_WIDTH = 0.5
#: caveat -> (mark, what it means in a few words, footnote); ``{n}`` takes the rows' sample sizes
CAVEATS = {
    "wide": ("†", f"95% CI wider than {MAX_CI_WIDTH}",
             "n={n}: too few archs to rank this proxy: the 95% CI of Kendall tau is wider than "
             f"{MAX_CI_WIDTH}, so the row checks the machinery and is not a measurement."),
    "zero": ("‡", "95% CI spans zero",
             "n={n}: the 95% CI of Kendall tau spans zero: no rank agreement with the truth "
             "beyond chance."),
    "none": ("§", "no CI", "n={n}: no Kendall tau CI (fewer than 3 archs, or constant scores)."),
}


def caveat(lo: float, hi: float) -> str:
    """Why a Kendall tau with 95% CI [lo, hi] cannot be read as a finding: "wide", "zero" or
    "none" (see the module's docstring); "" when it can."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "none"
    if hi - lo > MAX_CI_WIDTH:
        return "wide"
    return "zero" if lo <= 0 <= hi else ""




def warning(n: int, lo, hi) -> str:
    """The command line's warning for a Kendall tau CI [lo, hi] on n archs ("" when it reads)."""
    code = caveat(lo, hi)
    return f"warning: {CAVEATS[code][2].format(n=n)}" if code else ""
