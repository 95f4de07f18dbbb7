"""Executors run the runner's chunks: ``(proxy, chunks of arch indices, context)`` in,
``(chunk, outcomes)`` out as chunks finish. The runner, in the driver, is the only writer of the
store. :class:`LocalExecutor` (the default) scores chunks in this process, one after another.

Every executor scores a chunk with :func:`score_chunk`: a proxy whose code comes from outside the
suite (a plugin) and raises is a one-line UserError naming its file, the proxy and the arch;
the suite's own code raising is a bug, whose traceback stands."""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Protocol

from nb201 import groundtruth as gt
from nb201.api import Outcome, Proxy
from nb201.context import Context
from nb201.errors import UserError

#: the suite's own packages: code from anywhere else is a plugin's
SUITE_PACKAGES = ("nb201", "proxies", "benchmark", "analysis")


class Executor(Protocol):
    def map(self, proxy: Proxy, chunks: Sequence[list[int]], ctx: Context
            ) -> Iterator[tuple[list[int], list[Outcome]]]:
        """Score every chunk; yield each with its outcomes (in any order) as it finishes."""
        ...


class LocalExecutor:
    """Scores the chunks in this process, in order."""

    def map(self, proxy: Proxy, chunks: Sequence[list[int]], ctx: Context
            ) -> Iterator[tuple[list[int], list[Outcome]]]:
        for chunk in chunks:
            yield chunk, score_chunk(proxy, chunk, ctx)


def plugin_file(proxy: Proxy) -> str | None:
    """Where a plugin's proxy comes from (its module's file), None for the suite's own."""
    module = proxy.origin()
    if module.split(".")[0] in SUITE_PACKAGES:
        return None
    return getattr(sys.modules.get(module), "__file__", None) or module


def failure(proxy: Proxy, archs: list[int], problem: str) -> UserError:
    """The one line for a proxy that failed on ``archs`` (one arch, or a chunk scored together)."""
    where = plugin_file(proxy)
    which = f"arch {archs[0]}" if len(archs) == 1 else \
        f"archs {', '.join(map(str, archs[:5]))}{', ...' if len(archs) > 5 else ''} (one chunk)"
    return UserError(f"proxy {proxy.name}{f' (plugin {where})' if where else ''} failed on "
                     f"{which}: {problem}; nothing of this chunk was stored")


def score_chunk(proxy: Proxy, chunk: list[int], ctx: Context) -> list[Outcome]:
    """``proxy.score`` of one chunk; a plugin that raises is a UserError naming the arch (a chunk
    of several archs is scored again one arch at a time to find it)."""
    try:
        return proxy.score([gt.arch_of(i) for i in chunk], chunk, ctx)
    except UserError:
        raise
    except Exception as err:
        if plugin_file(proxy) is None:
            raise
        problem = " ".join(f"raised {type(err).__name__}: {err}".split())
        raise failure(proxy, _failing(proxy, chunk, ctx), problem) from None


def _failing(proxy: Proxy, chunk: list[int], ctx: Context) -> list[int]:
    """The first arch of ``chunk`` on which the proxy raises alone (else the whole chunk)."""
    if len(chunk) > 1:
        for index in chunk:
            try:
                proxy.score([gt.arch_of(index)], [index], ctx)
            except Exception:
                return [index]
    return chunk
