"""Zero-cost proxies: one module per family, each registering its proxies on import.

The harness (``harness.py``) runs every proxy: network, minibatch, BN mode, no_grad, CUDA
out-of-memory and cleanup; the proxies themselves are pure scoring functions."""
from . import saliency  # noqa: F401  grad_norm, snip, grasp, fisher, plain
from . import synflow  # noqa: F401
from . import weights  # noqa: F401  l2_norm
from . import jacobian  # noqa: F401  jacov, epe_nas
from . import nwot  # noqa: F401
from . import zen  # noqa: F401
from . import zico  # noqa: F401
from . import meco  # noqa: F401
from . import aznas  # noqa: F401  az-nas
from . import vote  # noqa: F401  vote (after synflow, jacov and snip)
from . import ntk  # noqa: F401  ntk_cond (lower is better)
