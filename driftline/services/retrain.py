"""The retrain: window → train → log → explain → register → gate → promote or reject.

Plain functions over ports: the steps that fit, score, explain, register and promote come in a
`RetrainSteps` (the `retrain` flow passes Prefect tasks; the defaults are the plain steps of
`retrain_steps`); the registry and the state store come with the workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from data_contracts.suite_io import load_suite
from driftline.core.faults import checkpoint
from driftline.core.names import CHALLENGER, CHAMPION, Tag
from driftline.core.outcomes import RetrainOutcome
from driftline.core.progress import report
from driftline.services import alerts, retrain_steps, training
from driftline.services.project import ProjectFacts, load_facts
from driftline.services.retrain_steps import Logger
from driftline.services.training import WindowData
from driftline.services.workspace import Workspace
from mlflow_server.reachability import unreachable_server
from mlflow_server.registry import RegistryError
from models.gate import GateVerdict
from models.pipeline import TRIVIAL
from models.train import Predictions, TrainedModel
from models.window import WindowSelection
from monitoring.estimate import CALIBRATION_ARTIFACT


@dataclass(frozen=True)
class RetrainSteps:
    """The ports of a retrain; each defaults to its plain step. `actor()` names who promotes."""

    log: Logger = field(default_factory=lambda: logging.getLogger(__name__))
    actor: Callable[[], str] = lambda: "driftline"
    window: Callable[..., tuple[WindowSelection, WindowData | None]] = retrain_steps.window
    long_window: Callable[..., WindowData | None] = retrain_steps.long_window
    fit: Callable[..., TrainedModel] = retrain_steps.fit
    fit_both: Callable[..., list[TrainedModel]] = retrain_steps.fit_both
    explain: Callable[..., list[str]] = retrain_steps.explain
    register: Callable[..., str] = retrain_steps.register
    champion_predictions: Callable[..., tuple[str | None, Predictions | None]] = (
        retrain_steps.champion_predictions
    )
    decide: Callable[..., bool] = retrain_steps.decide
    refresh_contract: Callable[..., dict[str, Any]] = retrain_steps.refresh_contract
    holdout: Callable[..., tuple[Predictions, dict[str, float | None]]] = retrain_steps.holdout
    train_scores: Callable[..., pd.Series] = retrain_steps.train_scores
    gate: Callable[..., GateVerdict] = retrain_steps.gate
    shadow_gate: Callable[..., GateVerdict | None] = retrain_steps.shadow_gate
    calibration: Callable[..., dict[str, Any] | None] = retrain_steps.calibration


@dataclass(frozen=True)
class Run:
    """One retrain's workspace and steps, handed from step to step."""

    ws: Workspace
    steps: RetrainSteps


def run_retrain(
    ws: Workspace,
    steps: RetrainSteps,
    *,
    reason: str,
    after_seq: int | None = None,
    force: bool = False,
) -> RetrainOutcome:
    """Train a candidate on the window and let the gate decide; used by the flow and by the batch
    cycle's policy. `force` promotes the candidate whatever the gate says (the replay baselines
    `always` and `expanding`)."""
    r, s = Run(ws, steps), steps
    facts = load_facts(ws)
    after_seq = after_seq if after_seq is not None else ws.state.newest_seq()
    selection, data = s.window(ws, facts)
    if data is None:
        return _without_enough_data(r, facts, reason=reason, why=selection.reason)
    if force and ws.config.gate.refit_on_promotion:
        return _forced_refit(r, data, facts, after_seq=after_seq, reason=reason)
    report(f"training a candidate on {len(data.train):,} rows")
    model, data, choice = _adaptive_window(r, facts, data)
    registry = ws.registry
    run_id = registry.start_run(name="retrain", tags={Tag.KIND: "retrain", Tag.TRIGGER: reason})
    try:
        candidate = _register_candidate(r, facts, model, data, choice, run_id=run_id, reason=reason)
        if ws.config.gate.mode == "shadow" and registry.version_by_alias(CHAMPION) is not None:
            top = _explain_candidate(r, model, data, candidate)
            return _awaiting_shadow(r, candidate, top, after_seq=after_seq, reason=reason)
        outcome = _gate_and_promote(r, facts, model, data, candidate, reason=reason, force=force)
        registry.end_run(run_id)
    except Exception as err:
        replacement = _failed(r, err, run_id=run_id, after_seq=after_seq, reason=reason)
        if replacement is not None:
            raise replacement from err
        raise
    return _recorded(r, outcome, candidate, after_seq=after_seq, reason=reason)


