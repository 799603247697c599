"""The `batch-cycle` flow: receive → contract → score → drift → labels → monitor → decide."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed

from data_contracts.review import streaks
from data_contracts.suite_io import load_suite
from driftline.core.batch_io import BatchReadError
from driftline.core.config import load_config
from driftline.core.faults import checkpoint
from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.core.outcomes import RetrainOutcome
from driftline.core.stage_clock import StageClock
from driftline.services import alerts, batch_alerts, review
from driftline.services.intake import read_failure, this_worker, time_range
from driftline.services.monitoring_metrics import batch_metrics
from driftline.services.project import ProjectFacts, load_facts
from driftline.services.promotion import load_model
from driftline.services.signals import policy_inputs
from driftline.services.workspace import Workspace
from driftline.store.state import DONE, DuplicateBatchError
from flows.artifacts import publish_batch, publish_gate_decision
from flows.retrain import run_retrain, run_shadow_gate
from mlflow_server.registry import ModelIntegrityError, VersionInfo
from models.spec import FeatureSpec
from monitoring.attribution import AttributionSettings, batch_attribution
from monitoring.drift_frames import sampled_with_scores
from monitoring.estimate import side_by_side
from monitoring.fairness import batch_fairness
from monitoring.policy import RetrainDecision, decide_retrain
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
    # A quarantined batch returns a Completed "Quarantined" state: the caller gets its result dict.
    return cast(dict[str, Any], run_batch(ws, path, allow_retrain=allow_retrain))


def run_batch(
    ws: Workspace, path: str, *, allow_retrain: bool = True, publish: bool = True
) -> dict[str, Any] | State:
    """The cycle's steps, shared by the flow and by replay's in-process loop (which publishes a
    progress artifact instead of one summary per batch: `publish` False). Returns the result
    dict, or a Completed state named "Quarantined" that carries it."""
    got = t.receive_task(ws, path)
    c = _Cycle(ws, got, out={"batch_id": got.batch_id, "source": got.source, "rows": 0})
    if got.duplicate:
        return _published(c, _duplicate(ws, c.out, got.previous_status), publish=publish)
    _read_and_validate(c)
    if not _record(c):  # the same content, recorded at this moment by another process
        return _duplicate(ws, c.out, "accepted")
    checkpoint("received")
    if not c.contract.success:
        return _quarantine(c, publish=publish)
    _score(c)
    _drift(c)
    ws.state.update_batch(got.batch_id, stage="scored")
    checkpoint("scored")
    _labels_and_review(c)
    _monitor(c)
    ws.state.update_batch(got.batch_id, stage="monitored")
    checkpoint("monitored")
    return _decide_and_retrain(c, allow_retrain=allow_retrain, publish=publish)


@dataclass
class _Cycle:
    """What one batch's steps have found so far (each step reads and fills its part)."""

    ws: Workspace
    got: Any  # tasks.batch.Received
    out: dict[str, Any]
    clock: StageClock = field(default_factory=StageClock)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    contract: Any = None  # ContractResult
    seq: int = 0
    facts: Any = None  # ProjectFacts
    champion: Any = None  # VersionInfo | None
    scoring: dict[str, Any] | None = None
    scored_by: list[Any] = field(default_factory=list)  # champion first, then a shadow challenger
    current: pd.DataFrame | None = None  # the frame drift compares (sampled, with the scores)
    estimate: Any = None
    drift: Any = None
    checked: Any = None  # the batch's own labels, checked
    queued: Any = None  # rows sent to the review queue
    labels: pd.DataFrame | None = None
    performance: dict[str, Any] = field(default_factory=dict)
    serving_metric: float | None = None
    fairness: Any = None
    attribution: AttributionDrift | None = None

    @property
    def folder(self) -> str:
        return f"batches/{self.seq:04d}-{self.got.batch_id}"

    @property
    def labeled(self) -> int:
        return 0 if self.labels is None else len(self.labels)


