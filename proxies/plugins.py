"""Proxies that live outside the repository: Python files named in ``$NB201_PLUGINS`` (paths
separated by ``os.pathsep``; the CLI's ``--plugins FILE[,FILE]`` adds to it) and modules that
installed packages declare under the ``nb201.proxies`` entry-point group. Each is imported once,
when ``proxies`` is (in every process that resolves proxy names, Ray workers included: they
inherit the environment), and registers its proxies as the suite's own modules do (the
``@zero_cost`` decorator, ``REGISTRY.register``). A plugin that fails to import is a one-line
UserError naming it."""
from __future__ import annotations

import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from nb201.errors import UserError

ENV = "NB201_PLUGINS"
GROUP = "nb201.proxies"
#: proxy name -> where a plugin registered it: the file's path, or ``entry point NAME (MODULE)``;
#: the runner stores it with each row, so that a report can say how to include the proxy
ORIGINS: dict[str, str] = {}


def _registering(origin: str, load) -> None:
    """Run ``load`` and note ``origin`` for every proxy name it registers."""
    from nb201.api import REGISTRY
    before = set(REGISTRY.names())
    load()
    for name in set(REGISTRY.names()) - before:
        ORIGINS[name] = origin


def plugin_files() -> list[Path]:
    return [Path(p).expanduser().resolve() for p in os.environ.get(ENV, "").split(os.pathsep) if p]


def load_file(path: Path) -> None:
    """Import the Python file ``path`` as a module named for it (once per process)."""
    name = f"nb201_plugin_{path.stem}_{abs(hash(str(path))):x}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise UserError(f"plugin {path}: no such file")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        _registering(str(path), lambda: spec.loader.exec_module(module))
    except UserError:
        raise
    except Exception as err:        # a user's file: its error as one line, not a traceback
        del sys.modules[name]
        raise UserError(f"plugin {path}: {type(err).__name__}: {err}") from None


def load_all() -> None:
    """Every plugin file of ``$NB201_PLUGINS``, then every ``nb201.proxies`` entry point."""
    for path in plugin_files():
        load_file(path)
    for point in entry_points(group=GROUP):
        try:
            _registering(f"entry point {point.name} ({point.value})", point.load)
        except Exception as err:
            raise UserError(f"plugin entry point {point.name} ({point.value}): "
                            f"{type(err).__name__}: {err}") from None


def add(paths: list[str]) -> None:
    """Add files to ``$NB201_PLUGINS`` (so that worker processes load them too) and load them."""
    known = os.environ.get(ENV, "").split(os.pathsep)
    new = [str(Path(p).expanduser().resolve()) for p in paths]
    os.environ[ENV] = os.pathsep.join(dict.fromkeys(p for p in known + new if p))
    for path in new:
        load_file(Path(path))