@dataclass(frozen=True)
class _Candidate:
    """A registered candidate: its version and run, its holdout predictions and metrics and its
    calibration (classifiers). Its SHAP summary comes after the gate (see `_explain_candidate`)."""

    version: str
    run_id: str
    holdout_preds: Predictions
    holdout: dict[str, Any]
    calibration: dict[str, Any] | None


@dataclass(frozen=True)
class _Outcome:
    """What the gate decided: the version that serves if promoted (the refit, by default), the
    version the gate judged, the decision, whether it was promoted, and the top SHAP features."""

    version: str
    gated: str
    decision: GateVerdict
    promoted: bool
    top: list[str]


def _without_enough_data(r: Run, facts: ProjectFacts, *, reason: str, why: str) -> RetrainOutcome:
    s = r.steps
    s.log.warning("not enough data to retrain: %s", why)
    served = _trivial_for_now(r, facts, reason=reason, why=why)
    return served if served is not None else RetrainOutcome(status="not_enough_data", reason=why)


def _register_candidate(
    r: Run,
    facts: ProjectFacts,
    model: TrainedModel,
    data: WindowData,
    choice: dict[str, Any],
    *,
    run_id: str,
    reason: str,
) -> _Candidate:
    """Log the candidate's run (parameters, lineage, holdout metrics, calibration) and register it
    with its drift reference and lineage tags."""
    ws, s = r.ws, r.steps
    cfg, registry = ws.config, ws.registry
    registry.log_metrics(run_id, choice["metrics"])
    lineage = training.lineage(data, suite=load_suite(cfg.suite_path))
    registry.log_params(
        run_id,
        {
            "estimator": cfg.model.estimator,
            "task": facts.task,
            "seed": cfg.model.seed,
            **cfg.model.params,
            "train_rows": len(data.train),
            "holdout_rows": len(data.holdout),
        },
    )
    registry.log_json(run_id, lineage, name="lineage.json")
    holdout_preds, holdout = s.holdout(model, data.holdout, target=cfg.data.target)
    registry.log_metrics(run_id, {f"holdout_{k}": v for k, v in holdout.items()})
    calibration = s.calibration(model, holdout_preds, data.holdout, target=cfg.data.target)
    if calibration is not None:
        registry.log_json(run_id, calibration, name=CALIBRATION_ARTIFACT)
    reference = training.reference_sample(
        data.train,
        s.train_scores(model, data.train),
        columns=facts.features,
        rows=cfg.drift.reference_rows,
        seed=cfg.drift.seed,
    )
    tags: dict[str, Any] = {
        Tag.TRIGGER: reason,
        Tag.TASK: facts.task,
        Tag.METRIC: facts.metric,
        Tag.HOLDOUT_METRIC: holdout.get(facts.metric),
        Tag.WINDOW: ",".join(b.batch_id for b in data.train_batches),
        Tag.HOLDOUT: ",".join(b.batch_id for b in data.holdout_batches),
        Tag.CONTRACT_HASH: lineage["contract_suite_hash"],
        Tag.CONTRACT_VERSION: lineage["contract_suite_version"],
        Tag.WINDOW_CHOICE: choice["summary"],
    }
    version = s.register(ws, model, run_id=run_id, reference=reference, example=data.train, tags=tags)
    checkpoint("retrain-registered")
    return _Candidate(version, run_id, holdout_preds, holdout, calibration)


def _explain_candidate(r: Run, model: TrainedModel, data: WindowData, candidate: _Candidate) -> list[str]:
    """The gated candidate's SHAP summary, logged with its run; its top features as a tag."""
    ws, s = r.ws, r.steps
    report("SHAP summary")
    top = s.explain(ws, model, data.train, candidate.run_id)
    ws.registry.set_version_tags(candidate.version, {Tag.TOP_FEATURES: ",".join(top)})
    return top


