"""Agreement of our zero-cost scores with NASLib's reference scores (NAS-Bench-Suite-Zero).

For each proxy that the reference file holds (epe_nas, fisher, flops, grad_norm, grasp, jacov,
l2_norm, nwot, params, plain, snip, synflow, zen), score the reference's archs with our proxy on
CIFAR-10 (through the runner and the results store, so reruns reuse every finished arch) and print
the Spearman correlation across archs between our scores and theirs (NASLib's -1e8 for a failed
score and our NaN/inf are both ranked last, by the suite's policy).

    python tools/validate_zero_cost.py [--proxies snip,jacov] [--limit N] [--json]
    python tools/validate_zero_cost.py --write-fixture FULL_REFERENCE_CSV   # refresh the fixture

The reference archs are those of ``tests/fixtures/zc_reference.csv``: the CIFAR-10 archs of
NASLib's file in the order of ``benchmark.groundtruth.sample(15625, seed=0)`` (so the first ones
are the archs of ``--sample 200 --seed 0`` that NASLib scored), 320 of them.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.metrics import orient, spearman  # noqa: E402
from benchmark import groundtruth as gt  # noqa: E402
from benchmark.context import Context, resolve_device  # noqa: E402
from benchmark.runner import compute  # noqa: E402
from benchmark.store import DEFAULT_PATH, Store  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "zc_reference.csv"
PROXIES = ("params", "flops", "synflow", "grad_norm", "snip", "grasp", "fisher", "plain",
           "jacov", "epe_nas", "nwot", "l2_norm", "zen")
FIXTURE_SIZE = 320
NASLIB_FAILED = -1e8   # what NASLib's ZeroCost predictor stores for a NaN or inf score
TARGET = {"params": 0.95, "flops": 0.95, "synflow": 0.95}   # 0.9 for the others


def write_fixture(full_csv: str, out: Path = FIXTURE, size: int = FIXTURE_SIZE) -> pd.DataFrame:
    ref = pd.read_csv(full_csv)
    ref["index"] = [gt.index_of(s) for s in ref["net_str"]]
    order = {index: rank for rank, index in enumerate(gt.sample(gt.NUM_ARCHS, 0))}
    ref["order"] = ref["index"].map(order)
    picked = ref.sort_values("order").head(size)
    picked = picked[["index", "net_str", *PROXIES]]
    picked.to_csv(out, index=False, float_format="%.10g")
    return picked


def reference(path: Path = FIXTURE) -> pd.DataFrame:
    return pd.read_csv(path)


def agreement(ours: np.ndarray, theirs: np.ndarray, higher_is_better: bool = True) -> dict:
    theirs = np.where(theirs == NASLIB_FAILED, np.nan, theirs)
    a, bad_ours = orient(ours, higher_is_better)
    b, bad_theirs = orient(theirs, higher_is_better)
    return {"spearman": float(spearman(a, b)), "n": int(len(a)),
            "nonfinite_ours": bad_ours, "nonfinite_theirs": bad_theirs}


def ceiling(proxy, indices: list[int], ours: np.ndarray, theirs: np.ndarray, ctx, store) -> dict:
    """Our scores with the next seed (another init and another minibatch) on the same archs: how
    well two of our own runs agree bounds how well any one run can agree with NASLib's."""
    other = compute(proxy, indices, ctx.with_seed(ctx.seed + 1), store)
    again = np.array([proxy.read(other[i]) for i in indices])
    hib = proxy.higher_is_better
    return {"ceiling_n": len(indices),
            "ours_vs_ours_next_seed": float(spearman(orient(ours, hib)[0], orient(again, hib)[0])),
            "ours_vs_naslib_same_archs": agreement(ours, theirs, hib)["spearman"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxies", default=",".join(PROXIES))
    parser.add_argument("--limit", type=int, default=None, help="only the first N fixture archs")
    parser.add_argument("--results", default=str(DEFAULT_PATH))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zc-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--ceiling", type=int, default=0, metavar="N",
                        help="for proxies below target, also score the first N archs with seed + 1 "
                             "and report our own seed-to-seed Spearman there (the noise ceiling)")
    parser.add_argument("--write-fixture", metavar="FULL_CSV", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.write_fixture:
        picked = write_fixture(args.write_fixture)
        print(f"wrote {len(picked)} archs to {FIXTURE}", file=sys.stderr)
        return 0
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    from proxies import REGISTRY

    ref = reference()
    if args.limit:
        ref = ref.head(args.limit)
    indices = [int(i) for i in ref["index"]]
    ctx = Context("cifar10", args.seed, resolve_device(args.device), zc_batch=args.zc_batch)
    store = Store(args.results)
    rows = []
    for name in args.proxies.split(","):
        proxy = REGISTRY.get(name)
        done = compute(proxy, indices, ctx, store)
        ours = np.array([proxy.read(done[i]) for i in indices])
        row = {"proxy": name, **agreement(ours, ref[name].to_numpy(float), proxy.higher_is_better),
               "target": TARGET.get(name, 0.9)}
        row["meets_target"] = bool(row["spearman"] >= row["target"])
        if args.ceiling and not row["meets_target"]:
            row.update(ceiling(proxy, indices[:args.ceiling], ours[:args.ceiling],
                               ref[name].to_numpy(float)[:args.ceiling], ctx, store))
        rows.append(row)
        print(f"{name:<10} spearman {row['spearman']:.3f} (n={row['n']}, target {row['target']})",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"dataset": "cifar10", "seed": args.seed, "zc_batch": args.zc_batch,
                          "rows": rows}, allow_nan=False))
    else:
        print("| proxy | Spearman vs NASLib | archs | non-finite (ours / NASLib) | target "
              "| ours seed s vs s+1 (vs NASLib), first archs |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            mark = "" if r["meets_target"] else " (below)"
            noise = (f"{r['ours_vs_ours_next_seed']:.3f} ({r['ours_vs_naslib_same_archs']:.3f}), "
                     f"n={r['ceiling_n']}" if "ceiling_n" in r else "")
            print(f"| {r['proxy']} | {r['spearman']:.3f}{mark} | {r['n']} | "
                  f"{r['nonfinite_ours']} / {r['nonfinite_theirs']} | {r['target']} | {noise} |")
    return 0 if all(math.isfinite(r["spearman"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
