"""Zero-cost proxies on a dataset, and their transfer from another: two Markdown tables from the
results store (it reads stored rows only and computes nothing: a run in progress gives the n
stored so far).

    python tools/zero_cost_transfer.py --results R.sqlite --dataset cifar100 --sample 1000
    python tools/zero_cost_transfer.py --results R.sqlite --dataset cifar100 --transfer-from cifar10 --sample 200

The first table: every registered zero-cost proxy (and the params and flops baselines) scored on
``--dataset``'s images, on the stored archs among ``--sample N --seed S`` (the rows that
``python -m benchmark score --proxy P --dataset D --sample N --seed S`` and the experiment
``cifar100-zc`` store), against NB201's ``test_200`` and ``valid_200`` of that dataset: Kendall
tau, Spearman and top-10% retrieval with 95% bootstrap CIs, non-finite scores, seconds per arch.

The second (``--transfer-from SOURCE``): each proxy scored on SOURCE (its images and class count:
what a user with only SOURCE's images would use) against ``--dataset``'s truth, beside the same
proxy scored on ``--dataset`` itself, on the archs stored for both: the two taus, their paired
bootstrap difference (target minus source, 95% interval) and the Spearman correlation between the
two scorings. Its first row is SOURCE's own ``--truth`` used as a proxy on the whole sample: how
far the two datasets' rankings differ at all.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from analysis.metrics import kendall_tau, orient, paired_difference, spearman, summarize
from nb201 import groundtruth as gt
from nb201.catalog import DATASETS, DEFAULT_TRUTH, TRUTHS, check_seed
from nb201.context import Context
from nb201.errors import UserError
from nb201.options import RunOptions
from nb201.store import DEFAULT_PATH, Key, Store, read_scores

BASELINES = ("params", "flops")


def zero_cost_proxies(registry) -> list:
    """The baselines, then every registered zero-cost proxy, in registry order."""
    return [registry.get(name) for name in BASELINES] + [p for p in registry if p.kind == "zero-cost"]


def stored(proxy, ctx: Context, store: Store, indices: list[int]) -> list[int]:
    """The archs of ``indices`` (in their order) whose rows ``store`` holds for ``proxy`` on ``ctx``."""
    have = store.get(Key.of(proxy, ctx), indices)
    return [i for i in indices if i in have]


def scores_of(proxy, ctx: Context, store: Store, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Stored scores (combined over ``indices``, as the runner reads them) and seconds."""
    return read_scores(proxy, [store.get(Key.of(proxy, ctx), indices)], indices)