def _published(c: _Cycle, result: dict[str, Any], *, publish: bool) -> dict[str, Any]:
    if publish:
        publish_batch(c.ws.config.project, result)
    return result


def _read_and_validate(c: _Cycle) -> None:
    cfg, got = c.ws.config, c.got
    frame = t.read_task(got.raw_path)
    c.clock.lap("read")
    if isinstance(frame, BatchReadError):
        c.contract = read_failure(source=got.source, message=str(frame), suite_name=cfg.project)
        c.frame = pd.DataFrame()
    else:
        c.contract = t.contract_task(frame, load_suite(cfg.suite_path), got.source)
        c.frame = frame
        c.clock.lap("contract")
    c.out.update(rows=len(c.frame), contract=c.contract.to_dict())


def _record(c: _Cycle) -> bool:
    """The batch's row in the state store: new, or an unfinished batch redone under its id and
    number. False when another process recorded the same content first."""
    ws, got, contract = c.ws, c.got, c.contract
    start, end = time_range(c.frame, ws.config.data.time_column)
    row = {
        "sha256": got.sha256,
        "source": got.source,
        "raw_path": str(got.raw_path),
        "status": "accepted" if contract.success else "quarantined",
        "rows": len(c.frame),
        "start_time": start,
        "end_time": end,
        "contract": contract.to_dict(),
        "stage": "received" if contract.success else DONE,
        "worker": this_worker(),
    }
    if got.resume_seq is not None:
        c.seq = got.resume_seq
        ws.state.clear_predictions(got.batch_id)
        ws.state.update_batch(got.batch_id, **row)
        get_run_logger().warning("batch %s (#%d) was left unfinished: redoing it", got.batch_id, c.seq)
        return True
    try:
        c.seq = ws.state.add_batch(batch_id=got.batch_id, **row)
    except DuplicateBatchError:
        return False
    return True


