"""CBPE: estimates against realized metrics on streams whose true P(y|x) is known by construction."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from monitoring.estimate import (
    NOT_ESTIMATED,
    Calibration,
    _soft_auc,
    estimate_metric,
    fit_calibration,
    identity_calibration,
    side_by_side,
)

BINARY = ("0", "1")
THREE = ("a", "b", "c")
SEEDS = range(20)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def truthful(p: np.ndarray) -> np.ndarray:
    return p


def overconfident(p: np.ndarray) -> np.ndarray:
    """A model that ranks rows right but claims too much, and leans positive."""
    return sigmoid(2.5 * np.log(p / (1 - p)) + 0.7)


def stream(rng: np.random.Generator, n: int, *, loc: float = 0.0, scale: float = 1.0) -> tuple:
    """x ~ N(loc, scale); P(y=1|x) = sigmoid(2x - 0.5) whatever the shift; y ~ Bernoulli(p)."""
    p = sigmoid(2 * rng.normal(loc, scale, n) - 0.5)
    return p, np.where(rng.random(n) < p, "1", "0")


def realized(metric: str, y: np.ndarray, score: np.ndarray) -> float:
    if metric == "auc":
        return float(roc_auc_score(y == "1", score))
    label = np.where(score > 0.5, "1", "0")
    if metric == "accuracy":
        return float(accuracy_score(y, label))
    return float(f1_score(y == "1", label == "1"))


def errors(
    metric: str,
    *,
    model: Callable[[np.ndarray], np.ndarray] = truthful,
    holdout_rows: int = 2_000,
    loc: float = 0.0,
    scale: float = 1.0,
    calibrated: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: (estimate - realized) on a 2,000-row batch, and the realized value."""
    err, real = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        p, y = stream(rng, holdout_rows)
        calibration = (
            fit_calibration(model(p), y, task="binary", classes=BINARY)
            if calibrated
            else identity_calibration(task="binary", classes=BINARY)
        )
        p, y = stream(rng, 2_000, loc=loc, scale=scale)
        score = model(p)
        estimate = estimate_metric(calibration, score, task="binary", metric=metric, classes=BINARY)
        assert estimate.value is not None and estimate.n == 2_000
        real.append(realized(metric, y, score))
        err.append(estimate.value - real[-1])
    return np.asarray(err), np.asarray(real)


@pytest.mark.parametrize("metric", ["auc", "accuracy", "f1"])
def test_calibrated_probabilities_estimate_the_realized_metric(metric: str) -> None:
    err, _ = errors(metric)

    # measured: mean error +0.008 (AUC), +0.004 (accuracy), +0.005 (F1); worst seed 0.029:
    # isotonic fitted on 2,000 rows is a little optimistic
    assert abs(err.mean()) < 0.01
    assert np.abs(err).max() < 0.05


@pytest.mark.parametrize("metric", ["auc", "accuracy"])
def test_the_estimate_follows_a_covariate_shift_that_keeps_p_y_given_x(metric: str) -> None:
    before_err, before = errors(metric, model=overconfident)
    after_err, after = errors(metric, model=overconfident, scale=0.35)  # rows crowd the boundary

    drop = before.mean() - after.mean()
    estimated_drop = (before + before_err).mean() - (after + after_err).mean()
    # measured: AUC 0.860 -> 0.679, estimated drop 0.188; accuracy 0.778 -> 0.645, estimated 0.135
    assert drop > 0.08  # the shift really costs the model
    assert abs(estimated_drop - drop) < 0.02
    assert abs(after_err.mean()) < 0.015


@pytest.mark.parametrize("metric", ["auc", "accuracy", "f1"])
def test_a_miscalibrated_models_raw_estimate_is_worse_than_the_calibrated_one(metric: str) -> None:
    raw, _ = errors(metric, model=overconfident, calibrated=False)
    calibrated, _ = errors(metric, model=overconfident)

    # measured mean |error|: raw 0.10-0.14, calibrated 0.008-0.010
    assert np.abs(calibrated).mean() < 0.02
    assert np.abs(raw).mean() > 4 * np.abs(calibrated).mean()


