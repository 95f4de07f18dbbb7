"""How much a training proxy's score moves between two seeds and between two groupings of the
same networks (the same seed: same initial weights, same batches; only the float rounding of
grouped kernels differs), on the same archs, side by side in one run.

    python perf/score_noise.py --proxy c4r4s8e5 --archs 16 [--seeds 0,1] [--group-size 4]

For each pair of runs: mean and largest |difference| of the accuracies (points), and Kendall tau
and Spearman between the two score vectors; the spread of the scores across archs for scale.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from analysis.metrics import kendall_tau, spearman
from nb201 import groundtruth as gt
from nb201.context import Context, resolve_device
from nb201.training import data, engine
from proxies.training import recipe_for


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="c4r4s8e5")
    parser.add_argument("--archs", type=int, default=16)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    recipe, at = recipe_for(args.proxy)
    a, b = (int(s) for s in args.seeds.split(","))
    indices = [int(i) for i in gt.sample(args.archs, args.sample_seed)]
    archs = [gt.arch_of(i) for i in indices]
    images = Context("cifar10").images
    out = {"proxy": args.proxy, "archs": len(archs), "device": str(device), "seeds": [a, b],
           "group_size": args.group_size, "load_average_before": os.getloadavg()[0]}

    def run(seed: int, group_size: int | None) -> np.ndarray:
        split = data.prepare(images, recipe, seed, device)
        result = engine.train(archs, indices, split, recipe, seed, device, until=at,
                              evaluate_at=(at,), group_size=group_size)
        return np.array([c[at - 1] for c in result.curves])

    runs = {"seed_a": run(a, None), "seed_b": run(b, None), "seed_a_grouped": run(a, args.group_size)}
    out["scores"] = {k: v.round(2).tolist() for k, v in runs.items()}
    out["spread_across_archs_std"] = float(runs["seed_a"].std())
    for name, (x, y) in {"between_seeds": ("seed_a", "seed_b"),
                         "between_groupings": ("seed_a", "seed_a_grouped")}.items():
        d = np.abs(runs[x] - runs[y])
        out[name] = {"mean_abs_diff": float(d.mean()), "max_abs_diff": float(d.max()),
                     "kendall_tau": kendall_tau(runs[x], runs[y]),
                     "spearman": spearman(runs[x], runs[y])}
    out["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