def _borrow_explanation(r: Run, candidate: _Candidate, *, refit: str, top: list[str]) -> None:
    """SHAP once per retrain: a gated candidate whose refit serves points to the refit's summary
    (the same recipe on its window plus the holdout) instead of computing its own (~2 s)."""
    ws = r.ws
    note = f"not computed for this gated twin: see v{refit}, its refit, which serves"
    ws.registry.set_run_tags(candidate.run_id, {Tag.SHAP: note})
    ws.registry.set_version_tags(candidate.version, {Tag.TOP_FEATURES: ",".join(top), Tag.SHAP: note})


def _awaiting_shadow(
    r: Run, candidate: _Candidate, top: list[str], *, after_seq: int, reason: str
) -> RetrainOutcome:
    """Shadow mode: the candidate becomes the challenger and waits for labels of live batches."""
    ws = r.ws
    ws.registry.log_json(
        candidate.run_id,
        {"pending": "shadow", "reasons": ["awaiting shadow labels"]},
        name="gate/decision.json",
    )
    ws.registry.end_run(candidate.run_id)
    ws.state.record_retrain(after_seq=after_seq, version=candidate.version, promoted=False, trigger=reason)
    return RetrainOutcome(
        status="shadow",
        reason=reason,
        version=candidate.version,
        run_id=candidate.run_id,
        top_features=tuple(top),
    )


def _gate_and_promote(
    r: Run,
    facts: ProjectFacts,
    model: TrainedModel,
    data: WindowData,
    candidate: _Candidate,
    *,
    reason: str,
    force: bool,
) -> _Outcome:
    """The holdout gate against the champion; on promotion, the refit on the whole window serves;
    with no model good enough yet, the trivial baseline may serve; the contract follows."""
    ws, s = r.ws, r.steps
    cfg, registry = ws.config, ws.registry
    report(f"gate: champion and challenger on {len(data.holdout):,} unseen rows")
    _, champion_preds = s.champion_predictions(ws, data.holdout, facts)
    decision = s.gate(ws, model, data, facts, candidate.holdout_preds, champion_preds)
    if force and not decision.promote:
        decision = _forced(decision, reason=reason)
    registry.log_json(candidate.run_id, decision.to_dict(), name="gate/decision.json")
    registry.set_version_tags(
        candidate.version, {Tag.GATE: decision.verdict, Tag.GATE_SUMMARY: decision.summary}
    )
    gated = version = candidate.version
    if decision.promote and cfg.gate.refit_on_promotion:
        version, top = _refit(r, data, facts, gated=gated, reason=reason, decision=decision)
        _borrow_explanation(r, candidate, refit=version, top=top)
        if (
            candidate.calibration is not None
        ):  # the refit has no holdout of its own: it borrows the gated one's
            note = f"{candidate.calibration['note']}; fitted for v{gated}, of which this is the refit"
            registry.log_json(
                registry.get_version(version).run_id,
                {**candidate.calibration, "note": note},
                name=CALIBRATION_ARTIFACT,
            )
    else:
        top = _explain_candidate(r, model, data, candidate)
    checkpoint("retrain-gated")
    promoted = s.decide(ws, version, decision, trigger=reason, actor=s.actor())
    if not promoted and cfg.gate.trivial_until_first_model and registry.version_by_alias(CHAMPION) is None:
        version, decision = _serve_trivial(r, data, facts, reason=reason, rejected=decision)
        promoted = s.decide(ws, version, decision, trigger=reason, actor=s.actor())
    if promoted:
        s.refresh_contract(ws, pd.concat([data.train, data.holdout], ignore_index=True), version)
    return _Outcome(version, gated, decision, promoted, top)


