"""Task metrics as weighted, vectorised numpy (a bootstrap resample is a row-count weight vector).

Every metric is computed for a batch of weight vectors ``W`` of shape (resamples, rows); a plain
evaluation is the batch of one all-ones vector, so point estimates and bootstrap share one code path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.spec import check_task, label_text
from models.train import Predictions

Evaluator = Callable[[np.ndarray], np.ndarray]
"""Bound metric: weights ``W`` (resamples x rows) -> one value per resample."""
BatchMetric = Callable[[np.ndarray, Predictions], Evaluator]
MetricFn = Callable[[np.ndarray, Predictions], float]

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "f1"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _auc(is_pos: np.ndarray, score: np.ndarray) -> Evaluator:
    # Mann-Whitney form with ties counted half: group rows by distinct score, then each positive
    # beats the negative weight below its score. A one-class resample gives NaN.
    order = np.argsort(score, kind="mergesort")
    s, pos = score[order], is_pos[order].astype(float)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])

    def evaluate(W: np.ndarray) -> np.ndarray:
        Wo = W[:, order]
        gp = np.add.reduceat(Wo * pos, starts, axis=1)
        gn = np.add.reduceat(Wo, starts, axis=1) - gp
        below = np.cumsum(gn, axis=1) - gn
        num = (gp * (below + 0.5 * gn)).sum(axis=1)
        return _ratio(num, gp.sum(axis=1) * gn.sum(axis=1))

    return evaluate


def _accuracy(correct: np.ndarray) -> Evaluator:
    hits = correct.astype(float)
    return lambda W: _ratio(W @ hits, W.sum(axis=1))


def _f1(truth: np.ndarray, pred: np.ndarray) -> Evaluator:
    tp, t, p = ((truth & pred).astype(float), truth.astype(float), pred.astype(float))

    def evaluate(W: np.ndarray) -> np.ndarray:
        den = W @ t + W @ p
        return np.where(den > 0, _ratio(2 * (W @ tp), den), 0.0)  # sklearn: nothing -> 0

    return evaluate


def _macro_f1(truth: np.ndarray, label: np.ndarray) -> Evaluator:
    # Macro average over classes present (in truth or prediction) in each resample, as sklearn.
    codes, classes = pd.factorize(np.concatenate([truth, label]))
    eye = np.eye(len(classes))
    T, P = eye[codes[: len(truth)]], eye[codes[len(truth) :]]
    TP = T * P

    def evaluate(W: np.ndarray) -> np.ndarray:
        den = W @ T + W @ P
        present = den > 0
        f1 = np.where(present, 2 * (W @ TP) / np.where(present, den, 1.0), 0.0)
        return _ratio(f1.sum(axis=1), present.sum(axis=1).astype(float))

    return evaluate


def _regression(metric: str, y: np.ndarray, value: np.ndarray) -> Evaluator:
    err = value - y
    sq, ab = err**2, np.abs(err)
    centred = y - y.mean()  # shift first: avoids cancellation in the weighted variance
    c2 = centred**2
    if metric == "rmse":
        return lambda W: np.sqrt(_ratio(W @ sq, W.sum(axis=1)))
    if metric == "mae":
        return lambda W: _ratio(W @ ab, W.sum(axis=1))

    def r2(W: np.ndarray) -> np.ndarray:
        sst = W @ c2 - _ratio((W @ centred) ** 2, W.sum(axis=1))
        return 1.0 - _ratio(W @ sq, np.where(sst > 0, sst, 0.0))

    return r2


def truth_array(y_true: Any, *, task: str) -> np.ndarray:
    """Targets as the metrics expect them: text labels, or floats for regression."""
    if check_task(task) == "regression":
        return np.asarray(y_true, dtype=float)
    return np.asarray(label_text(y_true), dtype=object)


def metric_batch(metric: str, *, task: str, positive_label: str | None = None) -> BatchMetric:
    """Weighted metric, bound in two steps: ``f(y_true, pred)(W) -> values`` (one per row of W).

    Binding precomputes everything that does not depend on the weights, so a bootstrap pays it
    once. ``y_true`` must already be a ``truth_array``. Raises ValueError for a metric the task
    does not define, or a binary metric without ``positive_label``.
    """
    task = check_task(task)
    if metric not in TASK_METRICS[task]:
        raise ValueError(f"metric {metric!r} is not defined for {task}; use one of {TASK_METRICS[task]}")
    if task == "regression":
        return lambda y, p: _regression(metric, y, np.asarray(p.score, dtype=float))
    if metric == "accuracy":
        return lambda y, p: _accuracy(y == np.asarray(p.label, dtype=object))
    if metric == "macro_f1":
        return lambda y, p: _macro_f1(y, np.asarray(p.label, dtype=object))
    if positive_label is None:
        raise ValueError(f"binary metric {metric!r} needs positive_label")
    if metric == "auc":
        return lambda y, p: _auc(y == positive_label, np.asarray(p.score, dtype=float))
    return lambda y, p: _f1(y == positive_label, np.asarray(p.label, dtype=object) == positive_label)


def metric_fn(metric: str, *, task: str, positive_label: str | None = None) -> MetricFn:
    """Plain metric ``f(y_true, pred) -> float`` (NaN when undefined, e.g. AUC on one class)."""
    batch = metric_batch(metric, task=task, positive_label=positive_label)

    def evaluate(y_true: np.ndarray, pred: Predictions) -> float:
        y = truth_array(y_true, task=task)
        return float(batch(y, pred)(np.ones((1, len(y))))[0])

    return evaluate


def json_float(value: float | None) -> float | None:
    """Plain float, or None for None/NaN/inf."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def compute_metrics(
    y_true: Any,
    pred: Predictions,
    *,
    task: str,
    classes: Sequence[str] = (),
    positive_label: str | None = None,
) -> dict[str, float | None]:
    """All metrics of ``task`` (see ``TASK_METRICS``); undefined values are None.

    ``classes`` is accepted for symmetry with the model; macro F1 averages over classes present.
    """
    y = truth_array(y_true, task=task)
    if len(y) != len(pred):
        raise ValueError(f"{len(y)} targets but {len(pred)} predictions")
    W = np.ones((1, len(y)))
    return {
        name: json_float(metric_batch(name, task=task, positive_label=positive_label)(y, pred)(W)[0])
        for name in TASK_METRICS[check_task(task)]
    }


