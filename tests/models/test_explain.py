"""SHAP adapter: importance per original feature, plots, per-row contributions, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.explain import ExplainError, explain_rows, global_importance, save_plots, top_features
from models.spec import infer_features
from models.train import TrainedModel, fit_model, prepare_features
from tests.models.conftest import FEATURES

TARGETS = {"binary": "y_bin", "multiclass": "y_multi", "regression": "y_reg"}


def _fit(frame: pd.DataFrame, task: str, estimator: str = "hist_gradient_boosting") -> TrainedModel:
    target = TARGETS[task]
    spec = infer_features(frame, target=target, features=FEATURES, categorical=["code"])
    params = {"n_estimators": 20} if estimator == "random_forest" else None
    return fit_model(frame, target=target, spec=spec, task=task, estimator=estimator, params=params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def binary_hgb(frame: pd.DataFrame) -> TrainedModel:
    return _fit(frame, "binary")


def test_one_hot_columns_sum_back_to_features(binary_hgb: TrainedModel, frame: pd.DataFrame) -> None:
    import shap

    imp = global_importance(binary_hgb.pipeline, frame, spec=binary_hgb.spec, max_rows=len(frame))
    table = imp.table.set_index("feature")["mean_abs_shap"]
    assert sorted(table.index) == sorted(FEATURES)
    assert list(imp.table["mean_abs_shap"]) == sorted(imp.table["mean_abs_shap"], reverse=True)
    assert imp.n_rows == len(frame) and imp.outputs == ("1",)

    X = binary_hgb.pipeline[:-1].transform(prepare_features(frame, binary_hgb.spec))
    raw = shap.TreeExplainer(binary_hgb.pipeline[-1])(X).values
    colour_cols = [i for i, c in enumerate(X.columns) if c.startswith("categorical__color_")]
    assert len(colour_cols) >= 4  # red, green, blue, missing (+ infrequent)
    assert table["color"] == pytest.approx(np.abs(raw[:, colour_cols].sum(axis=1)).mean())
    assert table["x1"] == pytest.approx(np.abs(raw[:, list(X.columns).index("numeric__x1")]).mean())
    assert top_features(imp, 2) == ["x1", "color"]
    assert imp.to_dict()["features"][0] == {"feature": "x1", "mean_abs_shap": float(table["x1"])}


def test_sampling_is_seeded(binary_hgb: TrainedModel, frame: pd.DataFrame) -> None:
    one = global_importance(binary_hgb.pipeline, frame, spec=binary_hgb.spec, max_rows=100, seed=1)
    two = global_importance(binary_hgb.pipeline, frame, spec=binary_hgb.spec, max_rows=100, seed=1)
    assert one.n_rows == 100 and one.table.equals(two.table)


@pytest.mark.parametrize(
    ("task", "estimator"),
    [
        ("multiclass", "hist_gradient_boosting"),
        ("regression", "hist_gradient_boosting"),
        *[(task, "random_forest") for task in TARGETS],
        *[(task, "linear") for task in TARGETS],
    ],
)
def test_every_task_and_estimator_explains(frame: pd.DataFrame, task: str, estimator: str) -> None:
    model = _fit(frame, task, estimator)
    imp = global_importance(model.pipeline, frame, spec=model.spec, max_rows=150)
    assert sorted(imp.table["feature"]) == sorted(FEATURES)
    assert np.isfinite(imp.table["mean_abs_shap"]).all() and (imp.table["mean_abs_shap"] >= 0).all()
    expected_top = "x1" if task == "binary" else "x2"
    assert top_features(imp, 1) == [expected_top]
    assert imp.outputs == {"binary": ("1",), "multiclass": model.classes, "regression": ("value",)}[task]


def test_save_plots_writes_pngs_and_closes_figures(
    binary_hgb: TrainedModel, frame: pd.DataFrame, tmp_path: Path
) -> None:
    import matplotlib.pyplot as plt

    imp = global_importance(binary_hgb.pipeline, frame, spec=binary_hgb.spec, max_rows=200)
    before = plt.get_fignums()
    paths = save_plots(imp, tmp_path / "shap")
    assert set(paths) == {"beeswarm", "bar"}
    for path in paths.values():
        assert path.read_bytes()[:4] == b"\x89PNG"
    assert plt.get_fignums() == before


def test_explain_rows_contributions(frame: pd.DataFrame, holdout: pd.DataFrame) -> None:
    import shap

    model = _fit(frame, "regression")
    rows = holdout.head(4).copy()
    rows.loc[rows.index[0], "color"] = None
    rows.loc[rows.index[1], "x1"] = np.nan
    every = explain_rows(model.pipeline, rows, spec=model.spec, top_k=len(FEATURES))
    top = explain_rows(model.pipeline, rows, spec=model.spec, top_k=2)
    assert len(every) == 4 and all(len(r) == 2 for r in top)
    for full, short in zip(every, top, strict=True):
        magnitudes = [abs(c["contribution"]) for c in full]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert short == full[:2]
    values = {c["feature"]: c["value"] for c in every[0]}
    assert values["color"] is None and values["flag"] is bool(rows["flag"].iloc[0])
    assert values["code"] == int(rows["code"].iloc[0]) and type(values["code"]) is int
    assert {c["feature"]: c["value"] for c in every[1]}["x1"] is None
    # additivity: contributions + expected value reproduce the prediction
    base = float(np.ravel(shap.TreeExplainer(model.pipeline[-1]).expected_value)[0])
    prediction = model.pipeline.predict(prepare_features(rows, model.spec))
    totals = [base + sum(c["contribution"] for c in r) for r in every]
    np.testing.assert_allclose(totals, prediction, rtol=1e-6)


def test_explain_rows_multiclass_explains_predicted_class(frame: pd.DataFrame) -> None:
    model = _fit(frame, "multiclass")
    rows = frame.head(3)
    contributions = explain_rows(model.pipeline, rows, spec=model.spec, top_k=1)
    assert [r[0]["feature"] for r in contributions] == ["x2"] * 3
    assert explain_rows(model.pipeline, rows.iloc[:0], spec=model.spec) == []


def test_linear_rows_use_background(frame: pd.DataFrame) -> None:
    model = _fit(frame, "regression", "linear")
    rows = frame.head(2)
    with_bg = explain_rows(model.pipeline, rows, spec=model.spec, background=frame, top_k=1)
    without = explain_rows(model.pipeline, rows, spec=model.spec, top_k=1)
    assert with_bg != without  # relative to the training mean vs the two rows' mean


def test_failures_raise_explain_error(binary_hgb: TrainedModel, frame: pd.DataFrame) -> None:
    with pytest.raises(ExplainError, match="no rows"):
        global_importance(binary_hgb.pipeline, frame.iloc[:0], spec=binary_hgb.spec)
    with pytest.raises(ExplainError, match="SHAP failed"):
        global_importance(binary_hgb.pipeline, frame.drop(columns=["color"]), spec=binary_hgb.spec)


def test_the_shap_budget_counts_rows_times_classes() -> None:
    from models.explain import rows_to_explain

    assert rows_to_explain(1000, 1) == 1000  # binary and regression: one output per row
    assert rows_to_explain(1000, 6) == 200 and rows_to_explain(1000, 4) == 250
    assert rows_to_explain(3000, 6) == 500
    assert rows_to_explain(150, 6) == 150  # never more rows than asked for
    assert rows_to_explain(1000, 40) == 200  # a floor: enough rows to rank the features


def test_a_multiclass_summary_explains_fewer_rows_than_a_binary_one(frame: pd.DataFrame) -> None:
    multi, binary = _fit(frame, "multiclass"), _fit(frame, "binary")
    n_classes = len(multi.classes)
    assert n_classes > 2
    multi_imp = global_importance(multi.pipeline, frame, spec=multi.spec, max_rows=len(frame))
    binary_imp = global_importance(binary.pipeline, frame, spec=binary.spec, max_rows=len(frame))
    assert binary_imp.n_rows == len(frame)
    assert multi_imp.n_rows == max(200, -(-len(frame) // n_classes))
