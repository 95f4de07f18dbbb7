"""The suite's one NaN/inf policy: non-finite scores rank last. Used by the metrics (analysis),
by proxies defined by ranks within a scored set, and by searches that pick the best arch."""
from __future__ import annotations

import numpy as np

from .errors import UserError


def vector(x, name: str = "scores") -> np.ndarray:
    """``x`` as a 1-D float64 array (UserError otherwise)."""
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise UserError(f"{name} must be a 1-D vector, got shape {v.shape}")
    return v


def orient(scores, higher_is_better: bool) -> tuple[np.ndarray, int]:
    """Return (scores oriented so that higher is better, count of non-finite scores).

    Lower-is-better scores are negated. Every non-finite value (NaN, +inf, -inf) is then
    replaced by `min - max(max - min, 1)` of the finite oriented scores (0.0 if none is
    finite): it ranks last, below every finite score, and all such values tie. The
    replacement is finite so that Pearson stays defined; it does move Pearson, which is
    why the count is reported next to the metrics.
    """
    v = vector(scores)
    v = v.copy() if higher_is_better else -v
    bad = ~np.isfinite(v)
    n_bad = int(bad.sum())
    if n_bad:
        good = v[~bad]
        fill = 0.0 if good.size == 0 else good.min() - max(np.ptp(good), 1.0)
        v[bad] = fill
    return v, n_bad
