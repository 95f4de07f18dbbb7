"""Ridge regression (scikit-learn), the simple baseline: median imputation with missing-value
indicators, standardisation, ridge with its penalty chosen by cross-validation."""
from __future__ import annotations

import numpy as np

from nb201.extras import require

from .base import MODELS, Model

WHAT = "a learned proxy of model ridge (scikit-learn)"


def make(seed: int):
    require("sklearn", WHAT)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                       keep_empty_features=True),
                         StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))


def library() -> str:
    sklearn = require("sklearn", WHAT)
    return f"scikit-learn {sklearn.__version__}"


MODELS.register(Model("ridge", make, library, "ridge regression on standardised features"))
