"""Prefect tasks of the retrain flow: each runs one plain step of
`driftline.services.retrain_steps` with its retries, and logs the result to the flow run."""

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
from models.window import WindowSelection


@task(name="select-window", cache_policy=NO_CACHE)
def window_task(ws: Workspace, facts: ProjectFacts) -> tuple[WindowSelection, WindowData | None]:
    selection, data = steps.window(ws, facts)
    get_run_logger().info("window: %s", selection.reason)
    return selection, data


@task(name="long-window", cache_policy=NO_CACHE)
def long_window_task(ws: Workspace, facts: ProjectFacts, short: WindowData) -> WindowData | None:
    return steps.long_window(ws, facts, short)


@task(name="fit-candidate", cache_policy=NO_CACHE)
def fit_task(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts, estimator: str | None = None
) -> TrainedModel:
    model = steps.fit(ws, frame, facts, estimator)
    get_run_logger().info("fitted %s on %d rows", model.estimator, len(frame))
    return model


@task(name="fit-candidates", cache_policy=NO_CACHE)
def fit_both_task(ws: Workspace, frames: list[pd.DataFrame], facts: ProjectFacts) -> list[TrainedModel]:
    models = steps.fit_both(ws, frames, facts)
    rows = ", ".join(f"{len(frame):,}" for frame in frames)
    get_run_logger().info("fitted %s on %s rows at the same time", models[0].estimator, rows)
    return models


@task(name="explain-candidate", cache_policy=NO_CACHE)
def explain_task(ws: Workspace, model: TrainedModel, frame: pd.DataFrame, run_id: str) -> list[str]:
    return steps.explain(ws, model, frame, run_id, log=get_run_logger())


@task(name="register-candidate", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def register_task(
    ws: Workspace,
    model: TrainedModel,
    *,
    run_id: str,
    reference: pd.DataFrame,
    example: pd.DataFrame,
    tags: dict[str, Any],
) -> str:
    version = steps.register(ws, model, run_id=run_id, reference=reference, example=example, tags=tags)
    get_run_logger().info("registered %s v%s as challenger", ws.config.model_name, version)
    return version


@task(name="champion-predictions", cache_policy=NO_CACHE)
def champion_predictions_task(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts
) -> tuple[str | None, Predictions | None]:
    return steps.champion_predictions(ws, frame, facts)


@task(name="promote-or-reject", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def decide_task(ws: Workspace, version: str, decision: GateVerdict, *, trigger: str, actor: str) -> bool:
    return steps.decide(ws, version, decision, trigger=trigger, actor=actor, log=get_run_logger())


@task(name="refresh-contract", cache_policy=NO_CACHE)
def refresh_contract_task(ws: Workspace, window: pd.DataFrame, version: str) -> dict[str, Any]:
    record = steps.refresh_contract(ws, window, version)
    get_run_logger().info(
        "contract v%s → v%s: %s", record["from_version"], record["to_version"], record["reason"]
    )
    return record
