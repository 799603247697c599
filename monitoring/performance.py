"""Realized performance of model versions on a batch, once its labels arrive."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from models.metrics import metric_fn, truth_array
from models.spec import label_text
from models.train import Predictions

logger = logging.getLogger(__name__)

TASKS = ("binary", "multiclass", "regression")
_JOINED_COLUMNS = ("model_version", "role", "label", "prediction", "score")

# R² compares against the labels' variance: undefined for fewer rows than this.
_MIN_ROWS_FOR_R2 = 2

Metrics = dict[str, float | int | None]


def realized_metrics(
    joined: pd.DataFrame, *, task: str, positive_label: str | None = None
) -> dict[str, Metrics]:
    """Metrics of each model version on labeled rows, keyed ``"<role>:<version>"``.

    Args:
        joined: ``model_version, role, label, prediction, score`` (labels and predictions as
            text; ``score`` is P(positive) for binary, the predicted value for regression).
        task: ``"binary"`` (n, auc, accuracy, f1), ``"multiclass"`` (n, accuracy, macro_f1)
            or ``"regression"`` (n, rmse, mae, r2; uses ``score`` as the predicted value).
        positive_label: the positive class as text; required for binary.

    Returns:
        ``{"champion:3": {"n": 812, "auc": 0.66, ...}, ...}``; AUC is None when the labels hold
        one class only, r2 None with fewer than two rows. Rows whose regression label or
        score is not a number are left out (and counted in no ``n``).

    Raises:
        ValueError: unknown task, missing columns, or binary without ``positive_label``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "binary" and positive_label is None:
        raise ValueError("binary task needs positive_label (the positive class as text)")
    _require(joined, _JOINED_COLUMNS, "joined")
    results: dict[str, Metrics] = {}
    for (role, version), group in joined.groupby(["role", "model_version"], sort=True):
        key = f"{role}:{version}"
        if task == "binary":
            results[key] = _binary(group, positive_label=str(positive_label))
        elif task == "multiclass":
            results[key] = _multiclass(group)
        else:
            results[key] = _regression(group, key=key)
    return results


def _binary(group: pd.DataFrame, *, positive_label: str) -> Metrics:
    truth = truth_array(group["label"], task="binary")
    scores = pd.to_numeric(group["score"], errors="coerce").to_numpy(dtype=float)
    pred = Predictions(label=np.asarray(label_text(group["prediction"]), dtype=object), score=scores)
    both_classes = 0 < (truth == positive_label).sum() < len(truth)
    scored = ~np.isnan(scores)
    auc = None
    if both_classes and scored.all():
        auc = _value("auc", "binary", truth, pred, positive_label)
    elif both_classes:
        logger.warning("binary metrics: %d rows without a score, AUC left out", int((~scored).sum()))
    return {
        "n": len(group),
        "auc": auc,
        "accuracy": _value("accuracy", "binary", truth, pred, positive_label),
        "f1": _value("f1", "binary", truth, pred, positive_label),
    }


def _multiclass(group: pd.DataFrame) -> Metrics:
    truth = truth_array(group["label"], task="multiclass")
    labels = np.asarray(label_text(group["prediction"]), dtype=object)
    pred = Predictions(label=labels, score=np.full(len(labels), np.nan))
    return {
        "n": len(group),
        "accuracy": _value("accuracy", "multiclass", truth, pred),
        "macro_f1": _value("macro_f1", "multiclass", truth, pred),
    }


def _regression(group: pd.DataFrame, *, key: str) -> Metrics:
    truth = pd.to_numeric(group["label"], errors="coerce")
    predicted = pd.to_numeric(group["score"], errors="coerce")
    usable = truth.notna() & predicted.notna()
    if not usable.all():
        logger.warning("%s: %d rows without a numeric label or score left out", key, int((~usable).sum()))
    y, values = truth[usable].to_numpy(float), predicted[usable].to_numpy(float)
    n = len(y)
    if n == 0:
        return {"n": 0, "rmse": None, "mae": None, "r2": None}
    pred = Predictions(label=values, score=values)
    return {
        "n": n,
        "rmse": _value("rmse", "regression", y, pred),
        "mae": _value("mae", "regression", y, pred),
        # undefined for a single row or a constant target (the labels' variance is 0)
        "r2": _value("r2", "regression", y, pred) if n >= _MIN_ROWS_FOR_R2 else None,
    }


def _value(
    metric: str, task: str, truth: np.ndarray, pred: Predictions, positive: str | None = None
) -> float | None:
    """The gate's own metric implementation (models.metrics), so both judge alike; None when
    undefined."""
    number = metric_fn(metric, task=task, positive_label=positive)(truth, pred)
    return number if math.isfinite(number) else None


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; has {list(frame.columns)}")