def _quarantine(c: _Cycle, *, publish: bool) -> State:
    ws, got, contract = c.ws, c.got, c.contract
    paths = t.quarantine_task(ws, got, contract)
    ws.state.update_batch(got.batch_id, raw_path=paths["raw"])
    t.monitoring_task(
        ws,
        step=c.seq,
        metrics={"rows": len(c.frame), "contract_success_pct": contract.success_percent, "quarantined": 1.0},
        artifacts=[Path(paths["report_html"])],
        folder=c.folder,
    )
    result = {
        **c.out,
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
    return Completed(
        message=contract.summary(), name="Quarantined", data=_published(c, result, publish=publish)
    )


def _score(c: _Cycle) -> None:
    """The champion's predictions (and a shadow challenger's), the label-free estimate, and the
    frame drift will compare: the batch sampled, with the champion's scores attached."""
    ws, got, cfg = c.ws, c.got, c.ws.config
    c.facts = load_facts(ws)
    c.champion = champion = ws.registry.version_by_alias(CHAMPION)
    c.current = c.frame
    if champion is not None:
        try:
            scored = t.score_task(
                ws,
                c.frame,
                batch_id=got.batch_id,
                role=CHAMPION,
                version=champion.version,
                task_type=c.facts.task,
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
        c.scored_by.append(scored)
        c.estimate = t.estimate_task(ws, scored, run_id=champion.run_id, facts=c.facts)
        c.scoring = scored.to_dict()
        c.current = sampled_with_scores(
            c.frame,
            scored.scores.to_numpy(),
            column=PREDICTION_SCORE,
            max_rows=cfg.drift.max_rows,
            seed=cfg.drift.seed,
        )
        challenger = ws.registry.version_by_alias(CHALLENGER)
        if cfg.gate.mode == "shadow" and challenger is not None:
            shadow = t.score_task(
                ws,
                c.frame,
                batch_id=got.batch_id,
                role=CHALLENGER,
                version=challenger.version,
                task_type=c.facts.task,
            )
            c.scored_by.append(shadow)
            c.scoring["shadow"] = shadow.to_dict()
    c.clock.lap("score")


def _drift(c: _Cycle) -> None:
    ws, cfg, champion = c.ws, c.ws.config, c.champion
    reference = (
        ws.registry.load_reference(champion.version) if champion is not None else _initial_reference(ws)
    )
    if reference is not None:
        c.drift = t.drift_task(
            c.current,
            reference,
            numeric=list(c.facts.numeric),
            categorical=list(c.facts.categorical),
            report_path=ws.report_dir(c.got.batch_id) / "drift.html" if cfg.drift.html_report else None,
            settings={
                "drift_share": cfg.drift.drift_share,
                "max_rows": cfg.drift.max_rows,
                "seed": cfg.drift.seed,
                "num_method": cfg.drift.num_method,
                "cat_method": cfg.drift.cat_method,
                "threshold": cfg.drift.threshold,
            },
        )
    c.clock.lap("drift")


def _labels_and_review(c: _Cycle) -> None:
    """The batch's own labels (checked; bad ones kept aside), the review queue, realized
    performance, and what the batch's row records of all that."""
    ws, got, cfg, facts, champion, drift = c.ws, c.got, c.ws.config, c.facts, c.champion, c.drift
    if cfg.data.target in c.frame.columns:
        c.checked = t.labels_task(
            ws,
            c.frame,
            batch_id=got.batch_id,
            source=got.source,
            facts=facts,
            replace=got.resume_seq is not None,
        )
        c.labels = c.checked.good
    # Rows the champion was least sure of wait for a person (rows labeled above are skipped).
    if c.scored_by:
        c.queued = review.queue_batch(ws, c.scored_by[0].log_rows, batch_id=got.batch_id, task=facts.task)
    if c.queued is not None and c.queued.over_capacity:
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.REVIEW_CAPACITY,
                subject="review queue",
                message=c.queued.summary,
                details=c.queued.to_dict(),
            ),
        )
    c.performance = t.batch_performance_task(c.scored_by, c.labels, facts) if c.labeled else {}
    serving = c.performance.get(f"champion:{champion.version}", {}) if champion else {}
    c.serving_metric = serving.get(facts.metric)
    ws.state.update_batch(
        got.batch_id,
        champion_version=champion.version if champion else None,
        drift=drift.to_dict() if drift else None,
        drift_share=drift.share if drift else None,
        drift_detected=drift.detected if drift and drift.judged else None,  # too few rows: unknown
        performance=c.performance or None,
        serving_metric=c.serving_metric,
        estimated_metric=c.estimate.value if c.estimate else None,
    )
    c.clock.lap("labels")


def _monitor(c: _Cycle) -> None:
    """The batch's metrics (one step of the MLflow monitoring run), latency, fairness and
    attribution checks with their alerts, and the drift report as an artifact."""
    ws, got, cfg, facts, champion = c.ws, c.got, c.ws.config, c.facts, c.champion
    c.clock.rows = len(c.frame)
    estimated = c.estimate.value if c.estimate else None
    metrics = (
        batch_metrics(
            rows=len(c.frame),
            contract_success_pct=c.contract.success_percent,
            labeled_rows=c.labeled,
            drift=c.drift,
            scoring=c.scoring,
            performance=c.performance,
        )
        | c.clock.metrics()
        | side_by_side(facts.metric, estimated=estimated, realized=c.serving_metric)
    )
    batch_alerts.alert_latency(ws, c.scored_by[0] if c.scored_by else None, batch_id=got.batch_id)
    if cfg.data.sensitive and c.labeled and c.scored_by:  # scored_by[0] is the champion
        c.fairness = batch_fairness(
            c.frame,
            c.scored_by[0].log_rows,
            c.labels,
            sensitive=cfg.data.sensitive,
            task=facts.task,
            positive_label=facts.positive_label,
            metric=facts.metric,
            measure=cfg.fairness.measure,
            min_group_rows=cfg.fairness.min_group_rows,
            max_groups=cfg.fairness.max_groups,
        )
    if c.fairness is not None:
        metrics |= c.fairness.metrics()  # charted in the MLflow monitoring run, one step per batch
        batch_alerts.alert_fairness(ws, c.fairness, batch_id=got.batch_id)
    if cfg.attribution.enabled and champion is not None and c.seq % cfg.attribution.every == 0:
        c.attribution = _attribution(ws, c.frame, champion, facts)
        if c.attribution is not None and c.attribution.drifted:
            alerts.emit(
                ws,
                alerts.Alert(
                    kind=alerts.ATTRIBUTION_DRIFT,
                    subject=f"v{champion.version}",
                    message=c.attribution.summary(),
                    details={"batch_id": got.batch_id, **c.attribution.to_dict()},
                ),
            )
    if c.attribution is not None:
        metrics |= c.attribution.metrics()  # charted per batch in the MLflow monitoring run
    artifacts = [Path(c.drift.report_path)] if c.drift and c.drift.report_path else []
    t.monitoring_task(ws, step=c.seq, metrics=metrics, artifacts=artifacts, folder=c.folder)


