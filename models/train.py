"""Fit a model for any task and predict with it (or with a bare pipeline loaded from MLflow)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.pipeline import (
    ESTIMATORS,
    MODEL_STEP,
    build_pipeline,
    check_estimator,
    pipeline_spec,
    prepare_features,
    skops_trusted_types,
)
from models.spec import FeatureSpec, Task, check_task, label_text

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "ESTIMATORS",
    "Predictions",
    "TrainedModel",
    "build_pipeline",
    "check_estimator",
    "fit_model",
    "pipeline_spec",
    "predict",
    "prepare_features",
    "skops_trusted_types",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline plus what is needed to interpret its outputs."""

    pipeline: Pipeline = field(repr=False)
    task: Task
    spec: FeatureSpec
    classes: tuple[str, ...]
    positive_label: str | None
    estimator: str = "hist_gradient_boosting"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (without the pipeline)."""
        return {
            "task": self.task,
            "estimator": self.estimator,
            "features": self.spec.to_dict(),
            "classes": list(self.classes),
            "positive_label": self.positive_label,
        }


def fit_model(
    frame: pd.DataFrame,
    *,
    target: str,
    spec: FeatureSpec,
    task: Task,
    estimator: str = "hist_gradient_boosting",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    positive_label: str | None = None,
    sample_weight: Sequence[float] | np.ndarray | None = None,
) -> TrainedModel:
    """Fit a pipeline on rows with a known target; class labels are learned as text.

    Args:
        positive_label: binary only; defaults to the last class in sorted text order
            (``"1"`` for 0/1, ``"True"`` for bools).
        sample_weight: one non-negative weight per row of `frame` (e.g. reviewed labels weigh
            more), passed to the estimator's fit; None: every row weighs 1.

    Raises:
        ValueError: missing columns, no labeled rows, fewer than two classes, bad positive label,
            weights that do not match the rows or are negative or not finite.
    """
    task = check_task(task)
    if target not in frame:
        raise ValueError(f"target column {target!r} not in frame")
    labeled = frame[frame[target].notna()]
    if labeled.empty:
        raise ValueError(f"no rows with a value in target {target!r}")
    X = prepare_features(labeled, spec)
    fit_params: dict[str, Any] = {}
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=float)
        if weights.shape != (len(frame),):
            raise ValueError(
                f"sample_weight has shape {weights.shape}; expected one weight per row ({len(frame)})"
            )
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        fit_params[f"{MODEL_STEP}__sample_weight"] = weights[frame[target].notna().to_numpy()]
    if task == "regression":
        y: Any = pd.to_numeric(labeled[target], errors="raise").to_numpy(dtype=float)
        classes: tuple[str, ...] = ()
    else:
        y = np.asarray(label_text(labeled[target]), dtype=object)
        classes = tuple(sorted(set(y)))
        if len(classes) < 2:
            raise ValueError(f"target {target!r} has one class {classes}; need at least 2")
        if task == "binary" and len(classes) != 2:
            raise ValueError(f"binary task but target {target!r} has classes {classes}")
    if task == "binary":
        positive_label = positive_label if positive_label is not None else classes[-1]
        if positive_label not in classes:
            raise ValueError(f"positive_label {positive_label!r} not among classes {classes}")
    else:
        positive_label = None
    pipeline = build_pipeline(spec=spec, task=task, estimator=estimator, params=params, seed=seed)
    pipeline.fit(X, y, **fit_params)
    logger.info("fitted %s %s on %d rows x %d features", estimator, task, len(X), X.shape[1])
    return TrainedModel(
        pipeline=pipeline,
        task=task,
        spec=spec,
        classes=classes,
        positive_label=positive_label,
        estimator=estimator,
    )


@dataclass(frozen=True, eq=False)
class Predictions:
    """Model outputs: ``label`` (text or float), ``score`` and class probabilities.

    ``score`` is P(positive) for binary, the top class probability for multiclass and the
    predicted value for regression; ``proba`` has one column per class (None for regression).
    """

    label: np.ndarray
    score: np.ndarray
    proba: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.label)


def predict(
    model: TrainedModel | Pipeline,
    frame: pd.DataFrame,
    *,
    task: Task | None = None,
    classes: Sequence[str] | None = None,
    positive_label: str | None = None,
) -> Predictions:
    """Predict with a TrainedModel or a bare fitted pipeline (e.g. loaded back from MLflow).

    For a bare pipeline ``task`` is required; ``classes`` (if given) must match the pipeline's;
    ``positive_label`` defaults to the last class.

    Raises:
        ValueError: missing task, class mismatch, or missing feature columns.
    """
    if isinstance(model, TrainedModel):
        pipeline, task = model.pipeline, model.task
        positive_label = model.positive_label
        spec = model.spec
    else:
        if task is None:
            raise ValueError("task is required when predicting with a bare pipeline")
        pipeline, spec = model, pipeline_spec(model)
    task = check_task(task)
    X = prepare_features(frame, spec)
    if task == "regression":
        value = np.asarray(pipeline.predict(X), dtype=float)
        return Predictions(label=value, score=value, proba=None)
    fitted = tuple(label_text(pipeline.classes_))
    if classes is not None and tuple(classes) != fitted:
        raise ValueError(f"classes {tuple(classes)} do not match the pipeline's {fitted}")
    proba = np.asarray(pipeline.predict_proba(X), dtype=float)
    label = np.asarray(fitted, dtype=object)[proba.argmax(axis=1)]
    if task == "binary":
        positive = positive_label if positive_label is not None else fitted[-1]
        if positive not in fitted:
            raise ValueError(f"positive_label {positive!r} not among classes {fitted}")
        score = proba[:, fitted.index(positive)]
    else:
        score = proba.max(axis=1)
    return Predictions(label=label, score=score, proba=proba)
