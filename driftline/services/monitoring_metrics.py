"""The metrics one accepted batch adds to the MLflow monitoring run (one step per batch)."""

from __future__ import annotations

from typing import Any


def batch_metrics(
    *,
    rows: int,
    contract_success_pct: float,
    labeled_rows: int,
    drift: Any | None,
    scoring: dict[str, Any] | None,
    performance: dict[str, dict[str, Any]],
) -> dict[str, float | None]:
    """Flat metric names → values: rows, contract, drift share and per-column scores, prediction
    mean and latency, realized metrics per role ("champion.auc", "challenger.auc", ...)."""
    metrics: dict[str, float | None] = {
        "rows": float(rows),
        "contract_success_pct": contract_success_pct,
        "quarantined": 0.0,
        "labeled_rows": float(labeled_rows),
    }
    if drift is not None:
        metrics.update(drift_share=drift.share, drifted_columns=float(len(drift.drifted_columns)))
        metrics.update({f"drift_score.{c.column}": c.score for c in drift.columns})
    if scoring is not None:
        metrics.update(prediction_mean=scoring["mean_score"], latency_ms=scoring["latency_ms"])
        metrics.update(
            {f"latency_ms_per_row.{q}": v for q, v in (scoring.get("latency_ms_per_row") or {}).items()}
        )
        if scoring.get("rows_per_second") is not None:
            metrics.update(scoring_rows_per_second=scoring["rows_per_second"])
    for key, values in performance.items():
        role = key.split(":")[0]
        metrics.update({f"{role}.{m}": v for m, v in values.items() if m != "n"})
    return metrics
