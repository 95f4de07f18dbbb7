"""Training proxies: NB201's recipe reduced in EcoNAS notation, ``[protocol:]c{k}r{k}s{k}e{n}[b{B}][@m]``.

Any name of that form is a proxy (a registry family); it is a diff of the recipe
(:mod:`nb201.training.recipe`), trained by the fused engine (:mod:`nb201.training.engine`).
All reads of one schedule share one stored run under the schedule's canonical name (without
``@m``): ``c4r4s0e40@20`` and ``c4r4s0e40`` read one 40-epoch cosine run.

Pay only for what is read: a proxy trains only up to the epoch it reads and evaluates only after
the epochs it reads (all of them with ``Context.full_curve``). An unfinished run keeps its state
(weights, momentum, history) in ``Context.state_dir`` (``<store>.runs/`` beside the results store,
one file per run, named by a digest of everything that determines the run: :func:`run_identity`),
so that reading a later epoch continues it, and a killed computation resumes from the last
checkpoint (every :data:`CHECKPOINT_SECONDS`, and when a network finishes its segment). A run that
reaches the end of its schedule has nothing left to continue: its state file is removed.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nb201.api import REGISTRY, Charge, Outcome, Proxy
from nb201.catalog import dataset_spec
from nb201.devices import TF32, accelerated
from nb201.errors import UserError
from nb201.lazy import torch
from nb201.provenance import config_digest
from nb201.training.recipe import NB201, PATTERN, VARIANTS, Recipe, matches, parse

#: 2: the engine's ENGINE_VERSION 2 (per-epoch batch streams, stratified subsets), curves
#: evaluated only where read.
VERSION = 2
#: The suite's base recipe: NB201's, scored on the whole held-out split (``valid_images=None``;
#: a fixed seeded subset would be set here, and change every training proxy's scores).
BASE = NB201
#: Seconds between two saves of a running network's state (and always when its segment ends).
#: $NB201_CHECKPOINT_SECONDS overrides it (0: after every epoch).
CHECKPOINT_SECONDS = float(os.environ.get("NB201_CHECKPOINT_SECONDS", "30"))

if TYPE_CHECKING:
    from nb201.training.engine import RunState

# The engine (torch, numba) is imported where a proxy trains, sizes or fingerprints a run, not
# when the family is registered: listing proxies and reading stored scores load neither.


def recipe_for(name: str) -> tuple[Recipe, int]:
    """(the recipe of a training proxy name, the epoch its score is read after)."""
    return parse(name, BASE)


def default_fuse(ctx, recipe: Recipe) -> int:
    """K, the networks trained at once, when ``--fuse`` is not given."""
    from nb201.training import sizing
    return sizing.auto_fuse(torch.device(ctx.device), recipe, dataset_spec(ctx.dataset).resolution)


# ------------------------------------------------------------------ run state files

def run_identity(proxy: TrainingProxy, ctx, index: int) -> dict:
    """Everything that determines one network's run: the proxy's fingerprint (engine version, the
    full recipe, dataset, data source and content digest, seed, autocast, device type, CUDA group)
    and the arch index."""
    return {**proxy.fingerprint(ctx), "index": index}


def state_path(state_dir: str, identity: dict) -> Path:
    return Path(state_dir) / f"{config_digest(identity)}.pt"


def save_state(path: Path, state: RunState, identity: dict) -> None:
    """Write atomically (a temporary file renamed over the old one); a checkpoint that cannot be
    written (a full disk) is a one-line UserError, and the old one stays."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"identity": identity, **dataclasses.asdict(state)}, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:     # torch.save reports a failed write as either
        tmp.unlink(missing_ok=True)
        why = err.strerror if isinstance(err, OSError) and err.strerror else " ".join(str(err).split())
        raise UserError(f"cannot write the checkpoint {path}: {why}") from None


def load_state(path: Path, identity: dict) -> RunState | None:
    """The saved state of this run, or None (none saved, unreadable, or another run's)."""
    from nb201.training.engine import RunState
    try:
        saved = torch.load(path, weights_only=True)
    except FileNotFoundError:
        return None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None            # a damaged file: the run starts afresh and overwrites it
    if not isinstance(saved, dict) or saved.pop("identity", None) != identity:
        return None
    return RunState(**saved)


def _outcome(state: RunState) -> Outcome:
    evaluated = [v for v in state.curve if not math.isnan(v)]
    return Outcome(score=evaluated[-1] if evaluated else math.nan,
                   seconds=float(sum(s[2] for s in state.segments)), curve=list(state.curve),
                   segments=[list(s) for s in state.segments])


