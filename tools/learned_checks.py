"""Two checks behind docs/RESULTS.md's learned-proxy notes (CPU, about a minute):

1. labels as accuracies or as ranks: LightGBM (the ``gbm`` model of ``proxies/learned``) on the
   graph features, K = 200, three training-set draws, fitted on NB201's valid_200 itself or on its
   ranks among the K archs (what learned proxies do), judged by Kendall tau against test_200;
2. the judged archs: the same with graph + params + FLOPs + 11 NASLib scores at K = 1,000, judged
   on archs of the whole space or only on the 9,445 cells NASLib scored.

Judged archs: ``benchmark.learn.judged_archs`` (1,000 archs outside the training set).
    .venv/bin/python tools/learned_checks.py
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from benchmark.learn import judged_archs
from nb201 import encoding
from nb201 import groundtruth as gt
from nb201.complexity import flops_m, params_m
from proxies.learned.base import MODELS, training_set
from proxies.naslib import NAMES, scores


def tau(x, train, judged, ranks: bool, seed: int) -> float:
    y = gt.vector("cifar10", "valid_200")[train]
    target = stats.rankdata(y) / len(y) if ranks else y
    model = MODELS.get("gbm").make(seed).fit(x[train], target)
    return float(stats.kendalltau(model.predict(x[judged]),
                                  gt.vector("cifar10", "test_200")[judged]).statistic)


def main() -> None:
    graph = encoding.table()
    print("1. graph features, K = 200, mean Kendall tau over draws 0, 1, 2:")
    for ranks in (False, True):
        taus = []
        for seed in range(3):
            train = training_set(200, seed)
            taus.append(tau(graph, train, judged_archs(train, 1000, 0), ranks, seed))
        print(f"   fitted on {'ranks of valid_200' if ranks else 'valid_200'}: {np.mean(taus):.3f}")
    naslib = scores("cifar10")[[n for n in NAMES if n not in ("params", "flops")]].to_numpy(float)
    size = np.array([[params_m(gt.arch_of(i), 10), flops_m(gt.arch_of(i), 10, 32)]
                     for i in range(gt.NUM_ARCHS)])
    x = np.hstack([graph, size, naslib])
    scored = np.isfinite(naslib).all(axis=1)
    print("2. graph, params, FLOPs, 11 NASLib scores, K = 1,000, draw 0, ranks:")
    train = training_set(1000, 0)
    rest = judged_archs(train, None, 0)
    everywhere = rest[:1000]
    naslib_only = [i for i in rest if scored[i]][:1000]
    for name, judged in (("1,000 archs of the whole space", everywhere),
                         ("1,000 archs NASLib scored", naslib_only)):
        print(f"   judged on {name}: {tau(x, train, judged, True, 0):.3f}")


if __name__ == "__main__":
    main()
