"""Per-group fairness of a batch: known disparities come out as built, small groups are left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftline.core.config import ConfigError, parse_config
from driftline.services import alerts
from models.gate_fairness import disparity_batch, split_groups
from models.metrics import truth_array
from models.train import Predictions
from monitoring.fairness import batch_fairness, group_metrics
from monitoring.fairness_result import metric_key_part

SETTINGS: dict[str, Any] = {"measure": "equalized_odds", "min_group_rows": 50, "max_groups": 50}


def _group(name: str, *, pos: int, neg: int, tp: int, fp: int) -> pd.DataFrame:
    """Exact counts: ``pos`` positives of which ``tp`` predicted positive, ``fp`` of ``neg`` negatives."""
    truth = ["1"] * pos + ["0"] * neg
    pred = ["1"] * tp + ["0"] * (pos - tp) + ["1"] * fp + ["0"] * (neg - fp)
    score = [0.9 if p == "1" else 0.1 for p in pred]
    return pd.DataFrame({"y": truth, "pred": pred, "score": score, "group": name})


def _binary(*groups: pd.DataFrame, **settings: Any) -> Any:
    rows = pd.concat(groups, ignore_index=True)
    kwargs = {**SETTINGS, **settings}
    return group_metrics(
        rows["y"],
        rows["pred"],
        rows["score"],
        rows[["group"]],
        task="binary",
        positive_label="1",
        metric="auc",
        **kwargs,
    )


# Group B's positives are found at half group A's rate (TPR 0.8 vs 0.4), same FPR 0.1:
# equalized odds 0.4; selection rates 0.38 vs 0.22 → demographic parity 0.16.
A = _group("A", pos=400, neg=600, tp=320, fp=60)
B = _group("B", pos=400, neg=600, tp=160, fp=60)


def test_known_disparity_is_measured_as_built() -> None:
    result = _binary(A, B)
    col = result.columns[0]
    assert col.equalized_odds_difference == pytest.approx(0.4)
    assert col.demographic_parity_difference == pytest.approx(0.16)
    assert result.worst_disparity == pytest.approx(0.4) and result.measure == "equalized_odds"
    rows = {g.group: g for g in col.groups}
    assert (rows["A"].tpr, rows["B"].tpr) == pytest.approx((0.8, 0.4))
    assert (rows["A"].fpr, rows["B"].fpr) == pytest.approx((0.1, 0.1))
    assert (rows["A"].selection_rate, rows["B"].selection_rate) == pytest.approx((0.38, 0.22))
    assert rows["A"].n == 1000 and rows["A"].positives == 400
    summary = result.summary()
    assert "'group': equalized-odds difference 0.400 (TPR 0.400 for 'B' vs 0.800 for 'A')" in summary
    assert "\n" not in summary
    dp = _binary(A, B, measure="demographic_parity")
    assert dp.worst_disparity == pytest.approx(0.16) and "selection rate 0.220 for 'B'" in dp.summary()


def test_no_disparity_is_zero_exactly_and_near_zero_at_random() -> None:
    same = _binary(A, _group("B", pos=400, neg=600, tp=320, fp=60))
    assert same.worst_disparity == pytest.approx(0.0)
    assert same.demographic_parity_difference == pytest.approx(0.0)
    rng = np.random.default_rng(3)
    n = 20_000
    group = rng.choice(["A", "B"], n)
    y = rng.random(n) < 0.3
    pred = np.where(y, rng.random(n) < 0.7, rng.random(n) < 0.1)  # the same rates in both groups
    result = group_metrics(
        np.where(y, "1", "0"),
        np.where(pred, "1", "0"),
        rng.random(n),
        pd.DataFrame({"group": group}),
        task="binary",
        positive_label="1",
        metric="accuracy",
        **SETTINGS,
    )
    assert result.worst_disparity is not None and result.worst_disparity < 0.03
    assert result.breaches(0.1) == ()


def test_small_groups_are_reported_but_left_out_of_the_disparity() -> None:
    tiny = _group("C", pos=5, neg=5, tp=0, fp=5)  # TPR 0, FPR 1: would dominate every gap
    result = _binary(A, B, tiny)
    col = result.columns[0]
    assert col.equalized_odds_difference == pytest.approx(0.4)
    small = next(g for g in col.groups if g.group == "C")
    assert not small.judged and small.n == 10 and small.tpr == 0.0 and small.fpr == 1.0
    assert "1 smaller left out ('C' n=10)" in result.summary()
    assert col.notes == ()  # said once, as a small group, not again per rate
    assert result.metrics()["fairness.group.small_groups"] == 1.0
    assert result.metrics()["fairness.group.C.fpr"] == 1.0  # reported all the same
    # the same group, large enough, is compared and widens the gap
    assert _binary(A, B, tiny, min_group_rows=5).worst_disparity == pytest.approx(1.0 - 0.1)


def test_a_rate_needs_its_own_denominator_not_just_rows() -> None:
    # C has 2,000 rows but 10 positives: its FPR is compared, its TPR (0.0) is not.
    rare = _group("C", pos=10, neg=1990, tp=0, fp=199)
    result = _binary(A, B, rare)
    assert result.columns[0].equalized_odds_difference == pytest.approx(0.4)
    assert "tpr of 'C' left out (fewer than 50 positives)" in result.summary()
    # no positives at all: the TPR is undefined (fairlearn's own true_positive_rate says 0.0)
    none = _binary(A, B, _group("D", pos=0, neg=100, tp=0, fp=10))
    assert next(g for g in none.columns[0].groups if g.group == "D").tpr is None


def test_metric_names_are_valid_mlflow_keys_and_unique() -> None:
    from mlflow.utils.validation import _validate_metric_name

    names = ["a b", "a_b", "a.b", "x/y", "über", "..", None, "a:b"]
    frames = [_group(str(n), pos=30, neg=30, tp=20, fp=5) for n in names]
    rows = pd.concat(frames, ignore_index=True)
    rows.loc[rows["group"] == "None", "group"] = None  # a missing value is a group of its own
    result = group_metrics(
        rows["y"],
        rows["pred"],
        rows["score"],
        rows[["group"]].rename(columns={"group": "région / zone"}),
        task="binary",
        positive_label="1",
        metric="auc",
        **SETTINGS,
    )
    keys = result.metrics()
    for key in keys:
        _validate_metric_name(key)  # raises on a bad name
    assert "fairness.r_gion_zone.eo_diff" in keys
    per_group_tpr = [k for k in keys if k.endswith(".tpr")]
    assert len(per_group_tpr) == len(result.columns[0].groups) == len(names)
    assert metric_key_part("a.b") == "a_b" and metric_key_part("..") == "_"


def test_regression_uses_the_relative_metric_gap() -> None:
    # Errors of ±1 in A and ±2 in B: RMSE 1 and 2, overall sqrt(2.5) → relative gap 1/sqrt(2.5).
    y = np.zeros(400)
    pred = np.r_[np.tile([1.0, -1.0], 100), np.tile([2.0, -2.0], 100)]
    group = pd.DataFrame({"g": ["A"] * 200 + ["B"] * 200})
    kwargs = {**SETTINGS, "measure": "equalized_odds"}  # not defined for regression: metric gap
    result = group_metrics(
        y, None, pred, group, task="regression", positive_label=None, metric="rmse", **kwargs
    )
    assert result.measure == "metric_gap" and result.label == "relative rmse gap"
    assert result.worst_disparity == pytest.approx(1 / np.sqrt(2.5))
    assert result.equalized_odds_difference is None
    assert all(g.tpr is None and g.selection_rate is None for g in result.columns[0].groups)
    assert result.metrics()["fairness.g.B.rmse"] == pytest.approx(2.0)


def test_multiclass_uses_the_task_metric_gap() -> None:
    truth = np.array(["x", "y", "z"] * 100)
    wrong = np.roll(truth, 1)
    pred = np.r_[truth[:150], np.where(np.arange(150) % 2 == 0, truth[150:], wrong[150:])]
    group = pd.DataFrame({"g": ["A"] * 150 + ["B"] * 150})
    kwargs = {**SETTINGS}
    result = group_metrics(
        truth, pred, np.ones(300), group, task="multiclass", positive_label=None, metric="accuracy", **kwargs
    )
    assert result.label == "accuracy gap"
    assert result.worst_disparity == pytest.approx(0.5)


def test_the_gate_evaluator_agrees_with_the_report() -> None:
    """The gate's vectorised disparity and the MetricFrame report are one definition."""
    rng = np.random.default_rng(0)
    n = 5000
    g = rng.choice(["A", "B", "C", "D"], n, p=[0.5, 0.3, 0.19, 0.01])
    y = rng.random(n) < np.where(g == "C", 0.04, 0.4)
    pred = np.where(y, rng.random(n) < np.where(g == "A", 0.8, 0.5), rng.random(n) < 0.1)
    score = np.clip(pred * 0.4 + 0.3 + rng.normal(0, 0.15, n), 0, 1)
    yt, yp = np.where(y, "1", "0"), np.where(pred, "1", "0")
    for measure in ("equalized_odds", "demographic_parity", "metric_gap"):
        report = _binary_arrays(yt, yp, score, g, measure=measure)
        bound = disparity_batch(
            split_groups(g, min_rows=50), measure=measure, task="binary", metric="auc", positive_label="1"
        )
        preds = Predictions(yp.astype(object), score)
        value = bound(truth_array(yt, task="binary"), preds)(np.ones((1, n)))[0]
        assert report.worst_disparity == pytest.approx(value), measure


