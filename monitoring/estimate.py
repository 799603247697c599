"""Performance before labels arrive: confidence-based performance estimation (CBPE).

A classifier whose probabilities are *calibrated* tells how often it is right: of the rows it
scores 0.9, about 90% are positive. So a batch's confusion matrix can be *expected* from the
probabilities alone, and any metric built on it estimated, before a single label exists (the CBPE
method of NannyML). Calibration is learned once, at training time, on the candidate's holdout
(`fit_calibration`); it is a monotone map per class, saved as JSON next to the model.

What is estimated (`estimate_metric`):

* **binary** ``accuracy``, ``f1``, ``precision``, ``recall``: the expected confusion matrix. The
  model's own label is kept (positive when its raw score is above ``threshold``); a row predicted
  positive with calibrated probability q adds q to TP and 1-q to FP, a row predicted negative
  adds q to FN and 1-q to TN.
* **binary** ``auc``: rows ranked by the raw score, the calibrated probabilities used as soft
  labels (NannyML's CBPE ROC AUC): the expected number of correctly ordered positive/negative
  pairs over the expected number of pairs, ties counted half, a row never paired with itself.
* **multiclass** ``accuracy`` and ``macro_f1``: the calibrated class probabilities (one-vs-rest,
  renormalised) give each class's expected TP, FP and FN against the model's argmax label;
  macro-F1 averages the classes the batch is expected to hold or is predicted to hold.
* **regression**: nothing. A point regressor carries no confidence: the size of its error on a
  row is not in its output, so an RMSE estimate would need a second model of the error (NannyML's
  DLE) or a predictive distribution, and would be a guess about exactly the rows that drifted.
  The estimate is an explicit "not estimated" with that reason.

The estimate is only as good as the calibration: it holds under covariate shift (P(y|x) kept) and
fails silently under concept drift (P(y|x) changed), which only the labels reveal. That is why
the realized value and the estimate's error are logged side by side once labels land.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ISOTONIC_MIN_ROWS = 200
"""Below this many holdout rows isotonic regression overfits its steps: Platt scaling instead."""
CALIBRATION_FORMAT = 1
CALIBRATION_ARTIFACT = "estimate/calibration.json"  # on the model version's MLflow run
ESTIMABLE: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "accuracy", "f1", "precision", "recall"),
    "multiclass": ("accuracy", "macro_f1"),
    "regression": (),
}
NOT_ESTIMATED = "not_estimated"
REGRESSION_NOTE = (
    "regression metrics are not estimated: a point prediction carries no confidence, so the error "
    "of an unlabeled row is unknown without a second model of the error"
)
_EPS = 1e-6
_CURVES = ("isotonic", "sigmoid", "identity")


@dataclass(frozen=True)
class Curve:
    """A monotone map from a raw class probability to a calibrated one.

    ``isotonic``: piecewise linear through (``x``, ``y``), the fitted ``X_thresholds_`` and
    ``y_thresholds_``, flat beyond the ends; ``sigmoid``: ``1 / (1 + exp(-(a * logit(p) + b)))``;
    ``identity``: the raw probability.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw probabilities ``p``."""
        p = np.asarray(p, dtype=float)
        if self.method == "isotonic":
            return np.interp(p, np.asarray(self.x), np.asarray(self.y))
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))
        return p.copy()

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": self.method, "X_thresholds_": list(self.x), "y_thresholds_": list(self.y)}
        if self.method == "sigmoid":
            return {"method": self.method, "a": self.a, "b": self.b}
        return {"method": self.method}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Curve:
        method = raw.get("method")
        if method not in _CURVES:
            raise ValueError(f"calibration curve: method must be one of {_CURVES}, got {method!r}")
        if method == "isotonic":
            x, y = (tuple(float(v) for v in raw.get(k) or ()) for k in ("X_thresholds_", "y_thresholds_"))
            if not x or len(x) != len(y) or any(b < a for a, b in zip(x, x[1:], strict=False)):
                raise ValueError(
                    "calibration curve: X_thresholds_ and y_thresholds_ must be non-empty, of equal "
                    f"length, X increasing; got {len(x)} and {len(y)} values"
                )
            return cls(method, x, y)
        if method == "sigmoid":
            return cls(method, a=float(raw["a"]), b=float(raw["b"]))
        return cls(method)


@dataclass(frozen=True)
class Calibration:
    """Per-class calibration of one model, fitted on its holdout.

    ``curves`` has one curve for binary (it maps P(``classes[-1]``), the positive class) and one
    per class, in ``classes`` order, for multiclass.
    """

    task: str
    classes: tuple[str, ...]
    curves: tuple[Curve, ...]
    rows: int
    note: str = ""

    @property
    def method(self) -> str:
        """The curves' method, or ``mixed`` when classes differ (an absent class stays raw)."""
        methods = {c.method for c in self.curves}
        return methods.pop() if len(methods) == 1 else "mixed"

    def calibrate(self, probabilities: Any) -> np.ndarray:
        """Calibrated P(positive) (binary, shape n) or class probabilities (multiclass, n x K)."""
        p = _probabilities(probabilities, task=self.task, classes=self.classes)
        if self.task == "binary":
            return np.clip(self.curves[0].apply(p), 0.0, 1.0)
        q = np.clip(np.column_stack([c.apply(p[:, k]) for k, c in enumerate(self.curves)]), 0.0, 1.0)
        total = q.sum(axis=1, keepdims=True)
        # A row every curve maps to 0 keeps its raw probabilities rather than dividing by zero.
        q = np.where(total > 0, q, p)
        return q / q.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict (the MLflow artifact ``estimate/calibration.json``)."""
        return {
            "format": CALIBRATION_FORMAT,
            "task": self.task,
            "classes": list(self.classes),
            "rows": self.rows,
            "method": self.method,
            "note": self.note,
            "curves": [c.to_dict() for c in self.curves],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        """The calibration `to_dict` wrote.

        Raises:
            ValueError: another format, an unknown task, or curves that do not fit the classes.
        """
        if raw.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"calibration: format must be {CALIBRATION_FORMAT}, got {raw.get('format')!r}")
        task, classes = raw.get("task"), tuple(str(c) for c in raw.get("classes") or ())
        if task not in ("binary", "multiclass"):
            raise ValueError(f"calibration: task must be binary or multiclass, got {task!r}")
        curves = tuple(Curve.from_dict(c) for c in raw.get("curves") or ())
        expected = 1 if task == "binary" else len(classes)
        if len(classes) < 2 or len(curves) != expected:
            raise ValueError(
                f"calibration: a {task} calibration over {len(classes)} classes needs {expected} "
                f"curve(s), got {len(curves)}"
            )
        return cls(task, classes, curves, int(raw.get("rows", 0)), str(raw.get("note", "")))


@dataclass(frozen=True)
class Estimate:
    """An estimated metric of one batch; ``value`` None when it cannot be estimated (``note``)."""

    value: float | None
    metric: str
    n: int
    method: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric": self.metric,
            "n": self.n,
            "method": self.method,
            "note": self.note,
        }


def fit_calibration(
    holdout_scores: Any,
    holdout_labels: Sequence[str] | np.ndarray,
    *,
    task: str,
    classes: Sequence[str],
    min_isotonic_rows: int = ISOTONIC_MIN_ROWS,
) -> Calibration:
    """Learn how the model's probabilities map to observed frequencies on its holdout.

    Isotonic regression per class (one-vs-rest for multiclass), Platt scaling on the logit when the
    holdout has fewer than ``min_isotonic_rows`` rows; a class the holdout never (or always) holds
    keeps its raw probability, and the note says so. Multiclass holdout rows whose label the model
    never saw (a class new in the newest batches) count as a miss for every class it knows.

    Args:
        holdout_scores: binary: P(positive) per row, the positive class being ``classes[-1]``;
            multiclass: rows x classes probabilities, columns in ``classes`` order.
        holdout_labels: the true labels as text (as ``models.spec.label_text`` gives them).
        task: ``binary`` or ``multiclass``.
        classes: the model's classes (sorted text, as `TrainedModel.classes`).

    Raises:
        ValueError: regression, a shape that does not fit the classes, non-finite scores, or a
            binary label outside ``classes`` (naming it).
    """
    classes = tuple(str(c) for c in classes)
    p = _probabilities(holdout_scores, task=task, classes=classes)
    labels = np.asarray([str(v) for v in holdout_labels], dtype=object)
    if len(labels) != len(p):
        raise ValueError(f"{len(p)} holdout scores but {len(labels)} labels")
    unknown = sorted(set(labels) - set(classes))
    if unknown and task == "binary":
        raise ValueError(f"holdout label(s) {unknown[:3]} not among the model's classes {classes}")
    method = "isotonic" if len(p) >= min_isotonic_rows else "sigmoid"
    targets = [classes[-1]] if task == "binary" else list(classes)
    columns = [p] if task == "binary" else [p[:, k] for k in range(len(classes))]
    curves, raw = [], []
    for name, column in zip(targets, columns, strict=True):
        hit = (labels == name).astype(float)
        if 0 < hit.sum() < len(hit):
            curves.append(_fit_curve(column, hit, method=method))
        else:
            curves.append(Curve("identity"))
            raw.append(name)
    note = f"{method} on {len(p):,} holdout rows"
    if unknown:
        new = int(np.isin(labels, unknown).sum())
        note += f"; {new:,} of them hold class(es) the model never saw ({', '.join(unknown[:3])}): misses"
    if raw:
        note += f"; class(es) {', '.join(raw)} never or always in the holdout: raw probabilities kept"
    return Calibration(task, classes, tuple(curves), len(p), note)


def identity_calibration(*, task: str, classes: Sequence[str]) -> Calibration:
    """No calibration: the raw probabilities taken at their word (for comparison, and tests)."""
    classes = tuple(str(c) for c in classes)
    count = 1 if task == "binary" else len(classes)
    return Calibration(task, classes, (Curve("identity"),) * count, 0, "raw probabilities")


def estimate_metric(
    calibration: Calibration | None,
    probabilities: Any,
    *,
    task: str,
    metric: str,
    classes: Sequence[str],
    threshold: float = 0.5,
) -> Estimate:
    """The expected value of ``metric`` on a batch from the model's probabilities alone.

    Args:
        calibration: the serving model's calibration; None (a model without one, e.g. the trivial
            baseline) gives an estimate without a value.
        probabilities: as `fit_calibration`'s ``holdout_scores``, for the batch's rows.
        task, metric, classes: the project's task, metric name (see ``ESTIMABLE``) and the model's
            classes.
        threshold: binary: a row is predicted positive when its raw score is above it (0.5: the
            model's own argmax label).

    Returns:
        An `Estimate`; ``value`` None, with the reason in ``note``, for regression, an empty
        batch, a missing calibration or an undefined metric (e.g. AUC when no negative is expected).

    Raises:
        ValueError: a metric the task does not estimate, or a calibration of other classes.
    """
    if task == "regression":
        return Estimate(None, metric, _rows(probabilities), NOT_ESTIMATED, REGRESSION_NOTE)
    if task not in ESTIMABLE:
        raise ValueError(f"task must be one of {tuple(ESTIMABLE)}, got {task!r}")
    if metric not in ESTIMABLE[task]:
        raise ValueError(f"metric {metric!r} is not estimated for {task}; use one of {ESTIMABLE[task]}")
    classes = tuple(str(c) for c in classes)
    if calibration is None:
        return Estimate(None, metric, _rows(probabilities), NOT_ESTIMATED, "the model has no calibration")
    if calibration.task != task or calibration.classes != classes:
        raise ValueError(
            f"the calibration is for a {calibration.task} model over {calibration.classes}, "
            f"not {task} over {classes}"
        )
    raw = _probabilities(probabilities, task=task, classes=classes)
    method = f"cbpe/{calibration.method}"
    if len(raw) == 0:
        return Estimate(None, metric, 0, method, "no rows")
    q = calibration.calibrate(raw)
    if task == "binary":
        value = _binary(metric, raw=raw, q=q, threshold=threshold)
    else:
        value = _multiclass(metric, raw=raw, q=q)
    if value is None or not math.isfinite(value):
        return Estimate(None, metric, len(raw), method, f"{metric} undefined on this batch's expected labels")
    return Estimate(float(value), metric, len(raw), method, calibration.note)


def side_by_side(metric: str, *, estimated: float | None, realized: float | None) -> dict[str, float | None]:
    """Monitoring metrics for one batch: ``estimated_<m>``, ``realized_<m>`` and, when both exist,
    ``estimate_error_<m>`` (estimated minus realized: positive means the estimate was optimistic
    for a higher-is-better metric)."""
    out: dict[str, float | None] = {}
    if estimated is not None:
        out[f"estimated_{metric}"] = float(estimated)
    if realized is not None:
        out[f"realized_{metric}"] = float(realized)
    if estimated is not None and realized is not None:
        out[f"estimate_error_{metric}"] = float(estimated) - float(realized)
    return out


def _binary(metric: str, *, raw: np.ndarray, q: np.ndarray, threshold: float) -> float | None:
    if metric == "auc":
        return _soft_auc(raw, q)
    predicted = raw > threshold
    tp, fp = q[predicted].sum(), (1.0 - q[predicted]).sum()
    fn, tn = q[~predicted].sum(), (1.0 - q[~predicted]).sum()
    if metric == "accuracy":
        return float((tp + tn) / len(q))
    if metric == "precision":
        return float(tp / (tp + fp)) if predicted.any() else None
    if metric == "recall":
        return float(tp / (tp + fn)) if tp + fn > 0 else None
    den = 2 * tp + fp + fn
    return float(2 * tp / den) if den > 0 else 0.0  # as sklearn: nothing to find, nothing found -> 0


def _soft_auc(raw: np.ndarray, q: np.ndarray) -> float | None:
    # Mann-Whitney over the raw ranking with soft labels, grouping equal raw scores as ties (the
    # realized AUC does the same): E[correctly ordered pairs] / E[positive-negative pairs].
    order = np.argsort(raw, kind="mergesort")
    s, pos = raw[order], q[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    gp = np.add.reduceat(pos, starts)
    gn = np.add.reduceat(1.0 - pos, starts)
    below = np.cumsum(gn) - gn
    self_pairs = float((q * (1.0 - q)).sum())  # a row is never both the positive and the negative
    num = float((gp * (below + 0.5 * gn)).sum()) - 0.5 * self_pairs
    den = float(q.sum() * (1.0 - q).sum()) - self_pairs
    return num / den if den > _EPS else None


def _multiclass(metric: str, *, raw: np.ndarray, q: np.ndarray) -> float | None:
    predicted = np.eye(raw.shape[1], dtype=bool)[raw.argmax(axis=1)]
    if metric == "accuracy":
        return float(q[predicted].mean())
    tp = np.where(predicted, q, 0.0).sum(axis=0)
    fp = np.where(predicted, 1.0 - q, 0.0).sum(axis=0)
    fn = np.where(predicted, 0.0, q).sum(axis=0)
    # As the realized macro-F1: average over classes present, here predicted at least once or
    # expected at least once (expected support >= 1 row).
    present = predicted.any(axis=0) | (q.sum(axis=0) >= 1.0)
    den = 2 * tp + fp + fn
    f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), 0.0)
    return float(f1[present].mean()) if present.any() else None


def _fit_curve(p: np.ndarray, hit: np.ndarray, *, method: str) -> Curve:
    if method == "isotonic":
        # Deferred: scikit-learn loads only when a calibration is fitted.
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(p, hit)
        return Curve("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    # Deferred: scikit-learn loads only when a calibration is fitted.
    from sklearn.linear_model import LogisticRegression

    # Platt's smoothed targets keep a small holdout from claiming certainty: each row is entered as
    # a positive with weight t and a negative with weight 1 - t.
    n_pos, n_neg = hit.sum(), len(hit) - hit.sum()
    t = np.where(hit > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    z = _logit(p).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1_000).fit(
        np.vstack([z, z]), np.r_[np.ones(len(z)), np.zeros(len(z))], sample_weight=np.r_[t, 1 - t]
    )
    return Curve("sigmoid", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _rows(probabilities: Any) -> int:
    return 0 if probabilities is None else len(probabilities)


def _probabilities(values: Any, *, task: str, classes: tuple[str, ...]) -> np.ndarray:
    if task not in ("binary", "multiclass"):
        raise ValueError(f"calibration is for binary or multiclass tasks, got {task!r}")
    if len(classes) < 2 or (task == "binary" and len(classes) != 2):
        need = "2" if task == "binary" else "2 or more"
        raise ValueError(f"a {task} model needs {need} classes, got {classes}")
    p = np.asarray(values, dtype=float)
    if task == "binary" and p.ndim != 1:
        raise ValueError(f"binary probabilities are one P(positive) per row, got shape {p.shape}")
    if task == "multiclass" and (p.ndim != 2 or p.shape[1] != len(classes)):
        raise ValueError(
            f"multiclass probabilities need one column per class ({len(classes)}), got shape {p.shape}"
        )
    if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must be finite and within [0, 1]")
    return p
