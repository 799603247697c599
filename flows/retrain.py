"""The `retrain` flow: window → train → log → explain → register → gate → promote or reject.

The retrain itself is `driftline.services.retrain`; the flow runs its steps as Prefect tasks and
publishes the gate's decision as a Prefect artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime

from driftline.core.config import load_config
from driftline.core.outcomes import RetrainOutcome
from driftline.services import retrain as service
from driftline.services.project import ProjectFacts
from driftline.services.retrain import RetrainSteps
from driftline.services.workspace import Workspace
from flows.artifacts import publish_gate_decision
from tasks import gate as g
from tasks import retrain as t


@flow(name="retrain")
def retrain(reason: str = "manual", config_path: str = "driftline.yaml") -> dict[str, Any]:
    """Train a candidate on the recent window and let the gate decide whether it becomes champion.

    Args:
        reason: why this retrain runs (shown in the registry and the ledger).
        config_path: the project's driftline.yaml.
    """
    ws = Workspace(load_config(Path(config_path)))
    result = run_retrain(ws, reason=reason).to_dict()
    publish_gate_decision(ws.config.project, result)
    return result


def run_retrain(
    ws: Workspace, *, reason: str, after_seq: int | None = None, force: bool = False
) -> RetrainOutcome:
    """The retrain on Prefect tasks (inside a flow run: the batch cycle's, replay's or its own)."""
    return service.run_retrain(ws, prefect_steps(), reason=reason, after_seq=after_seq, force=force)


def run_shadow_gate(ws: Workspace, facts: ProjectFacts) -> RetrainOutcome | None:
    """The shadow gate's verdict on the challenger, on Prefect tasks."""
    return service.run_shadow_gate(ws, prefect_steps(), facts)


def _actor() -> str:
    name = runtime.flow_run.name
    return f"prefect flow run {name}" if name else "driftline"


def prefect_steps() -> RetrainSteps:
    """The retrain's ports as Prefect tasks (called inside a flow run: the logger is the run's)."""
    return RetrainSteps(
        log=get_run_logger(),
        actor=_actor,
        window=t.window_task,
        long_window=t.long_window_task,
        fit=t.fit_task,
        fit_both=t.fit_both_task,
        explain=t.explain_task,
        register=t.register_task,
        champion_predictions=t.champion_predictions_task,
        decide=t.decide_task,
        refresh_contract=t.refresh_contract_task,
        holdout=g.holdout_task,
        train_scores=g.train_scores_task,
        gate=g.gate_task,
        shadow_gate=g.shadow_gate_task,
        calibration=g.calibration_task,
    )