def test_a_small_holdout_is_calibrated_with_platt_scaling() -> None:
    rng = np.random.default_rng(0)
    p, y = stream(rng, 150)
    small = fit_calibration(overconfident(p), y, task="binary", classes=BINARY)
    p, y = stream(rng, 200)
    large = fit_calibration(overconfident(p), y, task="binary", classes=BINARY)

    assert (small.method, large.method) == ("sigmoid", "isotonic")
    assert small.note == "sigmoid on 150 holdout rows"
    err, _ = errors("accuracy", model=overconfident, holdout_rows=150)
    assert np.abs(err).mean() < 0.03  # measured 0.021


def multiclass_stream(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> tuple:
    """Three classes, true logits W x; the model's probabilities are softmax(1.8 W x)."""
    weights = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    logits = rng.normal((shift, 0.0), 1.0, (n, 2)) @ weights.T

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    truth = softmax(logits).cumsum(axis=1)
    y = np.asarray(THREE, dtype=object)[(rng.random(n)[:, None] > truth).sum(axis=1)]
    return softmax(1.8 * logits), y


@pytest.mark.parametrize("metric", ["macro_f1", "accuracy"])
def test_multiclass_estimate_is_close_to_the_realized_value(metric: str) -> None:
    err: list[float] = []
    raw_err: list[float] = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        proba, y = multiclass_stream(rng, 3_000)
        calibration = fit_calibration(proba, y, task="multiclass", classes=THREE)
        proba, y = multiclass_stream(rng, 2_000, shift=0.8)
        label = np.asarray(THREE, dtype=object)[proba.argmax(axis=1)]
        real = f1_score(y, label, average="macro") if metric == "macro_f1" else accuracy_score(y, label)
        for calib, out in (
            (calibration, err),
            (identity_calibration(task="multiclass", classes=THREE), raw_err),
        ):
            value = estimate_metric(calib, proba, task="multiclass", metric=metric, classes=THREE).value
            assert value is not None
            out.append(value - real)

    # measured mean |error|: macro-F1 0.011 calibrated, 0.097 raw; accuracy 0.010 and 0.080
    assert np.abs(err).mean() < 0.02
    assert np.abs(raw_err).mean() > 4 * np.abs(err).mean()


def test_macro_f1_averages_only_the_classes_a_batch_is_expected_to_hold() -> None:
    # class c: never predicted, 0.1 expected rows in all; as the realized macro-F1, it is left out
    proba = np.array([[0.899, 0.1, 0.001], [0.1, 0.899, 0.001]] * 50)
    calibration = identity_calibration(task="multiclass", classes=THREE)

    value = estimate_metric(calibration, proba, task="multiclass", metric="macro_f1", classes=THREE).value

    assert value == pytest.approx(2 * 44.95 / (2 * 44.95 + 50 * 0.101 + 50 * 0.1))


def test_soft_auc_with_hard_labels_is_the_realized_auc_ties_included() -> None:
    rng = np.random.default_rng(3)
    score = np.round(rng.random(500), 1)  # many ties
    y = (rng.random(500) < score).astype(float)

    assert _soft_auc(score, y) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_calibration_round_trips_through_json() -> None:
    rng = np.random.default_rng(1)
    p, y = stream(rng, 1_000)
    proba, labels = multiclass_stream(rng, 1_000)
    for calibration, batch in (
        (fit_calibration(overconfident(p), y, task="binary", classes=BINARY), overconfident(p)),
        (fit_calibration(proba, labels, task="multiclass", classes=THREE), proba),
    ):
        payload = json.loads(json.dumps(calibration.to_dict(), allow_nan=False))
        back = Calibration.from_dict(payload)

        assert back == calibration
        assert np.array_equal(back.calibrate(batch), calibration.calibrate(batch))
        assert set(payload["curves"][0]) == {"method", "X_thresholds_", "y_thresholds_"}

    payload["curves"] = payload["curves"][:2]
    with pytest.raises(ValueError, match="needs 3 curve"):
        Calibration.from_dict(payload)
    with pytest.raises(ValueError, match="format must be 1"):
        Calibration.from_dict({**payload, "format": 2})


def test_a_class_absent_from_the_holdout_keeps_its_raw_probability() -> None:
    rng = np.random.default_rng(2)
    proba, labels = multiclass_stream(rng, 600)
    labels[labels == "c"] = "a"

    calibration = fit_calibration(proba, labels, task="multiclass", classes=THREE)

    assert [c.method for c in calibration.curves] == ["isotonic", "isotonic", "identity"]
    assert calibration.method == "mixed"
    assert "class(es) c never or always in the holdout" in calibration.note


def test_regression_and_missing_calibration_are_explicitly_not_estimated() -> None:
    regression = estimate_metric(None, np.zeros(40), task="regression", metric="rmse", classes=())
    missing = estimate_metric(None, np.full(40, 0.3), task="binary", metric="auc", classes=BINARY)
    certain = estimate_metric(
        identity_calibration(task="binary", classes=BINARY),
        np.ones(40),
        task="binary",
        metric="auc",
        classes=BINARY,
    )

    assert (regression.value, regression.method, regression.n) == (None, NOT_ESTIMATED, 40)
    assert "point prediction carries no confidence" in regression.note
    assert (missing.value, missing.note) == (None, "the model has no calibration")
    assert certain.value is None and certain.note == "auc undefined on this batch's expected labels"


def test_inputs_are_checked_at_the_boundary() -> None:
    calibration = identity_calibration(task="binary", classes=BINARY)
    with pytest.raises(ValueError, match="not among the model's classes"):
        fit_calibration(np.full(4, 0.5), ["0", "1", "2", "1"], task="binary", classes=BINARY)
    with pytest.raises(ValueError, match="one column per class"):
        fit_calibration(np.full((4, 2), 0.5), ["a"] * 4, task="multiclass", classes=THREE)
    with pytest.raises(ValueError, match="not estimated for binary"):
        estimate_metric(calibration, np.full(4, 0.5), task="binary", metric="rmse", classes=BINARY)
    with pytest.raises(ValueError, match="calibration is for a binary model"):
        estimate_metric(calibration, np.full(4, 0.5), task="binary", metric="auc", classes=("no", "yes"))
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        estimate_metric(calibration, np.full(4, 1.5), task="binary", metric="auc", classes=BINARY)


def test_side_by_side_names_the_estimate_the_realized_value_and_the_error() -> None:
    assert side_by_side("auc", estimated=0.74, realized=0.70) == pytest.approx(
        {"estimated_auc": 0.74, "realized_auc": 0.70, "estimate_error_auc": 0.04}
    )
    assert side_by_side("auc", estimated=0.74, realized=None) == {"estimated_auc": 0.74}
    assert side_by_side("auc", estimated=None, realized=None) == {}


def test_a_class_the_model_never_saw_in_a_multiclass_holdout_counts_as_a_miss() -> None:
    """A drifting multiclass stream: the newest batches hold a class the training window did not.
    The calibration still fits (those rows are misses for every known class) and says so."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=300)
    labels = np.array([THREE[k] for k in p.argmax(axis=1)], dtype=object)
    labels[:30] = "new"
    fitted = fit_calibration(p, labels, task="multiclass", classes=THREE)
    assert "30 of them hold class(es) the model never saw (new): misses" in fitted.note
    without = fit_calibration(p[30:], labels[30:], task="multiclass", classes=THREE)
    estimate = estimate_metric(fitted, p, task="multiclass", metric="accuracy", classes=THREE)
    plain = estimate_metric(without, p, task="multiclass", metric="accuracy", classes=THREE)
    assert estimate.value is not None and plain.value is not None
    assert estimate.value < plain.value  # the unseen class's rows lowered the calibrated confidence
