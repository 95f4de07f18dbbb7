"""Zero-compute cell features (the ``graph`` feature set of learned proxies): the one place that
encodes an NB201 cell as numbers. Per arch, in :data:`NAMES` order:

- ``edge{e}:{op}``: one-hot op of each of the 6 edges (``EDGES[e]``, NB201 order), 30 columns;
- ``count:{op}``: how many edges hold each op;
- ``path:{op}``: how many input-to-output paths (0->3, 0->1->3, 0->2->3, 0->1->2->3) run through
  at least one edge of that op, ``none`` excluded (a path with a ``none`` edge carries nothing);
- ``paths``: live input-to-output paths (no ``none`` edge); ``longest``, ``shortest``: the longest
  and shortest live path in edges (0 when there is none);
- ``connected``: whether the output depends on the input (:meth:`nb201.space.Arch.is_connected`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .space import EDGES, OPS, Arch

#: bump when :func:`features` changes (learned proxies' fingerprints hold it)
VERSION = 1
#: the input-to-output paths of the cell, as node sequences
PATHS = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))
NAMES = (tuple(f"edge{e}:{op}" for e in range(len(EDGES)) for op in OPS)
         + tuple(f"count:{op}" for op in OPS)
         + tuple(f"path:{op}" for op in OPS if op != "none")
         + ("paths", "longest", "shortest", "connected"))


def features(arch: Arch) -> np.ndarray:
    """The arch's features (float64, :data:`NAMES` order)."""
    onehot = [float(arch.ops[e] == op) for e in range(len(EDGES)) for op in OPS]
    counts = [float(arch.ops.count(op)) for op in OPS]
    paths = [[arch.op(b, a) for a, b in zip(p, p[1:])] for p in PATHS]
    live = [p for p in paths if "none" not in p]
    through = [float(sum(op in p for p in live)) for op in OPS if op != "none"]
    lengths = [len(p) for p in live] or [0]
    return np.array(onehot + counts + through
                    + [float(len(live)), float(max(lengths)), float(min(lengths)),
                       float(arch.is_connected())])


@lru_cache(maxsize=1)
def table() -> np.ndarray:
    """Features of all 15,625 archs in NB201 index order (15,625 x len(NAMES))."""
    from .groundtruth import NUM_ARCHS, arch_of
    return np.stack([features(arch_of(i)) for i in range(NUM_ARCHS)])
