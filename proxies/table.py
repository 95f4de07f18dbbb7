"""Proxies that need no images: model size from our network, NB201's 12-epoch table, random."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchmark import groundtruth as gt
from benchmark.catalog import dataset_spec
from benchmark.complexity import flops_m, params_m
from benchmark.api import REGISTRY, Outcome, Proxy


@dataclass(frozen=True)
class TableProxy(Proxy):
    """A proxy computed per arch without training or images; scored in large chunks."""

    def chunk_size(self, ctx) -> int:
        return 4096

    def value(self, arch, index: int, ctx) -> float:
        raise NotImplementedError

    def score(self, archs, indices, ctx) -> list[Outcome]:
        out = []
        for arch, index in zip(archs, indices):
            start = time.perf_counter()
            value = self.value(arch, index, ctx)
            out.append(Outcome(score=value, seconds=time.perf_counter() - start))
        return out


@dataclass(frozen=True)
class Params(TableProxy):
    def value(self, arch, index, ctx):
        return params_m(arch, dataset_spec(ctx.dataset).num_classes)


@dataclass(frozen=True)
class Flops(TableProxy):
    def value(self, arch, index, ctx):
        spec = dataset_spec(ctx.dataset)
        return flops_m(arch, spec.num_classes, spec.resolution)


@dataclass(frozen=True)
class TwelveEpochs(TableProxy):
    metric: str = "test_12"

    def value(self, arch, index, ctx):
        return float(gt.vector(ctx.dataset, self.metric)[index])


@dataclass(frozen=True)
class Random(TableProxy):
    """A uniform random score, seeded by (seed, arch index): the floor every proxy must beat."""

    def value(self, arch, index, ctx):
        return float(np.random.default_rng([ctx.seed, index]).random())


REGISTRY.register(Params(
    "params", "table", source="network",
    description="trainable parameters (millions) of the NB201 network, C=16, N=5"))
REGISTRY.register(Flops(
    "flops", "table", source="network",
    description="forward FLOPs (millions, torch FlopCounterMode: 2 per multiply-add) at the "
                "dataset's resolution"))
REGISTRY.register(TwelveEpochs(
    "nb201-12ep", "table",
    description="NB201's 12-epoch-schedule test accuracy of the same dataset (from the table)"))
REGISTRY.register(Random(
    "random", "table", source="none", description="seeded uniform random score (the floor)"))
