"""The harness: score a proxy on a set of archs, computing only what the store lacks.

Library first: the CLI, run_all.sh and the experiment runner all call :func:`score`.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from analysis.metrics import summarize

from . import groundtruth as gt
from .context import Context
from .errors import UserError
from .provenance import SUITE_VERSION, git_hash
from .registry import Outcome, Proxy
from .store import Key, Store


@dataclass(frozen=True)
class Request:
    proxy: Proxy
    dataset: str
    indices: list[int]
    seeds: tuple[int, ...] = (0,)
    truth: str = "test_200"
    nb201_file: str | None = None  # take the truth from an official NB201/NATS-Bench file

    def check(self) -> None:
        """Raise UserError on a request that cannot be scored (no archs, a proxy that cannot score
        this dataset, an unreadable truth file), before anything is computed."""
        if not self.indices:
            raise UserError("no archs to score")
        self.proxy.check(self.dataset)
        if self.nb201_file:
            from .nb201_file import load_truth
            load_truth(self.nb201_file, self.dataset, self.truth, [])   # opens and checks the file

    def truth_values(self) -> np.ndarray:
        if self.nb201_file:
            from .nb201_file import load_truth
            return load_truth(self.nb201_file, self.dataset, self.truth, self.indices)[self.indices]
        return gt.vector(self.dataset, self.truth)[self.indices]


def data_source(proxy: Proxy, ctx: Context) -> str:
    return ctx.images.source if proxy.needs_images else proxy.source


def device_name(ctx: Context) -> str:
    import torch
    if ctx.device.type == "cuda":
        return torch.cuda.get_device_name(ctx.device)
    return "cpu"


def compute(proxy: Proxy, indices: list[int], ctx: Context, store: Store, progress: bool = True
            ) -> dict[int, Outcome]:
    """Outcomes of one proxy for one seed: stored ones are read, missing ones computed in chunks of
    ``proxy.chunk_size(ctx)`` and committed chunk by chunk."""
    key = Key(proxy.store_name, proxy.version, ctx.dataset, data_source(proxy, ctx), ctx.seed)
    done = store.get(key, indices)
    missing = [i for i in dict.fromkeys(indices) if i not in done]
    if not missing:
        return done
    config = {"proxy": proxy.name, "dataset": ctx.dataset, "seed": ctx.seed,
              "fuse": ctx.fuse, "amp": ctx.amp, "zc_batch": ctx.zc_batch,
              "data_dir": ctx.data_dir}
    step = max(1, proxy.chunk_size(ctx))
    bar = tqdm(total=len(missing), desc=f"{proxy.name} {ctx.dataset} seed {ctx.seed}",
               unit="arch", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    with bar:
        for start in range(0, len(missing), step):
            chunk = missing[start:start + step]
            outcomes = proxy.score([gt.arch_of(i) for i in chunk], chunk, ctx)
            results = dict(zip(chunk, outcomes))
            store.put(key, results, device=device_name(ctx), git=git_hash(),
                      suite_version=SUITE_VERSION, config=config)
            done.update(results)
            bar.update(len(chunk))
    return done


def mean_scores(request: Request, ctx: Context, store: Store, progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per arch of ``request.indices``: the proxy's score (combined over the scored set, mean over
    ``request.seeds``; NaN and inf as computed) and its compute seconds (summed over seeds)."""
    proxy, indices = request.proxy, request.indices
    per_seed = [compute(proxy, indices, ctx.with_seed(s), store, progress) for s in request.seeds]
    scores = np.mean([np.asarray(proxy.combine([o[i] for i in indices]), dtype=float)
                      for o in per_seed], axis=0)
    seconds = np.array([sum(o[i].seconds for o in per_seed) for i in indices])
    return scores, seconds


def score(request: Request, ctx: Context, store: Store, progress: bool = True) -> dict:
    """Score ``request.proxy`` on ``request.indices`` (mean over seeds) and compare with the truth.

    Returns the ``score`` JSON object of the CLI contract."""
    started = time.perf_counter()
    proxy, indices = request.proxy, request.indices
    request.check()
    truth = request.truth_values()      # before computing: a bad truth file costs nothing
    scores, seconds = mean_scores(request, ctx, store, progress)
    summary = summarize(scores, truth, higher_is_better=proxy.higher_is_better)
    return {
        "proxy": proxy.name, "dataset": request.dataset, "truth": request.truth,
        **summary,
        "seeds": list(request.seeds),
        "seconds": float(seconds.sum()),
        "wall_seconds": time.perf_counter() - started,
        "scores": [{"index": i, "arch": str(gt.arch_of(i)), "score": _json_float(s),
                    "truth": _json_float(t), "seconds": float(c)}
                   for i, s, t, c in zip(indices, scores, truth, seconds)],
    }


def _json_float(x: float) -> float | None | str:
    """JSON has no NaN or inf: NaN becomes null, inf the strings "inf" / "-inf"."""
    if np.isnan(x):
        return None
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


