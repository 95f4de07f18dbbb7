"""The suite's optional parts: third-party packages that only some commands need, each installed
with an extra of the distribution (``pip install "nb201-proxy-benchmark[learn]"``; pyproject.toml
declares the extras, tests/test_packaging.py checks that each one named here is declared there with
its package). :func:`require` imports such a package or says, in one line, how to install it."""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UserError
from .provenance import DISTRIBUTION

#: module -> (the package that provides it, the extra that installs it)
OPTIONAL = {
    "ray": ("ray", "ray"),
    "lightgbm": ("lightgbm", "learn"),
    "sklearn": ("scikit-learn", "learn"),
    "nas_201_api": ("nas-bench-201", "nb201-file"),
    "nats_bench": ("nats_bench", "nb201-file"),
}


def install_hint(module: str) -> str:
    package, extra = OPTIONAL[module]
    return f'pip install "{DISTRIBUTION}[{extra}]" (or pip install {package})'


def require(module: str, what: str) -> ModuleType:
    """Import the optional ``module`` (a key of :data:`OPTIONAL`) for ``what`` (e.g. "--executor
    ray"), or raise a one-line UserError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, _ = OPTIONAL[module]
        raise UserError(f"{what} needs {package}, an optional part of the suite: "
                        f"{install_hint(module)}") from None