def _covered(curve: list[float] | None, epochs) -> bool:
    curve = curve or []
    return all(e <= len(curve) and not math.isnan(curve[e - 1]) for e in epochs)


# ------------------------------------------------------------------ the proxy

@dataclass(frozen=True)
class TrainingProxy(Proxy):
    recipe: Recipe = BASE
    at: int = 1
    reads: tuple[int, ...] = ()     # more epochs to evaluate when this proxy trains (joined reads)

    @property
    def store_name(self) -> str:
        return self.recipe.spec

    def check(self, dataset: str) -> None:
        self.recipe.resolution(dataset_spec(dataset).resolution)

    @property
    def epochs_read(self) -> tuple[int, ...]:
        return tuple(sorted({self.at, *self.reads}))

    def chunk_size(self, ctx) -> int:
        return ctx.fuse or default_fuse(ctx, self.recipe)

    def covers(self, outcome: Outcome) -> bool:
        return _covered(outcome.curve, self.epochs_read)

    def joined(self, others: list[Proxy]) -> TrainingProxy:
        from nb201.training import sizing
        reads = {e for p in [self, *others]
                 if isinstance(p, TrainingProxy) and p.store_name == self.store_name
                 for e in p.epochs_read}
        return dataclasses.replace(self, reads=tuple(sorted(reads)), cost_s=sizing.estimate_seconds(
            self.recipe, epochs=max(reads), evaluations=len(reads)))

    def merge(self, stored: Outcome, new: Outcome) -> Outcome:
        """``new`` if it continued ``stored``'s run (its segments extend the stored ones); else (a
        run trained afresh because the saved state was gone or past the epoch asked for) the
        stored curve overlaid with the new one and both runs' segments."""
        from nb201.training.engine import RunState
        old = stored.segments or []
        if new.segments[:len(old)] == old:
            return new
        length = max(len(stored.curve or []), len(new.curve or []))
        curve = [math.nan] * length
        for source in (stored.curve or [], new.curve or []):
            for e, v in enumerate(source):
                if not math.isnan(v):
                    curve[e] = v
        segments = old + new.segments
        state = RunState(len(curve), curve, [], {}, {}, segments)
        return _outcome(state)

    def cost(self, outcome: Outcome) -> float:
        """Seconds per trained epoch of the stored run (all its segments; without segments, one
        run as long as its curve) times ``at``."""
        trained = (sum(end - start for start, end, _ in outcome.segments) if outcome.segments
                   else len(outcome.curve or []))
        return outcome.seconds * self.at / trained if trained else outcome.seconds

    def score(self, archs, indices, ctx) -> list[Outcome]:
        from nb201.training import data, engine
        until = max(self.epochs_read)
        evaluate_at = range(1, until + 1) if ctx.full_curve else self.epochs_read
        identities = [run_identity(self, ctx, i) for i in indices]
        paths = [state_path(ctx.state_dir, ident) if ctx.state_dir else None for ident in identities]
        saved = [load_state(p, ident) if p else None for p, ident in zip(paths, identities)]
        # a saved run past `until` cannot be rewound: train a fresh one, keep the saved one
        starts = [s if s is not None and s.epoch <= until else None for s in saved]
        outcomes: list[Outcome | None] = [None] * len(archs)
        todo = []
        for k, state in enumerate(starts):
            if state is not None and state.epoch == until and _covered(state.curve, evaluate_at):
                outcomes[k] = _outcome(state)       # finished before the last commit: nothing to do
                if state.epoch >= self.recipe.epochs:
                    paths[k].unlink(missing_ok=True)    # nothing left to continue
            else:
                todo.append(k)
        if not todo:
            return outcomes
        keep = [paths[k] if saved[k] is None or saved[k].epoch <= until else None for k in todo]

        def checkpoint(position: int, state: RunState) -> None:
            if keep[position] is not None:
                save_state(keep[position], state, identities[todo[position]])

        split = data.prepare(ctx.images, self.recipe, ctx.seed, ctx.device)
        result = engine.train([archs[k] for k in todo], [indices[k] for k in todo], split,
                              self.recipe, ctx.seed, ctx.device, ctx.amp, until=until,
                              evaluate_at=evaluate_at, states=[starts[k] for k in todo],
                              checkpoint=checkpoint, checkpoint_seconds=CHECKPOINT_SECONDS)
        for position, (k, state) in enumerate(zip(todo, result.states)):
            outcomes[k] = _outcome(state)
            if keep[position] is None:
                continue
            if state.epoch >= self.recipe.epochs:
                keep[position].unlink(missing_ok=True)      # nothing left to continue
            else:
                save_state(keep[position], state, identities[k])   # with the call's seconds
        return outcomes

    def read(self, outcome: Outcome) -> float:
        if not outcome.curve:
            return outcome.score
        return outcome.curve[self.at - 1] if self.at <= len(outcome.curve) else math.nan

    def charge(self, index: int, seconds: float, dataset: str) -> Charge:
        # ``seconds`` is :meth:`cost`: the run's seconds per trained epoch x the ``at`` epochs read
        return Charge(self.store_name, self.at, self.at, seconds)

    def charge_basis(self) -> str:
        return (f"stored seconds per trained epoch of the {self.recipe.epochs}-epoch run x epochs "
                f"trained (continuing a run pays only the extra epochs)")

    def fingerprint(self, ctx) -> dict:
        """The base fingerprint plus the whole recipe, the engine's version and trainer, amp and
        the device class; on CUDA (any accelerated device) also the fused group size (stacked
        networks round differently; on a CPU each network trains alone, whatever the chunk) and
        whether float32 convolutions may use TF32 (:data:`nb201.devices.TF32`; a CPU has none, and
        CPU fingerprints are as they were before this key)."""
        from nb201.training import engine
        device = torch.device(ctx.device)
        resolution = self.recipe.resolution(dataset_spec(ctx.dataset).resolution)
        out = {**super().fingerprint(ctx), "recipe": self.recipe.identity(),
               "engine": engine.ENGINE_VERSION,
               "kernels": engine.kernels(device, ctx.amp, self.recipe, resolution),
               "amp": ctx.amp, "device": device.type,
               "group": self.chunk_size(ctx) if accelerated(device) else 1}
        if accelerated(device):
            out["tf32"] = TF32
        return out

    def describe(self) -> dict:
        r = self.recipe
        return {**super().describe(), "family": PATTERN,
                "factors": {"c": max(1, r.channel_factor), "r": max(1, r.resolution_factor),
                            "s": max(1, r.sample_factor), "e": r.epochs, "b": r.batch_size,
                            "m": self.at, "width": r.width, "variant": " ".join(r.variant)}}


