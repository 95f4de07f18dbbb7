"""Every proxy of the suite. Importing this package registers them all in benchmark.registry.REGISTRY
(one explicit import per module: a new proxy is one small module plus one line here)."""
from benchmark.registry import REGISTRY

from . import table  # noqa: F401  params, flops, nb201-12ep, random
from . import zero_cost  # noqa: F401  grad_norm, snip, grasp, fisher, synflow, jacov, nwot, zen, ... vote

__all__ = ["REGISTRY"]
