"""Experiments as data: TOML files under ``data/experiments/`` that name proxies, datasets, sample
sizes and seeds; this module reads and validates them (every mistake is a one-line UserError).
``benchmark.experiments.plan`` plans what the store lacks and ``benchmark.experiments.run``
computes it; the CLI then writes the report.

File format (every key but ``group`` is optional)::

    description = "what this experiment is for"
    title = "heading of the report"
    seed = 0                  # draws the arch samples: gt.sample(n, seed) (smaller samples are
                              # prefixes of larger ones, so groups share archs)
    seeds = [0]               # proxy seeds; each arch's score is their mean
    datasets = ["cifar10"]    # cifar10, cifar100, imagenet16-120
    truth = "test_200"        # or valid_200
    order = "cheapest"        # the order runs compute in: cheapest first, or "groups": as the
                              # groups list their proxies (a study whose first group comes first)
    device = "auto"           # auto, cpu, cuda (the command line's --device wins)
    fuse = 8                  # networks trained at once (default: chosen from device memory)
    amp = "bf16"              # CUDA autocast
    zc_batch = 64             # images in the zero-cost minibatch
    full_curve = false        # training proxies evaluate after every epoch (run options: these
                              # five keys are nb201.options.RunOptions' fields, checked as the
                              # command line's flags are)
    [data_dirs]               # per dataset (the command line's --data-dir wins); ~ and $VARS expand
    cifar100 = "$HOME/data/cifar-100-python"
    [report]
    main = ["c4r4s0e40@20", "synflow"]   # proxies of the score-vs-truth and retrieval figures
    include = ["econas-cpu"]  # also report these experiments' groups: read from the store and the
                              # shipped results packs, never computed by this experiment's run
    [[group]]                 # proxies scored on one sample (benchmark.experiments.groups)
    name = "zero-cost"
    proxies = ["synflow", "jacov"]
    sample = 200
    [[search]]                # searches with a proxy as fitness (benchmark.search.experiment)
    strategy = ["rea", "random"]
    fitness = "nb201-12ep-valid"
    budget = 12000
    runs = 100

    [[learn]]                 # learning curves of learned proxies (benchmark.learn.CurveEntry)
    features = ["graph", "graph,params,flops"]
    train = [10, 50, 200]
    draws = 5
    test = 1000
    single = ["params", "flops"]

    [[find]]                  # the proxy finder (benchmark.find.experiment; docs/FINDER.md)
    space = "synflow,nwot,params c=8 r=8 s=8 e=2 read=all"
    budget = 600

An experiment has at least one section (``benchmark.experiments.sections``: groups, learning
searches, learning curves, finders, computed in that order).

Proxies that read images are skipped (and listed) on datasets whose images cannot be loaded;
proxies that need none (the table proxies) always run.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nb201 import groundtruth as gt
from nb201.options import RunOptions, run_option_fields
from nb201.registry import Registry
from nb201.catalog import DATASETS, DEFAULT_DATASET, DEFAULT_TRUTH, check_truth, is_seed
from nb201.commands import command_line
from nb201.errors import UserError
from nb201.lists import comma_list
from nb201.provenance import DATA_DIR
from nb201.store import Selection

from .checker import Checker
from .groups import Group
from .section import FileDefaults
from .sections import sections

EXPERIMENTS_DIR = DATA_DIR / "experiments"
#: the run options an experiment file may set (top-level keys named as RunOptions' fields)
OPTION_KEYS = tuple(f.name for f in run_option_fields() if f.metadata["in_file"])
#: the orders an experiment's runs may compute in (``order``), the default first
ORDERS = ("cheapest", "groups")
FILE_KEYS = ("description", "title", "seed", "seeds", "datasets", "truth", "order", *OPTION_KEYS,
             "data_dirs", "report")
REPORT_KEYS = ("main", "include")


def top_keys() -> tuple[str, ...]:
    """The keys an experiment file may hold: its own and one per kind of section."""
    return (*FILE_KEYS, *sections().names())


@dataclass(frozen=True)
class Experiment:
    name: str
    path: Path
    #: (section key, its entries) of every kind of section, in :func:`sections` order
    entries: tuple[tuple[str, tuple], ...]
    description: str = ""
    title: str = ""
    seed: int = 0
    truth: str = DEFAULT_TRUTH
    options: RunOptions = RunOptions()   # device, fuse, amp, zc_batch, full_curve of the file
    data_dirs: tuple[tuple[str, str], ...] = ()
    main: tuple[str, ...] = ()
    order: str = ORDERS[0]
    #: experiments whose groups the report shows too (``[report] include``; only their groups)
    includes: tuple[Experiment, ...] = ()

    def section(self, key: str) -> tuple:
        """The entries of the ``[[key]]`` tables."""
        return dict(self.entries).get(key, ())

    @property
    def groups(self) -> tuple[Group, ...]:
        return self.section("group")

    @property
    def curves(self) -> tuple:        # benchmark.learn.CurveEntry
        return self.section("learn")

    @property
    def searches(self) -> tuple:      # benchmark.search.experiment.SearchEntry
        return self.section("search")

    @property
    def finds(self) -> tuple:         # benchmark.find.experiment.FindEntry
        return self.section("find")

    def indices(self, group: Group) -> list[int]:
        return gt.sample(group.sample, self.seed)

    def data_dir(self, dataset: str) -> str | None:
        return dict(self.data_dirs).get(dataset)

    def score_command(self, proxy: str, dataset: str, group: Group) -> str:
        """The ``score`` command that scores the same archs and seeds alone."""
        which = (dict(all=True) if group.sample == gt.NUM_ARCHS else
                 dict(sample=group.sample, seed=self.seed))
        return command_line("score", proxy=proxy, dataset=dataset, **which, seeds=group.seeds,
                            truth=self.truth, data_dir=self.data_dir(dataset), json=True)

    def selections(self, sources: dict[tuple[str, str], str] | None = None,
                   skipped: set[tuple[str, str]] = frozenset(),
                   settings: dict[tuple[str, str], str] | None = None) -> tuple[Selection, ...]:
        """What the report shows: each (proxy, dataset, seeds) once, on the union of its groups'
        archs; ``sources`` and ``settings`` pin the data source and the computation's setting per
        (proxy, dataset) (else every stored one)."""
        merged: dict[tuple, tuple[dict, Group]] = {}
        for group in self.groups:
            for dataset in group.datasets:
                for proxy in group.proxies:
                    if (proxy, dataset) in skipped:
                        continue
                    key = (proxy, dataset, group.seeds)
                    indices, largest = merged.get(key, ({}, group))
                    indices.update(dict.fromkeys(self.indices(group)))
                    # samples of one seed are prefixes of each other: the union is the largest
                    merged[key] = (indices, group if group.sample > largest.sample else largest)
        return tuple(Selection(proxy, dataset, (sources or {}).get((proxy, dataset)), tuple(indices),
                               seeds, self.score_command(proxy, dataset, largest),
                               (settings or {}).get((proxy, dataset)))
                     for (proxy, dataset, seeds), (indices, largest) in merged.items())

    def design(self) -> tuple[tuple[str, ...], ...]:
        """The groups as (name, datasets, archs, seeds, proxies, description) strings."""
        return tuple((g.name, ", ".join(g.datasets), str(g.sample), ",".join(map(str, g.seeds)),
                      ", ".join(g.proxies), g.description) for g in self.groups)


# ------------------------------------------------------------------ loading and validation

def experiment_path(name: str | os.PathLike) -> Path:
    """A name of ``data/experiments/`` (without .toml) or a path to a TOML file."""
    path = Path(name).expanduser()
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise UserError(f"experiment file {path} does not exist")
        return path
    path = EXPERIMENTS_DIR / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.toml"))
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"unknown experiment {name!r}; {hint}known: {', '.join(known) or 'none'} "
                        "(or give a path to a .toml file)")
    return path


def load_experiment(name, registry: Registry) -> Experiment:
    """Read and validate an experiment (a name, a path or an :class:`Experiment`); proxy names are
    checked against ``registry``."""
    if isinstance(name, Experiment):
        return name
    path = experiment_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read experiment file {path}: {err}") from None
    return parse_experiment(text, path, registry)


def _run_options(top: Checker) -> RunOptions:
    """The file's run options (device, fuse, ...), checked as RunOptions checks them."""
    fields = {f.name: f for f in run_option_fields()}
    given = {key: top.get(key, fields[key].metadata["kind"], None, fields[key].metadata["what"])
             for key in OPTION_KEYS if key in top.table}
    options = RunOptions(**given)
    options.check(where=lambda name: f"{top.where}: {name!r}")
    return options


