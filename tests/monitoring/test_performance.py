"""Realized metrics against hand-computed numbers, and the label join."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.performance import realized_metrics


def joined_frame(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["role", "model_version", "label", "prediction", "score"])


def test_binary_metrics() -> None:
    joined = joined_frame(
        [
            # champion 3: scores 0.9/0.4 for "yes", 0.6/0.1 for "no" -> 3 of 4 pairs ranked right
            ("champion", "3", "yes", "yes", 0.9),
            ("champion", "3", "yes", "no", 0.4),
            ("champion", "3", "no", "yes", 0.6),
            ("champion", "3", "no", "no", 0.1),
            # challenger 4 only sees positives: AUC undefined
            ("challenger", "4", "yes", "yes", 0.8),
            ("challenger", "4", "yes", "no", 0.3),
        ]
    )
    metrics = realized_metrics(joined, task="binary", positive_label="yes")

    assert metrics["champion:3"] == pytest.approx({"n": 4, "auc": 0.75, "accuracy": 0.5, "f1": 0.5})
    challenger = metrics["challenger:4"]
    assert challenger["auc"] is None
    assert challenger["accuracy"] == pytest.approx(0.5)
    assert challenger["f1"] == pytest.approx(2 / 3)  # TP 1, FN 1, FP 0


def test_multiclass_metrics() -> None:
    joined = joined_frame(
        [
            ("champion", "1", "sun", "sun", 0.7),
            ("champion", "1", "sun", "rain", 0.5),
            ("champion", "1", "rain", "rain", 0.6),
            ("champion", "1", "snow", "snow", 0.9),
        ]
    )
    metrics = realized_metrics(joined, task="multiclass")

    # per-class F1: sun 2/3 (P 1, R 1/2), rain 2/3 (P 1/2, R 1), snow 1
    assert metrics == {"champion:1": pytest.approx({"n": 4, "accuracy": 0.75, "macro_f1": 7 / 9})}


def test_regression_metrics_skip_unparseable_labels() -> None:
    joined = joined_frame(
        [
            ("champion", "2", "1", "1.5", 1.5),
            ("champion", "2", "2", "2", 2.0),
            ("champion", "2", "3", "2", 2.0),
            ("champion", "2", "4", "5", 5.0),
            ("champion", "2", "n/a", "3", 3.0),
        ]
    )
    metrics = realized_metrics(joined, task="regression")["champion:2"]

    # errors 0.5, 0, -1, 1: MAE 2.5/4, MSE 2.25/4, SS_tot 5 -> R² 1 - 2.25/5
    assert metrics == pytest.approx({"n": 4, "rmse": 0.75, "mae": 0.625, "r2": 0.55})


def test_bad_arguments_raise() -> None:
    joined = joined_frame([("champion", "1", "a", "a", 0.5)])
    with pytest.raises(ValueError, match="positive_label"):
        realized_metrics(joined, task="binary")
    with pytest.raises(ValueError, match="task must be one of"):
        realized_metrics(joined, task="ranking")
    with pytest.raises(ValueError, match="missing columns \\['score'\\]"):
        realized_metrics(joined.drop(columns=["score"]), task="multiclass")
