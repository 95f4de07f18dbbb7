"""Learned proxies: a model fitted on K labelled archs from cheap features; its score of an arch is
the model's prediction of the label.

Name: ``learned:MODEL:K:FEATURES`` or ``learned:MODEL:K:label=LABEL:FEATURES``, e.g.
``learned:gbm:200:graph+params+flops`` or ``learned:ridge:100:label=valid_12:graph+naslib:synflow``
(``+`` joins the features, so a name holds no comma or space).

- **features**: ``graph`` (:mod:`nb201.encoding`, zero-compute cell features) and any registered
  proxy that is not itself learned; their scores are read through the runner and the store
  (:meth:`nb201.context.Context.scores`), so they are cached like every score, at seed
  :data:`FEATURE_SEED` whatever the learned proxy's seed. Missing values (``naslib:*`` on archs
  NASLib did not score, a proxy's non-finite score) stay NaN for the model.
- **label**: NB201's ``valid_200`` (default: :data:`nb201.catalog.SELECTION_TRUTH`) or ``valid_12``
  of the dataset, or a training proxy's score (read like a feature). A learned proxy is judged
  against :data:`JUDGED_BY`, never its label.
- **training set**: K archs of the whole space drawn with the proxy's seed (:func:`training_set`);
  the seed also seeds the model. The score of a training arch is NaN: a learned proxy is judged
  only on archs it was not fitted on (the suite ranks NaN last and counts it).
- **model**: one module per family (:mod:`.gbm`, :mod:`.ridge`) registers a :class:`Model`. It is
  fitted on the labels' ranks among the training archs (percentiles in (0, 1]), not on the labels:
  a ranking is what is judged, and ranks keep the long tail of broken cells (10% accuracy) from
  dominating a squared loss (measured with ``tools/learned_checks.py``: docs/RESULTS.md,
  "Learned proxies"). Its scores are predicted percentiles.

Costs: an outcome's ``seconds`` are the features' measured seconds of that arch (what predicting it
costs); the labels are a one-off cost, :meth:`LearnedProxy.setup` (NB201's recorded training time
of the K archs for table labels, pro rata to 12 or 200 epochs; the stored seconds of a training
proxy's labels), charged once per search run when the first prediction is read.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from nb201 import encoding
from nb201 import groundtruth as gt
from nb201.api import REGISTRY, Outcome, Proxy
from nb201.catalog import SELECTION_TRUTH, derive_rng
from nb201.errors import UserError
from nb201.registry import Registry

PREFIX = "learned:"
PATTERN = "learned:MODEL:K:[label=LABEL:]FEATURES (FEATURES: graph and proxy names joined by +)"
GRAPH = "graph"
#: table labels: NB201 metric -> epochs of NB201 training behind one label
TABLE_LABELS = {"valid_200": 200, "valid_12": 12}
#: what every learned proxy is judged against (the ``learn`` command, reports): never its label
JUDGED_BY = "test_200"
#: the seed every feature and training-proxy label is read at (so that draws share them)
FEATURE_SEED = 0


@dataclass(frozen=True)
class Model:
    """A model family: ``make(seed)`` returns an unfitted scikit-learn style regressor."""

    name: str
    make: Callable[[int], object]
    library: Callable[[], str]   # the fitting library and its version (part of the fingerprint)
    description: str


MODELS: Registry[Model] = Registry("model", lambda m: m.name)


def training_set(train: int, seed: int) -> np.ndarray:
    """The K training archs of a learned proxy with ``seed`` (sorted NB201 indices): the first K
    of an order drawn with the seed, so the training sets of one seed are nested (K=100 holds
    K=50's archs, and their features are read once). Purpose 0 draws what ``(seed,)`` does: the
    training set is the first K of :func:`nb201.groundtruth.sample` with the seed, sorted."""
    return np.sort(derive_rng(seed, 0).permutation(gt.NUM_ARCHS)[:train])


def _features_of(text: str, registry: Registry[Proxy]) -> tuple[tuple[str, ...], tuple]:
    """The feature names and their proxies (None for graph), resolved in ``registry``."""
    names = tuple(text.split("+"))
    if not text or any(not n for n in names):
        raise UserError(f"learned proxy features {text!r}: name graph and/or proxies joined by +")
    if len(set(names)) != len(names):
        raise UserError(f"learned proxy features {text!r} name a feature twice")
    proxies = tuple(None if n == GRAPH else registry.get(n) for n in names)
    for p in proxies:
        if p is not None and p.kind == "learned":
            raise UserError(f"a learned proxy's feature cannot be learned itself: {p.name}")
    return names, proxies


def label_proxy(label: str, registry: Registry[Proxy]) -> Proxy | None:
    """None for a table label, else the training proxy whose score is the label."""
    if label in TABLE_LABELS:
        return None
    try:
        proxy = registry.get(label)
    except UserError:
        proxy = None
    if proxy is None or proxy.kind != "training":
        raise UserError(f"a learned proxy's label must be a score a model can learn: "
                        f"{', '.join(TABLE_LABELS)} or a training proxy (e.g. c4r4s0e40@20), "
                        f"got {label!r}")
    return proxy


@dataclass(frozen=True, kw_only=True)
class LearnedProxy(Proxy):
    """Made by :func:`learned_proxy` from its name, which says every field below."""

    model: str
    train: int
    features: tuple[str, ...]
    label: str
    #: the features' proxies (None for graph) and the label's (None for a table label), resolved
    #: in the registry that made this proxy
    inputs: tuple = ()
    labeller: Proxy | None = None

    def check(self, dataset: str) -> None:
        for proxy in self.inputs:
            if proxy is not None:
                proxy.check(dataset)
        if self.labeller is not None:
            self.labeller.check(dataset)

    def data_source(self, ctx) -> str:
        return "learned"

    def chunk_size(self, ctx) -> int:
        return gt.NUM_ARCHS

    def fingerprint(self, ctx) -> dict:
        """The base fingerprint plus the model and its library version, K, the label, and each
        feature's own fingerprint (its version, data and options) at :data:`FEATURE_SEED`."""
        at = ctx.with_seed(FEATURE_SEED)
        parts = {n: (encoding.VERSION if p is None else p.fingerprint(at))
                 for n, p in zip(self.features, self.inputs)}
        label = self.label if self.labeller is None else self.labeller.fingerprint(at)
        return {**super().fingerprint(ctx), "model": self.model,
                "library": MODELS.get(self.model).library(), "train": self.train,
                "label": label, "features": parts}

    def matrix(self, indices: list[int], ctx) -> tuple[np.ndarray, np.ndarray]:
        """The feature matrix of ``indices`` (NaN where a value is missing) and each arch's
        features' measured seconds."""
        columns, seconds = [], np.zeros(len(indices))
        at = ctx.with_seed(FEATURE_SEED)
        for proxy in self.inputs:
            if proxy is None:
                columns.append(encoding.table()[indices])
                continue
            scores, spent = ctx.scores(proxy, indices, at)
            columns.append(np.where(np.isfinite(scores), scores, np.nan)[:, None])
            seconds += spent
        return np.hstack(columns), seconds

    def labels(self, indices: list[int], ctx) -> tuple[np.ndarray, float]:
        """The labels of ``indices`` (float64, NaN where missing) and what they cost in seconds."""
        if self.labeller is None:
            recorded = gt.vector(ctx.dataset, "train_time_200_s")[indices]
            cost = float(np.nansum(recorded) * TABLE_LABELS[self.label] / 200)
            return gt.vector(ctx.dataset, self.label)[indices].astype(np.float64), cost
        scores, spent = ctx.scores(self.labeller, indices, ctx.with_seed(FEATURE_SEED))
        return np.asarray(scores, dtype=np.float64), float(np.sum(spent))

    def excluded(self, seed: int) -> frozenset[int]:
        return frozenset(training_set(self.train, seed).tolist())

    def setup(self, ctx) -> tuple[str, float]:
        train = training_set(self.train, ctx.seed).tolist()
        # named by what the labels are: learned proxies with one training set share its labels
        what = f"{self.label} labels of {self.train} archs (seed {ctx.seed}, {ctx.dataset})"
        return what, self.labels(train, ctx)[1]

    def fitted(self, ctx):
        """The model fitted on this proxy's training set (kept for the process, by fingerprint)."""
        from scipy import stats

        from nb201.provenance import config_digest
        key = config_digest(self.fingerprint(ctx))
        if key not in _FITTED:
            train = training_set(self.train, ctx.seed).tolist()
            x, _ = self.matrix(train, ctx)
            y, _ = self.labels(train, ctx)
            keep = np.isfinite(y)
            if keep.sum() < 2:
                raise UserError(f"{self.name}: fewer than 2 of its {self.train} training archs "
                                f"have a label")
            ranks = stats.rankdata(y[keep]) / keep.sum()
            _FITTED[key] = MODELS.get(self.model).make(ctx.seed).fit(x[keep], ranks)
            while len(_FITTED) > KEEP_FITTED:
                _FITTED.pop(next(iter(_FITTED)))          # the oldest
        return _FITTED[key]

    def score(self, archs, indices, ctx) -> list[Outcome]:
        model = self.fitted(ctx)
        x, seconds = self.matrix(list(indices), ctx)
        start = time.perf_counter()
        predicted = model.predict(x)
        each = (time.perf_counter() - start) / max(1, len(indices))
        trained = set(training_set(self.train, ctx.seed).tolist())
        return [Outcome(score=float("nan") if i in trained else float(p), seconds=float(s) + each)
                for i, p, s in zip(indices, predicted, seconds)]

    def charge_basis(self) -> str:
        label = (f"NB201's recorded training time x {TABLE_LABELS[self.label]}/200"
                 if self.label in TABLE_LABELS else "their measured seconds")
        return (f"the features' measured seconds per arch; once per run, its {self.train} labels "
                f"({label})")

    def describe(self) -> dict:
        return {**super().describe(), "family": PATTERN, "model": self.model, "train": self.train,
                "features": list(self.features), "label": self.label, "judged_by": JUDGED_BY}


#: fitted models of this process, by the digest of the learned proxy's fingerprint (the newest
#: KEEP_FITTED: scoring a proxy's archs chunk by chunk fits it once)
_FITTED: dict[str, object] = {}
KEEP_FITTED = 16

_NAME = re.compile(r"learned:([^:]+):(\d+):(.+)")


def learned_proxy(name: str, registry: Registry[Proxy] = REGISTRY) -> LearnedProxy | None:
    """The learned proxy for a ``learned:...`` name, its features and label resolved in
    ``registry``; None for other names (UserError when malformed)."""
    if not name.startswith(PREFIX):
        return None
    m = _NAME.fullmatch(name)
    if not m:
        raise UserError(f"malformed learned proxy {name!r}; expected {PATTERN}")
    model, train, rest = m.group(1), int(m.group(2)), m.group(3)
    MODELS.get(model)
    if not 1 <= train < gt.NUM_ARCHS:
        raise UserError(f"learned proxy {name!r}: K must be between 1 and {gt.NUM_ARCHS - 1:,} "
                        f"(the space has {gt.NUM_ARCHS:,} archs), got {train}")
    label = SELECTION_TRUTH
    if rest.startswith("label="):
        label, _, rest = rest[len("label="):].partition(":")
    labeller = label_proxy(label, registry)
    features, inputs = _features_of(rest, registry)
    return LearnedProxy(name, "learned", model=model, train=train, features=features,
                        cost_s=sum(p.cost_s for p in inputs if p is not None),
                        label=label, inputs=inputs, labeller=labeller,
                        description=f"{model} fitted on {label} of {train} archs from "
                                    f"{' + '.join(features)}; judged on other archs")
