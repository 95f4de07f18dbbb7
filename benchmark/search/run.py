"""Searches as a library call: check a spec (before anything is computed or written), run the
runs the results store lacks, store each finished run, return them all; the datasets on which
each run's answer is looked up (``--lookup``, checked with the spec).

A stored run is found again by the digest of everything that determines it: the strategy and the
options it reads, the ladder with each level's proxy, store name, version, data source and proxy
seed, the dataset, the truth, the limits and :data:`SEARCH_VERSION`; plus the search seed and the
run number. A rerun with the same options computes nothing; more runs add only the new ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nb201 import groundtruth as gt
from nb201.api import Proxy
from nb201.catalog import DEFAULT_DATASET, DEFAULT_TRUTH, check_seed, check_truth, dataset_spec
from nb201.context import Context
from nb201.errors import UserError
from nb201.progress import Progress
from nb201.provenance import SUITE_VERSION, config_digest, git_hash
from nb201.registry import Registry
from nb201.store import SearchRuns, Store

from .fitness import Fitness, resolve, warnings
from .ladder import Ladder, parse
from .loop import Limits, run_one
from .moves import Moves
from .observer import Observer
from .strategy import STRATEGIES, Options, Strategy

#: bump when a strategy's or the loop's behaviour changes: stored runs of other versions are then
#: not reused
SEARCH_VERSION = 1


@dataclass(frozen=True)
class SearchSpec:
    strategy: str
    fitness: str
    dataset: str = DEFAULT_DATASET
    limits: Limits = Limits(budget_s=12000.0)
    runs: int = 1
    seed: int = 0
    truth: str = DEFAULT_TRUTH
    options: Options = field(default_factory=Options)
    proxy_seed: int = 0


@dataclass(frozen=True)
class Checked:
    spec: SearchSpec
    strategy: Strategy
    ladder: Ladder
    proxies: list
    #: one line per fitness level that reads test-set accuracy or the truth itself
    warnings: tuple[str, ...] = ()


def check(spec: SearchSpec, registry: Registry[Proxy]) -> Checked:
    """Validate every input of a search (its fitness proxies resolved in ``registry``); a
    UserError (one line) on the first bad one."""
    dataset_spec(spec.dataset)
    check_truth(spec.truth)
    spec.limits.check()
    if not _is_int(spec.runs) or spec.runs < 1:
        raise UserError(f"--runs must be an integer >= 1, got {spec.runs!r}")
    check_seed(spec.seed, "--seed")
    check_seed(spec.proxy_seed, "--proxy-seed")
    if not isinstance(spec.fitness, str):
        raise UserError(f"--fitness must be a proxy name, a ladder or a preset, got {spec.fitness!r}")
    strategy = STRATEGIES.get(spec.strategy).from_options(spec.options.check())
    ladder = strategy.levels(parse(spec.fitness))
    proxies = resolve(ladder, registry)
    return Checked(spec, strategy, ladder, proxies, tuple(warnings(proxies, spec.truth)))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def lookup_datasets(text) -> tuple[str, ...]:
    """``--lookup DATASET[,DATASET]`` (or a list of names): the datasets on which each run's final
    arch is looked up (NB201's protocol: search CIFAR-10, read the answer's truth on the others); a
    UserError (one line) on an unknown, empty or repeated name."""
    if text is None:
        return ()
    if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
        text = ",".join(text)
    if not isinstance(text, str):
        raise UserError(f"--lookup must name datasets, got {text!r}")
    names = tuple(name.strip() for name in text.split(","))
    for k, name in enumerate(names):
        if not name:
            raise UserError(f"--lookup {text!r}: empty dataset name (syntax DATASET[,DATASET])")
        dataset_spec(name)
        if name in names[:k]:
            raise UserError(f"--lookup {text!r}: {name!r} is given twice")
    return names


def label(checked: Checked) -> str:
    """A short name: the strategy, its options that differ from the defaults, the fitness."""
    defaults = Options()
    changed = [k if v is True else f"{k}={v}" for k, v in checked.strategy.options().items()
               if v != getattr(defaults, k) or k in checked.strategy.labelled]
    return " ".join([checked.spec.strategy, *changed]) + f" | {checked.spec.fitness}"


def what(checked: Checked) -> dict:
    """What a search is, whatever machine runs it: the part of :func:`describe` without the
    levels' data settings and device class."""
    spec = checked.spec
    return {"strategy": spec.strategy, "fitness": spec.fitness, "ladder": str(checked.ladder),
            "dataset": spec.dataset, "truth": spec.truth, **spec.limits.describe(),
            "options": checked.strategy.options(), "search_version": SEARCH_VERSION}


def describe(checked: Checked, fitness: Fitness) -> dict:
    return {**what(checked), "levels": fitness.identity(), "label": label(checked)}


def digest(description: dict) -> str:
    """A stored search's identity: its description without the words (label, charge basis; a
    change of how costs are charged bumps SEARCH_VERSION)."""
    identity = {**{k: v for k, v in description.items() if k != "label"},
                "levels": [{k: v for k, v in level.items() if k != "charge"}
                           for level in description["levels"]]}
    return config_digest(identity, 16)


def identity(checked: Checked, ctx: Context, store: Store) -> str:
    """The digest its stored runs are found by, on ``ctx`` (without running anything)."""
    return digest(describe(checked, Fitness(checked.proxies, ctx, store)))


def search(checked: Checked, ctx: Context, store: Store, progress: bool = True,
           executor=None) -> dict:
    """Every run of the search (stored ones read, missing ones run and stored), with its spec."""
    spec = checked.spec
    fitness = Fitness(checked.proxies, ctx, store, progress, executor)
    description = describe(checked, fitness)
    key = digest(description)
    runs = SearchRuns(store)
    stored = runs.get(key, spec.seed, list(range(spec.runs)))
    missing = [r for r in range(spec.runs) if r not in stored]
    truth = gt.vector(spec.dataset, spec.truth)
    moves = Moves(checked.strategy.unique)
    if missing:
        store.check_writable()
    with Progress(total=len(missing), desc=f"{description['label']} on {spec.dataset}",
                  unit="run", disable=not progress or not missing) as bar:
        for run in missing:
            record = run_one(checked.strategy, checked.ladder, fitness, spec.limits,
                             Observer(truth), moves, seed=[spec.seed, run])
            runs.put(key, spec.seed, run, description, record, git=git_hash(),
                     suite_version=SUITE_VERSION)
            stored[run] = record
            bar.update()
    return {"digest": key, "spec": description, "device": fitness.device(),
            "computed_runs": len(missing),
            "runs": [{"run": r, **stored[r]} for r in range(spec.runs)]}