def _cell(value, ci=None) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if ci is None or ci[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def table_rows(proxies: list, store: Store, dataset: str, indices: list[int], options: RunOptions,
               seed: int) -> list[dict]:
    """One row per proxy: its stored archs among ``indices`` on ``dataset``, judged against each
    of NB201's truths."""
    ctx = Context.of(dataset, seed, options)
    rows = []
    for proxy in proxies:
        have = stored(proxy, ctx, store, indices)
        row = {"proxy": proxy.name, "reads_images": proxy.needs_images, "n": len(have)}
        if have:
            scores, seconds = scores_of(proxy, ctx, store, have)
            for truth in TRUTHS:
                row[truth] = summarize(scores, gt.vector(dataset, truth)[have], proxy.higher_is_better)
            row["seconds_per_arch"] = float(np.mean(seconds))
        rows.append(row)
    return rows


def transfer_rows(proxies: list, store: Store, dataset: str, source: str, indices: list[int],
                  options: RunOptions, seed: int, truth_name: str) -> list[dict]:
    """The reference row (``source``'s truth as a proxy of ``dataset``'s), then one row per proxy:
    scored on ``dataset`` and on ``source``, on the archs stored for both."""
    target_ctx, source_ctx = Context.of(dataset, seed, options), Context.of(source, seed, options)
    truth = gt.vector(dataset, truth_name)
    reference = summarize(gt.vector(source, truth_name)[indices], truth[indices])
    rows = [{"proxy": f"{source} {truth_name} (the truth of {source})", "n": len(indices),
             "source": {"kendall_tau": reference["kendall_tau"], "ci": reference["ci"]["kendall_tau"]}}]
    for proxy in proxies:
        have = set(stored(proxy, source_ctx, store, indices))
        both = [i for i in stored(proxy, target_ctx, store, indices) if i in have]
        row = {"proxy": proxy.name, "reads_images": proxy.needs_images, "n": len(both)}
        if len(both) >= 3:
            hib = proxy.higher_is_better
            a = orient(scores_of(proxy, target_ctx, store, both)[0], hib)[0]
            b = orient(scores_of(proxy, source_ctx, store, both)[0], hib)[0]
            for key, s in (("target", a), ("source", b)):
                m = summarize(s, truth[both])
                row[key] = {"kendall_tau": m["kendall_tau"], "ci": m["ci"]["kendall_tau"]}
            row["difference"] = paired_difference(kendall_tau, a, b, truth[both], seed=seed)
            row["scorings_spearman"] = spearman(a, b)
        rows.append(row)
    return rows


def print_table(rows: list[dict], dataset: str) -> None:
    print("| proxy | reads images | n | Kendall tau vs test_200 [95% CI] | Kendall tau vs valid_200 "
          "[95% CI] | Spearman vs test_200 [95% CI] | top-10% retrieval vs test_200 [95% CI] "
          "| non-finite | s/arch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["n"]:
            print(f"| {r['proxy']} | {'yes' if r['reads_images'] else 'no'} | 0 | not stored yet "
                  "| | | | | |")
            continue
        t, v = r["test_200"], r["valid_200"]
        print(f"| {r['proxy']} | {'yes' if r['reads_images'] else 'no'} | {r['n']} | "
              f"{_cell(t['kendall_tau'], t['ci']['kendall_tau'])} | "
              f"{_cell(v['kendall_tau'], v['ci']['kendall_tau'])} | "
              f"{_cell(t['spearman'], t['ci']['spearman'])} | "
              f"{_cell(t['retrieval_top10'], t['ci']['retrieval_top10'])} | {t['nan_scores']} | "
              f"{r['seconds_per_arch']:.2f} |")


def print_transfer(rows: list[dict], dataset: str, source: str, truth: str) -> None:
    print(f"| proxy | reads images | n | tau, scored on {dataset} [95% CI] | tau, scored on {source} "
          f"[95% CI] | difference ({dataset} - {source}) [95% paired CI] | Spearman between the "
          f"two scorings |")
    print("|---|---|---|---|---|---|---|")
    first, *rest = rows
    print(f"| {first['proxy']} | – | {first['n']} | – | "
          f"{_cell(first['source']['kendall_tau'], first['source']['ci'])} | – | – |")
    for r in rest:
        images = "yes" if r["reads_images"] else "no"
        if "target" not in r:
            print(f"| {r['proxy']} | {images} | {r['n']} | not stored on both yet | | | |")
            continue
        d = r["difference"]
        print(f"| {r['proxy']} | {images} | {r['n']} | "
              f"{_cell(r['target']['kendall_tau'], r['target']['ci'])} | "
              f"{_cell(r['source']['kendall_tau'], r['source']['ci'])} | "
              f"{_cell(d['difference'], d['ci'])} | {_cell(r['scorings_spearman'])} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(DEFAULT_PATH), help="the results store to read")
    p.add_argument("--dataset", default="cifar100", choices=DATASETS)
    p.add_argument("--transfer-from", default=None, choices=DATASETS, metavar="SOURCE",
                   help="instead: the transfer table, each proxy scored on SOURCE vs on --dataset")
    p.add_argument("--sample", type=int, default=1000, help="the archs: --sample N --seed S")
    p.add_argument("--seed", type=int, default=0, help="draws the sample and is the proxy seed")
    p.add_argument("--truth", default=DEFAULT_TRUTH, choices=TRUTHS, help="transfer table's truth")
    p.add_argument("--device", default="cpu", help="the device class the rows were computed on")
    p.add_argument("--zc-batch", type=int, default=RunOptions().zc_batch)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        check_seed(args.seed, "--seed")
        if args.transfer_from == args.dataset:
            raise UserError("--transfer-from must name another dataset than --dataset")
        indices = gt.sample(args.sample, args.seed)
        options = RunOptions(device=args.device, zc_batch=args.zc_batch)
        from proxies import REGISTRY
        store = Store(args.results, create=False)
        try:
            if args.transfer_from:
                rows = transfer_rows(zero_cost_proxies(REGISTRY), store, args.dataset, args.transfer_from, indices,
                                     options, args.seed, args.truth)
            else:
                rows = table_rows(zero_cost_proxies(REGISTRY), store, args.dataset, indices, options, args.seed)
        finally:
            store.close()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"dataset": args.dataset, "transfer_from": args.transfer_from,
                          "sample": args.sample, "seed": args.seed, "rows": rows}))
    elif args.transfer_from:
        print_transfer(rows, args.dataset, args.transfer_from, args.truth)
    else:
        print_table(rows, args.dataset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
