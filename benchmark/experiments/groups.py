"""``[[group]]`` tables of experiment files: proxies scored on one sample, parsed and checked
(planned by :mod:`.plan`, computed by :mod:`.run`, reported through the experiment's selections).

    [[group]]
    name = "zero-cost"
    proxies = ["synflow", "jacov"]
    sample = 200              # number of archs, or "all"
    datasets = ["cifar10"]    # optional, overrides the top level
    seeds = [0, 1]            # optional, overrides the top level
"""
from __future__ import annotations

from dataclasses import dataclass

from nb201 import groundtruth as gt
from nb201.errors import UserError
from nb201.registry import Registry

from .checker import Checker
from .section import FileDefaults, Section

GROUP_KEYS = ("name", "description", "proxies", "sample", "datasets", "seeds")


@dataclass(frozen=True)
class Group:
    name: str
    proxies: tuple[str, ...]
    sample: int
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    description: str = ""


def _sample(c: Checker) -> int:
    if "sample" not in c.table:
        raise UserError(f"{c.where}: 'sample' is missing (a number of archs or \"all\")")
    value = c.table["sample"]
    if value == "all":
        return gt.NUM_ARCHS
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= gt.NUM_ARCHS:
        c.fail("sample", f"an integer 1..{gt.NUM_ARCHS} or \"all\"")
    return value


def parse_groups(tables, defaults: FileDefaults, registry: Registry) -> tuple[Group, ...]:
    """The ``[[group]]`` tables, checked (proxy names resolved in ``registry``)."""
    file = defaults.file
    if not isinstance(tables, list):
        raise UserError(f"{file}: 'group' must be an array of tables [[group]], got {tables!r}")
    groups, names = [], set()
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise UserError(f"{file}: 'group' must be an array of tables [[group]]")
        name = table.get("name", f"#{number}")
        c = Checker(f"{file}: group {name!r}", table, GROUP_KEYS)
        if not isinstance(name, str) or not name or name in names:
            raise UserError(f"{file}: group #{number}: 'name' must be a unique non-empty string")
        names.add(name)
        proxies = c.strings("proxies", None)
        if proxies is None:
            raise UserError(f"{c.where}: 'proxies' is missing (a list of proxy names)")
        group_datasets = c.datasets("datasets", defaults.datasets)
        for p in proxies:
            try:
                proxy = registry.get(p)
                for dataset in group_datasets:
                    proxy.check(dataset)
            except UserError as err:
                raise UserError(f"{c.where}: {err}") from None
        if len(set(proxies)) != len(proxies):
            c.fail("proxies", "a list of distinct proxy names")
        groups.append(Group(name, proxies, _sample(c), group_datasets,
                            c.seeds("seeds", defaults.seeds),
                            c.get("description", str, "", "a string")))
    return tuple(groups)


GROUPS = Section("group", parse_groups, what="[[group]] of proxies", keys=GROUP_KEYS)