def _decide_and_retrain(c: _Cycle, *, allow_retrain: bool, publish: bool) -> dict[str, Any]:
    """The shadow gate (shadow mode), the policy's decision with its alerts, the retrain it asks
    for, and the batch's result."""
    ws, got, cfg, facts, champion = c.ws, c.got, c.ws.config, c.facts, c.champion
    shadow_gate = run_shadow_gate(ws, facts) if cfg.gate.mode == "shadow" and champion is not None else None
    decision = _decide(ws, facts, champion)
    ws.state.update_batch(got.batch_id, decision=decision.to_dict(), stage=DONE)
    batch_alerts.alert_decision(ws, decision, batch_id=got.batch_id)
    if not decision.retrain or "performance" not in decision.triggers:  # else alerted just above
        batch_alerts.alert_estimate(ws, facts, champion, c.estimate, batch_id=got.batch_id)
    retrain: RetrainOutcome | None = None
    if decision.retrain and allow_retrain:
        reason = "; ".join(decision.triggers) or "policy"
        try:
            retrain = run_retrain(ws, reason=f"policy: {reason}", after_seq=c.seq)
        except Exception as err:  # the batch is done; the retrain failure is alerted
            get_run_logger().error("retrain after batch %s failed: %s", got.batch_id, err)
            retrain = RetrainOutcome(
                status="failed", reason=reason, error=f"{type(err).__name__}: {err}".splitlines()[0]
            )
    get_run_logger().info("batch %s accepted; decision: %s", got.batch_id, "; ".join(decision.reasons))
    result = {
        **c.out,
        "status": "accepted",
        "seq": c.seq,
        "drift": c.drift.to_dict() if c.drift else None,
        "scoring": c.scoring,
        "performance": c.performance or None,
        "decision": decision.to_dict(),
        "retrain": outcome.to_dict() if (outcome := retrain or shadow_gate) else None,
        "labels_rejected": c.checked.message if c.checked is not None and c.checked.message else None,
        "fairness": c.fairness.to_dict() if c.fairness else None,
        "attribution": c.attribution.to_dict() if c.attribution else None,
        "estimate": c.estimate.to_dict() if c.estimate else None,
        "review": c.queued.to_dict() if c.queued is not None else None,
    }
    if publish:
        publish_batch(cfg.project, result, drift_report_uri=c.drift.report_path if c.drift else None)
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

    if champion.tags.get(Tag.TRIVIAL) == "true":  # the trivial baseline has no SHAP table
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


def _decide(ws: Workspace, facts: ProjectFacts, champion: VersionInfo | None) -> RetrainDecision:

    p = ws.config.policy
    champion_metric = None
    if champion is not None and Tag.HOLDOUT_METRIC in champion.tags:
        champion_metric = float(champion.tags[Tag.HOLDOUT_METRIC])
    # The trivial baseline serving is no champion to the policy: keep trying, no cooldown.
    has_champion = champion is not None and champion.tags.get(Tag.TRIVIAL) != "true"
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
