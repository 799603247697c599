"""Prefect tasks that evaluate candidates: holdout metrics, the holdout gate, the shadow gate
(plain steps of `driftline.services.retrain_steps`, logged to the flow run)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from driftline.services import retrain_steps as steps
from driftline.services.project import ProjectFacts
from driftline.services.training import WindowData
from driftline.services.workspace import Workspace
from models.gate import GateVerdict
from models.train import Predictions, TrainedModel


@task(name="holdout-metrics", cache_policy=NO_CACHE)
def holdout_task(
    model: TrainedModel, holdout: pd.DataFrame, *, target: str
) -> tuple[Predictions, dict[str, float | None]]:
    preds, metrics = steps.holdout(model, holdout, target=target)
    get_run_logger().info("holdout metrics: %s", metrics)
    return preds, metrics


@task(name="training-scores", cache_policy=NO_CACHE)
def train_scores_task(model: TrainedModel, frame: pd.DataFrame) -> pd.Series:
    return steps.train_scores(model, frame)


@task(name="holdout-gate", cache_policy=NO_CACHE)
def gate_task(
    ws: Workspace,
    model: TrainedModel,
    data: WindowData,
    facts: ProjectFacts,
    challenger: Predictions,
    champion: Predictions | None,
) -> GateVerdict:
    log = get_run_logger()
    decision = steps.gate(ws, model, data, facts, challenger, champion, log=log)
    log.info("gate: %s", decision.summary)
    return decision


@task(name="shadow-gate", cache_policy=NO_CACHE)
def shadow_gate_task(
    ws: Workspace, champion: str, challenger: str, facts: ProjectFacts, *, since_seq: int
) -> GateVerdict | None:
    return steps.shadow_gate(ws, champion, challenger, facts, since_seq=since_seq)


@task(name="calibrate-candidate", cache_policy=NO_CACHE)
def calibration_task(
    model: TrainedModel, preds: Predictions, holdout: pd.DataFrame, *, target: str
) -> dict[str, Any] | None:
    calibration = steps.calibration(model, preds, holdout, target=target)
    if calibration is not None:
        get_run_logger().info("calibration: %s", calibration["note"])
    return calibration
