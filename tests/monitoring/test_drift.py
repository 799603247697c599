"""Behaviour of the Evidently drift adapter on small seeded frames."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import DISTANCE, MIN_ROWS, P_VALUE, DriftResult, compute_drift

NUMERIC = ["temp", "wind"]
CATEGORICAL = ["carrier", "hour", "weekend"]


def make_frame(seed: int, *, rows: int, shift: float = 0.0, pred_power: float = 1.0) -> pd.DataFrame:
    """Mixed frame; ``shift`` moves every feature, ``pred_power`` skews prediction_score."""
    rng = np.random.default_rng(seed)
    carrier_p = np.array([0.5, 0.3, 0.2]) if shift == 0 else np.array([0.1, 0.2, 0.7])
    return pd.DataFrame(
        {
            "temp": rng.normal(10 + 6 * shift, 6, rows),
            "wind": rng.gamma(2.0 + 3 * shift, 3.0, rows),
            "carrier": rng.choice(["AA", "B6", "UA"], rows, p=carrier_p),
            "hour": rng.integers(5 + int(8 * shift), 23, rows),  # int-typed categorical
            "weekend": rng.random(rows) < (0.3 + 0.5 * shift),  # bool-typed categorical
            "prediction_score": rng.random(rows) ** pred_power,
        }
    )


def drift(current: pd.DataFrame, reference: pd.DataFrame, **kwargs: object) -> DriftResult:
    kwargs.setdefault("prediction_column", "prediction_score")
    return compute_drift(current, reference, numeric=NUMERIC, categorical=CATEGORICAL, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(1, rows=3000)


def test_strong_shift_is_detected_with_distance_scores(reference: pd.DataFrame) -> None:
    result = drift(make_frame(2, rows=3000, shift=1.0), reference)

    assert result.detected
    assert result.share == 1.0
    assert set(result.drifted_columns) == set(NUMERIC + CATEGORICAL)
    methods = {c.column: c.method for c in result.columns}
    assert methods == {
        "temp": "wasserstein",
        "wind": "wasserstein",
        "carrier": "jensenshannon",
        "hour": "jensenshannon",
        "weekend": "jensenshannon",
    }
    for column in result.columns:  # > 1000 reference rows: distances, drift when score >= 0.1
        assert column.kind == DISTANCE
        assert column.threshold == pytest.approx(0.1)
        assert column.score is not None and column.score >= column.threshold


def test_same_distribution_is_not_detected(reference: pd.DataFrame) -> None:
    result = drift(make_frame(3, rows=3000), reference)

    assert not result.detected
    assert result.share == 0.0
    assert result.drifted_columns == ()
    assert all(c.score is not None and c.score < c.threshold for c in result.columns)
    assert result.prediction is not None and not result.prediction.drifted


def test_small_samples_use_p_values() -> None:
    reference = make_frame(4, rows=600)
    shifted = drift(make_frame(5, rows=600, shift=1.0), reference)
    same = drift(make_frame(6, rows=600), reference)

    assert {c.kind for c in shifted.columns} == {P_VALUE}
    assert {c.column: c.method for c in shifted.columns}["temp"] == "ks"
    assert all(c.threshold == pytest.approx(0.05) for c in shifted.columns)
    assert shifted.detected and all(c.score < c.threshold for c in shifted.columns)  # type: ignore[operator]
    assert not same.detected
    assert all(c.score >= c.threshold for c in same.columns if not c.drifted)  # type: ignore[operator]


def test_explicit_methods_and_threshold_set_kind(reference: pd.DataFrame) -> None:
    result = drift(make_frame(7, rows=3000, shift=1.0), reference, num_method="psi", cat_method="chisquare")
    kinds = {c.column: (c.method, c.kind) for c in result.columns}

    assert kinds["temp"] == ("psi", DISTANCE)
    assert kinds["carrier"] == ("chisquare", P_VALUE)
    assert result.prediction is not None and result.prediction.method == "psi"

    strict = drift(make_frame(8, rows=3000), reference, threshold=0.5, prediction_column=None)
    assert all(c.threshold == 0.5 for c in strict.columns)
    with pytest.raises(ValueError, match="unknown drift method 'nope'"):
        drift(reference, reference, num_method="nope")


def test_prediction_drift_is_reported_apart_from_share(reference: pd.DataFrame) -> None:
    result = drift(make_frame(9, rows=3000, pred_power=4.0), reference)

    assert result.prediction is not None
    assert result.prediction.column == "prediction_score"
    assert result.prediction.drifted and result.prediction.kind == DISTANCE
    assert "prediction_score" not in {c.column for c in result.columns}
    assert result.share == 0.0 and not result.detected
    assert result.to_dict()["prediction"]["drifted"] is True


def test_html_report_written_and_same_verdicts(reference: pd.DataFrame, tmp_path: Path) -> None:
    current = make_frame(10, rows=3000, shift=1.0)
    path = tmp_path / "reports" / "drift.html"
    with_report = drift(current, reference, report_path=path)
    without = drift(current, reference)

    html = path.read_text(encoding="utf-8")
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<script src="http' not in html  # self-contained
    assert with_report.report_path == str(path) and with_report.to_dict()["report"] == str(path)
    assert without.report_path is None
    assert with_report.columns == without.columns
    assert with_report.prediction == without.prediction


def _with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Nulls and infinities in the numeric columns, nulls in an int-typed categorical one."""
    frame = frame.copy()
    frame.loc[frame.index[::7], "temp"] = np.nan
    frame.loc[frame.index[::11], "wind"] = np.inf
    frame["hour"] = frame["hour"].astype(float)
    frame.loc[frame.index[::5], "hour"] = np.nan
    return frame


