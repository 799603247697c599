"""Every task x estimator trains, predicts text labels, and survives a skops round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.spec import infer_features
from models.train import (
    ESTIMATORS,
    TrainedModel,
    build_pipeline,
    fit_model,
    pipeline_spec,
    predict,
    prepare_features,
    skops_trusted_types,
)
from tests.models.conftest import FEATURES

TARGETS = {"binary": "y_bin", "multiclass": "y_multi", "regression": "y_reg"}
FAST = {"random_forest": {"n_estimators": 20}, "hist_gradient_boosting": {"max_iter": 30}}


def _fit(frame: pd.DataFrame, task: str, estimator: str) -> TrainedModel:
    target = TARGETS[task]
    spec = infer_features(frame, target=target, features=FEATURES, categorical=["code"])
    return fit_model(
        frame,
        target=target,
        spec=spec,
        task=task,  # type: ignore[arg-type]
        estimator=estimator,
        params=FAST.get(estimator),
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("task", sorted(TARGETS))
def test_train_predict_round_trip(
    frame: pd.DataFrame, holdout: pd.DataFrame, task: str, estimator: str
) -> None:
    import skops.io as sio

    model = _fit(frame, task, estimator)
    pred = predict(model, holdout)
    assert len(pred) == len(holdout)
    if task == "regression":
        assert model.classes == () and model.positive_label is None and pred.proba is None
        assert pred.label.dtype == float and np.array_equal(pred.label, pred.score)
        assert np.corrcoef(pred.score, holdout["y_reg"])[0, 1] > 0.8
    else:
        assert all(type(v) is str for v in pred.label)
        assert pred.proba is not None
        assert set(pred.label) <= set(model.classes)
        assert pred.proba.shape == (len(holdout), len(model.classes))
        np.testing.assert_allclose(pred.proba.sum(axis=1), 1.0)
        picked = np.asarray(model.classes, dtype=object)[pred.proba.argmax(axis=1)]
        assert np.array_equal(pred.label, picked)
    if task == "binary":
        assert model.classes == ("0", "1") and model.positive_label == "1"
        assert pred.proba is not None
        np.testing.assert_allclose(pred.score, pred.proba[:, 1])
    if task == "multiclass":
        assert model.classes == ("high", "low", "mid") and pred.proba is not None
        np.testing.assert_allclose(pred.score, pred.proba.max(axis=1))

    blob = sio.dumps(model.pipeline)
    assert set(sio.get_untrusted_types(data=blob)) == set(skops_trusted_types(estimator))
    loaded = sio.loads(blob, trusted=skops_trusted_types(estimator))
    again = predict(loaded, holdout, task=task, classes=model.classes or None)  # type: ignore[arg-type]
    assert np.array_equal(again.label, pred.label)
    np.testing.assert_allclose(again.score, pred.score)


def test_pipeline_outputs_named_frames(frame: pd.DataFrame) -> None:
    model = _fit(frame, "binary", "linear")
    transformed = model.pipeline[:-1].transform(prepare_features(frame, model.spec))
    assert isinstance(transformed, pd.DataFrame)
    assert "numeric__x1" in transformed.columns
    assert any(c.startswith("categorical__color_") for c in transformed.columns)
    assert not transformed.isna().any().any()
    assert pipeline_spec(model.pipeline) == model.spec


def test_serving_quirks_do_not_change_predictions(frame: pd.DataFrame, holdout: pd.DataFrame) -> None:
    model = _fit(frame, "binary", "hist_gradient_boosting")
    base = predict(model, holdout)
    drifted = holdout.copy()
    drifted["code"] = drifted["code"].astype(float)  # int codes arriving as floats (NaN elsewhere)
    drifted["flag"] = drifted["flag"].astype(object)
    assert np.allclose(predict(model, drifted).score, base.score)
    novel = holdout.copy()
    novel.loc[novel.index[:5], "color"] = "never-seen"
    novel.loc[novel.index[5:10], "x2"] = np.nan
    assert np.isfinite(predict(model, novel).score).all()


def test_bool_target_and_explicit_positive_label() -> None:
    from tests.models.conftest import make_frame

    df = make_frame(2, rows=200)
    df["late"] = df["y_bin"].astype(bool)
    spec = infer_features(df, target="late", features=["x1", "color"])
    model = fit_model(df, target="late", spec=spec, task="binary", params={"max_iter": 20})
    assert model.classes == ("False", "True") and model.positive_label == "True"
    flipped = fit_model(
        df, target="late", spec=spec, task="binary", params={"max_iter": 20}, positive_label="False"
    )
    np.testing.assert_allclose(predict(flipped, df).score, 1 - predict(model, df).score)
    assert model.to_dict()["classes"] == ["False", "True"]


def test_missing_target_rows_are_dropped(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df["y_multi"] = df["y_multi"].astype(object)
    df.loc[df.index[:50], "y_multi"] = None
    spec = infer_features(df, target="y_multi", features=["x2"])
    model = fit_model(df, target="y_multi", spec=spec, task="multiclass", estimator="linear")
    assert model.classes == ("high", "low", "mid")


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        ("one_class", {}, "one class"),
        ("three_classes", {}, "binary task but"),
        (None, {"positive_label": "yes"}, "positive_label 'yes'"),
        (None, {"estimator": "xgboost"}, "allowed: hist_gradient_boosting, random_forest, linear"),
        (None, {"target": "nope"}, "'nope' not in frame"),
        ("no_labels", {}, "no rows with a value"),
    ],
)
def test_fit_model_errors(frame: pd.DataFrame, change: str | None, kwargs: dict, message: str) -> None:
    df = frame.copy()
    if change == "one_class":
        df["y_bin"] = 1
    elif change == "three_classes":
        df["y_bin"] = np.arange(len(df)) % 3
    elif change == "no_labels":
        df["y_bin"] = np.nan
    spec = infer_features(frame, target="y_bin", features=["x1", "color"])
    with pytest.raises(ValueError, match=message):
        fit_model(df, **{"target": "y_bin", "spec": spec, "task": "binary", **kwargs})


def test_predict_errors(frame: pd.DataFrame) -> None:
    model = _fit(frame, "binary", "linear")
    with pytest.raises(ValueError, match="task is required"):
        predict(model.pipeline, frame)
    with pytest.raises(ValueError, match="do not match"):
        predict(model.pipeline, frame, task="binary", classes=("no", "yes"))
    with pytest.raises(ValueError, match="'color'"):
        predict(model, frame.drop(columns=["color"]))


def test_build_pipeline_rejects_bad_names(frame: pd.DataFrame) -> None:
    spec = infer_features(frame, target="y_bin", features=["x1"])
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        build_pipeline(spec=spec, task="ranking")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown estimator 'svm'"):
        build_pipeline(spec=spec, task="binary", estimator="svm")
