"""scikit-learn pipelines for any task and mix of column types, and how to feed them.

Preprocessing uses only built-in transformers, so a pipeline serialised with skops loads with
a short, explicit list of trusted types (``skops_trusted_types``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.spec import MISSING, FeatureSpec, Task, check_task, label_text

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ESTIMATORS: tuple[str, ...] = ("hist_gradient_boosting", "random_forest", "linear")
# The trivial baseline (class priors / the mean): served only until a first model beats it.
TRIVIAL = "trivial"
PREPROCESS_STEP = "preprocess"
MODEL_STEP = "model"
NUMERIC_BLOCK = "numeric"
CATEGORICAL_BLOCK = "categorical"

# Types skops must be told to trust beyond its defaults (verified by round-trip tests).
# SimpleImputer keeps the fitted ``numpy.dtype`` (``_fit_dtype``), which skops 0.16 does not trust.
_SKOPS_COMMON: list[str] = ["numpy.dtype"]
_SKOPS_TRUSTED: dict[str, list[str]] = {
    "hist_gradient_boosting": ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
    "random_forest": ["sklearn.tree._tree.Tree"],
    "linear": [],
    TRIVIAL: [],
}


def check_estimator(estimator: str) -> str:
    """Return ``estimator`` if known, else raise ValueError listing the allowed names."""
    if estimator not in (*ESTIMATORS, TRIVIAL):
        raise ValueError(f"unknown estimator {estimator!r}; allowed: {', '.join(ESTIMATORS)}")
    return estimator


def skops_trusted_types(estimator: str) -> list[str]:
    """Extra types to pass as ``skops_trusted_types`` when logging/loading this estimator."""
    return _SKOPS_COMMON + _SKOPS_TRUSTED[check_estimator(estimator)]


def all_skops_trusted_types() -> tuple[str, ...]:
    """Every extra type any of our estimators needs: what loading a registered model may trust."""
    return tuple(sorted({*_SKOPS_COMMON, *(t for types in _SKOPS_TRUSTED.values() for t in types)}))


def _make_estimator(estimator: str, task: Task, params: Mapping[str, Any], seed: int) -> Any:
    # Deferred: scikit-learn loads only when a pipeline is built, not for every command.
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    regression = task == "regression"
    if estimator == TRIVIAL:
        return DummyRegressor(strategy="mean") if regression else DummyClassifier(strategy="prior")
    if estimator == "hist_gradient_boosting":
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(**{"random_state": seed, **params})
    if estimator == "random_forest":
        cls = RandomForestRegressor if regression else RandomForestClassifier
        return cls(**{"random_state": seed, **params})
    if regression:
        return Ridge(**{"random_state": seed, **params})
    return LogisticRegression(**{"random_state": seed, "max_iter": 1000, **params})


def build_pipeline(
    *,
    spec: FeatureSpec,
    task: Task,
    estimator: str = "hist_gradient_boosting",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    min_frequency: float = 0.01,
    max_categories: int = 30,
) -> Pipeline:
    """Preprocessing + estimator pipeline that outputs pandas frames between steps.

    Numeric columns get median imputation (plus scaling for ``linear``); categorical columns,
    expected as text (see ``prepare_features``), get constant imputation and one-hot encoding.

    Args:
        spec: feature columns.
        task: decides classifier vs regressor.
        estimator: one of ``ESTIMATORS``; ``linear`` is LogisticRegression or Ridge.
        params: estimator keyword arguments, overriding defaults.
        seed: estimator ``random_state``.
        min_frequency: categories rarer than this share of rows fold into one "infrequent" column.
        max_categories: most one-hot columns per categorical feature (infrequent included).

    Raises:
        ValueError: unknown task or estimator, or a spec without columns.
    """
    # Deferred: scikit-learn loads only when a pipeline is built, not for every command.
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    task = check_task(task)
    check_estimator(estimator)
    if not spec.columns:
        raise ValueError("feature spec has no columns")
    blocks: list[tuple[str, Any, list[str]]] = []
    if spec.numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if estimator == "linear":
            steps.append(("scale", StandardScaler()))
        blocks.append((NUMERIC_BLOCK, Pipeline(steps), list(spec.numeric)))
    if spec.categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=min_frequency,
            max_categories=max_categories,
            sparse_output=False,
        )
        impute = SimpleImputer(strategy="constant", fill_value=MISSING)
        blocks.append(
            (CATEGORICAL_BLOCK, Pipeline([("impute", impute), ("encode", encoder)]), list(spec.categorical))
        )
    pipeline = Pipeline(
        [
            (PREPROCESS_STEP, ColumnTransformer(blocks, remainder="drop")),
            (MODEL_STEP, _make_estimator(estimator, task, params or {}, seed)),
        ]
    )
    return pipeline.set_output(transform="pandas")


def pipeline_spec(pipeline: Pipeline) -> FeatureSpec:
    """Recover the feature spec from a fitted pipeline built by ``build_pipeline``."""
    blocks = {name: tuple(cols) for name, _, cols in pipeline[PREPROCESS_STEP].transformers_}
    return FeatureSpec(numeric=blocks.get(NUMERIC_BLOCK, ()), categorical=blocks.get(CATEGORICAL_BLOCK, ()))


def prepare_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Select feature columns; numeric to float, categorical to normalised text.

    Text normalisation keeps train and serve consistent when an integer code column arrives
    as float (because of missing values) or bool. Raises ValueError naming missing columns.
    """
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"feature column(s) not in frame: {', '.join(map(repr, missing))}")
    # Text in a numeric column is missing to the model (imputed); the contract judges how much
    # of it a batch may carry (a warning for a stray value, a block above its tolerance).
    columns: dict[str, Any] = {
        column: pd.to_numeric(frame[column], errors="coerce").astype(float) for column in spec.numeric
    }
    for column in spec.categorical:
        columns[column] = np.asarray(label_text(frame[column]), dtype=object)
    return pd.DataFrame(columns, index=frame.index)
