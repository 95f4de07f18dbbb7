"""What does a proxy reward? Kendall tau of its scores, and of the truth, with each cell property.

For each proxy, on ``--sample N --seed S`` of a dataset (scores read from the results store, or
computed through ``benchmark.runner.mean_scores`` when missing), prints the Kendall tau of the score and
of the truth with the number of edges of each op, the parameter count and NB201's 12-epoch
accuracy; then the Kendall tau between every pair of the given proxies.

    python tools/proxy_anatomy.py --proxies c4r4s8e10,synflow --sample 100 [--dataset cifar10]
"""
from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np


from analysis.metrics import kendall_tau, orient
from nb201 import groundtruth as gt
from nb201.catalog import DEFAULT_DATASET, DEFAULT_TRUTH
from nb201.context import Context, resolve_device
from benchmark.runner import Request, mean_scores
from nb201.space import OPS
from nb201.store import DEFAULT_PATH, Store
from proxies import REGISTRY


def properties(dataset: str, indices: list[int]) -> dict[str, np.ndarray]:
    archs = [str(gt.arch_of(i)) for i in indices]
    props = {f"#{op}": np.array([a.count(op + "~") for a in archs], dtype=float) for op in OPS}
    props["params"] = gt.vector(dataset, "params")[indices]
    props["test_12"] = gt.vector(dataset, "test_12")[indices]
    return props


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--proxies", required=True)
    p.add_argument("--dataset", default=DEFAULT_DATASET)
    p.add_argument("--sample", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--store", default=str(DEFAULT_PATH))
    args = p.parse_args(argv)

    indices = gt.sample(args.sample, args.seed)
    ctx = Context(args.dataset, args.seed, device=resolve_device(args.device))
    store = Store(args.store)
    try:
        scores = {}
        for name in args.proxies.split(","):
            proxy = REGISTRY.get(name)
            raw, _ = mean_scores(Request(proxy, args.dataset, indices, (args.seed,)), ctx, store)
            scores[name] = orient(raw, proxy.higher_is_better)[0]
    finally:
        store.close()
    truth = gt.vector(args.dataset, DEFAULT_TRUTH)[indices]
    props = properties(args.dataset, indices)
    names = list(scores)
    print(f"Kendall tau with each property, {args.sample} archs of {args.dataset} (seed {args.seed})\n")
    print("| property | " + " | ".join(names) + " | truth (test_200) |")
    print("|---|" + "---|" * (len(names) + 1))
    for prop, values in props.items():
        cells = [f"{kendall_tau(scores[n], values):.3f}" for n in names]
        print(f"| {prop} | " + " | ".join(cells) + f" | {kendall_tau(truth, values):.3f} |")
    if len(names) > 1:
        print("\n| proxy a | proxy b | Kendall tau |\n|---|---|---|")
        for a, b in itertools.combinations(names, 2):
            print(f"| {a} | {b} | {kendall_tau(scores[a], scores[b]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