def _failed(r: Run, err: Exception, *, run_id: str, after_seq: int, reason: str) -> Exception | None:
    """A failed retrain: its run ends FAILED and an alert names the cause; returns the error to
    raise instead (an unreachable tracking server, in one line), or None to re-raise `err`."""
    ws = r.ws
    _end_failed(r, run_id)
    down = unreachable_server(err, ws.config.tracking_uri)
    message = f"retrain ({reason}) failed: {down or f'{type(err).__name__}: {err}'}".splitlines()[0]
    alerts.emit(
        ws,
        alerts.Alert(
            kind=alerts.RETRAIN_FAILED,
            subject="retrain",
            message=message,
            details={"run_id": run_id, "after_seq": after_seq},
        ),
    )
    if down:  # one line that names the server, not urllib3's retry report
        return RegistryError(f"{message}; run the retrain again once it answers")
    return None


def _recorded(
    r: Run, outcome: _Outcome, candidate: _Candidate, *, after_seq: int, reason: str
) -> RetrainOutcome:
    """The retrain in the state store, its gate alert, and its result."""
    ws = r.ws
    version, decision, promoted = outcome.version, outcome.decision, outcome.promoted
    ws.state.record_retrain(after_seq=after_seq, version=version, promoted=promoted, trigger=reason)
    alerts.emit(
        ws,
        alerts.Alert(
            kind=alerts.GATE_PROMOTE if promoted else alerts.GATE_REJECT,
            subject=f"v{version}",
            message=f"v{version} {'promoted' if promoted else 'rejected'} ({reason}): {decision.summary}",
            details={
                "version": version,
                "gated_version": outcome.gated,
                "reasons": list(decision.reasons),
            },
        ),
    )
    return RetrainOutcome(
        status="done",
        reason=reason,
        version=version,
        gated_version=outcome.gated,
        promoted=promoted,
        gate=decision,
        run_id=candidate.run_id,
        top_features=tuple(outcome.top),
    )


def _adaptive_window(
    r: Run, facts: ProjectFacts, data: WindowData
) -> tuple[TrainedModel, WindowData, dict[str, Any]]:
    """Fit the recipe on the recent window and, with `window.adaptive`, on the long window too (both
    at once) and keep the model (and its window) that scores better on the shared holdout; the
    gate then judges the one kept."""
    ws, s = r.ws, r.steps
    long = s.long_window(ws, facts, data)
    if long is None:
        return s.fit(ws, data.train, facts), data, {"summary": "recent window", "metrics": {}}
    target, metric = ws.config.data.target, facts.metric
    model, long_model = s.fit_both(ws, [data.train, long.train], facts)
    short_score = s.holdout(model, data.holdout, target=target)[1].get(metric)
    long_score = s.holdout(long_model, long.holdout, target=target)[1].get(metric)
    metrics = {f"window_recent_{metric}": short_score, f"window_long_{metric}": long_score}
    metrics = {k: v for k, v in metrics.items() if v is not None and v == v}
    better_long = (
        short_score is not None
        and long_score is not None
        and (long_score > short_score if facts.higher_is_better else long_score < short_score)
    )
    chosen = "long window" if better_long else "recent window"
    summary = (
        f"{chosen}: {metric} {_num(long_score)} on {len(long.train):,} rows (drawn from every batch so "
        f"far) vs {_num(short_score)} on {len(data.train):,} rows (the last batches), same holdout"
    )
    s.log.info("adaptive window: %s", summary)
    if better_long:
        return long_model, long, {"summary": summary, "metrics": metrics}
    return model, data, {"summary": summary, "metrics": metrics}


def _forced_refit(
    r: Run, data: WindowData, facts: ProjectFacts, *, after_seq: int, reason: str
) -> RetrainOutcome:
    """`force` with refit on promotion (the replay baselines `always` and `expanding`): whatever
    a gate said, the refit on the whole window would serve, so train and register only that
    (one fit and one registration instead of two, and no gate)."""
    ws, s = r.ws, r.steps
    summary = f"FORCED by {reason}: the refit on the whole window serves, without a gate"
    decision = GateVerdict(True, "forced", facts.metric, summary, (summary,), forced=True)
    report(f"training on the whole window, {len(data.train) + len(data.holdout):,} rows (forced)")
    tags: dict[str, str] = {Tag.TRIGGER: reason, Tag.TASK: facts.task, Tag.METRIC: facts.metric}
    version, top = _register_on_whole_window(
        r, data, facts, reason=reason, decision=decision, tags=tags, run_name="retrain-forced"
    )
    promoted = s.decide(ws, version, decision, trigger=reason, actor=s.actor())
    s.refresh_contract(ws, pd.concat([data.train, data.holdout], ignore_index=True), version)
    ws.state.record_retrain(after_seq=after_seq, version=version, promoted=promoted, trigger=reason)
    return RetrainOutcome(
        status="done",
        reason=reason,
        version=version,
        promoted=promoted,
        gate=decision,
        run_id=ws.registry.get_version(version).run_id,
        top_features=tuple(top),
    )