def parse_experiment(text: str, path: Path, registry: Registry) -> Experiment:
    """Validate the TOML text of an experiment; every mistake is a one-line UserError."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path.name}: invalid TOML: {err}") from None
    top = Checker(path.name, raw, top_keys())
    seeds = top.seeds("seeds", (0,))
    seed = top.get("seed", int, 0, "an integer")
    if not is_seed(seed):
        top.fail("seed", "an integer 0..2**63-1")
    datasets = top.datasets("datasets", (DEFAULT_DATASET,))
    truth = check_truth(top.get("truth", str, DEFAULT_TRUTH, "a string"), f"{top.where}: 'truth'")
    order = top.get("order", str, ORDERS[0], "a string")
    if order not in ORDERS:
        top.fail("order", f"one of {', '.join(map(repr, ORDERS))}")
    options = _run_options(top)
    dirs = Checker(f"{path.name}: [data_dirs]", top.get("data_dirs", dict, {}, "a table"), DATASETS)
    data_dirs = tuple((d, os.path.expandvars(os.path.expanduser(dirs.get(d, str, "", "a path"))))
                      for d in DATASETS if d in dirs.table)
    report = Checker(f"{path.name}: [report]", top.get("report", dict, {}, "a table"), REPORT_KEYS)
    main = report.strings("main", (), allow_empty=True)
    includes = []
    for name in report.strings("include", (), allow_empty=True):
        if name == path.stem:
            report.fail("include", "names of other experiments")
        try:
            includes.append(load_experiment(name, registry))
        except UserError as err:
            raise UserError(f"{report.where}: include: {err}") from None
    defaults = FileDefaults(path.name, datasets, seed, seeds, truth)
    entries = {s.key: s.parse(raw[s.key], defaults, registry) if s.key in raw else ()
               for s in sections()}
    if not any(entries.values()):
        titles = [f"no {s.title}" for s in sections()]
        raise UserError(f"{path.name}: {', '.join(titles[:-1])} and {titles[-1]}")
    groups = entries["group"]
    every = {p for exp in (None, *includes) for g in (groups if exp is None else exp.groups)
             for p in g.proxies}
    for p in main:
        if p not in every:
            raise UserError(f"{report.where}: main proxy {p!r} is in no group (of this "
                            "experiment or of one it includes)")
    return Experiment(path.stem, path, tuple(entries.items()),
                      top.get("description", str, "", "a string"),
                      top.get("title", str, "", "a string"), seed,
                      truth, options, data_dirs, main, order, tuple(includes))


def parse_data_dir(text: str | None) -> dict[str, str] | str | None:
    """``--data-dir``: one folder for every dataset, or ``dataset=DIR,dataset=DIR``."""
    if not text or "=" not in text:
        return text
    out = {}
    for part in comma_list(text, "--data-dir", "folders"):
        dataset, sep, folder = part.partition("=")
        if not sep or dataset.strip() not in DATASETS or not folder.strip():
            raise UserError(f"--data-dir: expected DIR or dataset=DIR,... with datasets "
                            f"{', '.join(DATASETS)}, got {part!r}")
        out[dataset.strip()] = folder.strip()
    return out