@pytest.mark.parametrize(
    ("rows", "shift", "gaps", "kwargs"),
    [
        (600, 0.0, False, {}),  # <= 1000 rows: KS, chi-square, Z
        (600, 1.0, True, {}),
        (3000, 0.0, True, {}),  # > 1000 rows: Wasserstein, Jensen-Shannon
        (3000, 0.3, False, {"num_method": "psi", "cat_method": "chisquare", "threshold": 0.05}),
        (800, 1.0, False, {"num_method": "ks", "cat_method": "jensenshannon"}),
    ],
)
def test_without_a_report_the_verdicts_are_the_reports_own(
    rows: int, shift: float, gaps: bool, kwargs: dict[str, object], tmp_path: Path
) -> None:
    """No HTML to write: each column goes straight through Evidently's stat test instead of a
    Report (which renders widgets nobody sees). Method, threshold, score and verdict must be
    exactly the Report's, whatever the sample size, the methods and gaps in the data."""
    reference = make_frame(30, rows=rows)
    current = make_frame(31, rows=rows, shift=shift, pred_power=2.0)
    if gaps:
        reference, current = _with_gaps(reference), _with_gaps(current)

    with_report = drift(current, reference, report_path=tmp_path / "drift.html", **kwargs)
    without = drift(current, reference, **kwargs)

    assert with_report.report_path is not None and without.report_path is None
    assert len(without.columns) == len(NUMERIC + CATEGORICAL)
    assert without.columns == with_report.columns
    assert without.prediction == with_report.prediction
    assert (without.detected, without.share) == (with_report.detected, with_report.share)


def test_sampling_caps_rows_and_is_seeded(reference: pd.DataFrame) -> None:
    current = make_frame(11, rows=3000)
    first = drift(current, reference, max_rows=800, seed=3)
    again = drift(current, reference, max_rows=800, seed=3)

    assert first.n_current == 800 and first.n_reference == 800
    assert first.columns == again.columns


