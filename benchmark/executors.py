"""Executors run the runner's chunks: ``(proxy, chunks of arch indices, context)`` in,
``(chunk, outcomes)`` out as chunks finish. The runner, in the driver, is the only writer of the
store. :class:`LocalExecutor` (the default) scores chunks in this process, one after another."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from nb201 import groundtruth as gt
from nb201.api import Outcome, Proxy
from nb201.context import Context


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
            yield chunk, proxy.score([gt.arch_of(i) for i in chunk], chunk, ctx)
