"""The shipped EcoNAS study's tables (docs/RESULTS.md, "The shipped EcoNAS study"), from stored
rows only (nothing is computed): per setting of ``data/experiments/econas-cpu.toml`` on its archs,
n, Kendall tau, Spearman and top-10% retrieval with 95% bootstrap CIs against ``test_200`` and
``valid_200``; each factor against the EcoNAS point on the archs both hold (paired bootstrap of the
Kendall tau difference, ``analysis.metrics.paired_difference``); the compute each setting holds,
in hours of the stored seconds (a CPU row's seconds are its share of a 2-core machine's wall time:
its worker's CPU time over the workers that ran alongside; CPU-hours are twice that).

    python tools/study_tables.py [--results STORE] [--experiment econas-cpu] [--json]

With no ``--results``, a store of no rows of its own: what the shipped packs (data/results/) hold.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from analysis import metrics
from benchmark.experiments.spec import load_experiment
from nb201 import groundtruth as gt
from nb201.catalog import TRUTHS
from nb201.context import Context
from nb201.errors import UserError
from nb201.store import Key, Store
from proxies import REGISTRY

#: the setting every factor is compared with, and the published figures for it on CIFAR-10
POINT = "c4r4s0e40@20"


def stored_scores(store: Store, name: str, dataset: str, indices: list[int], seed: int
                  ) -> tuple[dict[int, float], float]:
    """(arch -> score of the archs stored, the compute seconds they hold) of proxy ``name``."""
    proxy = REGISTRY.get(name)
    ctx = Context(dataset, seed=seed, device="cpu")
    outcomes = store.get(Key.of(proxy, ctx), indices)
    scores = {i: proxy.read(o) for i, o in outcomes.items() if proxy.covers(o)}
    seconds = sum(proxy.cost(o) for i, o in outcomes.items() if i in scores)
    return scores, seconds


def summary(scores: dict[int, float], dataset: str, truth: str, higher: bool) -> dict:
    indices = sorted(scores)
    return metrics.summarize(np.array([scores[i] for i in indices]),
                             gt.vector(dataset, truth)[indices], higher)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", help="a store (default: an empty one: the shipped packs only)")
    parser.add_argument("--experiment", default="econas-cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        exp = load_experiment(args.experiment, REGISTRY)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(args.results or Path(tmp) / "empty.sqlite", create=args.results is None)
            rows, pairs = [], []
            # one row per setting and dataset, on the union of the archs its groups name (a
            # later group that grows a setting's sample adds to the same row)
            for sel in exp.selections():
                scores, seconds = stored_scores(store, sel.proxy, sel.dataset, list(sel.indices),
                                                exp.seed)
                higher = REGISTRY.get(sel.proxy).higher_is_better
                row = {"proxy": sel.proxy, "dataset": sel.dataset, "archs": len(sel.indices),
                       "n": len(scores), "hours": seconds / 3600, "scores": scores}
                for truth in TRUTHS:
                    row[truth] = summary(scores, sel.dataset, truth, higher) if len(scores) >= 3 else None
                rows.append(row)
            points = {r["dataset"]: r["scores"] for r in rows if r["proxy"] == POINT}
            for row in rows:
                scores, point = row.pop("scores"), points.get(row["dataset"], {})
                common = sorted(set(scores) & set(point))
                if row["proxy"] == POINT or len(common) < 3:
                    continue
                truth = gt.vector(row["dataset"], "test_200")[common]
                ours = np.array([scores[i] for i in common])
                theirs = np.array([point[i] for i in common])
                paired = metrics.paired_difference(metrics.kendall_tau, ours, theirs, truth)
                pairs.append({"proxy": row["proxy"], "dataset": row["dataset"], "n": len(common),
                              "tau": metrics.kendall_tau(ours, truth),
                              "point_tau": metrics.kendall_tau(theirs, truth), **paired})
            store.close()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return {}
    out = {"experiment": exp.name, "rows": rows, "versus_point": pairs}
    if args.json:
        print(json.dumps(out, allow_nan=False, default=float))
        return out
    print(markdown(out))
    return out


def _ci(summary_: dict | None, key: str) -> str:
    if not summary_ or summary_[key] is None:
        return "-"
    lo, hi = summary_["ci"][key]
    return f"{summary_[key]:.3f} [{lo:.2f}, {hi:.2f}]"


def markdown(out: dict) -> str:
    lines = ["| setting | dataset | n (of archs) | Kendall tau vs test_200 | top-10% retrieval "
             "vs test_200 | Kendall tau vs valid_200 | Spearman vs valid_200 | 2-core hours |",
             "|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        lines.append(f"| `{r['proxy']}` | {r['dataset']} | {r['n']} ({r['archs']}) | "
                     f"{_ci(r['test_200'], 'kendall_tau')} | {_ci(r['test_200'], 'retrieval_top10')} | "
                     f"{_ci(r['valid_200'], 'kendall_tau')} | {_ci(r['valid_200'], 'spearman')} | "
                     f"{r['hours']:.2f} |")
    lines += ["", f"| setting | dataset | n (paired with {POINT}) | its tau | {POINT}'s tau | "
              "difference [95% CI] | significant |", "|---|---|---|---|---|---|---|"]
    for p in out["versus_point"]:
        lo, hi = p["ci"]
        lines.append(f"| `{p['proxy']}` | {p['dataset']} | {p['n']} | {p['tau']:.3f} | "
                     f"{p['point_tau']:.3f} | {p['difference']:+.3f} [{lo:+.2f}, {hi:+.2f}] | "
                     f"{'yes' if p['significant'] else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
