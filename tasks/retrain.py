"""Prefect tasks of the retrain flow: thin adapters over models/, the registry and promotion."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.services import promotion, training
from driftline.services.contract_ops import refresh_after_promotion
from driftline.services.datasets import label_weights
from driftline.services.project import ProjectFacts
from driftline.services.workspace import Workspace
from models.explain import ExplainError, global_importance, save_plots, top_features
from models.spec import FeatureSpec
from models.train import TrainedModel, fit_model, predict, prepare_features, skops_trusted_types

PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "pandas<3", "numpy<2.5", "skops==0.16.0"]


@task(name="select-window", cache_policy=NO_CACHE)
def window_task(ws: Workspace, facts: ProjectFacts) -> tuple[Any, training.WindowData | None]:
    selection = training.select(ws)
    get_run_logger().info("window: %s", selection.reason)
    if not selection.ok:
        return selection, None
    return selection, training.load_window(ws, selection, facts)


@task(name="long-window", cache_policy=NO_CACHE)
def long_window_task(
    ws: Workspace, facts: ProjectFacts, short: training.WindowData
) -> training.WindowData | None:
    """`window.adaptive`'s long candidate (see `driftline.services.training.long_window`)."""
    return training.long_window(ws, facts, short)


@task(name="fit-candidate", cache_policy=NO_CACHE)
def fit_task(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts, estimator: str | None = None
) -> TrainedModel:

    m = ws.config.model
    model = fit_model(
        frame,
        sample_weight=label_weights(ws.state, frame, review_weight=ws.config.review.weight),
        target=ws.config.data.target,
        task=facts.task,
        estimator=estimator or m.estimator,
        params=m.params if estimator is None else {},
        seed=m.seed,
        spec=FeatureSpec(numeric=facts.numeric, categorical=facts.categorical),
    )
    get_run_logger().info("fitted %s on %d rows", estimator or m.estimator, len(frame))
    return model


@task(name="explain-candidate", cache_policy=NO_CACHE)
def explain_task(ws: Workspace, model: Any, frame: pd.DataFrame, run_id: str) -> list[str]:
    """SHAP summaries logged with the run; degrades to a warning and a tag on failure."""

    registry = ws.registry
    try:
        importance = global_importance(
            model.pipeline,
            frame,
            spec=model.spec,
            max_rows=ws.config.model.shap_rows,
            seed=ws.config.model.seed,
        )
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "importance.csv"
            importance.table.to_csv(table, index=False)
            registry.log_artifact(run_id, table, folder="shap")
            for path in save_plots(importance, Path(tmp)).values():
                registry.log_artifact(run_id, path, folder="shap")
        return top_features(importance, k=5)
    except (ExplainError, Exception) as err:  # SHAP is optional, the run goes on
        get_run_logger().warning("SHAP summary failed, continuing without it: %s", err)
        registry.set_run_tags(run_id, {Tag.SHAP: f"failed: {err}"[:500]})
        return []


@task(name="register-candidate", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def register_task(
    ws: Workspace,
    model: Any,
    *,
    run_id: str,
    reference: pd.DataFrame,
    example: pd.DataFrame,
    tags: dict[str, Any],
) -> str:

    registry = ws.registry
    # A retry after log_model succeeded (and a later call failed) must not register a second version.
    version = registry.version_of_run(run_id) or registry.log_model(
        run_id,
        model.pipeline,
        input_example=prepare_features(example, model.spec),
        trusted_types=skops_trusted_types(model.estimator),
        pip_requirements=PIP_REQUIREMENTS,
        reference=reference,
    )
    registry.set_version_tags(version, tags)
    registry.set_alias(CHALLENGER, version)
    get_run_logger().info("registered %s v%s as challenger", ws.config.model_name, version)
    return version


@task(name="champion-predictions", cache_policy=NO_CACHE)
def champion_predictions_task(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts
) -> tuple[str | None, Any]:

    champion = ws.registry.version_by_alias(CHAMPION)
    if champion is None:
        return None, None
    return champion.version, predict(promotion.load_model(ws, champion.version), frame, task=facts.task)


@task(name="promote-or-reject", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def decide_task(ws: Workspace, version: str, decision: dict[str, Any], *, trigger: str, actor: str) -> bool:
    log = get_run_logger()
    if decision["promote"] and promotion.already_promoted(ws, version):
        log.info("v%s is already the champion (a retry after the alias moved)", version)
        return True
    if decision["promote"]:
        entry = promotion.promote(ws, version, decision=decision, trigger=trigger, actor=actor)
        log.info("promoted v%s (was v%s)", version, entry["from_version"])
        return True
    promotion.reject(ws, version, decision=decision, trigger=trigger, actor=actor)
    log.info("rejected v%s: %s", version, "; ".join(decision.get("reasons", [])))
    return False


@task(name="refresh-contract", cache_policy=NO_CACHE)
def refresh_contract_task(ws: Workspace, window: pd.DataFrame, version: str) -> None:
    """A new champion: its training window becomes the reference of the warn-tier rules."""

    record = refresh_after_promotion(ws, window, version=version)
    get_run_logger().info(
        "contract v%s → v%s: %s", record["from_version"], record["to_version"], record["reason"]
    )
