"""Proxies that need no images: model size from our network, NB201's 12-epoch table, random."""
from __future__ import annotations

import time
from dataclasses import dataclass

from nb201 import groundtruth as gt
from nb201.catalog import dataset_spec, derive_rng
from nb201.complexity import flops_m, params_m
from nb201.api import REGISTRY, Charge, Outcome, Proxy


@dataclass(frozen=True)
class TableProxy(Proxy):
    """A proxy computed per arch without training or images; scored in large chunks.

    ``charge_epochs``: a proxy that stands for NB201 training (its value is read from the table)
    declares how many epochs of NB201's schedule it stands for; a search charges each query that
    share of NB201's recorded 200-epoch training time of the arch (``train_time_200_s``), as NB201's
    own search benchmark simulates it. None: the proxy is charged its measured seconds."""

    charge_epochs: int | None = None

    def chunk_size(self, ctx) -> int:
        return 4096

    def charge(self, index: int, seconds: float, dataset: str) -> Charge:
        if self.charge_epochs is None:
            return super().charge(index, seconds, dataset)
        recorded = float(gt.vector(dataset, "train_time_200_s")[index])
        return Charge(f"nb201-{self.charge_epochs}ep", self.charge_epochs, self.charge_epochs,
                      recorded * self.charge_epochs / 200)

    def charge_basis(self) -> str:
        if self.charge_epochs is None:
            return super().charge_basis()
        return f"NB201's recorded 200-epoch training time x {self.charge_epochs}/200"

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
class TableMetric(TableProxy):
    """One column of NB201's table for the dataset scored (``nb201.groundtruth.METRICS``)."""

    metric: str = "test_12"

    def value(self, arch, index, ctx):
        return float(gt.vector(ctx.dataset, self.metric)[index])


@dataclass(frozen=True)
class Random(TableProxy):
    """A uniform random score, seeded by (seed, arch index): the floor every proxy must beat."""

    def value(self, arch, index, ctx):
        return float(derive_rng(ctx.seed, index).random())


REGISTRY.register(Params(
    "params", "table", source="network",
    description="trainable parameters (millions) of the NB201 network, C=16, N=5"))
REGISTRY.register(Flops(
    "flops", "table", source="network",
    description="forward FLOPs (millions, torch FlopCounterMode: 2 per multiply-add) at the "
                "dataset's resolution"))
REGISTRY.register(TableMetric(
    "nb201-12ep", "table", charge_epochs=12,
    description="NB201's 12-epoch-schedule test accuracy of the same dataset (from the table)"))
REGISTRY.register(TableMetric(
    "nb201-12ep-valid", "table", charge_epochs=12, metric="valid_12",
    description="NB201's 12-epoch-schedule validation accuracy of the same dataset (from the "
                "table): the fitness of NB201's own REA and random search"))
REGISTRY.register(TableMetric(
    "nb201-200ep-valid", "table", charge_epochs=200, metric="valid_200",
    description="NB201's 200-epoch validation accuracy of the same dataset, mean over seeds (from "
                "the table): a full-fidelity fitness"))
REGISTRY.register(Random(
    "random", "table", source="none", description="seeded uniform random score (the floor)"))
