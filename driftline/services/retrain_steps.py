"""The retrain's steps as plain functions: select the window, fit, score the holdout, calibrate,
gate, explain, register, promote or reject, refresh the contract. `tasks.retrain` and
`tasks.gate` run them as Prefect tasks; `driftline.services.retrain` calls them directly when no
orchestrator is wanted."""

from __future__ import annotations

import contextvars
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.core.config import FairnessConfig, GateConfig
from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.services import promotion, training
from driftline.services.contract_ops import refresh_after_promotion
from driftline.services.datasets import label_weights
from driftline.services.project import ProjectFacts
from driftline.services.shadow import shadow_rows
from driftline.services.training import WindowData
from driftline.services.workspace import Workspace
from models.explain import ExplainError, global_importance, save_plots, top_features
from models.gate import GateRules, GateVerdict, evaluate_gate
from models.metrics import baseline_predictions, compute_metrics
from models.spec import SCALE_DEPENDENT, FeatureSpec, label_text
from models.train import Predictions, TrainedModel, fit_model, predict, prepare_features, skops_trusted_types
from models.window import WindowSelection
from monitoring.estimate import fit_calibration

Logger = logging.Logger | logging.LoggerAdapter[Any]
_log = logging.getLogger(__name__)

PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "pandas<3", "numpy<2.5", "skops==0.16.0"]


def window(ws: Workspace, facts: ProjectFacts) -> tuple[WindowSelection, WindowData | None]:
    """The window's selection (with its reason) and its rows; no rows when it is not usable. Until
    a model has beaten the trivial baseline, the window's row minimums are the first model's."""
    first = ws.config.window.first_model_rows is not None and training.no_model_yet(ws)
    selection = training.select(ws, first_model=first)
    if not selection.ok:
        return selection, None
    return selection, training.load_window(ws, selection, facts)


def long_window(ws: Workspace, facts: ProjectFacts, short: WindowData) -> WindowData | None:
    """`window.adaptive`'s long candidate (see `driftline.services.training.long_window`)."""
    return training.long_window(ws, facts, short)


def fit(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts, estimator: str | None = None
) -> TrainedModel:
    """The project's recipe (or `estimator` with its defaults) fitted on `frame`'s labeled rows,
    reviewed labels weighted as configured."""
    return _fit_job(ws, frame, facts, estimator)()


def fit_both(ws: Workspace, frames: Sequence[pd.DataFrame], facts: ProjectFacts) -> list[TrainedModel]:
    """The project's recipe fitted on each of `frames` at the same time, one thread each (the
    adaptive window's recent and long windows). scikit-learn's gradient boosting releases the GIL
    while it bins, builds histograms and splits, so two fits use two cores; the result is the
    same as fitting one after the other (each fit has its own seeded estimator)."""
    jobs = [_fit_job(ws, frame, facts, None) for frame in frames]  # label weights read here
    with ThreadPoolExecutor(max_workers=_fits_at_once(len(jobs)), thread_name_prefix="fit") as pool:
        futures = [pool.submit(contextvars.copy_context().run, job) for job in jobs]
        return [future.result() for future in futures]


