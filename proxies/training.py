"""Training proxies: NB201's recipe reduced in EcoNAS notation, ``c{k}r{k}s{k}e{n}[b{B}][@m]``.

Any name of that form is a proxy (a registry family); it is a diff of the recipe
(:mod:`benchmark.training.recipe`), trained by the fused engine (:mod:`benchmark.training.engine`).
One run stores the whole per-epoch validation curve under the schedule's canonical name (without
``@m``), so ``c4r4s0e40@20`` and ``c4r4s0e40@15`` read one stored run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from benchmark.catalog import dataset_spec
from benchmark.api import REGISTRY, Outcome, Proxy
from benchmark.training import engine
from benchmark.training.recipe import NB201, Recipe, matches, parse

PATTERN = "c{k}r{k}s{k}e{n}[b{B}][@m]"
VERSION = 1
#: The suite's base recipe: NB201's. ``engine.DEFAULT_VALID_IMAGES`` (None: all of the held-out
#: validation split, 25,000 images on CIFAR-10) is where a fixed seeded validation subset would be
#: set (the recipe is part of every stored row's key, so stored rows stay apart).
BASE = dataclasses.replace(NB201, valid_images=engine.DEFAULT_VALID_IMAGES)


def recipe_for(name: str) -> tuple[Recipe, int]:
    """(the recipe of a training proxy name, the epoch its score is read after)."""
    return parse(name, BASE)


def default_fuse(ctx, recipe: Recipe) -> int:
    """K, the networks trained at once, when ``--fuse`` is not given."""
    return engine.auto_fuse(torch.device(ctx.device), recipe, dataset_spec(ctx.dataset).resolution)


@dataclass(frozen=True)
class TrainingProxy(Proxy):
    recipe: Recipe = BASE
    at: int = 1

    @property
    def store_name(self) -> str:
        return self.recipe.spec

    def check(self, dataset: str) -> None:
        self.recipe.resolution(dataset_spec(dataset).resolution)

    def chunk_size(self, ctx) -> int:
        return ctx.fuse or default_fuse(ctx, self.recipe)

    def score(self, archs, indices, ctx) -> list[Outcome]:
        split = engine.prepare(ctx.images, self.recipe, ctx.seed, ctx.device)
        result = engine.train(list(archs), list(indices), split, self.recipe, ctx.seed,
                              ctx.device, ctx.amp)
        seconds = result.seconds / len(archs)
        return [Outcome(score=curve[-1], seconds=seconds, curve=curve) for curve in result.curves]

    def read(self, outcome: Outcome) -> float:
        return outcome.curve[self.at - 1] if outcome.curve else outcome.score

    def fingerprint(self, ctx) -> dict:
        """The base fingerprint plus the whole recipe, the engine's version, amp and the device
        class; on CUDA also the fused group size (stacked networks round differently; on a CPU
        each network trains alone, whatever the chunk)."""
        device = torch.device(ctx.device)
        return {**super().fingerprint(ctx), "recipe": dataclasses.asdict(self.recipe),
                "engine": engine.ENGINE_VERSION, "amp": ctx.amp, "device": device.type,
                "group": self.chunk_size(ctx) if device.type == "cuda" else 1}

    def describe(self) -> dict:
        r = self.recipe
        return {**super().describe(), "family": PATTERN,
                "factors": {"c": max(1, r.channel_factor), "r": max(1, r.resolution_factor),
                            "s": max(1, r.sample_factor), "e": r.epochs, "b": r.batch_size,
                            "m": self.at}}


def training_proxy(name: str) -> TrainingProxy | None:
    """The proxy for an EcoNAS-notation name; None for other names (UserError if malformed)."""
    if not matches(name):
        return None
    recipe, at = recipe_for(name)
    valid = ("all" if recipe.valid_images is None
             else f"a fixed seeded subset of {recipe.valid_images}")
    return TrainingProxy(
        name=name, kind="training", higher_is_better=True, version=VERSION,
        cost_s=engine.estimate_seconds(recipe), needs_images=True, recipe=recipe, at=at,
        description=(f"validation top-1 (%) after epoch {at} of {recipe.epochs}: NB201's recipe with "
                     f"{recipe.width} channels, resolution / {max(1, recipe.resolution_factor)}, "
                     f"1/{max(1, recipe.sample_factor)} of the training split, batch "
                     f"{recipe.batch_size}; validated on {valid} images of the held-out split"))


REGISTRY.family(PATTERN, training_proxy)