def _forced(decision: GateVerdict, *, reason: str) -> GateVerdict:
    summary = f"FORCED by {reason}, whatever the gate says; the gate: {decision.summary}"
    return replace(decision, promote=True, forced=True, summary=summary, reasons=(summary,))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


LINEAGE_NOTES = (Tag.REFIT_OF, Tag.TRIVIAL)  # tags that also belong in lineage.json


def _register_on_whole_window(
    r: Run,
    data: WindowData,
    facts: ProjectFacts,
    *,
    reason: str,
    decision: GateVerdict,
    tags: dict[str, str],
    run_name: str,
    estimator: str | None = None,
) -> tuple[str, list[str]]:
    """Fit on the whole window (holdout included), log lineage, SHAP (not for the trivial
    baseline) and the reference, and register the result with `tags`; returns its version and
    its top SHAP features."""
    ws, s = r.ws, r.steps

    cfg, registry = ws.config, ws.registry
    whole = training.whole_window(data)
    run_id = registry.start_run(name=run_name, tags={Tag.KIND: "retrain", Tag.TRIGGER: reason})
    try:
        model = s.fit(ws, whole.train, facts, estimator=estimator)
        lineage = training.lineage(whole, suite=load_suite(cfg.suite_path))
        notes = {k.removeprefix("driftline."): v for k, v in tags.items() if k in LINEAGE_NOTES}
        registry.log_json(run_id, {**lineage, **notes}, name="lineage.json")
        registry.log_json(run_id, decision.to_dict(), name="gate/decision.json")
        top = [] if estimator == TRIVIAL else s.explain(ws, model, whole.train, run_id)
        reference = training.reference_sample(
            whole.train,
            s.train_scores(model, whole.train),
            columns=facts.features,
            rows=cfg.drift.reference_rows,
            seed=cfg.drift.seed,
        )
        tags = {
            **tags,
            Tag.WINDOW: ",".join(b.batch_id for b in whole.train_batches),
            Tag.HOLDOUT: "",
            Tag.CONTRACT_HASH: lineage["contract_suite_hash"],
            Tag.CONTRACT_VERSION: lineage["contract_suite_version"],
            Tag.TOP_FEATURES: ",".join(top),
            Tag.GATE: decision.verdict,
            Tag.GATE_SUMMARY: decision.summary,
        }
        version = s.register(ws, model, run_id=run_id, reference=reference, example=whole.train, tags=tags)
        registry.end_run(run_id)
    except Exception:
        _end_failed(r, run_id)
        raise
    return str(version), top


def _end_failed(r: Run, run_id: str) -> None:
    """Mark the run failed, if the tracking store still answers: the error that stopped the
    retrain is the one to raise and alert, not a second one from the same dead server."""
    ws, s = r.ws, r.steps
    try:
        ws.registry.end_run(run_id, failed=True)
    except Exception as err:  # the run stays RUNNING in MLflow; the retrain's error wins
        s.log.warning("run %s not marked failed: %s", run_id, str(err).splitlines()[0])


def _refit(
    r: Run, data: WindowData, facts: ProjectFacts, *, gated: str, reason: str, decision: GateVerdict
) -> tuple[str, list[str]]:
    """The gate passed: train the same recipe on the whole window, holdout included, and register
    that as the version to serve (`gate.refit_on_promotion`), so the newest batch is learned from;
    returns its version and top SHAP features."""
    ws, s = r.ws, r.steps
    registry = ws.registry
    own = (Tag.RUN_ID, Tag.MODEL_SHA256)  # each version's own, set at registration
    gated_tags = {k: v for k, v in registry.get_version(gated).tags.items() if k not in own}
    summary = f"{decision.summary} (gated as v{gated}; refit on the window)"
    version, top = _register_on_whole_window(
        r,
        data,
        facts,
        reason=reason,
        decision=replace(decision, summary=summary),
        tags={**gated_tags, Tag.REFIT_OF: gated},
        run_name="retrain-refit",
    )
    registry.set_version_tags(gated, {Tag.REFIT_TO: version})
    s.log.info("v%s passed the gate; serving v%s, refit on the whole window", gated, version)
    return version, top


