"""Gradient-boosted trees (LightGBM): NaN-aware, the strong learned-proxy model."""
from __future__ import annotations

from nb201.extras import require

from .base import MODELS, Model

WHAT = "a learned proxy of model gbm (LightGBM)"


def make(seed: int):
    lightgbm = require("lightgbm", WHAT)
    return lightgbm.LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=15,
                                  min_child_samples=5, subsample=0.8, subsample_freq=1,
                                  colsample_bytree=0.8, random_state=seed, n_jobs=1, verbose=-1)


def library() -> str:
    lightgbm = require("lightgbm", WHAT)
    return f"lightgbm {lightgbm.__version__}"


MODELS.register(Model("gbm", make, library, "LightGBM gradient boosting, 400 trees of 15 leaves"))