def training_proxy(name: str, registry=None) -> TrainingProxy | None:
    """The proxy for an EcoNAS-notation name; None for other names (UserError if malformed)."""
    if not matches(name):
        return None
    from nb201.training import sizing
    recipe, at = recipe_for(name)
    valid = ("all" if recipe.valid_images is None
             else f"a fixed seeded subset of {recipe.valid_images}")
    if recipe.held_out == "test":
        scored = (f"top-1 (%) on {valid} TEST images after epoch {at} of {recipe.epochs} "
                  f"({recipe.protocol or 'held_out=test'} protocol: trained on the whole training "
                  "set, crop and flip before the resize; for reproducing a paper, not the suite's "
                  "held-out default)")
    else:
        scored = (f"validation top-1 (%) after epoch {at} of {recipe.epochs}, on {valid} images of "
                  "the held-out split")
    return TrainingProxy(
        name=name, kind="training", higher_is_better=True, version=VERSION,
        cost_s=sizing.estimate_seconds(recipe, epochs=at), needs_images=True, recipe=recipe, at=at,
        description=(f"{scored}: NB201's recipe with {recipe.width} channels, resolution / "
                     f"{max(1, recipe.resolution_factor)}, 1/{max(1, recipe.sample_factor)} of each "
                     f"class of the training images, batch {recipe.batch_size}"
                     + _variant_words(recipe)))


def _variant_words(recipe: Recipe) -> str:
    """What a variant changes of NB201's recipe, in words ("" for none)."""
    words = {"optimizer": f"{recipe.optimizer} optimizer", "lr": f"lr {recipe.lr:g}",
             "weight_decay": f"weight decay {recipe.weight_decay:g}",
             "cells": f"{recipe.cells} cells per stage", "channels": f"base width {recipe.channels}",
             "label_smoothing": f"label smoothing {recipe.label_smoothing:g}",
             "schedule": f"{recipe.schedule} learning-rate schedule"}
    changed = [words[v.field] for v in VARIANTS if getattr(recipe, v.field) != getattr(NB201, v.field)]
    return f"; variant: {', '.join(changed)}" if changed else ""


REGISTRY.family(PATTERN, training_proxy)
