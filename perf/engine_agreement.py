"""Do the engine's two trainers rank archs alike? The same archs trained under one training proxy
by the direct kernels (the CPU trainer of engine version 4) and by the PyTorch trainer (what
version 3 ran on a CPU), side by side in one run; prints both scores per arch, the Kendall tau
between the two trainers' scores and each one's tau against the truth.

    python perf/engine_agreement.py --proxy c4r4s0e8 --archs 40 --seed 1

Float32 training of these networks is chaotic (two float roundings of one run part after a few
hundred steps), so the two scores of one arch differ by about as much as two seeds' do; what must
agree is the ranking.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from analysis import metrics
from nb201 import groundtruth as gt
from nb201.context import Context
from nb201.training import data, engine
from proxies.training import recipe_for


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s0e8")
    parser.add_argument("--archs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1, help="draws the archs (seed 0's 8 are the "
                        "benchmark sample; another seed gives held-out archs)")
    parser.add_argument("--proxy-seed", type=int, default=0, help="the training runs' seed")
    args = parser.parse_args(argv)
    recipe, at = recipe_for(args.proxy)
    ctx = Context("cifar10", seed=args.proxy_seed, device="cpu")
    split = data.prepare(ctx.images, recipe, args.proxy_seed, "cpu")
    indices = [int(i) for i in gt.sample(args.archs, args.seed)]
    archs = [gt.arch_of(i) for i in indices]
    scores, seconds = {}, {}
    for trainer in engine.KERNELS:
        began = time.perf_counter()
        result = engine.train(archs, indices, split, recipe, args.proxy_seed, "cpu", until=at,
                              evaluate_at=[at], trainer=trainer)
        seconds[trainer] = time.perf_counter() - began
        scores[trainer] = [s.curve[at - 1] for s in result.states]
        print(f"{trainer}: {len(archs)} archs in {seconds[trainer]:.0f} s", file=sys.stderr)
    truth = gt.vector("cifar10", "test_200")[indices]
    a, b = (np.array(scores[t]) for t in engine.KERNELS)
    out = {"proxy": args.proxy, "archs": indices, "scores": scores, "seconds": seconds,
           "kendall_tau_between_trainers": metrics.kendall_tau(a, b),
           "kendall_tau_vs_test_200": {t: metrics.kendall_tau(np.array(scores[t]), truth)
                                       for t in engine.KERNELS},
           "mean_abs_difference": float(np.mean(np.abs(a - b)))}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
