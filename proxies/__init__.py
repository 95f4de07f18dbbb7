"""Every proxy of the suite. Importing this package registers them all in nb201.api.REGISTRY
(one explicit import per module: a new proxy is one small module plus one line here)."""
from nb201.api import REGISTRY

from . import table  # noqa: F401  params, flops, nb201-12ep(-valid), nb201-200ep-valid, random
from . import zero_cost  # noqa: F401  grad_norm, snip, grasp, fisher, synflow, jacov, nwot, zen, ... vote
from . import training  # noqa: F401  c{k}r{k}s{k}e{n}[b{B}][@m] (EcoNAS-notation training proxies)
from . import naslib  # noqa: F401  naslib:NAME (NASLib's published zero-cost scores)
from . import learned  # noqa: F401  learned:MODEL:K:FEATURES (models fitted on labelled archs)
from . import plugins

plugins.load_all()   # $NB201_PLUGINS files and nb201.proxies entry points (outside the repository)

__all__ = ["REGISTRY"]
