"""Third-party modules imported when first used: ``torch``, ``torch.nn``, ``torch.nn.functional``.

A module that needs torch only inside its functions (a zero-cost proxy, the context, the dataset
loader) imports these names instead of torch itself, so that importing it costs nothing: the
commands that only read the store or NB201's table (a cached ``score`` of a table proxy,
``proxies``, ``info``) then never load torch (about a second; perf/cli_latency.py measures it).
The first attribute read (``torch.zeros``, ``nn.Module``) imports the real module and keeps its
attributes, so later reads cost what a plain module attribute costs. Only third-party modules go
through here: the suite's own modules import each other with function-level imports, which
tests/test_layers.py sees.
"""
from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    """Stands for the module ``name`` until an attribute is read; then imports it."""

    def __getattr__(self, attr: str):
        module = importlib.import_module(self.__name__)
        # later reads skip __getattr__ (dunders stay this object's own)
        self.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
