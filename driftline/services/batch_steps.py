"""The batch cycle's steps as plain functions, one per stage: what `tasks.batch` runs as Prefect
tasks, and what `driftline.services.batch_cycle` calls directly when no orchestrator is wanted."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

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

PREDICTION_SCORE = "__prediction_score"

Logger = logging.Logger | logging.LoggerAdapter[Any]
_log = logging.getLogger(__name__)


def receive(ws: Workspace, path: str) -> intake.Intake:
    """Hash the file and keep its raw copy before anything else (see `intake.receive`)."""
    return intake.receive(ws, Path(path))


def read(raw_path: Path) -> pd.DataFrame | BatchReadError:
    """The batch as a frame, or the read error (a normal result that quarantines the batch)."""
    try:
        return read_table(raw_path)
    except BatchReadError as err:
        return err


def validate(frame: pd.DataFrame, suite: dict[str, Any], source: str) -> ContractResult:
    """The batch against the project's Great Expectations suite."""
    return validate_frame(frame, suite, source=source)


def quarantine(ws: Workspace, got: intake.Intake, result: ContractResult) -> dict[str, str]:
    """Move the raw copy aside with its report (JSON and HTML); the paths, by name."""
    raw, report_json, report_html = intake.quarantine(
        ws, got, report=result.to_dict(), html=render_html(result, batch_id=got.batch_id)
    )
    return {"raw": str(raw), "report_json": str(report_json), "report_html": str(report_html)}


def score(
    ws: Workspace, frame: pd.DataFrame, *, batch_id: str, role: str, version: str, task_type: TaskKind
) -> Scored:
    """One registered version's predictions on the batch, logged to the state store."""
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
    return scored


def drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    report_path: Path | None,
    settings: dict[str, Any],
) -> DriftResult:
    """Evidently's comparison of the batch with the reference (the champion's scores included
    when both frames carry them)."""
    pred = PREDICTION_SCORE if PREDICTION_SCORE in current and PREDICTION_SCORE in reference else None
    return compute_drift(
        current,
        reference,
        numeric=numeric,
        categorical=categorical,
        prediction_column=pred,
        report_path=report_path,
        **settings,
    )


def labels(
    ws: Workspace,
    frame: pd.DataFrame,
    *,
    batch_id: str,
    source: str,
    facts: ProjectFacts,
    replace: bool = False,
    log: Logger = _log,
) -> LabelCheck:
    """Record the labels a batch carries that pass the label check; the rest go to the label
    quarantine. A new batch has no labels yet; a redone one (`replace`) may."""
    data = ws.config.data
    found = labels_of(frame, batch_id=batch_id, target=data.target, id_column=data.id_column)
    check = check_labels(found, facts, source=source, column=data.target, new_classes=data.new_classes)
    if check.new_classes:
        log.warning("%s: new class(es) in %r accepted: %s", source, data.target, check.new_classes)
    if len(check.rejected):
        folder = quarantine_labels(ws, check, name=batch_id)
        log.warning("%s; kept in %s", check.message, folder)
    if len(check.good):
        ws.state.record_labels(check.good, replace=replace, source="batch")
    return check


def batch_performance(scored: list[Scored], labels: pd.DataFrame, facts: ProjectFacts) -> dict[str, Any]:
    """Realized metrics of the versions that scored this batch, from the rows just logged."""
    joined = labeled_predictions([s.log_rows for s in scored], labels)
    if joined.empty:
        return {}
    return realized_metrics(joined, task=facts.task, positive_label=facts.positive_label)


def performance(ws: Workspace, batch_ids: list[str], facts: ProjectFacts) -> dict[str, Any]:
    """Realized metrics over recorded batches, from the state store's predictions and labels."""
    joined = ws.state.predictions_with_labels(batch_ids)
    if joined.empty:
        return {}
    return realized_metrics(joined, task=facts.task, positive_label=facts.positive_label)


def monitoring(
    ws: Workspace, *, step: int, metrics: dict[str, float | None], artifacts: list[Path], folder: str
) -> str:
    """One step of the project's MLflow monitoring run: the batch's metrics and its artifacts."""
    registry = ws.registry
    run_id = registry.monitoring_run()
    registry.log_metrics(run_id, metrics, step=step)
    for path in artifacts:
        if path.exists():
            registry.log_artifact(run_id, path, folder=folder)
    return run_id


def estimate(
    ws: Workspace, scored: Scored, *, run_id: str, facts: ProjectFacts, log: Logger = _log
) -> Estimate:
    """The serving model's label-free estimate of the project metric on this batch (without a
    value for regression or a model with no calibration)."""
    raw = ws.registry.read_json_artifact(run_id, CALIBRATION_ARTIFACT) if facts.task != "regression" else None
    try:
        calibration = Calibration.from_dict(raw) if raw else None
        return estimate_metric(
            calibration,
            scored.proba if facts.task == "multiclass" else scored.scores.to_numpy(),
            task=facts.task,
            metric=facts.metric,
            classes=calibration.classes if calibration else facts.classes,
        )
    except ValueError as err:  # an unusable calibration costs the estimate, not the batch
        log.warning("v%s: no performance estimate: %s", scored.version, err)
        return Estimate(None, facts.metric, scored.rows, NOT_ESTIMATED, f"unusable calibration: {err}")
