"""One batch through the whole cycle: receive → contract → score → drift → labels → monitor → decide.

Plain functions over ports. The steps that touch the outside (the contract validator, the drift
detector, scoring and the monitoring run in the registry, the retrain and the shadow gate) come in
a `CycleSteps`: the `batch-cycle` flow passes Prefect tasks, a test passes in-memory fakes, and
the defaults are the plain steps of `batch_steps`. The state store and the registry come with the
workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from data_contracts.results import ContractResult
from data_contracts.review import streaks
from data_contracts.suite_io import load_suite
from driftline.core.batch_io import BatchReadError
from driftline.core.faults import checkpoint
from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.core.outcomes import RetrainOutcome
from driftline.core.stage_clock import StageClock
from driftline.services import alerts, batch_alerts, batch_steps, review
from driftline.services.batch_steps import Logger
from driftline.services.intake import Intake, read_failure, this_worker, time_range
from driftline.services.labels import LabelCheck
from driftline.services.monitoring_metrics import batch_metrics
from driftline.services.project import ProjectFacts, load_facts
from driftline.services.promotion import load_model
from driftline.services.review import Enqueued
from driftline.services.scoring import Scored
from driftline.services.signals import policy_inputs
from driftline.services.workspace import Workspace
from driftline.store.state import DONE, DuplicateBatchError
from mlflow_server.registry import ModelIntegrityError, VersionInfo
from models.spec import FeatureSpec
from monitoring.attribution import AttributionDrift, AttributionSettings, batch_attribution
from monitoring.drift_frames import sampled_with_scores
from monitoring.drift_result import DriftResult
from monitoring.estimate import Estimate, side_by_side
from monitoring.fairness import batch_fairness
from monitoring.fairness_result import FairnessResult
from monitoring.policy import RetrainDecision, decide_retrain

BatchStatus = Literal["accepted", "quarantined", "duplicate"]


@dataclass(frozen=True)
class CycleSteps:
    """The ports of a batch cycle. `retrain(ws, reason=, after_seq=)` and `shadow_gate(ws, facts)`
    are the retrain flow's; the rest default to the plain steps."""

    retrain: Callable[..., RetrainOutcome]
    shadow_gate: Callable[[Workspace, ProjectFacts], RetrainOutcome | None]
    log: Logger = field(default_factory=lambda: logging.getLogger(__name__))
    receive: Callable[[Workspace, str], Intake] = batch_steps.receive
    read: Callable[[Path], pd.DataFrame | BatchReadError] = batch_steps.read
    validate: Callable[[pd.DataFrame, dict[str, Any], str], ContractResult] = batch_steps.validate
    quarantine: Callable[[Workspace, Intake, ContractResult], dict[str, str]] = batch_steps.quarantine
    score: Callable[..., Scored] = batch_steps.score
    estimate: Callable[..., Estimate] = batch_steps.estimate
    drift: Callable[..., DriftResult] = batch_steps.drift
    labels: Callable[..., LabelCheck] = batch_steps.labels
    performance: Callable[[list[Scored], pd.DataFrame, ProjectFacts], dict[str, Any]] = (
        batch_steps.batch_performance
    )
    monitor: Callable[..., str] = batch_steps.monitoring


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch's cycle did: accepted (scored, monitored, decided), quarantined, or a
    duplicate of a batch already recorded. A dict only at the edge (`to_dict`)."""

    batch_id: str
    source: str
    status: BatchStatus
    rows: int
    contract: ContractResult | None = None
    seq: int | None = None
    quarantine: dict[str, str] | None = None
    previous_status: str | None = None
    in_progress: bool = False
    drift: DriftResult | None = None
    scoring: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    decision: RetrainDecision | None = None
    retrain: RetrainOutcome | None = None
    labels_rejected: str | None = None
    fairness: FairnessResult | None = None
    attribution: AttributionDrift | None = None
    estimate: Estimate | None = None
    review: Enqueued | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"batch_id": self.batch_id, "source": self.source, "rows": self.rows}
        if self.status != "duplicate":
            out["contract"] = self.contract.to_dict() if self.contract else None
        out["status"] = self.status
        if self.status == "duplicate":
            out |= {
                "previous_status": self.previous_status,
                "in_progress": self.in_progress,
                "contract": None,
            }
        elif self.status == "quarantined":
            out["quarantine"] = self.quarantine
        else:
            out["seq"] = self.seq
        out |= {
            "drift": self.drift.to_dict() if self.drift else None,
            "scoring": self.scoring,
            "performance": self.performance or None,
            "decision": self.decision.to_dict() if self.decision else None,
            "retrain": self.retrain.to_dict() if self.retrain else None,
        }
        if self.status == "accepted":
            out |= {
                "labels_rejected": self.labels_rejected,
                "fairness": self.fairness.to_dict() if self.fairness else None,
                "attribution": self.attribution.to_dict() if self.attribution else None,
                "estimate": self.estimate.to_dict() if self.estimate else None,
                "review": self.review.to_dict() if self.review is not None else None,
            }
        return out


def run_batch(ws: Workspace, path: str, steps: CycleSteps, *, allow_retrain: bool = True) -> BatchOutcome:
    """Run one batch file through the cycle; every state write and alert happens on the way."""
    got = steps.receive(ws, path)
    c = _Cycle(ws, steps, got)
    if got.duplicate:
        return _duplicate(ws, got, got.previous_status)
    _read_and_validate(c)
    if not _record(c):  # the same content, recorded at this moment by another process
        return _duplicate(ws, got, "accepted")
    checkpoint("received")
    if not c.contract.success:
        return _quarantine(c)
    _score(c)
    _drift(c)
    ws.state.update_batch(got.batch_id, stage="scored")
    checkpoint("scored")
    _labels_and_review(c)
    _monitor(c)
    ws.state.update_batch(got.batch_id, stage="monitored")
    checkpoint("monitored")
    return _decide_and_retrain(c, allow_retrain=allow_retrain)


@dataclass
class _Cycle:
    """What one batch's steps have found so far (each step reads and fills its part)."""

    ws: Workspace
    steps: CycleSteps
    got: Intake
    clock: StageClock = field(default_factory=StageClock)
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    contract: ContractResult = field(default_factory=lambda: ContractResult(True, "", "", 0, 0))
    seq: int = 0
    facts: ProjectFacts | None = None
    champion: VersionInfo | None = None
    scoring: dict[str, Any] | None = None
    scored_by: list[Scored] = field(default_factory=list)  # champion first, then a shadow challenger
    current: pd.DataFrame | None = None  # the frame drift compares (sampled, with the scores)
    estimate: Estimate | None = None
    drift: DriftResult | None = None
    checked: LabelCheck | None = None  # the batch's own labels, checked
    queued: Enqueued | None = None  # rows sent to the review queue
    labels: pd.DataFrame | None = None
    performance: dict[str, Any] = field(default_factory=dict)
    serving_metric: float | None = None
    fairness: FairnessResult | None = None
    attribution: AttributionDrift | None = None

    @property
    def folder(self) -> str:
        return f"batches/{self.seq:04d}-{self.got.batch_id}"

    @property
    def labeled(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    @property
    def project(self) -> ProjectFacts:
        assert self.facts is not None, "facts are loaded when scoring starts"
        return self.facts


def _read_and_validate(c: _Cycle) -> None:
    cfg, got = c.ws.config, c.got
    frame = c.steps.read(got.raw_path)
    c.clock.lap("read")
    if isinstance(frame, BatchReadError):
        c.contract = read_failure(source=got.source, message=str(frame), suite_name=cfg.project)
        c.frame = pd.DataFrame()
    else:
        c.contract = c.steps.validate(frame, load_suite(cfg.suite_path), got.source)
        c.frame = frame
        c.clock.lap("contract")


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
        c.steps.log.warning("batch %s (#%d) was left unfinished: redoing it", got.batch_id, c.seq)
        return True
    try:
        c.seq = ws.state.add_batch(batch_id=got.batch_id, **row)
    except DuplicateBatchError:
        return False
    return True


def _quarantine(c: _Cycle) -> BatchOutcome:
    ws, got, contract = c.ws, c.got, c.contract
    paths = c.steps.quarantine(ws, got, contract)
    ws.state.update_batch(got.batch_id, raw_path=paths["raw"])
    c.steps.monitor(
        ws,
        step=c.seq,
        metrics={"rows": len(c.frame), "contract_success_pct": contract.success_percent, "quarantined": 1.0},
        artifacts=[Path(paths["report_html"])],
        folder=c.folder,
    )
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
    _alert_streaks(ws, c.steps.log)
    return BatchOutcome(
        got.batch_id, got.source, "quarantined", len(c.frame), contract=contract, quarantine=paths
    )


def _score(c: _Cycle) -> None:
    """The champion's predictions (and a shadow challenger's), the label-free estimate, and the
    frame drift will compare: the batch sampled, with the champion's scores attached."""
    ws, cfg = c.ws, c.ws.config
    c.facts = facts = load_facts(ws)
    c.champion = champion = ws.registry.version_by_alias(CHAMPION)
    c.current = c.frame
    if champion is not None:
        scored = _score_as(c, CHAMPION, champion)
        c.scored_by.append(scored)
        c.estimate = c.steps.estimate(ws, scored, run_id=champion.run_id, facts=facts)
        c.scoring = scored.to_dict()
        c.current = sampled_with_scores(
            c.frame,
            scored.scores.to_numpy(),
            column=batch_steps.PREDICTION_SCORE,
            max_rows=cfg.drift.max_rows,
            seed=cfg.drift.seed,
        )
        challenger = ws.registry.version_by_alias(CHALLENGER)
        if cfg.gate.mode == "shadow" and challenger is not None:
            shadow = _score_as(c, CHALLENGER, challenger)
            c.scored_by.append(shadow)
            c.scoring["shadow"] = shadow.to_dict()
    c.clock.lap("score")


def _score_as(c: _Cycle, role: str, version: VersionInfo) -> Scored:
    got = c.got
    try:
        return c.steps.score(
            c.ws, c.frame, batch_id=got.batch_id, role=role, version=version.version, task_type=c.project.task
        )
    except ModelIntegrityError as err:  # stop scoring loudly; the batch stays unfinished, kept
        alerts.emit(
            c.ws,
            alerts.Alert(
                kind=alerts.CHAMPION_INTEGRITY,
                subject=f"v{version.version}",
                message=str(err),
                details={"batch_id": got.batch_id, "source": got.source},
            ),
        )
        raise


def _drift(c: _Cycle) -> None:
    ws, cfg, champion = c.ws, c.ws.config, c.champion
    reference = (
        ws.registry.load_reference(champion.version) if champion is not None else _initial_reference(ws)
    )
    if reference is not None:
        c.drift = c.steps.drift(
            c.current,
            reference,
            numeric=list(c.project.numeric),
            categorical=list(c.project.categorical),
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
    ws, got, cfg, facts, champion, drift = c.ws, c.got, c.ws.config, c.project, c.champion, c.drift
    if cfg.data.target in c.frame.columns:
        c.checked = c.steps.labels(
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
    if c.labels is not None and c.labeled:
        c.performance = c.steps.performance(c.scored_by, c.labels, facts)
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
    ws, got, facts = c.ws, c.got, c.project
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
    c.fairness = _fairness(c)
    if c.fairness is not None:
        metrics |= c.fairness.metrics()  # charted in the MLflow monitoring run, one step per batch
        batch_alerts.alert_fairness(ws, c.fairness, batch_id=got.batch_id)
    c.attribution = _attribution(c)
    if c.attribution is not None:
        metrics |= c.attribution.metrics()  # charted per batch in the MLflow monitoring run
    artifacts = [Path(c.drift.report_path)] if c.drift and c.drift.report_path else []
    c.steps.monitor(ws, step=c.seq, metrics=metrics, artifacts=artifacts, folder=c.folder)


def _fairness(c: _Cycle) -> FairnessResult | None:
    """Per-group realized performance of the champion, when sensitive columns are declared."""
    cfg, facts = c.ws.config, c.project
    if not (cfg.data.sensitive and c.labels is not None and c.labeled and c.scored_by):
        return None
    return batch_fairness(
        c.frame,
        c.scored_by[0].log_rows,  # the champion's
        c.labels,
        sensitive=cfg.data.sensitive,
        task=facts.task,
        positive_label=facts.positive_label,
        metric=facts.metric,
        measure=cfg.fairness.measure,
        min_group_rows=cfg.fairness.min_group_rows,
        max_groups=cfg.fairness.max_groups,
    )


def _decide_and_retrain(c: _Cycle, *, allow_retrain: bool) -> BatchOutcome:
    """The shadow gate (shadow mode), the policy's decision with its alerts, the retrain it asks
    for, and the batch's outcome."""
    ws, got, cfg, facts, champion = c.ws, c.got, c.ws.config, c.project, c.champion
    shadowing = cfg.gate.mode == "shadow" and champion is not None
    shadow_gate = c.steps.shadow_gate(ws, facts) if shadowing else None
    decision = _decide(ws, facts, champion)
    ws.state.update_batch(got.batch_id, decision=decision.to_dict(), stage=DONE)
    batch_alerts.alert_decision(ws, decision, batch_id=got.batch_id)
    if not decision.retrain or "performance" not in decision.triggers:  # else alerted just above
        batch_alerts.alert_estimate(ws, facts, champion, c.estimate, batch_id=got.batch_id)
    retrain: RetrainOutcome | None = None
    if decision.retrain and allow_retrain:
        reason = "; ".join(decision.triggers) or "; ".join(decision.reasons) or "policy"
        try:
            retrain = c.steps.retrain(ws, reason=f"policy: {reason}", after_seq=c.seq)
        except Exception as err:  # the batch is done; the retrain failure is alerted
            c.steps.log.error("retrain after batch %s failed: %s", got.batch_id, err)
            retrain = RetrainOutcome(
                status="failed", reason=reason, error=f"{type(err).__name__}: {err}".splitlines()[0]
            )
    c.steps.log.info("batch %s accepted; decision: %s", got.batch_id, "; ".join(decision.reasons))
    return BatchOutcome(
        got.batch_id,
        got.source,
        "accepted",
        len(c.frame),
        contract=c.contract,
        seq=c.seq,
        drift=c.drift,
        scoring=c.scoring,
        performance=c.performance or None,
        decision=decision,
        retrain=retrain or shadow_gate,
        labels_rejected=c.checked.message if c.checked is not None and c.checked.message else None,
        fairness=c.fairness,
        attribution=c.attribution,
        estimate=c.estimate,
        review=c.queued,
    )


def _duplicate(ws: Workspace, got: Intake, previous_status: str | None) -> BatchOutcome:
    known = ws.state.get_batch(got.batch_id)
    return BatchOutcome(
        got.batch_id,
        got.source,
        "duplicate",
        known.rows if known else 0,
        previous_status=previous_status,
        in_progress=bool(known and known.unfinished),
    )


def _attribution(c: _Cycle) -> AttributionDrift | None:
    """The champion's SHAP importance on a sample of this batch vs on its training data, every
    `attribution.every` batches (optional: None, with the reason logged, when the batch is small,
    the version has no table or SHAP fails). A drifted importance is alerted."""
    ws, champion, a = c.ws, c.champion, c.ws.config.attribution
    if not a.enabled or champion is None or c.seq % a.every != 0:
        return None
    if champion.tags.get(Tag.TRIVIAL) == "true":  # the trivial baseline has no SHAP table
        return None
    facts = c.project
    result = batch_attribution(
        load_model(ws, champion.version),  # cached per process: scoring loaded it already
        c.frame,
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
    c.steps.log.info("attribution: %s", result.summary() if result else "not compared (see log)")
    if result is not None and result.drifted:
        alerts.emit(
            ws,
            alerts.Alert(
                kind=alerts.ATTRIBUTION_DRIFT,
                subject=f"v{champion.version}",
                message=result.summary(),
                details={"batch_id": c.got.batch_id, **result.to_dict()},
            ),
        )
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
    # With no model yet, a retrain is worth trying once the first model's rows exist.
    first = min(p.min_labeled_rows, ws.config.window.first_model_rows or p.min_labeled_rows)
    return decide_retrain(
        **inputs,
        higher_is_better=facts.higher_is_better,
        drift_k=p.drift_k,
        drift_m=p.drift_m,
        performance_tolerance=p.performance_tolerance,
        cooldown_batches=p.cooldown_batches,
        min_labeled_rows=p.min_labeled_rows if has_champion else first,
        metric_name=facts.metric,
        use_estimate=p.use_estimate,
    )


def _alert_streaks(ws: Workspace, log: Logger) -> None:
    """The same rule blocking batch after batch is an alert: the feed or the rule is wrong."""
    history = [(b.batch_id, b.status, b.contract) for b in ws.state.list_batches()]
    for streak in streaks(history, length=ws.config.contract.streak_batches):
        log.error("ALERT %s", streak["message"])
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
