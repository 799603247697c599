"""Prefect tasks of the batch cycle: thin adapters over the pure modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from data_contracts.report import render_html
from data_contracts.results import ContractResult
from data_contracts.validate import validate_frame
from driftline.core.batch_io import BatchReadError, read_table
from driftline.services import intake, promotion
from driftline.services.datasets import labeled_predictions, labels_of
from driftline.services.labels import LabelCheck, check_labels, quarantine_labels
from driftline.services.project import ProjectFacts, TaskKind
from driftline.services.scoring import Scored, score_batch
from driftline.services.workspace import Workspace
from monitoring.drift import compute_drift
from monitoring.drift_result import DriftResult
from monitoring.estimate import (
    CALIBRATION_ARTIFACT,
    NOT_ESTIMATED,
    Calibration,
    Estimate,
    estimate_metric,
)
from monitoring.performance import realized_metrics


@task(name="receive-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def receive_task(ws: Workspace, path: str) -> intake.Intake:
    got = intake.receive(ws, Path(path))
    get_run_logger().info("batch %s from %s%s", got.batch_id, got.source, " (seen before)" * got.duplicate)
    return got


@task(name="read-batch", cache_policy=NO_CACHE)
def read_task(raw_path: Path) -> pd.DataFrame | BatchReadError:
    """The batch as a frame, or the read error (a normal result that quarantines the batch)."""
    try:
        return read_table(raw_path)
    except BatchReadError as err:
        return err


@task(name="validate-contract", cache_policy=NO_CACHE)
def contract_task(frame: pd.DataFrame, suite: dict[str, Any], source: str) -> ContractResult:

    result = validate_frame(frame, suite, source=source)
    get_run_logger().info("contract: %s", result.summary())
    return result


@task(name="quarantine-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def quarantine_task(ws: Workspace, got: intake.Intake, result: ContractResult) -> dict[str, str]:

    raw, report_json, report_html = intake.quarantine(
        ws, got, report=result.to_dict(), html=render_html(result, batch_id=got.batch_id)
    )
    get_run_logger().warning("batch %s quarantined: %s", got.batch_id, result.summary())
    return {"raw": str(raw), "report_json": str(report_json), "report_html": str(report_html)}


@task(name="score-batch", cache_policy=NO_CACHE)
def score_task(
    ws: Workspace, frame: pd.DataFrame, *, batch_id: str, role: str, version: str, task_type: TaskKind
) -> Scored:
    pipeline = promotion.load_model(ws, version)
    scored = score_batch(
        pipeline,
        frame,
        task=task_type,
        batch_id=batch_id,
        role=role,
        version=version,
        id_column=ws.config.data.id_column,
    )
    ws.state.log_predictions(scored.log_rows)
    get_run_logger().info("%s v%s scored %d rows in %.0f ms", role, version, scored.rows, scored.latency_ms)
    return scored


@task(name="detect-drift", cache_policy=NO_CACHE)
def drift_task(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    report_path: Path | None,
    settings: dict[str, Any],
) -> DriftResult:

    pred = (
        "__prediction_score"
        if "__prediction_score" in current and "__prediction_score" in reference
        else None
    )
    result = compute_drift(
        current,
        reference,
        numeric=numeric,
        categorical=categorical,
        prediction_column=pred,
        report_path=report_path,
        **settings,
    )
    get_run_logger().info("drift: %s", result.summary())
    return result


@task(name="record-labels", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def labels_task(
    ws: Workspace,
    frame: pd.DataFrame,
    *,
    batch_id: str,
    source: str,
    facts: ProjectFacts,
    replace: bool = False,
) -> LabelCheck:
    """Record the labels a batch carries that pass the label check; the rest go to the label
    quarantine. A new batch has no labels yet; a redone one (`replace`) may."""
    data = ws.config.data
    found = labels_of(frame, batch_id=batch_id, target=data.target, id_column=data.id_column)
    check = check_labels(found, facts, source=source, column=data.target, new_classes=data.new_classes)
    if check.new_classes:
        get_run_logger().warning(
            "%s: new class(es) in %r accepted: %s", source, data.target, check.new_classes
        )
    if len(check.rejected):
        folder = quarantine_labels(ws, check, name=batch_id)
        get_run_logger().warning("%s; kept in %s", check.message, folder)
    if len(check.good):
        ws.state.record_labels(check.good, replace=replace, source="batch")
    return check


@task(name="realized-performance-in-memory", cache_policy=NO_CACHE)
def batch_performance_task(scored: list[Scored], labels: pd.DataFrame, facts: ProjectFacts) -> dict[str, Any]:
    """Realized metrics of the versions that scored this batch, from the rows just logged."""

    joined = labeled_predictions([s.log_rows for s in scored], labels)
    if joined.empty:
        return {}
    return realized_metrics(joined, task=facts.task, positive_label=facts.positive_label)


@task(name="realized-performance", cache_policy=NO_CACHE)
def performance_task(ws: Workspace, batch_ids: list[str], facts: ProjectFacts) -> dict[str, Any]:

    joined = ws.state.predictions_with_labels(batch_ids)
    if joined.empty:
        return {}
    return realized_metrics(joined, task=facts.task, positive_label=facts.positive_label)


@task(name="log-monitoring", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def monitoring_task(
    ws: Workspace, *, step: int, metrics: dict[str, float | None], artifacts: list[Path], folder: str
) -> str:
    registry = ws.registry
    run_id = registry.monitoring_run()
    registry.log_metrics(run_id, metrics, step=step)
    for path in artifacts:
        if path.exists():
            registry.log_artifact(run_id, path, folder=folder)
    return run_id


@task(name="estimate-performance", cache_policy=NO_CACHE)
def estimate_task(ws: Workspace, scored: Scored, *, run_id: str, facts: ProjectFacts) -> Estimate:
    """The serving model's label-free estimate of the project metric on this batch (without a
    value for regression or a model with no calibration)."""

    raw = ws.registry.read_json_artifact(run_id, CALIBRATION_ARTIFACT) if facts.task != "regression" else None
    try:
        calibration = Calibration.from_dict(raw) if raw else None
        estimate = estimate_metric(
            calibration,
            scored.proba if facts.task == "multiclass" else scored.scores.to_numpy(),
            task=facts.task,
            metric=facts.metric,
            classes=calibration.classes if calibration else facts.classes,
        )
    except ValueError as err:  # an unusable calibration costs the estimate, not the batch
        get_run_logger().warning("v%s: no performance estimate: %s", scored.version, err)
        return Estimate(None, facts.metric, scored.rows, NOT_ESTIMATED, f"unusable calibration: {err}")
    get_run_logger().info("estimated %s: %s (%s)", facts.metric, estimate.value, estimate.note)
    return estimate
