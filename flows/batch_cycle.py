"""The `batch-cycle` flow: receive → contract → score → drift → labels → monitor → decide."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.states import Completed

from data_contracts.review import streaks
from data_contracts.suite_io import load_suite
from driftline.core.batch_io import BatchReadError
from driftline.core.config import load_config
from driftline.core.faults import checkpoint
from driftline.core.stage_clock import StageClock
from driftline.services import alerts, batch_alerts, review
from driftline.services.intake import read_failure, this_worker, time_range
from driftline.services.monitoring_metrics import batch_metrics
from driftline.services.project import load_facts
from driftline.services.promotion import load_model
from driftline.services.signals import policy_inputs
from driftline.services.workspace import Workspace
from driftline.store.state import DONE, DuplicateBatchError
from flows.artifacts import publish_batch, publish_gate_decision
from flows.retrain import run_retrain, run_shadow_gate
from mlflow_server.registry import TRIVIAL_TAG, ModelIntegrityError
from models.spec import FeatureSpec
from monitoring.attribution import AttributionSettings, batch_attribution
from monitoring.drift_frames import sampled_with_scores
from monitoring.estimate import side_by_side
from monitoring.fairness import batch_fairness
from monitoring.policy import decide_retrain
from tasks import batch as t

if TYPE_CHECKING:
    from monitoring.attribution import AttributionDrift

PREDICTION_SCORE = "__prediction_score"


@flow(name="batch-cycle", log_prints=False)
def batch_cycle(
    path: str,
    config_path: str = "driftline.yaml",
    allow_retrain: bool = True,
) -> dict[str, Any]:
    """Run one incoming batch file (CSV or Parquet) through the whole monitoring cycle.

    Args:
        path: the batch file to ingest.
        config_path: the project's driftline.yaml.
        allow_retrain: let the retrain policy start a retrain after this batch.
    """
    ws = Workspace(load_config(Path(config_path)))
    return run_batch(ws, path, allow_retrain=allow_retrain)


def run_batch(ws: Workspace, path: str, *, allow_retrain: bool = True, publish: bool = True) -> Any:
    """The cycle's wiring, shared by the flow and by replay's in-process loop (which publishes a
    progress artifact instead of one summary per batch: `publish` False)."""

    cfg = ws.config
    got = t.receive_task(ws, path)
    out: dict[str, Any] = {"batch_id": got.batch_id, "source": got.source, "rows": 0}
    if got.duplicate:
        result = _duplicate(ws, out, got.previous_status)
        if publish:
            publish_batch(cfg.project, result)
        return result

    clock = StageClock()
    frame = t.read_task(got.raw_path)
    clock.lap("read")
    if isinstance(frame, BatchReadError):
        contract = read_failure(source=got.source, message=str(frame), suite_name=cfg.project)
        frame = pd.DataFrame()
    else:
        contract = t.contract_task(frame, load_suite(cfg.suite_path), got.source)
        clock.lap("contract")
    out.update(rows=len(frame), contract=contract.to_dict())
    start, end = time_range(frame, cfg.data.time_column)
    row = {
        "sha256": got.sha256,
        "source": got.source,
        "raw_path": str(got.raw_path),
        "status": "accepted" if contract.success else "quarantined",
        "rows": len(frame),
        "start_time": start,
        "end_time": end,
        "contract": contract.to_dict(),
        "stage": "received" if contract.success else DONE,
        "worker": this_worker(),
    }
    if got.resume_seq is not None:  # an unfinished batch: redo it under its id and number
        seq = got.resume_seq
        ws.state.clear_predictions(got.batch_id)
        ws.state.update_batch(got.batch_id, **row)
        get_run_logger().warning("batch %s (#%d) was left unfinished: redoing it", got.batch_id, seq)
    else:
        try:
            seq = ws.state.add_batch(batch_id=got.batch_id, **row)
        except DuplicateBatchError:  # the same content, ingested at this moment by another process
            return _duplicate(ws, out, "accepted")
    checkpoint("received")
    folder = f"batches/{seq:04d}-{got.batch_id}"
    if not contract.success:
        paths = t.quarantine_task(ws, got, contract)
        ws.state.update_batch(got.batch_id, raw_path=paths["raw"])
        t.monitoring_task(
            ws,
            step=seq,
            metrics={
                "rows": len(frame),
                "contract_success_pct": contract.success_percent,
                "quarantined": 1.0,
            },
            artifacts=[Path(paths["report_html"])],
            folder=folder,
        )
        result = {
            **out,
            "status": "quarantined",
            "quarantine": paths,
            "drift": None,
            "scoring": None,
            "performance": None,
            "decision": None,
            "retrain": None,
        }
        blocking = next((f for f in contract.failures if f.severity == "block"), None)
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.QUARANTINE,
                subject=f"{blocking.rule} on {blocking.column or 'the table'}" if blocking else "contract",
                message=contract.summary(),
                details={"batch_id": got.batch_id, "source": got.source, "report": paths["report_html"]},
            ),
        )
        _alert_streaks(ws)
        if publish:
            publish_batch(cfg.project, result)
        return Completed(message=contract.summary(), name="Quarantined", data=result)

    facts = load_facts(ws)
    registry = ws.registry
    champion = registry.version_by_alias("champion")
    scoring: dict[str, Any] | None = None
    scored_by: list[Any] = []
    current = frame
    estimate: Any = None
    if champion is not None:
        try:
            scored = t.score_task(
                ws,
                frame,
                batch_id=got.batch_id,
                role="champion",
                version=champion.version,
                task_type=facts.task,
            )
        except ModelIntegrityError as err:  # stop scoring loudly; the batch stays unfinished, kept
            alerts.emit(
                ws,
                alerts.Alert(
                    kind=alerts.CHAMPION_INTEGRITY,
                    subject=f"v{champion.version}",
                    message=str(err),
                    details={"batch_id": got.batch_id, "source": got.source},
                ),
            )
            raise
        scored_by.append(scored)
        estimate = t.estimate_task(ws, scored, run_id=champion.run_id, facts=facts)
        scoring = scored.to_dict()
        current = sampled_with_scores(
            frame,
            scored.scores.to_numpy(),
            column=PREDICTION_SCORE,
            max_rows=cfg.drift.max_rows,
            seed=cfg.drift.seed,
        )
        challenger = registry.version_by_alias("challenger")
        if cfg.gate.mode == "shadow" and challenger is not None:
            shadow = t.score_task(
                ws,
                frame,
                batch_id=got.batch_id,
                role="challenger",
                version=challenger.version,
                task_type=facts.task,
            )
            scored_by.append(shadow)
            scoring["shadow"] = shadow.to_dict()

    clock.lap("score")
    reference = registry.load_reference(champion.version) if champion is not None else _initial_reference(ws)
    drift: Any = None
    if reference is not None:
        drift = t.drift_task(
            current,
            reference,
            numeric=list(facts.numeric),
            categorical=list(facts.categorical),
            report_path=ws.report_dir(got.batch_id) / "drift.html" if cfg.drift.html_report else None,
            settings={
                "drift_share": cfg.drift.drift_share,
                "max_rows": cfg.drift.max_rows,
                "seed": cfg.drift.seed,
                "num_method": cfg.drift.num_method,
                "cat_method": cfg.drift.cat_method,
                "threshold": cfg.drift.threshold,
            },
        )

    clock.lap("drift")
    ws.state.update_batch(got.batch_id, stage="scored")
    checkpoint("scored")
    checked = (
        t.labels_task(
            ws,
            frame,
            batch_id=got.batch_id,
            source=got.source,
            facts=facts,
            replace=got.resume_seq is not None,
        )
        if cfg.data.target in frame.columns
        else None
    )
    labels = checked.good if checked is not None else None
    # Rows the champion was least sure of wait for a person (rows labeled above are skipped).
    queued = (
        review.queue_batch(ws, scored_by[0].log_rows, batch_id=got.batch_id, task=facts.task)
        if scored_by
        else None
    )
    if queued is not None and queued.over_capacity:
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.REVIEW_CAPACITY,
                subject="review queue",
                message=queued.summary,
                details=queued.to_dict(),
            ),
        )
    labeled = 0 if labels is None else len(labels)
    performance = t.batch_performance_task(scored_by, labels, facts) if labeled else {}
    serving = performance.get(f"champion:{champion.version}", {}) if champion else {}
    serving_metric = serving.get(facts.metric)
    ws.state.update_batch(
        got.batch_id,
        champion_version=champion.version if champion else None,
        drift=drift.to_dict() if drift else None,
        drift_share=drift.share if drift else None,
        drift_detected=drift.detected if drift and drift.judged else None,  # too few rows: unknown
        performance=performance or None,
        serving_metric=serving_metric,
        estimated_metric=estimate.value if estimate else None,
    )

    clock.lap("labels")
    clock.rows = len(frame)
    metrics = (
        batch_metrics(
            rows=len(frame),
            contract_success_pct=contract.success_percent,
            labeled_rows=labeled,
            drift=drift,
            scoring=scoring,
            performance=performance,
        )
        | clock.metrics()
        | side_by_side(facts.metric, estimated=estimate.value if estimate else None, realized=serving_metric)
    )
    batch_alerts.alert_latency(ws, scored_by[0] if scored_by else None, batch_id=got.batch_id)
    fairness = None
    if cfg.data.sensitive and labeled and scored_by:  # scored_by[0] is the champion
        fairness = batch_fairness(
            frame,
            scored_by[0].log_rows,
            labels,
            sensitive=cfg.data.sensitive,
            task=facts.task,
            positive_label=facts.positive_label,
            metric=facts.metric,
            measure=cfg.fairness.measure,
            min_group_rows=cfg.fairness.min_group_rows,
            max_groups=cfg.fairness.max_groups,
        )
    if fairness is not None:
        metrics |= fairness.metrics()  # charted in the MLflow monitoring run, one step per batch
        batch_alerts.alert_fairness(ws, fairness, batch_id=got.batch_id)
    attribution = None
    if cfg.attribution.enabled and champion is not None and seq % cfg.attribution.every == 0:
        attribution = _attribution(ws, frame, champion, facts)
        if attribution is not None and attribution.drifted:
            alerts.emit(
                ws,
                alerts.Alert(
                    kind=alerts.ATTRIBUTION_DRIFT,
                    subject=f"v{champion.version}",
                    message=attribution.summary(),
                    details={"batch_id": got.batch_id, **attribution.to_dict()},
                ),
            )
    if attribution is not None:
        metrics |= attribution.metrics()  # charted per batch in the MLflow monitoring run
    artifacts = [Path(drift.report_path)] if drift and drift.report_path else []
    t.monitoring_task(ws, step=seq, metrics=metrics, artifacts=artifacts, folder=folder)
    ws.state.update_batch(got.batch_id, stage="monitored")
    checkpoint("monitored")

    shadow_gate = None
    if cfg.gate.mode == "shadow" and champion is not None:
        shadow_gate = run_shadow_gate(ws, facts)
    decision = _decide(ws, facts, champion)
    ws.state.update_batch(got.batch_id, decision=decision.to_dict(), stage=DONE)
    batch_alerts.alert_decision(ws, decision, batch_id=got.batch_id)
    if not decision.retrain or "performance" not in decision.triggers:  # else alerted just above
        batch_alerts.alert_estimate(ws, facts, champion, estimate, batch_id=got.batch_id)
    retrain = None
    if decision.retrain and allow_retrain:
        reason = "; ".join(decision.triggers) or "policy"
        try:
            retrain = run_retrain(ws, reason=f"policy: {reason}", after_seq=seq)
        except Exception as err:  # the batch is done; the retrain failure is alerted
            get_run_logger().error("retrain after batch %s failed: %s", got.batch_id, err)
            retrain = {
                "status": "failed",
                "error": f"{type(err).__name__}: {err}".splitlines()[0],
                "reason": reason,
            }
    get_run_logger().info("batch %s accepted; decision: %s", got.batch_id, "; ".join(decision.reasons))
    result = {
        **out,
        "status": "accepted",
        "seq": seq,
        "drift": drift.to_dict() if drift else None,
        "scoring": scoring,
        "performance": performance or None,
        "decision": decision.to_dict(),
        "retrain": retrain or shadow_gate,
        "labels_rejected": checked.message if checked is not None and checked.message else None,
        "fairness": fairness.to_dict() if fairness else None,
        "attribution": attribution.to_dict() if attribution else None,
        "estimate": estimate.to_dict() if estimate else None,
        "review": queued.to_dict() if queued is not None else None,
    }
    if publish:
        publish_batch(cfg.project, result, drift_report_uri=drift.report_path if drift else None)
        publish_gate_decision(cfg.project, result["retrain"])
    return result


def _duplicate(ws: Workspace, out: dict[str, Any], previous_status: str | None) -> dict[str, Any]:
    known = ws.state.get_batch(out["batch_id"])
    return {
        **out,
        "status": "duplicate",
        "rows": known.rows if known else 0,
        "previous_status": previous_status,
        "in_progress": bool(known and known.unfinished),
        "contract": None,
        "drift": None,
        "scoring": None,
        "performance": None,
        "decision": None,
        "retrain": None,
    }


def _attribution(ws: Workspace, frame: pd.DataFrame, champion: Any, facts: Any) -> AttributionDrift | None:
    """The champion's SHAP importance on a sample of this batch vs on its training data (optional:
    None, with the reason logged, when the batch is small, the version has no table or SHAP fails)."""

    if champion.tags.get(TRIVIAL_TAG) == "true":  # the trivial baseline has no SHAP table
        return None
    a = ws.config.attribution
    result = batch_attribution(
        load_model(ws, champion.version),  # cached per process: score_task loaded it already
        frame,
        spec=FeatureSpec(numeric=facts.numeric, categorical=facts.categorical),
        reference_table=ws.registry.read_csv_artifact(champion.run_id, "shap/importance.csv"),
        rows=a.rows,
        seed=ws.config.model.seed,
        settings=AttributionSettings(
            top_k=a.top_k,
            min_rank_correlation=a.min_rank_correlation,
            min_top_k_overlap=a.min_top_k_overlap,
            min_rows=a.min_rows,
            min_features=a.min_features,
        ),
    )
    get_run_logger().info("attribution: %s", result.summary() if result else "not compared (see log)")
    return result


def _initial_reference(ws: Workspace) -> pd.DataFrame | None:
    path = ws.initial_reference
    return pd.read_parquet(path) if path.is_file() else None


def _decide(ws: Workspace, facts: Any, champion: Any) -> Any:

    p = ws.config.policy
    champion_metric = None
    if champion is not None and "driftline.holdout_metric" in champion.tags:
        champion_metric = float(champion.tags["driftline.holdout_metric"])
    # The trivial baseline serving is no champion to the policy: keep trying, no cooldown.
    has_champion = champion is not None and champion.tags.get(TRIVIAL_TAG) != "true"
    inputs = policy_inputs(ws, champion_metric=champion_metric, has_champion=has_champion)
    return decide_retrain(
        **inputs,
        higher_is_better=facts.higher_is_better,
        drift_k=p.drift_k,
        drift_m=p.drift_m,
        performance_tolerance=p.performance_tolerance,
        cooldown_batches=p.cooldown_batches,
        min_labeled_rows=p.min_labeled_rows,
        metric_name=facts.metric,
        use_estimate=p.use_estimate,
    )


def _alert_streaks(ws: Workspace) -> None:
    """The same rule blocking batch after batch is an alert: the feed or the rule is wrong."""

    history = [(b.batch_id, b.status, b.contract) for b in ws.state.list_batches()]
    for streak in streaks(history, length=ws.config.contract.streak_batches):
        get_run_logger().error("ALERT %s", streak["message"])
        where = streak["column"] or "the table"
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.QUARANTINE_STREAK,
                subject=f"{streak['rule']} on {where}",
                message=streak["message"],
                details=streak,
            ),
        )
