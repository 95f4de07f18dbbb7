"""Numbers as JSON, the suite's one rule: JSON has no NaN or infinity, so every non-finite number
(NaN, +inf, -inf) is written as null. Counts of non-finite scores are reported beside them
(``nan_scores``), so nothing is hidden; readers turn null back into NaN."""
from __future__ import annotations

import math


def json_number(x) -> float | None:
    """``x`` as a float, or None when it is None or not finite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
