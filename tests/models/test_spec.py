"""Task and feature inference, label normalisation, metric names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.spec import (
    MISSING,
    FeatureSpec,
    higher_is_better,
    infer_features,
    infer_task,
    label_text,
    primary_metric,
)


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (np.random.default_rng(0).normal(size=100), "regression"),
        ([0, 1, 1, 0], "binary"),
        ([True, False, True], "binary"),
        ([0.0, 1.0, np.nan, 1.0], "binary"),
        (["yes", "no", None], "binary"),
        (["a", "b", "c", "a"], "multiclass"),
        ([1, 2, 3, 4, 5, 1], "multiclass"),
        ([1.0, 2.0, 3.0], "multiclass"),
        (list(range(50)), "regression"),
        ([0.5, 1.5, 2.5], "regression"),
    ],
)
def test_infer_task(values: list, task: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == task


def test_infer_task_rejects_degenerate_targets() -> None:
    with pytest.raises(ValueError, match="'y' has 1 distinct"):
        infer_task(pd.Series([3, 3, np.nan], name="y"))
    with pytest.raises(ValueError, match="0 distinct"):
        infer_task(pd.Series([np.nan, np.nan], name="y"))
    with pytest.raises(ValueError, match="max_classes=5"):
        infer_task(pd.Series(list("abcdefg"), name="y"), max_classes=5)


def test_infer_features_by_dtype(frame: pd.DataFrame) -> None:
    spec = infer_features(frame, target="y_bin", id_column="row_id", time_column="ts")
    # other targets are just columns here; datetime columns are never features
    assert spec.numeric == ("x1", "x2", "noise", "code", "y_reg")
    assert spec.categorical == ("color", "flag", "y_multi")
    assert "row_id" not in spec.columns and "ts" not in spec.columns


def test_infer_features_explicit_lists_win(frame: pd.DataFrame) -> None:
    spec = infer_features(frame, target="y_bin", features=["code", "x1", "color"], categorical=["code"])
    assert spec == FeatureSpec(numeric=("x1",), categorical=("code", "color"))
    assert spec.to_dict() == {"numeric": ["x1"], "categorical": ["code", "color"]}


def test_infer_features_category_dtype_and_high_cardinality() -> None:
    df = pd.DataFrame(
        {
            "y": [0, 1] * 10,
            "cat": pd.Categorical(["a", "b"] * 10),
            "free_text": [f"note {i}" for i in range(20)],
        }
    )
    assert infer_features(df, target="y", max_categories=5).categorical == ("cat",)
    # an explicit list keeps the column whatever its cardinality
    explicit = infer_features(df, target="y", features=["free_text"], max_categories=5)
    assert explicit.categorical == ("free_text",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["x1", "nope"]}, "'nope'"),
        ({"categorical": ["missing_col"]}, "'missing_col'"),
        ({"features": ["x1", "y_bin"]}, "target, id or time"),
        ({"features": ["x1"], "categorical": ["color"]}, "not in features"),
        ({"features": ["ts"]}, "datetime"),
    ],
)
def test_infer_features_errors(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        infer_features(frame, target="y_bin", **kwargs)


def test_infer_features_missing_target(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'label'"):
        infer_features(frame, target="label")


def test_label_text_normalises() -> None:
    assert label_text([1.0, 2.0, np.nan]) == ["1", "2", MISSING]
    assert label_text([True, False, None]) == ["True", "False", MISSING]
    assert label_text(np.array([3, 4], dtype=np.int64)) == ["3", "4"]
    assert label_text(pd.Series(["a", None, "b"], dtype="string")) == ["a", MISSING, "b"]
    assert label_text([0.5, "x"]) == ["0.5", "x"]
    assert all(type(t) is str for t in label_text(np.array([1.0, 2.5])))


def test_metric_names() -> None:
    assert [primary_metric(t) for t in ("binary", "multiclass", "regression")] == [
        "auc",
        "macro_f1",
        "rmse",
    ]
    assert higher_is_better("auc") and not higher_is_better("rmse")
    with pytest.raises(ValueError, match="unknown metric 'logloss'"):
        higher_is_better("logloss")
    with pytest.raises(ValueError, match="unknown task"):
        primary_metric("ranking")
