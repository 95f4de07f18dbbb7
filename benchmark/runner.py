"""The runner: score a proxy on a set of archs, computing only what the store lacks.

Library first: the CLI, run_all.sh, experiments and searches all call :func:`compute` and
:func:`mean_scores`; metrics against the truth are the analysis layer's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from nb201 import groundtruth as gt
from nb201.api import Outcome, Proxy, outcome_problem, plain
from nb201.context import Context
from nb201.devices import accelerated, device_name
from nb201.catalog import DEFAULT_TRUTH, check_truth
from nb201.errors import UserError
from nb201.progress import Progress
from nb201.provenance import SUITE_VERSION, git_hash
from nb201.packs import machine
from nb201.store import Key, Store, read_scores
from proxies import plugins

from .executors import Executor, LocalExecutor, failure


@dataclass(frozen=True)
class Request:
    proxy: Proxy
    dataset: str
    indices: list[int]
    seeds: tuple[int, ...] = (0,)
    truth: str = DEFAULT_TRUTH
    nb201_file: str | None = None  # take the truth from an official NB201/NATS-Bench file

    def check(self) -> None:
        """Raise UserError on a request that cannot be scored (no archs, an unknown truth, a proxy
        that cannot score this dataset, an unreadable truth file), before anything is computed."""
        if not self.indices:
            raise UserError("no archs to score")
        check_truth(self.truth, "truth")
        self.proxy.check(self.dataset)
        if self.nb201_file:
            from nb201.nb201_file import load_truth
            load_truth(self.nb201_file, self.dataset, self.truth, [])   # opens and checks the file

    def truth_values(self) -> np.ndarray:
        if self.nb201_file:
            from nb201.nb201_file import load_truth
            return load_truth(self.nb201_file, self.dataset, self.truth, self.indices)[self.indices]
        return gt.vector(self.dataset, self.truth)[self.indices]


def compute(proxy: Proxy, indices: list[int], ctx: Context, store: Store, progress: bool = True,
            executor: Executor | None = None) -> dict[int, Outcome]:
    """Outcomes of one proxy for one seed: stored ones are read, missing ones (and stored ones that
    do not cover what the proxy reads, :meth:`Proxy.covers`) computed by the executor (default: in
    this process) in chunks of ``proxy.chunk_size(ctx)``, each committed as it finishes (a row
    that was there is replaced by :meth:`Proxy.merge`); a chunk is stored only once every one of
    its outcomes is checked (:func:`checked`), and nothing is computed for a store that cannot be
    written. Chunks are cut from ``indices`` in the
    order given (a sample's random order: a computation cut short leaves a random subset), on
    CUDA from the sorted indices (there a chunk is one fused group, whose rounding depends on
    which archs share it)."""
    key = Key.of(proxy, ctx)
    done = store.get(key, indices)
    missing = [i for i in dict.fromkeys(indices) if i not in done or not proxy.covers(done[i])]
    recomputed = set(missing)
    store.served(key, [i for i in done if i not in recomputed])
    if accelerated(ctx.device):   # a CUDA chunk is one fused group: the same archs each time
        missing.sort()
    if not missing:
        return done
    store.check_writable()
    if ctx.state_dir is None:
        ctx = dataclasses.replace(ctx, state_dir=str(store.runs_dir))
    if ctx.reader is None:             # only when computing: a stored read builds no context
        ctx = reading(ctx, store, progress, executor)
    run = {"proxy": proxy.name, "fuse": ctx.fuse, "data_dir": ctx.data_dir,
           "machine": machine()["cpu"]}       # the CPU model (the report names it)
    if proxy.name in plugins.ORIGINS:        # a report of the store says how to load it again
        run["plugin"] = plugins.ORIGINS[proxy.name]
    if proxy.reads_scores:           # it reads its features through ctx.reader: in this process
        executor = None
    step = max(1, proxy.chunk_size(ctx))
    chunks = [missing[start:start + step] for start in range(0, len(missing), step)]
    bar = Progress(total=len(missing), desc=f"{proxy.name} {ctx.dataset} seed {ctx.seed}",
                   unit="arch", disable=not progress)
    with bar:
        for chunk, outcomes in (executor or LocalExecutor()).map(proxy, chunks, ctx):
            outcomes = checked(proxy, chunk, outcomes)
            results = {i: proxy.merge(done[i], o) if i in done else o for i, o in zip(chunk, outcomes)}
            store.put(key, results, device=device_name(ctx.device), git=git_hash(),
                      suite_version=SUITE_VERSION, run=run, replace=True)
            done.update(results)
            bar.update(len(chunk))
    return done


def checked(proxy: Proxy, chunk: list[int], outcomes) -> list[Outcome]:
    """The outcomes a proxy returned for ``chunk``, as plain floats, if there is one per arch and
    each is one the store can hold (:func:`nb201.api.outcome_problem`); else a one-line UserError
    naming the proxy (and its plugin) and the arch."""
    if not isinstance(outcomes, (list, tuple)) or len(outcomes) != len(chunk):
        what = (f"{len(outcomes)} outcome{'s' * (len(outcomes) != 1)}"
                if isinstance(outcomes, (list, tuple)) else type(outcomes).__name__)
        raise failure(proxy, chunk, f"it returned {what} for {len(chunk)} "
                                    f"arch{'s' * (len(chunk) != 1)}")
    for index, outcome in zip(chunk, outcomes):
        problem = outcome_problem(outcome)
        if problem:
            raise failure(proxy, [index], problem if problem.startswith("its ") else
                          f"it {problem}")
    return [plain(o) for o in outcomes]


def reading(ctx: Context, store: Store, progress: bool = True,
            executor: Executor | None = None) -> Context:
    """``ctx`` whose :meth:`~nb201.context.Context.scores` reads other proxies' scores through
    ``store`` (a learned proxy's features and labels), computing the missing ones with
    ``executor``."""
    def read(proxy: Proxy, indices: list[int], at: Context):
        return mean_scores(Request(proxy, at.dataset, indices, (at.seed,)), at, store, progress,
                           executor)
    return dataclasses.replace(ctx, reader=read)


def mean_scores(request: Request, ctx: Context, store: Store, progress: bool = True,
                executor: Executor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per arch of ``request.indices``: the proxy's score (combined over the scored set, mean over
    ``request.seeds``; see :func:`nb201.store.read_scores`) and its compute seconds (summed
    over seeds), computing what the store lacks."""
    per_seed = [compute(request.proxy, request.indices, ctx.with_seed(s), store, progress, executor)
                for s in request.seeds]
    return read_scores(request.proxy, per_seed, request.indices)
