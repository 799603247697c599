"""Prefect tasks of the batch cycle: each runs one plain step of `driftline.services.batch_steps`
with its retries, and logs the result to the flow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from data_contracts.results import ContractResult
from driftline.core.batch_io import BatchReadError
from driftline.services import batch_steps as steps
from driftline.services.intake import Intake
from driftline.services.labels import LabelCheck
from driftline.services.project import ProjectFacts, TaskKind
from driftline.services.scoring import Scored
from driftline.services.workspace import Workspace
from monitoring.drift_result import DriftResult
from monitoring.estimate import Estimate


@task(name="receive-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def receive_task(ws: Workspace, path: str) -> Intake:
    got = steps.receive(ws, path)
    get_run_logger().info("batch %s from %s%s", got.batch_id, got.source, " (seen before)" * got.duplicate)
    return got


@task(name="read-batch", cache_policy=NO_CACHE)
def read_task(raw_path: Path) -> pd.DataFrame | BatchReadError:
    return steps.read(raw_path)


@task(name="validate-contract", cache_policy=NO_CACHE)
def contract_task(frame: pd.DataFrame, suite: dict[str, Any], source: str) -> ContractResult:
    result = steps.validate(frame, suite, source)
    get_run_logger().info("contract: %s", result.summary())
    return result


@task(name="quarantine-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def quarantine_task(ws: Workspace, got: Intake, result: ContractResult) -> dict[str, str]:
    paths = steps.quarantine(ws, got, result)
    get_run_logger().warning("batch %s quarantined: %s", got.batch_id, result.summary())
    return paths


@task(name="score-batch", cache_policy=NO_CACHE)
def score_task(
    ws: Workspace, frame: pd.DataFrame, *, batch_id: str, role: str, version: str, task_type: TaskKind
) -> Scored:
    scored = steps.score(ws, frame, batch_id=batch_id, role=role, version=version, task_type=task_type)
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
    result = steps.drift(
        current,
        reference,
        numeric=numeric,
        categorical=categorical,
        report_path=report_path,
        settings=settings,
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
    log = get_run_logger()
    return steps.labels(ws, frame, batch_id=batch_id, source=source, facts=facts, replace=replace, log=log)


@task(name="realized-performance-in-memory", cache_policy=NO_CACHE)
def batch_performance_task(scored: list[Scored], labels: pd.DataFrame, facts: ProjectFacts) -> dict[str, Any]:
    return steps.batch_performance(scored, labels, facts)


@task(name="realized-performance", cache_policy=NO_CACHE)
def performance_task(ws: Workspace, batch_ids: list[str], facts: ProjectFacts) -> dict[str, Any]:
    return steps.performance(ws, batch_ids, facts)


@task(name="log-monitoring", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def monitoring_task(
    ws: Workspace, *, step: int, metrics: dict[str, float | None], artifacts: list[Path], folder: str
) -> str:
    return steps.monitoring(ws, step=step, metrics=metrics, artifacts=artifacts, folder=folder)


@task(name="estimate-performance", cache_policy=NO_CACHE)
def estimate_task(ws: Workspace, scored: Scored, *, run_id: str, facts: ProjectFacts) -> Estimate:
    log = get_run_logger()
    estimate = steps.estimate(ws, scored, run_id=run_id, facts=facts, log=log)
    log.info("estimated %s: %s (%s)", facts.metric, estimate.value, estimate.note)
    return estimate
