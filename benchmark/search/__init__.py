"""Search strategies that use any registered proxy, or a ladder of them, as fitness.

One small module per strategy (``random``, ``rea``, ``econas``, ``zc-warmup``, ``top-k``),
registered by name in :data:`STRATEGIES`; :mod:`.fitness` is the only module that talks to the
proxy registry, the runner and the results store; :mod:`.cost` accounts what each query is
charged; :mod:`.loop` runs one search until its budget is spent and :mod:`.observer` records what
it would return; the strategies never read the truth. :func:`.run.search` is the library call
behind the CLI's ``search`` and the experiments' ``[[search]]`` tables.
"""
from . import econas, random_search, rea, top_k, zc_warmup  # noqa: F401  (register the strategies)
from .strategy import STRATEGIES

__all__ = ["STRATEGIES"]