def _binary_arrays(yt: np.ndarray, yp: np.ndarray, score: np.ndarray, g: np.ndarray, *, measure: str):
    return group_metrics(
        yt,
        yp,
        score,
        pd.DataFrame({"g": g}),
        task="binary",
        positive_label="1",
        metric="auc",
        measure=measure,
        min_group_rows=50,
        max_groups=50,
    )


def test_a_column_with_too_many_groups_is_not_measured() -> None:
    rows = pd.concat([A, B], ignore_index=True)
    ids = pd.DataFrame({"id_like": np.arange(len(rows)) % 60, "group": rows["group"]})
    result = group_metrics(
        rows["y"],
        rows["pred"],
        rows["score"],
        ids,
        task="binary",
        positive_label="1",
        metric="auc",
        **SETTINGS,
    )
    id_like, group = result.columns
    assert id_like.disparity is None and "60 distinct values, more than max_groups 50" in id_like.notes[0]
    assert group.disparity == pytest.approx(0.4) and result.worst is group


def _batch() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = pd.concat([A, B], ignore_index=True)
    frame = pd.DataFrame({"event_id": [f"e{i}" for i in range(len(rows))], "group": rows["group"]})
    log_rows = pd.DataFrame(
        {"row_key": frame["event_id"], "prediction": rows["pred"], "score": rows["score"], "role": "champion"}
    )
    labels = pd.DataFrame({"batch_id": "b1", "row_key": frame["event_id"], "label": rows["y"]})
    return frame, log_rows, labels.sample(frac=1.0, random_state=0)  # labels in any order


