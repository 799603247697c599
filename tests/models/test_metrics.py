"""Metrics agree with scikit-learn, weights reproduce explicit resamples, baselines are trivial."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from models.metrics import (
    TASK_METRICS,
    baseline_predictions,
    compute_metrics,
    metric_batch,
    metric_fn,
    truth_array,
)
from models.train import Predictions

N = 400


def _binary(seed: int = 0) -> tuple[np.ndarray, Predictions]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, N)
    score = np.round(np.clip(0.3 * y + rng.uniform(0, 0.7, N), 0, 1), 1)  # rounded: many ties
    label = np.where(score >= 0.5, "1", "0").astype(object)
    return y, Predictions(label, score, np.column_stack([1 - score, score]))


def _multiclass(seed: int = 0) -> tuple[np.ndarray, Predictions]:
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c", "d"], N, p=[0.5, 0.3, 0.15, 0.05])
    label = np.where(rng.random(N) < 0.6, y, rng.choice(["a", "b", "c", "e"], N)).astype(object)
    return y, Predictions(label, np.ones(N))


def _regression(seed: int = 0) -> tuple[np.ndarray, Predictions]:
    rng = np.random.default_rng(seed)
    y = rng.normal(100, 10, N)
    value = y + rng.normal(0, 3, N)
    return y, Predictions(value, value)


def _sklearn(task: str, y: np.ndarray, p: Predictions) -> dict[str, float]:
    if task == "binary":
        yb = (y == 1).astype(int)
        lb = (p.label == "1").astype(int)
        return {
            "auc": skm.roc_auc_score(yb, p.score),
            "accuracy": skm.accuracy_score(yb, lb),
            "f1": skm.f1_score(yb, lb),
        }
    if task == "multiclass":
        return {
            "accuracy": skm.accuracy_score(y, p.label.astype(str)),
            "macro_f1": skm.f1_score(y, p.label.astype(str), average="macro"),
        }
    return {
        "rmse": skm.root_mean_squared_error(y, p.score),
        "mae": skm.mean_absolute_error(y, p.score),
        "r2": skm.r2_score(y, p.score),
    }


MAKERS = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}


@pytest.mark.parametrize("task", sorted(MAKERS))
def test_compute_metrics_match_sklearn(task: str) -> None:
    y, pred = MAKERS[task]()
    ours = compute_metrics(y, pred, task=task, positive_label="1")
    assert set(ours) == set(TASK_METRICS[task])
    for name, expected in _sklearn(task, y, pred).items():
        assert ours[name] == pytest.approx(expected, abs=1e-12), name
        assert type(ours[name]) is float


@pytest.mark.parametrize("task", sorted(MAKERS))
def test_weights_equal_explicit_resamples(task: str) -> None:
    y, pred = MAKERS[task](1)
    truth = truth_array(y, task=task)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, N, size=(5, N))
    weights = np.stack([np.bincount(d, minlength=N) for d in draws]).astype(float)
    for name in TASK_METRICS[task]:
        batch = metric_batch(name, task=task, positive_label="1")(truth, pred)(weights)
        fn = metric_fn(name, task=task, positive_label="1")
        for i, d in enumerate(draws):
            sub = Predictions(pred.label[d], pred.score[d])
            assert batch[i] == pytest.approx(fn(y[d], sub), abs=1e-12), name


def test_macro_f1_counts_only_classes_present_in_the_resample() -> None:
    y = np.array(["a", "a", "b", "c"])
    pred = Predictions(np.array(["a", "a", "b", "b"], dtype=object), np.ones(4))
    fn = metric_fn("macro_f1", task="multiclass")
    assert fn(y[:2], Predictions(pred.label[:2], pred.score[:2])) == 1.0
    assert fn(y, pred) == pytest.approx(skm.f1_score(y, pred.label.astype(str), average="macro"))


def test_undefined_metrics_are_nan_then_none() -> None:
    y = np.array([1, 1, 1])
    pred = Predictions(np.array(["1", "1", "0"], dtype=object), np.array([0.9, 0.8, 0.1]))
    assert np.isnan(metric_fn("auc", task="binary", positive_label="1")(y, pred))
    assert compute_metrics(y, pred, task="binary", positive_label="1")["auc"] is None
    flat = np.array([2.0, 2.0])
    assert compute_metrics(flat, Predictions(flat, flat), task="regression")["r2"] is None


def test_metric_errors() -> None:
    with pytest.raises(ValueError, match="'rmse' is not defined for binary"):
        metric_fn("rmse", task="binary")
    with pytest.raises(ValueError, match="needs positive_label"):
        metric_fn("auc", task="binary")
    y, pred = _binary()
    with pytest.raises(ValueError, match="400 targets but 3 predictions"):
        compute_metrics(y, Predictions(pred.label[:3], pred.score[:3]), task="binary", positive_label="1")


def test_baselines_are_the_trivial_model() -> None:
    y_train = np.array([0, 0, 0, 1])
    base = baseline_predictions(y_train, 6, task="binary", positive_label="1")
    assert list(base.label) == ["0"] * 6
    np.testing.assert_allclose(base.score, 0.25)
    assert base.proba is not None
    np.testing.assert_allclose(base.proba, np.array([[0.75, 0.25]] * 6))
    y, _ = _binary()
    auc = compute_metrics(
        y, baseline_predictions(y, N, task="binary", positive_label="1"), task="binary", positive_label="1"
    )
    assert auc["auc"] == 0.5

    multi = baseline_predictions(["a", "b", "b"], 2, task="multiclass", classes=("a", "b", "c"))
    assert multi.proba is not None
    np.testing.assert_allclose(multi.proba, np.array([[1 / 3, 2 / 3, 0.0]] * 2))
    assert set(multi.label) <= {"a", "b"} and multi.score[0] == pytest.approx(2 / 3)  # never "c"
    # Multiclass labels are drawn by the priors (seeded): macro-F1 near 1/K, above the majority's.
    rng = np.random.default_rng(1)
    y10 = rng.choice([str(k) for k in range(10)], size=2000)
    drawn = baseline_predictions(y10, 2000, task="multiclass")
    assert drawn.label.tolist() == baseline_predictions(y10, 2000, task="multiclass").label.tolist()
    f1 = compute_metrics(y10, drawn, task="multiclass", classes=tuple(sorted(set(y10))))["macro_f1"]
    assert 0.07 < f1 < 0.13  # ~1/10, where always naming the majority class scores ~0.02

    reg = baseline_predictions([1.0, 2.0, np.nan, 6.0], 3, task="regression")
    np.testing.assert_allclose(reg.score, 3.0)
    with pytest.raises(ValueError, match="at least one finite"):
        baseline_predictions([np.nan], 3, task="regression")
