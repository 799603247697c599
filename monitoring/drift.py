"""Data and prediction drift between a batch and the reference data.

The only module that talks to Evidently: its report shapes are read here and leave as
``DriftResult`` / ``ColumnDrift``; the HTML page it renders is hardened by ``drift_html`` before
it is written. Evidently is imported inside functions (≈6 s import).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.drift_frames import is_numeric, prepare, sample, too_few_rows, usable
from monitoring.drift_html import write_safe_report
from monitoring.drift_result import DISTANCE, P_VALUE, ColumnDrift, DriftResult

__all__ = ["DISTANCE", "MIN_ROWS", "P_VALUE", "ColumnDrift", "DriftResult", "compute_drift"]

logger = logging.getLogger(__name__)

# Evidently stat tests (by registry name) whose score is a distance: drift when score >= threshold.
# Every other registered test returns a p-value: drift when score < threshold.
_DISTANCE_TESTS = frozenset({"wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"})

# Fewest rows on either side for a drift verdict. Below it a verdict is noise: one row against a
# large reference "drifts" in every column. 20, not 30: the smallest real batches the effectiveness
# suite replays (seattle_weather's Februaries, 28 rows) are judged today and must stay judged.
MIN_ROWS = 20


def compute_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    prediction_column: str | None = None,
    drift_share: float = 0.5,
    max_rows: int = 50_000,
    seed: int = 0,
    num_method: str | None = None,
    cat_method: str | None = None,
    threshold: float | None = None,
    report_path: Path | None = None,
    min_rows: int = MIN_ROWS,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column using Evidently's DataDriftPreset.

    Args:
        current: the batch to check.
        reference: the data the model was trained/validated on.
        numeric: numeric feature columns.
        categorical: categorical feature columns (any dtype; compared as text labels).
        prediction_column: model output column (e.g. ``prediction_score``), compared separately
            and not counted in the dataset drift share.
        drift_share: dataset drift is detected when share of drifted features >= this (0.5).
        max_rows: each frame is sampled (seeded) to at most this many rows before comparing.
        seed: sampling seed.
        num_method / cat_method: Evidently stat test names (e.g. ``"ks"``, ``"psi"``);
            None lets Evidently choose (Wasserstein / Jensen-Shannon above 1000 reference rows,
            KS / chi-square / Z below). The prediction column uses the one matching its dtype.
        threshold: per-column threshold for every method; None uses each method's default.
        report_path: where to write the self-contained HTML report; None writes nothing. The
            page is hardened so no data value can run as script (``monitoring.drift_html``); if
            that is impossible no report is written and ``report_path`` of the result is None.
        min_rows: fewest rows the current and the reference data need for a verdict
            (``MIN_ROWS``); with fewer the result is not judged.

    Returns:
        DriftResult. Columns missing from either frame or all-null on either side are skipped
        with a warning. Too few rows give ``judged=False``: not detected, ``share`` None, no
        columns, and ``reason`` saying e.g. "too few rows (n=1 < 20) to judge drift".

    Raises:
        ValueError: invalid arguments (overlapping column lists, unknown method, bad ranges).
    """
    _check_args(numeric, categorical, prediction_column, drift_share, max_rows, threshold, min_rows)
    kinds = _method_kinds()
    for method in (num_method, cat_method):
        if method is not None and method not in kinds:
            raise ValueError(f"unknown drift method {method!r}; known: {sorted(kinds)}")

    cur = sample(current, max_rows=max_rows, seed=seed)
    ref = sample(reference, max_rows=max_rows, seed=seed)
    too_few = too_few_rows(len(cur), len(ref), min_rows=min_rows)
    if too_few is not None:
        logger.warning("drift not judged: %s", too_few)
        return DriftResult.not_judged(
            too_few, drift_share_threshold=drift_share, n_current=len(cur), n_reference=len(ref)
        )
    num_cols = usable(numeric, cur, ref, numeric=True)
    cat_cols = usable(categorical, cur, ref, numeric=False)
    pred_cols: list[str] = []
    pred_numeric = False
    if prediction_column is not None:
        pred_numeric = is_numeric(cur, ref, prediction_column)
        pred_cols = usable([prediction_column], cur, ref, numeric=pred_numeric)

    features = num_cols + cat_cols
    if not features and not pred_cols:
        logger.warning("no comparable columns between current and reference: drift not computed")
        return _result([], None, drift_share, len(cur), len(ref), None)

    all_num = num_cols + (pred_cols if pred_numeric else [])
    all_cat = cat_cols + ([] if pred_numeric else pred_cols)
    cur_p = prepare(cur, numeric=all_num, categorical=all_cat)
    ref_p = prepare(ref, numeric=all_num, categorical=all_cat)

    started = time.perf_counter()
    written = False
    if report_path is None:
        # No page to write: each column straight through Evidently's stat test (the function its
        # ValueDrift metric calls: same method choice, threshold, score and verdict). A Report
        # would also build every column's plotly widgets, which only the page shows: ~80% of its
        # time (1,000 rows x 33 columns: ~2.4 s a batch).
        raw = {
            c: _stat_test(
                cur_p[c],
                ref_p[c],
                c,
                numeric=c in all_num,
                method=num_method if c in all_num else cat_method,
                threshold=threshold,
            )
            for c in features + pred_cols
        }
    else:
        raw, written = _run_report(
            cur_p,
            ref_p,
            numeric=all_num,
            categorical=all_cat,
            features=features,
            prediction=pred_cols[0] if pred_cols else None,
            drift_share=drift_share,
            num_method=num_method,
            cat_method=cat_method,
            threshold=threshold,
            report_path=report_path,
        )
    logger.info(
        "drift on %d columns, %d vs %d rows in %.1f s",
        len(features) + len(pred_cols),
        len(cur_p),
        len(ref_p),
        time.perf_counter() - started,
    )
    column_drifts = [_column_drift(raw[c], kinds) for c in features]
    prediction = _column_drift(raw[pred_cols[0]], kinds) if pred_cols else None
    path = str(report_path) if written else None
    return _result(column_drifts, prediction, drift_share, len(cur_p), len(ref_p), path)


