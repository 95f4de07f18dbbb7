"""Does the proxy finder reach brute force's conclusions, for how much of its compute?

Brute force scores every candidate of the space on every arch of the pool (through the runner
and the results store, so a rerun computes nothing) and names, for each compute bracket "at most
10^k charged seconds per arch", the candidate of highest fidelity that costs no more
(``benchmark.find.race.best_per_bracket``). Then the finder runs once per seed on the same store
(so it reads stored scores; its accounting charges them as if computed) and names its own best per
bracket among the candidates it kept, at its measured costs. A seed *agrees* when every bracket of
brute force gets the same candidate. Printed: agreement over seeds (and per bracket), and the
finder's charged compute against brute force's on the whole pool (the ratio), per seed and in
total.

    python tools/finder_agreement.py --space "synflow,nwot,params c=8 r=8 s=8 e=2 read=all" \\
        [--dataset cifar10] [--pool 200] [--seeds 20] [--budget SECONDS] [--truth valid_200] \\
        [--objective kendall_tau] [--n0 25] [--results FILE] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from benchmark.executors import LocalExecutor
from benchmark.find.driver import OBJECTIVES, Counting, FindSpec, Reader, find
from benchmark.find.race import Rule, best_per_bracket, best_within
from nb201 import groundtruth as gt
from nb201.catalog import DEFAULT_RESULTS
from nb201.context import Context
from nb201.errors import UserError
from nb201.options import RunOptions
from nb201.store import Store
from proxies import REGISTRY


def brute_force(spec: FindSpec, ctx: Context, store: Store, progress: bool) -> dict:
    """Every candidate on the whole pool: fidelity, cost per arch, best per bracket, charged s."""
    proxies = {n: REGISTRY.get(n) for n in spec.check(REGISTRY)}
    pool = spec.order(proxies.values())        # the finder's pool (its order does not matter)
    candidates = list(proxies)
    reader = Reader(proxies, pool, ctx, store, progress, Counting(LocalExecutor()))
    reader.read(candidates, len(pool))
    truth = gt.vector(spec.dataset, spec.truth)[pool]
    metric = OBJECTIVES[spec.objective]
    values = {n: float(metric(reader.scores[n], truth)) for n in candidates}
    costs = {n: reader.cost(n) for n in candidates}    # medians, as the finder's
    return {"fidelity": values, "cost_per_arch_s": costs, "spent_s": reader.spent_s,
            "best_by_bracket": best_per_bracket(costs, values)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--space", required=True)
    p.add_argument("--dataset", default=FindSpec.dataset)
    p.add_argument("--pool", type=int, default=FindSpec.pool)
    p.add_argument("--seeds", type=int, default=20, help="finder seeds 0..N-1")
    p.add_argument("--budget", type=float, default=1e9, help="the finder's budget (s)")
    p.add_argument("--truth", default=FindSpec.truth)
    p.add_argument("--objective", default=FindSpec.objective)
    p.add_argument("--n0", type=int, default=Rule.n0)
    p.add_argument("--results", default=str(DEFAULT_RESULTS))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        base = FindSpec(args.space, args.dataset, 0, args.budget, args.truth, args.objective,
                        args.pool, rule=Rule(n0=args.n0))
        base.check(REGISTRY)
        ctx = Context.of(args.dataset, 0, RunOptions(full_curve=True))
        store = Store(args.results)
        brute = brute_force(base, ctx, store, progress=True)
        rows = []
        for seed in range(args.seeds):
            spec = FindSpec(args.space, args.dataset, seed, args.budget, args.truth,
                            args.objective, args.pool, rule=Rule(n0=args.n0))
            found = find(spec, REGISTRY, ctx, store, progress=False)
            costs = {r["name"]: r["cost_per_arch_s"] for r in found["front"]}
            values = {r["name"]: r["fidelity"] if r["fidelity"] is not None else math.nan
                      for r in found["front"]}
            picks = {b["up_to_s"]: best_within(costs, values, b["up_to_s"])
                     for b in brute["best_by_bracket"]}
            agree = {u: picks[u] == b["best"]
                     for u, b in zip(picks, brute["best_by_bracket"])}
            rows.append({"seed": seed, "agrees": all(agree.values()), "brackets": agree,
                         "picks": picks, "spent_s": found["spent_s"],
                         "ratio": found["spent_s"] / brute["spent_s"], "final_n": found["final_n"],
                         "dropped": len(found["dropped"]), "stop": found["stop"]})
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    agreement = float(np.mean([r["agrees"] for r in rows]))
    total_ratio = sum(r["spent_s"] for r in rows) / (len(rows) * brute["spent_s"])
    per_bracket = {b["up_to_s"]: float(np.mean([r["brackets"][b["up_to_s"]] for r in rows]))
                   for b in brute["best_by_bracket"]}
    out = {"space": args.space, "dataset": args.dataset, "pool": args.pool, "seeds": args.seeds,
           "truth": args.truth, "objective": args.objective, "brute_force": brute,
           "agreement": agreement, "agreement_by_bracket": per_bracket,
           "ratio_mean": total_ratio, "ratio_max": max(r["ratio"] for r in rows), "runs": rows}
    if args.json:
        print(json.dumps(out, allow_nan=False, default=str))
        return 0
    print(f"brute force: every candidate on {args.pool} archs, {brute['spent_s']:,.1f} s charged")
    for name in sorted(brute["cost_per_arch_s"], key=brute["cost_per_arch_s"].get):
        print(f"  {name:<18} {brute['cost_per_arch_s'][name]:10.4g} s/arch  "
              f"{args.objective} {brute['fidelity'][name]:.3f}")
    for b in brute["best_by_bracket"]:
        print(f"  best at <= {b['up_to_s']:g} s/arch: {b['best']}  (finder agrees in "
              f"{per_bracket[b['up_to_s']]:.0%} of seeds)")
    for r in rows:
        print(f"seed {r['seed']:>2}: {'agrees' if r['agrees'] else 'DIFFERS'}  spent "
              f"{r['spent_s']:8.1f} s ({r['ratio']:.3f} of brute force), final n {r['final_n']}, "
              f"{r['dropped']} dropped, stopped: {r['stop']}"
              + ("" if r["agrees"] else f"; picks {r['picks']}"))
    print(f"agreement: {agreement:.0%} of {len(rows)} seeds; compute: {total_ratio:.3f} of brute "
          f"force on average (max {out['ratio_max']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