def test_missing_and_empty_columns_are_skipped(
    reference: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    current = make_frame(12, rows=3000).drop(columns=["wind"])
    current["carrier"] = None
    with caplog.at_level(logging.WARNING, logger="monitoring"):
        result = drift(current, reference)

    assert [c.column for c in result.columns] == ["temp", "hour", "weekend"]
    assert "'wind' missing from current" in caplog.text
    assert "'carrier' has no usable values in current" in caplog.text


def test_int_categorical_with_nulls_matches_its_int_reference(reference: pd.DataFrame) -> None:
    current = make_frame(13, rows=3000)
    current["hour"] = current["hour"].astype(float)
    current.loc[current.index[:50], "hour"] = np.nan  # ints with NaN arrive as floats (7.0)

    result = drift(current, reference, prediction_column=None)

    hour = next(c for c in result.columns if c.column == "hour")
    assert not hour.drifted and hour.score is not None and hour.score < hour.threshold
    assert result.prediction is None


def test_nothing_comparable_gives_empty_result(reference: pd.DataFrame) -> None:
    result = compute_drift(reference[["temp"]], reference[["wind"]], numeric=["temp", "wind"], categorical=[])
    assert result.columns == () and not result.detected and result.share == 0.0


def test_result_is_json_safe_and_summarised(reference: pd.DataFrame) -> None:
    result = drift(make_frame(14, rows=3000, shift=1.0), reference)
    payload = result.to_dict()

    json.dumps(payload, allow_nan=False)
    assert {"detected", "share", "drifted_columns", "report", "columns", "prediction"} <= set(payload)
    assert all(type(c["score"]) is float for c in payload["columns"])
    assert result.summary(max_listed=2).startswith(
        "drift in 5/5 columns (100%) at or above threshold 50%: temp, wind, ..."
    )


def test_a_one_row_batch_is_not_judged(reference: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "drift.html"
    result = drift(make_frame(15, rows=1, shift=1.0), reference, report_path=path)

    assert not result.judged and not result.detected and result.share is None
    assert result.reason == f"too few rows (n=1 < {MIN_ROWS}) to judge drift"
    assert result.columns == () and result.drifted_columns == () and result.prediction is None
    assert (result.n_current, result.n_reference) == (1, 3000)
    assert result.report_path is None and not path.exists()
    assert result.summary() == f"drift not judged: too few rows (n=1 < {MIN_ROWS}) to judge drift"
    payload = result.to_dict()
    json.dumps(payload, allow_nan=False)
    assert payload["judged"] is False and payload["share"] is None and payload["reason"] == result.reason


def test_min_rows_is_the_boundary_on_both_sides(reference: pd.DataFrame) -> None:
    at_minimum = drift(make_frame(16, rows=MIN_ROWS), reference)
    assert at_minimum.judged and at_minimum.reason is None and at_minimum.share is not None
    assert len(at_minimum.columns) == len(NUMERIC + CATEGORICAL)
    assert not drift(make_frame(17, rows=MIN_ROWS - 1), reference).judged

    small_reference = drift(make_frame(18, rows=50), make_frame(19, rows=8), min_rows=10)
    assert small_reference.reason == "too few reference rows (n=8 < 10) to judge drift"
    assert drift(make_frame(20, rows=10), make_frame(21, rows=10), min_rows=10).judged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric": ["a"], "categorical": ["a"]}, "both numeric and categorical"),
        ({"numeric": ["a"], "categorical": [], "prediction_column": "a"}, "also listed"),
        ({"numeric": ["a"], "categorical": [], "drift_share": 0.0}, "drift_share"),
        ({"numeric": ["a"], "categorical": [], "max_rows": 0}, "max_rows"),
        ({"numeric": ["a"], "categorical": [], "min_rows": 0}, "min_rows must be >= 1"),
        ({"numeric": ["a"], "categorical": [], "max_rows": 10, "min_rows": 20}, r"max_rows \(10\)"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match=message):
        compute_drift(frame, frame, **kwargs)  # type: ignore[arg-type]