def _check_args(
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction_column: str | None,
    drift_share: float,
    max_rows: int,
    threshold: float | None,
    min_rows: int,
) -> None:
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"columns listed as both numeric and categorical: {both}")
    if prediction_column is not None and prediction_column in {*numeric, *categorical}:
        raise ValueError(f"prediction column {prediction_column!r} is also listed as a feature")
    if not 0.0 < drift_share <= 1.0:
        raise ValueError(f"drift_share must be in (0, 1], got {drift_share}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    if threshold is not None and not threshold > 0.0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if min_rows < 1:
        raise ValueError(f"min_rows must be >= 1, got {min_rows}")
    if max_rows < min_rows:
        raise ValueError(f"max_rows ({max_rows}) must be >= min_rows ({min_rows}): no sample could be judged")


@functools.cache
def _method_kinds() -> dict[str, tuple[str, str]]:
    """Map every Evidently stat test name and display name to ``(name, kind)``."""
    # Deferred: Evidently loads only when drift is computed.
    from evidently.legacy.calculations import stattests

    kinds: dict[str, tuple[str, str]] = {}
    for attr in stattests.__all__:
        test = getattr(stattests, attr)
        if isinstance(test, stattests.StatTest):
            entry = (test.name, DISTANCE if test.name in _DISTANCE_TESTS else P_VALUE)
            kinds[test.name] = entry
            kinds[test.display_name] = entry
    return kinds


def _stat_test(
    cur: pd.Series, ref: pd.Series, column: str, *, numeric: bool, method: str | None, threshold: float | None
) -> dict[str, Any]:
    """One column through Evidently's stat test registry, as ``ValueDrift`` runs it: infinities
    and nulls dropped on each side, the method chosen from the data when none is set."""
    # Deferred: Evidently loads only when drift is computed.
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    ref_values = ref.replace([-math.inf, math.inf], math.nan).dropna()
    cur_values = cur.replace([-math.inf, math.inf], math.nan).dropna()
    test = get_stattest(ref_values, cur_values, kind, method)
    outcome = test(ref_values, cur_values, kind, threshold)
    return {
        "column": column,
        "method": test.name,
        "threshold": outcome.actual_threshold,
        "score": outcome.drift_score,
        "drifted": bool(outcome.drifted),
    }


def _run_report(
    cur: pd.DataFrame,
    ref: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    features: list[str],
    prediction: str | None,
    drift_share: float,
    num_method: str | None,
    cat_method: str | None,
    threshold: float | None,
    report_path: Path,
) -> tuple[dict[str, dict[str, Any]], bool]:
    """One Evidently report, written as a hardened HTML page; per-column results from its
    ``ValueDrift`` metrics (the DataDriftPreset's own, plus the prediction's)."""
    # Deferred: Evidently loads only when drift is computed.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    def value_drift(column: str) -> Any:
        method = num_method if column in numeric else cat_method
        return ValueDrift(column=column, method=method, threshold=threshold)

    items: list[Any]
    if features:
        items = [
            DataDriftPreset(
                columns=features,
                drift_share=drift_share,
                num_method=num_method,
                cat_method=cat_method,
                threshold=threshold,
            )
        ]
    else:
        items = []
    if prediction is not None:
        items.append(value_drift(prediction))
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report(items, include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    # not snapshot.save_html: it leaves data raw in <script> (XSS)
    written = write_safe_report(snapshot.get_html_str(as_iframe=False), report_path)
    return _read_value_drifts(json.loads(snapshot.json())), written


def _read_value_drifts(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-column method, threshold and score from ValueDrift metrics; verdict from their tests."""
    found: dict[str, dict[str, Any]] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith(":ValueDrift"):
            found[config["column"]] = {
                "column": config["column"],
                "method": config.get("method"),
                "threshold": config.get("threshold"),
                "score": metric.get("value"),
                "drifted": None,
            }
    for test in payload.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        column = params.get("column")
        if str(params.get("type", "")).endswith(":ValueDrift") and column in found:
            found[column]["drifted"] = test.get("status") == "FAIL"
    return found


def _column_drift(raw: dict[str, Any], kinds: dict[str, tuple[str, str]]) -> ColumnDrift:
    """Our reading of one column: Evidently reports display names, we keep registry names."""
    if str(raw["method"]) not in kinds:
        raise ValueError(f"cannot tell whether drift method {raw['method']!r} returns a p-value")
    method, kind = kinds[str(raw["method"])]
    score = _finite_or_none(raw["score"])
    threshold = float(raw["threshold"])
    drifted = raw["drifted"]
    if drifted is None:  # no test verdict: apply the method's own rule
        drifted = score is not None and (score < threshold if kind == P_VALUE else score >= threshold)
    return ColumnDrift(
        column=str(raw["column"]),
        method=method,
        score=score,
        threshold=threshold,
        drifted=bool(drifted),
        kind=kind,
    )


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _result(
    columns: list[ColumnDrift],
    prediction: ColumnDrift | None,
    drift_share: float,
    n_current: int,
    n_reference: int,
    report_path: str | None,
) -> DriftResult:
    drifted = tuple(c.column for c in columns if c.drifted)
    share = len(drifted) / len(columns) if columns else 0.0
    return DriftResult(
        detected=bool(columns) and share >= drift_share,
        share=share,
        drift_share_threshold=drift_share,
        drifted_columns=drifted,
        columns=tuple(columns),
        prediction=prediction,
        n_current=n_current,
        n_reference=n_reference,
        report_path=report_path,
    )
