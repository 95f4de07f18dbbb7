"""Learned proxies (``learned:MODEL:K:FEATURES``): :mod:`.base` holds the proxy, one module per
model family registers its model."""
from nb201.api import REGISTRY

from . import gbm, ridge  # noqa: F401  the model families
from .base import MODELS, PATTERN, LearnedProxy, learned_proxy

REGISTRY.family(PATTERN, learned_proxy)

__all__ = ["MODELS", "LearnedProxy", "learned_proxy"]