def _run(frame: pd.DataFrame, log_rows: pd.DataFrame, labels: pd.DataFrame | None, sensitive: list[str]):
    return batch_fairness(
        frame,
        log_rows,
        labels,
        sensitive=sensitive,
        task="binary",
        positive_label="1",
        metric="auc",
        **SETTINGS,
    )


def test_batch_fairness_joins_labels_by_row_key() -> None:
    frame, log_rows, labels = _batch()
    result = _run(frame, log_rows, labels, ["group", "absent"])
    assert result is not None and result.n == 2000
    assert result.worst_disparity == pytest.approx(0.4)
    assert "sensitive column(s) ['absent'] not in this batch" in result.notes
    # only labeled rows count: drop B's labels and nothing is left to compare
    only_a = labels[~labels["row_key"].isin(frame.loc[frame["group"] == "B", "event_id"])]
    partial = _run(frame, log_rows, only_a, ["group"])
    assert partial is not None and partial.n == 1000 and partial.worst_disparity is None
    assert "fewer than two groups with >= 50 rows" in partial.summary()


def test_batch_fairness_has_nothing_to_say_without_labels_or_columns() -> None:
    frame, log_rows, labels = _batch()
    assert _run(frame, log_rows, None, ["group"]) is None
    assert _run(frame, log_rows, labels.iloc[:0], ["group"]) is None
    assert _run(frame, log_rows, labels, ["absent"]) is None
    with pytest.raises(ValueError, match="1999 prediction-log rows for a batch of 2000"):
        _run(frame, log_rows.iloc[1:], labels, ["group"])


def test_a_breach_becomes_a_fairness_alert() -> None:
    result = _binary(A, B)
    (breach,) = result.breaches(0.2)
    alert = alerts.Alert(
        kind=alerts.FAIRNESS_BREACH,
        subject=breach.column,
        message=result.column_summary(breach),
        details=result.to_dict(),
    )
    assert alert.level == "warning" and alert.subject == "group"
    assert result.breaches(0.5) == () and result.breaches(None) == ()
    assert result.to_dict()["worst_column"] == "group"


@pytest.mark.parametrize("column", ["y", "event_id", "ts"])
def test_config_rejects_a_sensitive_column_that_is_the_target_id_or_time(column: str) -> None:
    data = {"target": "y", "id_column": "event_id", "time_column": "ts", "sensitive": [column]}
    with pytest.raises(ConfigError, match="sensitive column"):
        parse_config({"project": "p", "data": data}, base_dir=Path("."))


def test_config_fairness_keys_and_defaults() -> None:
    cfg = parse_config(
        {"project": "p", "data": {"target": "y", "sensitive": ["sex"]}, "gate": {"fairness_margin": None}},
        base_dir=Path("."),
    )
    assert cfg.data.sensitive == ["sex"] and cfg.gate.fairness_margin is None
    assert cfg.fairness.measure == "equalized_odds" and cfg.fairness.max_disparity == 0.2
    assert cfg.fairness.min_group_rows == 50
    default = parse_config({"project": "p", "data": {"target": "y"}}, base_dir=Path("."))
    assert default.data.sensitive == [] and default.gate.fairness_margin == 0.05
    with pytest.raises(ConfigError, match="twice"):
        parse_config({"project": "p", "data": {"target": "y", "sensitive": ["a", "a"]}}, base_dir=Path("."))