def trivial_decision(rejected: GateVerdict, *, task: str) -> GateVerdict:
    """The decision that makes the trivial baseline serve after the first model was rejected."""
    what = "the training mean" if task == "regression" else "the class priors"
    summary = (
        f"TRIVIAL BASELINE SERVES ({what}): no model beat it yet ({rejected.summary}); batches are "
        "scored and measured with it until a retrain beats it"
    )
    return replace(rejected, promote=True, case="trivial_baseline", summary=summary, reasons=(summary,))


def _trivial_for_now(r: Run, facts: ProjectFacts, *, reason: str, why: str) -> RetrainOutcome | None:
    """Too few labeled rows for a model and no champion: the trivial baseline serves meanwhile
    (`gate.trivial_until_first_model`), fitted on every labeled row there is. None when off, when a
    champion exists, or when even that is impossible (no rows; one class only)."""
    ws, s = r.ws, r.steps
    if not ws.config.gate.trivial_until_first_model or ws.registry.version_by_alias(CHAMPION) is not None:
        return None

    selection = training.select(ws, expanding=True, any_rows=True)
    if not selection.ok:
        return None
    data = training.load_window(ws, selection, facts)
    rejected = GateVerdict(False, "no_champion", facts.metric, f"no model trained: {why}")
    try:
        version, decision = _serve_trivial(r, data, facts, reason=reason, rejected=rejected)
    except ValueError as err:  # e.g. a classification target with one class so far
        s.log.warning("the trivial baseline cannot serve yet either: %s", err)
        return None
    promoted = s.decide(ws, version, decision, trigger=reason, actor=s.actor())
    return RetrainOutcome(
        status="trivial_baseline", reason=reason, version=version, promoted=promoted, gate=decision
    )


def _serve_trivial(
    r: Run, data: WindowData, facts: ProjectFacts, *, reason: str, rejected: GateVerdict
) -> tuple[str, GateVerdict]:
    """No champion and the first model was rejected: register the trivial baseline to serve."""
    s = r.steps
    decision = trivial_decision(rejected, task=facts.task)
    version, _ = _register_on_whole_window(
        r,
        data,
        facts,
        reason=reason,
        decision=decision,
        tags={
            Tag.TRIGGER: reason,
            Tag.TASK: facts.task,
            Tag.METRIC: facts.metric,
            Tag.TRIVIAL: "true",
        },
        run_name="trivial-baseline",
        estimator=TRIVIAL,
    )
    s.log.warning("%s: v%s", decision.summary, version)
    return version, decision


def run_shadow_gate(ws: Workspace, steps: RetrainSteps, facts: ProjectFacts) -> RetrainOutcome | None:
    """In shadow mode: judge the challenger on labeled rows both models scored, once enough exist."""
    s = steps
    registry = ws.registry
    challenger = registry.version_by_alias(CHALLENGER)
    champion = registry.version_by_alias(CHAMPION)
    if challenger is None or champion is None:
        return None
    since = ws.state.last_retrain_seq() or 0
    decision = s.shadow_gate(ws, champion.version, challenger.version, facts, since_seq=since)
    if decision is None:
        return None
    registry.log_json(challenger.run_id, decision.to_dict(), name="gate/decision.json")
    registry.set_version_tags(
        challenger.version, {Tag.GATE: decision.verdict, Tag.GATE_SUMMARY: decision.summary}
    )
    promoted = s.decide(ws, challenger.version, decision, trigger="shadow gate", actor=s.actor())
    return RetrainOutcome(
        status="done",
        reason=None,
        version=challenger.version,
        promoted=promoted,
        gate=decision,
        shadow_verdict=True,
    )
