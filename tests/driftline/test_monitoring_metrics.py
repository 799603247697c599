"""Monitoring metrics of one batch: flat names the MLflow UI charts over time."""

from __future__ import annotations

from types import SimpleNamespace

from driftline.services.monitoring_metrics import batch_metrics


def test_batch_metrics_flatten_drift_scoring_and_roles():
    drift = SimpleNamespace(
        share=0.5, drifted_columns=("a",), columns=(SimpleNamespace(column="a", score=0.3),)
    )
    metrics = batch_metrics(
        rows=10,
        contract_success_pct=95.0,
        labeled_rows=8,
        drift=drift,
        scoring={"mean_score": 0.2, "latency_ms": 4.0},
        performance={"champion:3": {"n": 8, "auc": 0.7}, "challenger:4": {"n": 8, "auc": 0.75}},
    )
    assert metrics == {
        "rows": 10.0,
        "contract_success_pct": 95.0,
        "quarantined": 0.0,
        "labeled_rows": 8.0,
        "drift_share": 0.5,
        "drifted_columns": 1.0,
        "drift_score.a": 0.3,
        "prediction_mean": 0.2,
        "latency_ms": 4.0,
        "champion.auc": 0.7,
        "challenger.auc": 0.75,
    }


def test_batch_metrics_without_champion_or_reference():
    metrics = batch_metrics(
        rows=3, contract_success_pct=100.0, labeled_rows=0, drift=None, scoring=None, performance={}
    )
    assert set(metrics) == {"rows", "contract_success_pct", "quarantined", "labeled_rows"}
