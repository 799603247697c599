"""Prefect tasks that evaluate candidates: holdout metrics, the holdout gate, the shadow gate."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from driftline.core.config import FairnessConfig, GateConfig
from driftline.services.project import ProjectFacts
from driftline.services.shadow import shadow_rows
from driftline.services.training import WindowData
from driftline.services.workspace import Workspace
from models.gate import GateRules, evaluate_gate
from models.metrics import baseline_predictions, compute_metrics
from models.spec import label_text
from models.train import Predictions, TrainedModel, predict
from monitoring.estimate import fit_calibration


def gate_rules(
    g: GateConfig,
    *,
    metric: str,
    slices: tuple[str, ...] = (),
    sensitive: tuple[str, ...] = (),
    fairness: FairnessConfig | None = None,
) -> GateRules:
    """The gate's rules from the `gate:` (and `fairness:`) sections."""

    f = fairness or FairnessConfig()
    return GateRules(
        metric=metric,
        mode=g.rule,
        margin=g.margin,
        min_rows=g.min_rows,
        n_bootstrap=g.n_bootstrap,
        confidence=g.confidence,
        seed=g.seed,
        slices=slices,
        slice_margin=g.slice_margin,
        slice_min_rows=g.slice_min_rows,
        baseline_min_improvement=g.baseline_min_improvement,
        fairness=sensitive,
        fairness_margin=g.fairness_margin,
        fairness_measure=f.measure,
        fairness_min_rows=f.min_group_rows,
    )


def _rules(
    ws: Workspace, facts: ProjectFacts, *, slices: tuple[str, ...], sensitive: tuple[str, ...] = ()
) -> GateRules:
    cfg = ws.config
    return gate_rules(
        cfg.gate, metric=facts.metric, slices=slices, sensitive=sensitive, fairness=cfg.fairness
    )


@task(name="holdout-metrics", cache_policy=NO_CACHE)
def holdout_task(
    model: TrainedModel, holdout: pd.DataFrame, *, target: str
) -> tuple[Predictions, dict[str, float | None]]:
    """The candidate's predictions and metrics on the held-out batches."""

    preds = predict(model, holdout)
    metrics = compute_metrics(
        holdout[target].to_numpy(),
        preds,
        task=model.task,
        classes=model.classes,
        positive_label=model.positive_label,
    )
    get_run_logger().info("holdout metrics: %s", metrics)
    return preds, metrics


@task(name="training-scores", cache_policy=NO_CACHE)
def train_scores_task(model: Any, frame: pd.DataFrame) -> pd.Series:

    return pd.Series(predict(model, frame).score, index=frame.index)


@task(name="holdout-gate", cache_policy=NO_CACHE)
def gate_task(
    ws: Workspace, model: Any, data: WindowData, facts: ProjectFacts, challenger: Any, champion: Any
) -> dict[str, Any]:
    """Champion and challenger on the same held-out rows → a decision with reasons."""

    target = ws.config.data.target
    slices = tuple(s for s in ws.config.gate.slices if s in data.holdout.columns)
    sensitive = tuple(s for s in ws.config.data.sensitive if s in data.holdout.columns)
    if len(sensitive) < len(ws.config.data.sensitive):
        missing = sorted(set(ws.config.data.sensitive) - set(sensitive))
        get_run_logger().warning("gate: sensitive column(s) %s not in the holdout; not judged", missing)
    baseline = baseline_predictions(
        data.train[target].to_numpy(),
        len(data.holdout),
        task=facts.task,
        classes=model.classes or None,
        positive_label=model.positive_label,
    )
    decision = evaluate_gate(
        y_true=data.holdout[target].to_numpy(),
        challenger=challenger,
        champion=champion,
        baseline=baseline,
        rules=_rules(ws, facts, slices=slices, sensitive=sensitive),
        task=facts.task,
        positive_label=model.positive_label,
        slice_values={s: data.holdout[s].to_numpy() for s in slices},
        sensitive_values={s: data.holdout[s].to_numpy() for s in sensitive},
    )
    get_run_logger().info("gate: %s", decision.summary())
    return {**decision.to_dict(), "summary": decision.summary()}


@task(name="shadow-gate", cache_policy=NO_CACHE)
def shadow_gate_task(
    ws: Workspace, champion: str, challenger: str, facts: ProjectFacts, *, since_seq: int
) -> dict[str, Any] | None:
    """The gate on labeled rows that both versions scored live (None until `min_rows` exist)."""

    batch_ids = [b.batch_id for b in ws.state.list_batches(status="accepted") if b.seq > since_seq]
    rows = shadow_rows(
        ws.state.predictions_with_labels(batch_ids),
        champion=champion,
        challenger=challenger,
        task=facts.task,
        positive_label=facts.positive_label,
    )
    if rows is None or len(rows.y) < ws.config.gate.min_rows:
        return None
    # The trivial model's prior comes from the judged rows themselves: a stricter baseline.
    baseline = baseline_predictions(
        rows.y, len(rows.y), task=facts.task, classes=rows.classes, positive_label=rows.positive_label
    )
    decision = evaluate_gate(
        y_true=rows.y,
        challenger=rows.challenger,
        champion=rows.champion,
        baseline=baseline,
        rules=_rules(ws, facts, slices=()),
        task=facts.task,
        positive_label=rows.positive_label,
    )
    return {**decision.to_dict(), "summary": decision.summary(), "source": "shadow"}


@task(name="calibrate-candidate", cache_policy=NO_CACHE)
def calibration_task(model: Any, preds: Any, holdout: pd.DataFrame, *, target: str) -> dict[str, Any] | None:
    """The candidate's probabilities calibrated on its holdout, as the JSON artifact to log
    (`monitoring.estimate`); None for regression or an empty holdout."""

    if model.task == "regression" or len(holdout) == 0:
        return None
    calibration = fit_calibration(
        preds.score if model.task == "binary" else preds.proba,
        label_text(holdout[target]),
        task=model.task,
        classes=model.classes,
    )
    get_run_logger().info("calibration: %s", calibration.note)
    return calibration.to_dict()
