"""The ``score`` command's result: one proxy's scores on a set of archs against the truth
(the CLI contract's JSON object)."""
from __future__ import annotations

import numpy as np

from nb201 import groundtruth as gt
from nb201.numbers import json_number

from .caveats import caveat
from .metrics import summarize


def scorecard(proxy, dataset: str, truth_name: str, indices, scores: np.ndarray,
              truth: np.ndarray, seconds: np.ndarray, seeds, wall_seconds: float) -> dict:
    """Kendall tau, Spearman, Pearson and top-10% retrieval with CIs, and every arch's row."""
    summary = summarize(scores, truth, higher_is_better=proxy.higher_is_better)
    return {
        "proxy": proxy.name, "dataset": dataset, "truth": truth_name,
        "scored": proxy.description,      # what the score is and what it reads
        **summary,
        "caveat": caveat(*summary["ci"]["kendall_tau"]),   # analysis.caveats: "" when it reads
        "seeds": list(seeds),
        "seconds": float(np.sum(seconds)),
        "wall_seconds": wall_seconds,
        "scores": [{"index": i, "arch": str(gt.arch_of(i)), "score": json_number(s),
                    "truth": json_number(t), "seconds": float(c)}
                   for i, s, t, c in zip(indices, scores, truth, seconds)],
    }
