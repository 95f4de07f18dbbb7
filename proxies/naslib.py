"""NASLib's published zero-cost scores as table proxies: ``naslib:synflow`` and the other 12.

The scores NASLib computed for 9,445 NB201 cells (those without a dead operation) on CIFAR-10 and
ImageNet16-120, shipped in ``data/naslib/`` (provenance in data/PROVENANCE.md; MIT). Reading them
costs nothing and needs no images, so a new proxy can be compared with the published scores on the
same archs at once, and features can be built on ImageNet16-120 without its images. An arch that
NASLib did not score has no value: NaN, ranked last by the suite's one NaN policy and counted
(never invented). The values are NASLib's raw ones with NASLib's signs; NASLib ranks every one of
them higher-is-better.

Reading a stored score costs nothing, but computing it does: each score is charged
(:meth:`NaslibScore.cost`, what features and searches count) what the suite's own implementation of the same proxy took per arch on CIFAR-10 on
this 2-core CPU (:data:`COST_S`, the s/arch column of docs/ZERO_COST.md's 200-arch table, made by
``tools/validate_zero_cost.py --sample-table 200``; NASLib's files record no time), so learned
proxies built on them, and searches reading them, pay what the scores would cost to make.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

import numpy as np

from nb201 import groundtruth as gt
from nb201.api import REGISTRY, Outcome
from nb201.errors import UserError
from nb201.provenance import DATA_DIR, require_file

from .table import TableProxy

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "naslib:"
#: the datasets NASLib published scores for, and the file of each
FILES = {"cifar10": "cifar10.csv.gz", "imagenet16-120": "imagenet16-120.csv.gz"}
NAMES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params",
         "plain", "snip", "synflow", "zen")


#: seconds per arch of the suite's own implementation of each score (see the module docstring)
COST_S = {"epe_nas": 1.01, "fisher": 1.19, "flops": 0.00, "grad_norm": 2.21, "grasp": 4.38,
          "jacov": 1.06, "l2_norm": 0.03, "nwot": 0.68, "params": 0.04, "plain": 0.91,
          "snip": 1.54, "synflow": 0.13, "zen": 0.93}


@lru_cache(maxsize=len(FILES))
def scores(dataset: str) -> pd.DataFrame:
    """NASLib's scores on ``dataset``: one row per NB201 index (NaN where NASLib has none)."""
    import pandas as pd
    table = pd.read_csv(require_file(DATA_DIR / "naslib" / FILES[dataset]))
    index = [gt.index_of(arch) for arch in table.pop("arch")]
    return table.set_axis(index).reindex(range(gt.NUM_ARCHS))


@dataclass(frozen=True)
class NaslibScore(TableProxy):
    column: str = "synflow"

    def check(self, dataset: str) -> None:
        if dataset not in FILES:
            raise UserError(f"{self.name}: NASLib published scores for {', '.join(FILES)} only, "
                            f"not {dataset}")

    def value(self, arch, index, ctx) -> float:
        return float(scores(ctx.dataset)[self.column].to_numpy(np.float64)[index])

    def cost(self, outcome: Outcome) -> float:
        """What computing the score costs (:data:`COST_S`), not the lookup (the outcome's seconds,
        which plans read as the time a run takes)."""
        return COST_S[self.column]

    def charge_basis(self) -> str:
        return (f"{COST_S[self.column]} s per arch: what the suite's own {self.column} takes on "
                "this CPU (NASLib's files record no time)")


def naslib_proxy(name: str, registry=None) -> NaslibScore | None:
    """``naslib:NAME`` for NAME in :data:`NAMES`; None for other names (a UserError for an unknown
    NAME after the prefix)."""
    if not name.startswith(PREFIX):
        return None
    column = name[len(PREFIX):]
    if column not in NAMES:
        raise UserError(f"unknown NASLib score {column!r}; NASLib published {', '.join(NAMES)}")
    return NaslibScore(name, "table", version=2, source="naslib-reference",
                       column=column,
                       description=f"NASLib's published {column} score (9,445 archs of CIFAR-10 and "
                                   "ImageNet16-120; NaN for the others)")


REGISTRY.family(f"{PREFIX}NAME ({', '.join(NAMES)})", naslib_proxy)
