"""How much do proxy rankings move when the CIFAR-10 images are JPEG-compressed once more?

The embedded CIFAR-10 is a JPEG copy (quality 75) of the official images, and no lossless copy is
reachable from this machine, so the effect of that compression on our numbers cannot be measured
directly. This tool measures the next best thing: it re-encodes the embedded copy at a lower
quality (default 50; same layout, same order), scores the same archs with the same seed on both
copies, and prints, per proxy, the Spearman correlation between the two score vectors, the
Kendall tau of each against the truth, and the mean PSNR of the re-encoded training images
against the embedded ones (the size of the perturbation). A proxy whose ranking barely moves under
a second compression is unlikely to be moved much by the first. ``--other-seed K`` adds the
Spearman between seed ``--seed`` and seed K on the embedded copy: how much a seed change alone
moves the ranking, the yardstick for the copies' Spearman.

    python tools/jpeg_sensitivity.py [--quality 50] [--sample 40] [--proxies grad_norm,nwot]
                                     [--other-seed 1] [--json]

Scores go through ``benchmark.runner.mean_scores`` (what ``score`` computes) and the results
store, under the data source ``imagefolder:cifar10-jpeg{Q}.tar.gz`` for the copy, so a rerun
recomputes nothing. The copy is written once to ``results/jpeg/`` (git-ignored).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm


from analysis.metrics import orient, spearman, summarize
from nb201 import groundtruth as gt
from nb201.context import Context, resolve_device
from nb201.datasets import EMBEDDED_CIFAR10, load_dataset
from benchmark.runner import Request, mean_scores
from nb201.store import DEFAULT_PATH, Store
from proxies import REGISTRY

IMAGE_PROXIES = ("grad_norm", "snip", "fisher", "jacov", "epe_nas", "nwot", "zico", "meco")


def reencode(src: Path, dst: Path, quality: int) -> Path:
    """Write a copy of the image-folder archive `src` with every JPEG re-encoded at `quality`."""
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_suffix(".part")
    with tarfile.open(src, "r:*") as tin, tarfile.open(part, "w:gz") as tout:
        members = [m for m in tin.getmembers() if m.isfile()]
        for m in tqdm(members, desc=f"re-encoding at quality {quality}", unit="img", file=sys.stderr):
            with Image.open(tin.extractfile(m)) as im:
                buf = io.BytesIO()
                im.convert("RGB").save(buf, format="JPEG", quality=quality)
            info = tarfile.TarInfo(m.name)
            info.size = buf.tell()
            buf.seek(0)
            tout.addfile(info, buf)
    part.rename(dst)
    return dst


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of the PSNR (dB) of b against a, both uint8 with images on axis 0."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12))))


def _compare(proxy, indices: list[int], seed: int, device, copy: str, store: Store,
             other_seed: int | None) -> dict:
    """One proxy on the same archs and seed, on the embedded copy and on the re-encoded one; with
    `other_seed`, also on the embedded copy with that seed (the noise a seed change brings)."""
    runs = [(seed, None), (seed, copy)] + ([(other_seed, None)] if other_seed is not None else [])
    requests = [Request(proxy, "cifar10", indices, (s,)) for s, _ in runs]
    scores = [mean_scores(r, Context("cifar10", s, device=device, data_dir=data_dir), store)[0]
              for r, (s, data_dir) in zip(requests, runs)]
    truth = requests[0].truth_values()
    base, worse = (summarize(x, truth, higher_is_better=proxy.higher_is_better) for x in scores[:2])
    vectors = [orient(x, proxy.higher_is_better)[0] for x in scores]
    row = {"proxy": proxy.name, "n": len(indices),
           "spearman_between": float(spearman(vectors[0], vectors[1])),
           "tau_q75": base["kendall_tau"], "tau_q75_ci": base["ci"]["kendall_tau"],
           "tau_copy": worse["kendall_tau"], "tau_copy_ci": worse["ci"]["kendall_tau"]}
    if other_seed is not None:
        row["spearman_seeds"] = float(spearman(vectors[0], vectors[2]))
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quality", type=int, default=50)
    p.add_argument("--sample", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--proxies", default=",".join(IMAGE_PROXIES))
    p.add_argument("--other-seed", type=int, default=None,
                   help="also score the embedded copy with this seed: the Spearman between the "
                        "two seeds is the noise floor to compare the copies' Spearman with")
    p.add_argument("--device", default="auto")
    p.add_argument("--store", default=str(DEFAULT_PATH))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    copy = reencode(EMBEDDED_CIFAR10, Path(args.store).parent / "jpeg" / f"cifar10-jpeg{args.quality}.tar.gz",
                    args.quality)
    base, worse = load_dataset("cifar10"), load_dataset("cifar10", str(copy))
    if not np.array_equal(base.y_train.numpy(), worse.y_train.numpy()):
        raise SystemExit("the re-encoded copy lists the images in another order")
    db = psnr(base.x_train.numpy(), worse.x_train.numpy())

    indices = gt.sample(args.sample, args.seed)
    device = resolve_device(args.device)
    rows = []
    store = Store(args.store)
    try:
        for name in args.proxies.split(","):
            rows.append(_compare(REGISTRY.get(name), indices, args.seed, device, str(copy), store,
                                 args.other_seed))
    finally:
        store.close()
    if args.json:
        print(json.dumps({"quality": args.quality, "psnr_db": db, "rows": rows}, indent=1))
        return 0
    q = args.quality
    print(f"re-encoded at quality {q}: mean PSNR {db:.1f} dB against the embedded copy "
          f"(training images); {args.sample} archs, seed {args.seed}, truth CIFAR-10 test_200\n")
    seeds = args.other_seed is not None
    extra = f" Spearman seed {args.seed} vs {args.other_seed} (q75) |" if seeds else ""
    print(f"| proxy | Spearman q75 vs q{q} scores |{extra} Kendall tau q75 [95% CI] "
          f"| Kendall tau q{q} [95% CI] |")
    print("|---|---|" + ("---|" if seeds else "") + "---|---|")
    for r in rows:
        lo, hi = r["tau_q75_ci"]
        lo2, hi2 = r["tau_copy_ci"]
        cell = f" {r['spearman_seeds']:.3f} |" if seeds else ""
        print(f"| {r['proxy']} | {r['spearman_between']:.3f} |{cell} {r['tau_q75']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"| {r['tau_copy']:.3f} [{lo2:.3f}, {hi2:.3f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
