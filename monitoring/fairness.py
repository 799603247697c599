"""Fairness per group of a model's predictions on a labeled batch: the fairlearn adapter.

fairlearn's ``MetricFrame`` computes each group's row count, selection rate, TPR, FPR and the task
metric (from ``models.metrics``, the one metric module); the disparities use the definitions in
``models.gate_fairness``, the same the gate bootstraps. Results leave as ``FairnessResult``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from models.gate_fairness import COMPONENTS, DENOMINATORS, disparity, effective_measure, measure_label
from models.metrics import metric_fn, truth_array
from models.spec import check_task, label_text
from models.train import Predictions
from monitoring.fairness_result import ColumnFairness, FairnessResult, GroupRow

__all__ = ["ColumnFairness", "FairnessResult", "GroupRow", "batch_fairness", "group_metrics"]

logger = logging.getLogger(__name__)


def _rate(hits: np.ndarray, of: np.ndarray) -> float:
    # NaN, not fairlearn's 0.0, for a group without positives (TPR) or negatives (FPR): an
    # undefined rate must not count as a gap.
    total = of.sum()
    return float(hits[of].sum() / total) if total else float("nan")


def _metric_fns(task: str, metric: str, positive_label: str | None) -> dict[str, Callable[..., float]]:
    task_metric = metric_fn(metric, task=task, positive_label=positive_label)

    def on_group(y_true: Any, y_pred: Any, scores: Any) -> float:
        labels = np.asarray(y_pred, dtype=float if task == "regression" else object)
        return task_metric(np.asarray(y_true), Predictions(labels, np.asarray(scores, dtype=float)))

    fns: dict[str, Callable[..., float]] = {
        "n": lambda y_true, y_pred: float(len(y_true)),
        "metric": on_group,
    }
    if task == "binary":

        def pos(v: Any) -> np.ndarray:
            return np.asarray(v, dtype=object) == positive_label

        fns["positives"] = lambda t, p: float(pos(t).sum())
        fns["selection_rate"] = lambda t, p: _rate(pos(p), np.ones(len(p), dtype=bool))
        fns["tpr"] = lambda t, p: _rate(pos(p), pos(t))
        fns["fpr"] = lambda t, p: _rate(pos(p), ~pos(t))
    return fns


def _column(
    column: str,
    values: pd.Series,
    *,
    y: np.ndarray,
    pred: np.ndarray,
    scores: np.ndarray,
    fns: dict[str, Callable[..., float]],
    task: str,
    metric: str,
    measure: str,
    min_group_rows: int,
    max_groups: int,
) -> ColumnFairness:
    # Deferred: fairlearn loads only for a fairness report.
    from fairlearn.metrics import MetricFrame

    groups = np.asarray(label_text(values), dtype=object)
    distinct = len(set(groups))
    if distinct > max_groups:
        note = f"{distinct} distinct values, more than max_groups {max_groups}: not measured (bucket it)"
        return ColumnFairness(column, (), None, None, None, None, (note,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined per-group values are NaN by design
        frame = MetricFrame(
            metrics=fns,
            y_true=y,
            y_pred=pred,
            sensitive_features=pd.Series(groups, name=column),
            sample_params={"metric": {"scores": scores}},
        )
    table = frame.by_group.copy()
    table["rows"] = table["n"]
    if "positives" in table.columns:
        table["negatives"] = table["n"] - table["positives"]
    rows = tuple(
        GroupRow(
            group=str(g),
            n=int(table.loc[g, "n"]),
            positives=None if "positives" not in table.columns else int(table.loc[g, "positives"]),
            selection_rate=_value(table, g, "selection_rate"),
            tpr=_value(table, g, "tpr"),
            fpr=_value(table, g, "fpr"),
            metric=_value(table, g, "metric"),
            judged=int(table.loc[g, "n"]) >= min_group_rows,
        )
        for g in table.index
    )
    compared = table[table["n"] >= min_group_rows]
    overall = np.asarray([float(frame.overall["metric"])])

    def gap(kind: str) -> float | None:
        names = COMPONENTS[kind]
        parts = {c: compared[c].to_numpy(dtype=float)[None, :] for c in names}
        support = {c: compared[DENOMINATORS[c]].to_numpy() for c in names}
        value = disparity(
            kind, parts, metric=metric, overall=overall, support=support, min_rows=min_group_rows
        )
        return float(value[0]) if np.isfinite(value[0]) else None

    notes = _support_notes(compared, measure, min_group_rows)
    binary = task == "binary"
    return ColumnFairness(
        column=column,
        groups=rows,
        demographic_parity_difference=gap("demographic_parity") if binary else None,
        equalized_odds_difference=gap("equalized_odds") if binary else None,
        metric_gap=gap("metric_gap"),
        disparity=gap(measure),
        notes=notes,
    )


def _support_notes(compared: pd.DataFrame, measure: str, min_rows: int) -> tuple[str, ...]:
    if len(compared) < 2:
        return (f"fewer than two groups with >= {min_rows} rows",)
    notes = []
    for name in COMPONENTS[measure]:
        short = compared.index[compared[DENOMINATORS[name]] < min_rows]
        if len(short):
            shown = ", ".join(repr(str(g)) for g in short[:3]) + (", ..." if len(short) > 3 else "")
            notes.append(f"{name} of {shown} left out (fewer than {min_rows} {DENOMINATORS[name]})")
    return tuple(notes)


def _value(table: pd.DataFrame, group: Any, name: str) -> float | None:
    if name not in table.columns:
        return None
    value = float(table.loc[group, name])
    return value if np.isfinite(value) else None


def group_metrics(
    y_true: Any,
    y_pred: Any,
    scores: Any,
    sensitive: pd.DataFrame,
    *,
    task: str,
    positive_label: str | None,
    metric: str,
    measure: str,
    min_group_rows: int,
    max_groups: int,
) -> FairnessResult:
    """Per-group metrics and disparities of one model on labeled rows, per sensitive column.

    Args:
        y_true: true labels (text for classification, numbers for regression).
        y_pred: predicted labels as text (ignored for regression, which uses ``scores``).
        scores: P(positive) for binary (for AUC), the predicted value for regression.
        sensitive: one column per sensitive attribute, rows aligned with ``y_true``; missing
            values form their own group.
        task, positive_label, metric: as in ``models.metrics`` (positive_label for binary).
        measure: ``equalized_odds`` / ``demographic_parity`` / ``metric_gap`` (binary; other
            tasks always use ``metric_gap``).
        min_group_rows: smaller groups are reported but left out of every disparity.
        max_groups: a column with more distinct values is not measured (a note says so).

    Raises:
        ValueError: unknown task/measure/metric, lengths that differ, or binary without
            ``positive_label``.
    """
    task = check_task(task)
    used = effective_measure(measure, task)
    y = truth_array(y_true, task=task)
    score = np.asarray(scores, dtype=float)
    pred = score if task == "regression" else np.asarray(label_text(y_pred), dtype=object)
    if not len(pred) == len(score) == len(y) == len(sensitive):
        raise ValueError(
            f"lengths differ: {len(y)} labels, {len(pred)} predictions, {len(score)} scores, "
            f"{len(sensitive)} sensitive rows"
        )
    fns = _metric_fns(task, metric, positive_label)
    columns = tuple(
        _column(
            str(c),
            sensitive[c].reset_index(drop=True),
            y=y,
            pred=pred,
            scores=score,
            fns=fns,
            task=task,
            metric=metric,
            measure=used,
            min_group_rows=min_group_rows,
            max_groups=max_groups,
        )
        for c in sensitive.columns
    )
    return FairnessResult(task, metric, used, measure_label(used, metric), min_group_rows, len(y), columns)


def batch_fairness(
    frame: pd.DataFrame,
    log_rows: pd.DataFrame,
    labels: pd.DataFrame | None,
    *,
    sensitive: Sequence[str],
    task: str,
    positive_label: str | None,
    metric: str,
    measure: str,
    min_group_rows: int,
    max_groups: int,
) -> FairnessResult | None:
    """Fairness of the model that wrote ``log_rows`` on this batch's labeled rows.

    Args:
        frame: the batch as read (holds the sensitive columns), rows in scoring order.
        log_rows: that model's prediction-log rows for ``frame`` (``row_key, prediction, score``),
            one per row of ``frame`` in the same order (as ``score_batch`` builds them).
        labels: ``row_key, label`` (labels as text); None or empty: nothing to measure.
        sensitive: the configured sensitive columns; those missing from the batch are noted.
        Others as in ``group_metrics``.

    Returns:
        None when no sensitive column is configured or present, or no row is labeled.

    Raises:
        ValueError: ``log_rows`` do not line up with ``frame``.
    """
    present = [c for c in sensitive if c in frame.columns]
    missing = [c for c in sensitive if c not in frame.columns]
    if missing:
        logger.warning("fairness: sensitive column(s) %s not in this batch", missing)
    if not present or labels is None or labels.empty:
        return None
    if len(log_rows) != len(frame):
        raise ValueError(f"{len(log_rows)} prediction-log rows for a batch of {len(frame)} rows")
    by_key = pd.Series(labels["label"].to_numpy(), index=labels["row_key"].to_numpy())
    by_key = by_key[~by_key.index.duplicated(keep="last")]
    found = by_key.reindex(log_rows["row_key"].to_numpy())
    mask = found.notna().to_numpy()
    if task == "regression":  # labels arrive as text: only numeric ones can be measured
        numeric = pd.to_numeric(found, errors="coerce").to_numpy(dtype=float)
        mask &= np.isfinite(numeric) & np.isfinite(log_rows["score"].to_numpy(dtype=float))
        y_true: Any = numeric[mask]
    else:
        y_true = found.to_numpy()[mask]
    if not mask.any():
        return None
    result = group_metrics(
        y_true,
        log_rows["prediction"].to_numpy()[mask],
        log_rows["score"].to_numpy(dtype=float)[mask],
        frame[present].reset_index(drop=True).loc[mask],
        task=task,
        positive_label=positive_label,
        metric=metric,
        measure=measure,
        min_group_rows=min_group_rows,
        max_groups=max_groups,
    )
    if missing:
        note = f"sensitive column(s) {missing} not in this batch"
        return replace(result, notes=(*result.notes, note))
    return result