def _fits_at_once(fits: int) -> int:
    """How many fits may run at once without more OpenMP threads than cores: each fit uses
    `OMP_NUM_THREADS` of them (Driftline sets 1; a user who sets more gets one fit at a time,
    since oversubscribed OpenMP spin-waits made one fit 100x slower on this machine)."""
    cores = len(os.sched_getaffinity(0))
    try:
        per_fit = max(1, int(os.environ.get("OMP_NUM_THREADS", cores)))
    except ValueError:
        per_fit = cores
    return max(1, min(fits, cores // per_fit))


def _fit_job(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts, estimator: str | None
) -> Callable[[], TrainedModel]:
    """A fit ready to run anywhere: its state-store reads (the label weights) are done now."""
    m = ws.config.model
    return partial(
        fit_model,
        frame,
        sample_weight=label_weights(ws.state, frame, review_weight=ws.config.review.weight),
        target=ws.config.data.target,
        task=facts.task,
        estimator=estimator or m.estimator,
        params=m.params if estimator is None else {},
        seed=m.seed,
        spec=FeatureSpec(numeric=facts.numeric, categorical=facts.categorical),
    )


def explain(
    ws: Workspace, model: TrainedModel, frame: pd.DataFrame, run_id: str, log: Logger = _log
) -> list[str]:
    """SHAP summaries logged with the run; its top features. Degrades to a warning and a tag."""
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
        log.warning("SHAP summary failed, continuing without it: %s", err)
        registry.set_run_tags(run_id, {Tag.SHAP: f"failed: {err}"[:500]})
        return []


def register(
    ws: Workspace,
    model: TrainedModel,
    *,
    run_id: str,
    reference: pd.DataFrame,
    example: pd.DataFrame,
    tags: dict[str, Any],
) -> str:
    """Register the run's model as the challenger, with its drift reference and tags."""
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
    return version


def champion_predictions(
    ws: Workspace, frame: pd.DataFrame, facts: ProjectFacts
) -> tuple[str | None, Predictions | None]:
    """The champion's version and its predictions on `frame` (None, None without a champion)."""
    champion = ws.registry.version_by_alias(CHAMPION)
    if champion is None:
        return None, None
    return champion.version, predict(promotion.load_model(ws, champion.version), frame, task=facts.task)


def decide(
    ws: Workspace, version: str, decision: GateVerdict, *, trigger: str, actor: str, log: Logger = _log
) -> bool:
    """Promote or reject `version` as the decision says; True when it is the champion after. A
    retried promotion that had happened is a no-op (one ledger entry)."""
    if decision.promote and promotion.already_promoted(ws, version):
        log.info("v%s is already the champion (a retry after the alias moved)", version)
        return True
    if decision.promote:
        entry = promotion.promote(ws, version, decision=decision.to_dict(), trigger=trigger, actor=actor)
        log.info("promoted v%s (was v%s)", version, entry["from_version"])
        return True
    promotion.reject(ws, version, decision=decision.to_dict(), trigger=trigger, actor=actor)
    log.info("rejected v%s: %s", version, "; ".join(decision.reasons))
    return False


def refresh_contract(ws: Workspace, window: pd.DataFrame, version: str) -> dict[str, Any]:
    """A new champion: its training window becomes the reference of the warn-tier rules."""
    return refresh_after_promotion(ws, window, version=version)


def holdout(
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
    return preds, metrics


def train_scores(model: TrainedModel, frame: pd.DataFrame) -> pd.Series:
    """The model's scores on its training rows (they go into the drift reference)."""
    return pd.Series(predict(model, frame).score, index=frame.index)


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
        relative_margins=metric in SCALE_DEPENDENT,
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


def _holdout_rules(
    ws: Workspace, facts: ProjectFacts, *, slices: tuple[str, ...], sensitive: tuple[str, ...]
) -> GateRules:
    """The holdout gate's rules; until a model has beaten the trivial baseline, its row minimum is
    the first model's holdout (`window.first_model_rows`), and the baseline rule is the bar."""
    rules = _rules(ws, facts, slices=slices, sensitive=sensitive)
    if ws.config.window.first_model_rows is None or not training.no_model_yet(ws):
        return rules
    _, holdout = training.first_model_minimums(ws.config.window)
    return replace(rules, min_rows=min(rules.min_rows, holdout))


def gate(
    ws: Workspace,
    model: TrainedModel,
    data: WindowData,
    facts: ProjectFacts,
    challenger: Predictions,
    champion: Predictions | None,
    log: Logger = _log,
) -> GateVerdict:
    """Champion and challenger on the same held-out rows → a decision with reasons."""
    target = ws.config.data.target
    slices = tuple(s for s in ws.config.gate.slices if s in data.holdout.columns)
    sensitive = tuple(s for s in ws.config.data.sensitive if s in data.holdout.columns)
    if len(sensitive) < len(ws.config.data.sensitive):
        missing = sorted(set(ws.config.data.sensitive) - set(sensitive))
        log.warning("gate: sensitive column(s) %s not in the holdout; not judged", missing)
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
        rules=_holdout_rules(ws, facts, slices=slices, sensitive=sensitive),
        task=facts.task,
        positive_label=model.positive_label,
        slice_values={s: data.holdout[s].to_numpy() for s in slices},
        sensitive_values={s: data.holdout[s].to_numpy() for s in sensitive},
    )
    return GateVerdict.of(decision)


def shadow_gate(
    ws: Workspace, champion: str, challenger: str, facts: ProjectFacts, *, since_seq: int
) -> GateVerdict | None:
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
    return GateVerdict.of(decision, source="shadow")


def calibration(
    model: TrainedModel, preds: Predictions, holdout: pd.DataFrame, *, target: str
) -> dict[str, Any] | None:
    """The candidate's probabilities calibrated on its holdout, as the JSON artifact to log
    (`monitoring.estimate`); None for regression or an empty holdout."""
    if model.task == "regression" or len(holdout) == 0:
        return None
    fitted = fit_calibration(
        preds.score if model.task == "binary" else preds.proba,
        label_text(holdout[target]),
        task=model.task,
        classes=model.classes,
    )
    return fitted.to_dict()
