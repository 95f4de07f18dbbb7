"""NAS-Bench-201's training recipe as a frozen config, and EcoNAS-notation diffs of it.

A training proxy is ``[VARIANT:...]c{k}r{k}s{k}e{n}[b{B}][@m]`` (EcoNAS notation): channels 16/k,
resolution (native)/k, 1/k of the training split, n epochs of cosine schedule, batch B; ``@m`` reads
the validation accuracy after epoch m. k = 0 or 1 means no reduction. :func:`parse` turns such a
name into a :class:`Recipe` (a ``dataclasses.replace`` of :data:`NB201`) and the epoch to read.

Each ``VARIANT:`` prefix changes more of the recipe; they combine in any order (:data:`VARIANTS`):
a protocol preset of :data:`PROTOCOLS` (``zc-paper``: the zero-cost-proxies paper's EcoNAS
pipeline), the optimizer (``sgd``, ``adam``, ``adamw``), ``lr{x}`` (learning rate), ``wd{x}``
(weight decay), ``n{N}`` (cells per stage), ``w{C}`` (channels of the first stage before the
``c`` reduction), ``ls{x}`` (label smoothing) and the schedule (``cosine``, ``constant``,
``linear``). ``adam:lr0.001:n1:c8r8s16e1@1`` is NB201's recipe with Adam at lr 0.001, one cell per
stage, 2 channels, 4x4 images, 1/16 of the samples, one epoch. The canonical spelling
(:attr:`Recipe.spec`) lists what differs from NB201 in a fixed order: the store keeps one run per
recipe however its name was written.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from nb201.catalog import MEAN, STD
from nb201.errors import UserError


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "constant", "linear")


@dataclass(frozen=True)
class Recipe:
    """How one network is trained and scored.

    NB201's own values (its 12E/200E configs): SGD, Nesterov momentum 0.9, lr 0.1, weight decay
    5e-4 on every parameter, batch 256, cosine from lr to 0 over ``epochs``. As in NB201's code
    (xautodl ``CosineAnnealingLR`` with ``warmup=0``), the learning rate is set once per epoch:
    ``lr * (1 + cos(pi * t / epochs)) / 2`` for epoch t = 0 .. epochs-1. Random crop with zero
    padding (4 at 32x32, scaled with the resolution, at least 1) and horizontal flip; the last,
    smaller batch of an epoch is kept (batches of one image are dropped: BN needs two).

    Reductions (EcoNAS): ``channel_factor`` k gives ``channels // k`` channels, ``resolution_factor``
    k resizes the images (antialiased, once) to ``native // k``, ``sample_factor`` k trains on a
    seeded random ``1/k`` of the training split. Factors 0 and 1 mean no reduction.

    ``valid_images``: the validation accuracy after each epoch is measured on this many images of
    the validation split (a fixed random subset drawn with the seed), or on all of them if None.

    ``held_out``: ``"valid"`` (the suite's default) trains on the proxy split's training half and
    scores on its held-out validation half (NB201's split of the CIFAR-10 training set; the
    ``xvalid`` half of the test set for CIFAR-100 and ImageNet16-120); ``"test"`` trains on the
    whole training set and scores on the test images (what some papers did; fine for reproducing
    them, not for the suite's own comparisons). ``resize_after_crop``: crop (with padding
    ``crop_padding`` at the native resolution) and flip each batch first, then resize it, as
    torchvision pipelines of the form RandomCrop(32, 4), Resize(r) do; by default the images are
    resized once and cropped with the padding scaled to the training resolution.
    ``protocol``: the name of the preset these fields came from (part of :attr:`spec`).
    """

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    channels: int = 16
    cells: int = 5
    channel_factor: int = 1
    resolution_factor: int = 1
    sample_factor: int = 1
    crop_padding: int = 4          # at 32x32
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    valid_images: int | None = None
    held_out: str = "valid"
    resize_after_crop: bool = False
    protocol: str = ""
    optimizer: str = "sgd"
    label_smoothing: float = 0.0
    schedule: str = "cosine"

    def __post_init__(self):
        for name in ("channel_factor", "resolution_factor", "sample_factor"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.epochs < 1:
            raise UserError(f"a training proxy needs at least one epoch, got {self.epochs}")
        if self.batch_size < 2:
            raise UserError(f"batch size must be at least 2 (BatchNorm), got {self.batch_size}")
        if self.channels // _factor(self.channel_factor) < 1:
            raise UserError(f"c{self.channel_factor}: {self.channels} channels cannot be divided "
                            f"by {self.channel_factor}")
        if self.held_out not in ("valid", "test"):
            raise UserError(f"held_out must be 'valid' or 'test', got {self.held_out!r}")
        if self.valid_images is not None and self.valid_images < 1:
            raise UserError(f"valid_images must be positive or None, got {self.valid_images}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                            f"{self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                            f"{self.schedule!r}")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        if not self.lr > 0 or self.weight_decay < 0 or self.cells < 1 or self.channels < 1:
            raise UserError(f"lr must be > 0, weight decay >= 0, cells and channels >= 1; got "
                            f"lr {self.lr}, wd {self.weight_decay}, n {self.cells}, "
                            f"w {self.channels}")

    @property
    def width(self) -> int:
        """Channels of the first stage."""
        return self.channels // _factor(self.channel_factor)

    def resolution(self, native: int) -> int:
        """Training and validation resolution for a dataset of ``native`` resolution. The factor
        must divide ``native`` into a multiple of 4 (the network halves the resolution twice)."""
        k = _factor(self.resolution_factor)
        if native % k or (native // k) % 4:
            fits = ", ".join(f"r{f}" for f in range(1, native + 1)
                             if native % f == 0 and (native // f) % 4 == 0)
            raise UserError(f"r{self.resolution_factor}: {native}x{native} images cannot be reduced "
                            f"by {k} (the result must be a multiple of 4); use one of {fits}")
        return native // k

    def padding(self, resolution: int) -> int:
        """Zero padding of the random crop: ``crop_padding`` at 32x32, scaled, at least 1."""
        return max(1, round(self.crop_padding * resolution / 32))

    def train_size(self, available: int) -> int:
        """How many training images the run uses out of ``available``."""
        return max(1, available // _factor(self.sample_factor))

    def lr_at(self, epoch: int) -> float:
        """The learning rate during epoch ``epoch`` (0-based), set once per epoch as NB201 does:
        cosine from lr to 0 over the run (NB201's), constant, or linear from lr to 0."""
        t = epoch / self.epochs
        factor = {"cosine": (1 + math.cos(math.pi * t)) / 2, "constant": 1.0,
                  "linear": 1.0 - t}[self.schedule]
        return self.lr * factor

    @property
    def variant(self) -> tuple[str, ...]:
        """The variant tokens of this recipe: each field of :data:`VARIANTS` that differs from
        NB201's, in that order (``("adam", "lr0.001", "n1")``)."""
        return tuple(v.token(getattr(self, v.field)) for v in VARIANTS
                     if getattr(self, v.field) != getattr(NB201, v.field))

    @property
    def spec(self) -> str:
        """The canonical spelling of the schedule (without ``@m``): protocol, variant tokens,
        then EcoNAS notation."""
        batch = "" if self.batch_size == NB201.batch_size else f"b{self.batch_size}"
        prefix = "".join(f"{t}:" for t in ((self.protocol,) if self.protocol else ()) + self.variant)
        return (f"{prefix}c{_canon(self.channel_factor)}r{_canon(self.resolution_factor)}"
                f"s{_canon(self.sample_factor)}e{self.epochs}{batch}")

    def identity(self) -> dict:
        """Every field, as the store's fingerprints key runs by; the variant fields appear only
        when they differ from NB201's (rows stored before they existed keep their keys)."""
        out = dataclasses.asdict(self)
        for name in ADDED_FIELDS:
            if out[name] == getattr(NB201, name):
                del out[name]
        return out


def _factor(k: int) -> int:
    return max(1, k)


def _canon(k: int) -> int:
    return 0 if k <= 1 else k


NB201 = Recipe()


@dataclass(frozen=True)
class Variant:
    """One recipe field a name prefix may set: ``pattern`` matches the token (its group, if
    any, is the value), ``kind`` converts it, ``token`` spells a value back."""

    field: str
    pattern: str
    kind: type
    token: Callable[[object], str]


#: The variant prefixes, in canonical order.
VARIANTS = (
    Variant("optimizer", r"(sgd|adam|adamw)", str, str),
    Variant("lr", r"lr([0-9.]+(?:e-?\d+)?)", float, lambda v: f"lr{v:g}"),
    Variant("weight_decay", r"wd([0-9.]+(?:e-?\d+)?)", float, lambda v: f"wd{v:g}"),
    Variant("cells", r"n(\d+)", int, lambda v: f"n{v}"),
    Variant("channels", r"w(\d+)", int, lambda v: f"w{v}"),
    Variant("label_smoothing", r"ls([0-9.]+)", float, lambda v: f"ls{v:g}"),
    Variant("schedule", r"(cosine|constant|linear)", str, str),
)
#: fields added after rows were first stored: fingerprints name them only when set
ADDED_FIELDS = ("optimizer", "label_smoothing", "schedule")

#: Named protocols: the recipe fields a ``protocol:`` prefix sets. ``zc-paper`` is the pipeline of
#: the zero-cost-proxies paper's EcoNAS numbers (Abdelfattah et al., ICLR 2021; their
#: ``nasbench2_train.py`` and ``foresight/dataset.py``): all 50,000 CIFAR training images, random
#: crop 32 with padding 4 and flip *before* the resize to the proxy resolution, their CIFAR
#: normalisation, and accuracy on the 10,000 test images. Use it with their batch and schedule,
#: ``zc-paper:c4r4s0e40b2048@20`` (EcoNAS) and ``zc-paper:c2r2s0e40b2048@15`` (econas+).
PROTOCOLS = {
    "zc-paper": dict(held_out="test", resize_after_crop=True,
                     mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010)),
}

_SPEC = re.compile(r"((?:[a-z][a-z0-9.+-]*:)*)c(\d+)r(\d+)s(\d+)e(\d+)(?:b(\d+))?(?:@(\d+))?")
PATTERN = "[VARIANT:...]c{k}r{k}s{k}e{n}[b{B}][@m]"


def matches(name: str) -> bool:
    """Whether ``name`` is spelled as an EcoNAS training proxy."""
    return _SPEC.fullmatch(name) is not None


def _prefix_fields(name: str, tokens: list[str]) -> dict:
    """The recipe fields that the ``VARIANT:`` prefixes of ``name`` set (UserError on an unknown,
    malformed or repeated one)."""
    fields: dict = {}
    for token in tokens:
        if token in PROTOCOLS:
            found = dict(PROTOCOLS[token], protocol=token)
        else:
            found = next(({v.field: v.kind(m.group(1))} for v in VARIANTS
                          if (m := re.fullmatch(v.pattern, token))), None)
        if found is None:
            raise UserError(f"{name}: unknown prefix {token!r}; a prefix is a protocol "
                            f"({', '.join(PROTOCOLS)}), an optimizer ({', '.join(OPTIMIZERS)}), "
                            f"lr{{x}}, wd{{x}}, n{{cells}}, w{{channels}}, ls{{x}} or a schedule "
                            f"({', '.join(SCHEDULES)})")
        twice = fields.keys() & found.keys()
        if twice:
            raise UserError(f"{name}: {sorted(twice)[0]} is set twice")
        fields.update(found)
    return fields


def parse(name: str, base: Recipe = NB201) -> tuple[Recipe, int]:
    """``adam:lr0.01:c4r4s0e40b2048@20`` -> (the recipe diff of ``base``, the epoch to read: 20).

    Without ``@m`` the last epoch is read. Raises UserError on a name that is not of this form or
    asks for something impossible (no epochs, @m beyond the schedule, an unknown prefix, ...)."""
    found = _SPEC.fullmatch(name)
    if found is None:
        raise UserError(f"{name!r} is not a training proxy {PATTERN}")
    prefixes, c, r, s, e, b, at = found.groups()
    fields = _prefix_fields(name, [t for t in prefixes.split(":") if t])
    try:
        recipe = dataclasses.replace(
            base, channel_factor=int(c), resolution_factor=int(r), sample_factor=int(s),
            epochs=int(e), batch_size=base.batch_size if b is None else int(b), **fields)
    except UserError as err:
        raise UserError(f"{name}: {err}") from None
    epoch = recipe.epochs if at is None else int(at)
    if not 1 <= epoch <= recipe.epochs:
        raise UserError(f"{name}: @{epoch} must be an epoch of the schedule, 1..{recipe.epochs}")
    return recipe, epoch