def baseline_predictions(
    y_train: Any,
    n: int,
    *,
    task: str,
    classes: Sequence[str] | None = None,
    positive_label: str | None = None,
) -> Predictions:
    """The trivial model: the training mean (regression), the training class frequencies with the
    majority label (binary) or labels drawn by those frequencies (multiclass).

    Raises:
        ValueError: no usable training targets, or an unknown positive label.
    """
    y = truth_array(y_train, task=task)
    if task == "regression":
        y = y[np.isfinite(y)]
        if y.size == 0:
            raise ValueError("baseline needs at least one finite training target")
        value = np.full(n, float(y.mean()))
        return Predictions(label=value, score=value.copy(), proba=None)
    if y.size == 0:
        raise ValueError("baseline needs at least one training label")
    names = tuple(classes) if classes else tuple(sorted(set(y)))
    prior = np.array([(y == c).mean() for c in names], dtype=float)
    label = np.full(n, names[int(prior.argmax())], dtype=object)
    if task == "binary":
        positive = positive_label if positive_label is not None else names[-1]
        if positive not in names:
            raise ValueError(f"positive_label {positive!r} not among classes {names}")
        score = np.full(n, prior[names.index(positive)])
    else:
        score = np.full(n, prior.max())
        # Macro-F1 rewards guessing every class: labels drawn (seeded) by the training priors score
        # about 1/K, more than the majority label does, and are the bar a model must clear (a
        # model fitted on shuffled labels does about as well as that, and must not pass).
        label = np.random.default_rng(0).choice(np.array(names, dtype=object), size=n, p=prior)
    return Predictions(label=label, score=score, proba=np.tile(prior, (n, 1)))
